"""Every resource kind gets its surfaces from its declaration: the same routes over HTTP and the same
commands on the CLI for each, one delete semantics, and a kind with no surface code of its own (here
the export kind with its own command module set aside) is still created, listed and deleted end to
end through the generated ones."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from api.runtime import build_runtime
from forecast.synthetic import write_synthetic_forecast
from resources import Kind
from resources.kinds import declarations


def test_every_kind_has_the_same_routes() -> None:
    from api.server import create_app
    from api.settings import Settings

    paths = create_app(Settings()).openapi()["paths"]
    for d in declarations():
        base = f"/v1/{d.plural}"
        assert {"get", "post"} <= set(paths[base]), d.kind
        assert {"get", "delete"} <= set(paths[f"{base}/{{name}}"]), d.kind
        assert "post" in paths[f"{base}/{{name}}/stop"] and "get" in paths[f"{base}/{{name}}/log"], d.kind


def test_every_kind_has_the_same_commands() -> None:
    from api.cli import app

    groups = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    for d in declarations():
        commands = set(groups[d.plural].commands)
        assert {"list", "describe", "delete", "stop", "log"} <= commands and commands & {"create", "import"}, d.kind


def test_a_kind_without_its_own_commands_works_through_the_generated_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.cli.kinds

    rt = build_runtime()

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "api.cli.export_commands" else real(name, *a))
    group = api.cli.kinds.kind_group(Kind.EXPORT)
    write_synthetic_forecast(rt.workspace, rt.registry, "f", items=5, types="0.1,mean")
    runner = CliRunner()
    out = tmp_path / "out"
    created = runner.invoke(group, ["create", "e", "--forecast", "f", "--destination", str(out), "--format", "parquet",
                                    "--json"], catch_exceptions=False)
    assert created.exit_code == 0, created.stderr
    assert json.loads(created.stdout)["rows"] == 5 * rt.registry.get(Kind.FORECAST, "f").result["prediction_length"]
    assert list(out.glob("*/_SUCCESS"))
    listed = runner.invoke(group, ["list", "--json"], catch_exceptions=False)
    assert [r["name"] for r in json.loads(listed.stdout)] == ["e"]
    bad = runner.invoke(group, ["create", "e2", "--forecast", "f", "--destination", str(out), "--part-size-mb", "-1"])
    assert bad.exit_code == 2 and "part_size_mb" in bad.stderr
    assert runner.invoke(group, ["delete", "e"], catch_exceptions=False).exit_code == 0
    assert not rt.registry.exists(Kind.EXPORT, "e")
