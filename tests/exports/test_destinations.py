"""Export destinations: containment is decided on the location that will be written.

Regression tests for the allowlist bypass: ``file:///<allowed>/x#/../../elsewhere`` (and ``?``)
was accepted and wrote outside the allowed prefix, because the ``..`` check read the parsed URL's
path while fsspec and the OS treat ``#`` and ``?`` as plain characters.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.runtime import build_runtime
from api.server import create_app
from api.settings import Settings
from exports.destinations import check_allowed, resolve_destination
from exports.errors import DestinationNotAllowedError
from forecast.synthetic import write_synthetic_forecast
from resources import InvalidInputError
from tests.service_fixtures import poll


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    allowed = tmp_path / "allowed"
    elsewhere = tmp_path / "elsewhere"
    allowed.mkdir()
    elsewhere.mkdir()
    return allowed, elsewhere


@pytest.mark.parametrize("suffix", ["x#/../../elsewhere", "x?/../../elsewhere", "x?a=1", "x#frag", "x/?", "x#"])
@pytest.mark.parametrize("form", ["file", "plain"])
def test_query_or_fragment_is_refused(folders: tuple[Path, Path], suffix: str, form: str) -> None:
    allowed, _ = folders
    url = f"file://{allowed}/{suffix}" if form == "file" else f"{allowed}/{suffix}"
    with pytest.raises(InvalidInputError, match="may not contain '\\?' or '#'"):
        check_allowed(url, [str(allowed)])


@pytest.mark.parametrize("suffix", ["x#/../../elsewhere", "x?/../../elsewhere", "k?X-Amz-Credential=AKIA1234567890ABCD"])
def test_s3_query_or_fragment_is_refused(suffix: str) -> None:
    with pytest.raises(InvalidInputError, match="may not contain") as e:
        check_allowed(f"s3://bucket/allowed/{suffix}", ["s3://bucket/allowed/"])
    assert "AKIA" not in str(e.value)  # credentials in a query never reach a message


def test_dotdot_is_resolved_for_local_paths(folders: tuple[Path, Path]) -> None:
    allowed, elsewhere = folders
    for url in (f"file://{allowed}/x/../../elsewhere", f"{allowed}/x/../../elsewhere", f"{allowed}/../elsewhere"):
        with pytest.raises(DestinationNotAllowedError, match=f"resolved: file://{elsewhere}/"):
            check_allowed(url, [str(allowed)])
    check_allowed(f"{allowed}/a/../b", [f"file://{allowed}"])  # stays inside: fine
    assert resolve_destination(f"file://{allowed}/a/./../b//c").url == f"file://{allowed}/b/c/"


def test_symlink_out_of_the_prefix_is_refused(folders: tuple[Path, Path]) -> None:
    allowed, elsewhere = folders
    (allowed / "link").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(DestinationNotAllowedError):
        check_allowed(f"{allowed}/link/sub", [str(allowed)])


def test_prefix_matches_whole_segments(folders: tuple[Path, Path]) -> None:
    allowed, _ = folders
    with pytest.raises(DestinationNotAllowedError):
        check_allowed(f"{allowed}-evil/x", [str(allowed)])
    with pytest.raises(DestinationNotAllowedError):
        check_allowed("s3://bucket/allowed-evil/x", ["s3://bucket/allowed"])
    check_allowed("s3://bucket/allowed/x/", ["s3://bucket/allowed"])
    with pytest.raises(DestinationNotAllowedError):  # same path, other protocol
        check_allowed(f"s3:/{allowed}/x", [str(allowed)])


@pytest.mark.parametrize("url,fragment", [
    ("s3://bucket/allowed/../other", "'..'"),
    ("s3://bucket/allowed/./x", "'.'"),
    ("s3://bucket//allowed/x", "empty"),
    ("s3://key:secret@bucket/allowed/x", "credentials in the URL"),
    ("S3://bucket/allowed/x", None),  # the scheme is case-insensitive
    ("file://host/tmp/x", "absolute path with no host"),
    ("memory://bucket/x", "unsupported scheme"),
    ("simplecache::s3://bucket/allowed/x", "unsupported scheme"),
    ("s3://bucket/allowed/x\n", None),  # surrounding whitespace is stripped
    ("s3://bucket/allowed/a\x00b", "control characters"),
    ("   ", "empty"),
])
def test_bad_destinations_are_named(url: str, fragment: str | None) -> None:
    if fragment is None:
        check_allowed(url, ["s3://bucket/allowed/"])
        return
    with pytest.raises(InvalidInputError, match=fragment) as e:
        check_allowed(url, ["s3://bucket/allowed/"])
    assert "secret" not in str(e.value)


def test_http_export_cannot_escape_the_prefix(folders: tuple[Path, Path]) -> None:
    """Over HTTP: every escape is a 4xx with the reason, and nothing is written outside."""
    allowed, elsewhere = folders
    rt = build_runtime()
    write_synthetic_forecast(rt.workspace, rt.registry, "f", items=3, types="0.5")
    with TestClient(create_app(Settings(allowed_export_prefixes=[str(allowed)]))) as c:
        for i, dest in enumerate([f"file://{allowed}/x#/../../elsewhere", f"file://{allowed}/x?/../../elsewhere",
                                  f"{allowed}/x#/../../elsewhere", f"file://{allowed}/../elsewhere",
                                  f"{allowed}/../elsewhere"]):
            r = c.post("/v1/exports", json={"name": f"e{i}", "forecast": "f", "destination": dest})
            assert r.status_code in (403, 422), (dest, r.text)
            assert r.json()["detail"]
        r = c.post("/v1/exports", json={"name": "ok", "forecast": "f", "destination": f"file://{allowed}/daily"})
        assert r.status_code == 202, r.text
        assert r.json()["spec"]["destination"] == f"file://{allowed}/daily/"  # stored resolved
        body = poll(c, "/v1/exports/ok")
        assert body["status"] == "ACTIVE", body
    assert list(elsewhere.iterdir()) == []
    assert not any("#" in p or "?" in p for p in map(str, Path(allowed).rglob("*")))
    assert next(p.name for p in (allowed / "daily").iterdir()).startswith("ok_")
    assert os.listdir(allowed) == ["daily"]
