"""Bad input is a 4xx naming the field over HTTP and exit 2 on the CLI, never a 500 or a traceback;
requests are bounded; the Host and API-key checks; no secrets in logs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.server import create_app
from tests.service_fixtures import World, build_world, serving

pytestmark = pytest.mark.slow

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, samples_dir: Path) -> World:
    return build_world(tmp_path_factory.mktemp("hardening"), samples_dir)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def world_env(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_HOME", world.settings.home)
    monkeypatch.setenv("FORECAST_REGISTRY", str(world.settings.registry))


def _instances(start: str = "2000-01-01", target: str = "[1, 2, 3, 4, 5, 6, 7, 8]", extra: str = "") -> str:
    return f'{{"instances": [{{"start": "{start}", "target": {target}{extra}}}]}}'


@pytest.mark.parametrize("path,params,field", [
    ("/v1/forecasts/fq/items/Q1", {"start": "1600-01-01"}, "start"),
    ("/v1/forecasts/fq/items/Q1", {"end": "9999-12-31"}, "end"),
    ("/v1/forecasts/fq/items/Q1", {"start": "10000-01-01"}, "start"),
    ("/v1/forecasts/fq/items", {"item_id": "Q1", "start": "1600-01-01"}, "start"),
    ("/v1/forecasts/fq/items", {"item_id": "Q1", "end": "9999-12-31T23:59:59+05:00"}, "end"),
    ("/v1/forecasts/fq/items/Q1", {"start": "now"}, "start"),
    ("/v1/forecasts/fq/items/Q1", {"end": "today"}, "end"),
    ("/v1/forecasts/fq/items/Q1", {"start": "2009-01-01", "end": "2008-01-01"}, "start"),
    ("/v1/forecasts/fq/items", {"item_id": "Q1", "start": "2009-01-01", "end": "2008-01-01"}, "start"),
])
def test_query_bounds_out_of_range_are_422(client: TestClient, path: str, params: dict[str, str], field: str) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith(f"{field}:")


@pytest.mark.parametrize("body,fragment", [
    (_instances(start="1500-01-01"), "instances[0].start: '1500-01-01' is outside the supported range"),
    (_instances(start="9000-01-01"), "instances[0].start: '9000-01-01' is outside the supported range"),
    (_instances(start="2261-01-01", target="[1, 2, 3, 4]"), "instances[0].start: the forecast of 4 steps"),
    (_instances(target="[1, 2, 1e400, 4]"), "instances[0].target: value inf at position 2"),
    (_instances(target="[1, 2, Infinity, 4]"), "instances[0].target: value inf at position 2"),
    (_instances(target="[1, -Infinity, 3, 4]"), "instances[0].target: value -inf at position 1"),
    (_instances(target="[1, 2, 3, 1e39]"), "instances[0].target: value 1e+39 at position 3 is infinite or beyond the float32"),
    (_instances(target="[1, 2, 3, 100000000000000000000000000000000000000000000]"), "position 3"),
    ('{"instances": [{"start": "2000-01-01", "target": [1, 2]}], "configuration": {"num_samples": NaN}}',
     "configuration.num_samples: Input should be a finite number"),
    ('{"instances": [{"start": "2000-01-01", "target": [1, 2]}], "configuration": {"num_samples": Infinity}}',
     "configuration.num_samples"),
    ('{"instances": NaN}', "instances"),
    ('{"instances": [{"start": "2000-01-01", "target": [1, 2], "cat": [NaN]}]}', "instances[0].cat"),
])
def test_invocation_bad_numbers_and_dates_are_422(client: TestClient, body: str, fragment: str) -> None:
    r = client.post("/v1/predictors/pq/invocations", content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert fragment in r.json()["detail"]


@pytest.mark.parametrize("path,body,field", [
    ("/v1/exports", '{"name": "e", "forecast": "fq", "destination": "/tmp/x", "part_size_mb": NaN}', "part_size_mb"),
    ("/v1/exports", '{"name": NaN, "forecast": "fq", "destination": "/tmp/x"}', "name"),
    ("/v1/predictors", '{"name": "p", "dataset": "tq", "hyperparameters": {"prediction_length": 4, "learning_rate": NaN}}',
     "learning_rate"),
    ("/v1/predictors", '{"name": "p", "dataset": "tq", "hyperparameters": {"prediction_length": 4, "dropout_rate": -Infinity}}',
     "dropout_rate"),
    ("/v1/predictors", '{"name": "p", "dataset": "tq", "hyperparameters": {"prediction_length": Infinity}}',
     "prediction_length"),
    ("/v1/forecasts", '{"name": "f", "predictor": "pq", "types": [NaN]}', "types"),
])
def test_nan_and_infinity_in_bodies_are_422_naming_the_field(client: TestClient, path: str, body: str,
                                                            field: str) -> None:
    r = client.post(path, content=body, headers=JSON)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]


def test_malformed_json_body_is_422(client: TestClient) -> None:
    for body in (b"\xff\xfe", b'{"name": ', b"[1, 2"):
        r = client.post("/v1/forecasts", content=body, headers=JSON)
        assert r.status_code == 422 and r.json()["detail"].startswith("body: not valid JSON"), r.text


def test_integer_item_ids_are_strings(client: TestClient, world: World, tmp_path: Path) -> None:
    from datasets import import_dataset
    from resources import Kind

    rows = [{"start": "2000-01-01", "target": [1.0, 2.0, 3.0], "item_id": 7},
            {"start": "2000-01-01", "target": [1.0, 2.0], "item_id": "8"}]
    path = tmp_path / "ints.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rt = world.runtime
    import_dataset(rt.workspace, rt.registry, "ints", str(path), freq="Q")
    assert rt.registry.get(Kind.DATASET, "ints").result["num_series"] == 2
    path.write_text("".join(json.dumps(r) + "\n" for r in [rows[0], {**rows[1], "item_id": 7}]))
    from datasets import DatasetValidationError, scan_dataset

    with pytest.raises(DatasetValidationError, match="duplicate item_id '7'"):  # 7 and "7" are the same item
        scan_dataset(str(path), freq="Q")


def test_cli_bad_bounds_exit_2(cli, world_env: None) -> None:  # type: ignore[no-untyped-def]
    for flag, value in (("--start", "1600-01-01"), ("--end", "9999-12-31")):
        code, out, err = cli("forecasts", "query", "fq", "Q1", flag, value)
        assert code == 2 and "outside the supported range" in err and "Traceback" not in err + out


@pytest.mark.parametrize("record,fragment", [
    ({"start": "1500-01-01", "target": [1, 2]}, "data.jsonl:1 [start]: '1500-01-01' is outside the supported range"),
    ({"start": "9000-01-01", "target": [1, 2]}, "[start]: '9000-01-01' is outside"),
    ('{"start": "2000-01-01", "target": [1, 1e400, 3]}', "data.jsonl:1 [target]: value inf at position 1"),
    ('{"start": "2000-01-01", "target": [1, Infinity]}', "[target]: value inf at position 1"),
    ({"start": "2000-01-01", "target": [1, 3.5e38]}, "value 3.5e+38 at position 1 is infinite or beyond the float32"),
])
def test_datasets_validate_rejects_non_finite_and_out_of_range(cli, tmp_path: Path, record: object,  # type: ignore[no-untyped-def]
                                                               fragment: str) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text((record if isinstance(record, str) else json.dumps(record)) + "\n")
    code, out, err = cli("datasets", "validate", str(path), "--freq", "D")
    assert code == 2, out + err
    assert fragment in err and "Traceback" not in err


# -- bounds ----------------------------------------------------------------------------------------


def test_invocation_work_and_response_are_bounded(world: World) -> None:
    one = {"start": "2000-01-01", "target": [1.0] * 8}
    settings = world.settings.model_copy(update={"max_invocation_values": 1000, "max_response_bytes": 10_000})
    with TestClient(create_app(settings)) as c:
        r = c.post("/v1/predictors/pq/invocations", json={"instances": [one] * 3, "configuration": {"num_samples": 100}})
        assert r.status_code == 413
        assert "3 instances x 100 samples x 4 steps = 1,200 values, over the limit of 1,000" in r.json()["detail"]
        assert "FORECAST_MAX_INVOCATION_VALUES" in r.json()["detail"]
        r = c.post("/v1/predictors/pq/invocations", json={"instances": [one] * 2, "configuration": {
            "num_samples": 100, "output_types": ["samples"]}})
        assert r.status_code == 413 and "FORECAST_MAX_RESPONSE_BYTES" in r.json()["detail"]
        r = c.post("/v1/predictors/pq/invocations", json={"instances": [one] * 2, "configuration": {"num_samples": 100}})
        assert r.status_code == 200 and len(r.content) < 10_000


def test_training_memory_estimate_refuses_before_training(cli, world_env: None,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = cli("predictors", "create", "huge", "--dataset", "tq", "--prediction-length", "4",
                       "--context-length", "60", "--mini-batch-size", "4096", "--num-cells", "512", "--num-layers", "8")
    assert code == 2 and "training would need about" in err and "GiB, over the limit" in err
    code, _, _ = cli("predictors", "describe", "huge")
    assert code == 2  # nothing registered
    monkeypatch.setenv("FORECAST_MAX_TRAINING_MEMORY_MB", "100")
    code, _, err = cli("predictors", "create", "small", "--dataset", "tq", "--prediction-length", "4", "--epochs", "1")
    assert code == 2 and "over the limit of 0.1 GiB" in err


def test_chunked_body_over_the_limit_is_413_over_a_socket(world: World) -> None:
    settings = world.settings.model_copy(update={"max_body_bytes": 4096})

    def chunks() -> Iterator[bytes]:
        yield b'{"instances": [{"start": "2000-01-01", "target": ['
        for _ in range(100):
            yield b"1.0, " * 100
        yield b"1.0]}]}"

    with serving(create_app(settings)) as url, httpx.Client(base_url=url) as http:
        r = http.post("/v1/predictors/pq/invocations", content=chunks(), headers=JSON)
        assert r.status_code == 413 and "limit of 4096 bytes" in r.json()["detail"]
        small = b'{"instances": [{"start": "2000-01-01", "target": [1.0, 2.0, 3.0]}]}'
        r = http.post("/v1/predictors/pq/invocations", content=iter([small[:20], small[20:]]), headers=JSON)
        assert r.status_code == 200, r.text  # a chunked body under the limit still works


# -- Host and API key ------------------------------------------------------------------------------


def test_loopback_server_without_key_answers_loopback_hosts_only(world: World) -> None:
    app = create_app(world.settings, bind_host="127.0.0.1")
    with TestClient(app, base_url="http://127.0.0.1:8000") as c:
        for host in ("127.0.0.1:8000", "localhost", "localhost:8000", "[::1]:8000", "app.localhost", "LOCALHOST."):
            assert c.get("/v1/health", headers={"host": host}).status_code == 200, host
        for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "10.0.0.1", ""):
            r = c.get("/v1/forecasts/fq/items/Q1", headers={"host": host})
            assert r.status_code == 400, host
            assert "is not allowed" in r.json()["detail"]


def test_allowed_hosts_setting(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.settings import Settings

    monkeypatch.setenv("FORECAST_ALLOWED_HOSTS", "forecast.example.com, *.corp.example")
    assert Settings().allowed_hosts == ["forecast.example.com", "*.corp.example"]
    monkeypatch.setenv("FORECAST_ALLOWED_HOSTS", '["a.example"]')
    assert Settings().allowed_hosts == ["a.example"]
    settings = world.settings.model_copy(update={"allowed_hosts": ["forecast.example.com", "*.corp.example"]})
    with TestClient(create_app(settings)) as c:  # no bind address known: only the list applies
        assert c.get("/v1/health", headers={"host": "forecast.example.com:443"}).status_code == 200
        assert c.get("/v1/health", headers={"host": "x.corp.example"}).status_code == 200
        assert c.get("/v1/health", headers={"host": "corp.example.evil"}).status_code == 400
        assert c.get("/v1/health", headers={"host": "localhost"}).status_code == 400
    from pydantic import SecretStr

    keyed = world.settings.model_copy(update={"api_key": SecretStr("k")})
    with TestClient(create_app(keyed, bind_host="127.0.0.1")) as c:  # with a key, any Host may ask
        assert c.get("/v1/metrics", headers={"host": "evil.example", "authorization": "Bearer k"}).status_code == 200


# -- secrets ---------------------------------------------------------------------------------------


def test_log_records_are_redacted_at_every_level(capsys: pytest.CaptureFixture[str]) -> None:
    from api.log_config import setup_logging

    setup_logging("DEBUG", secrets=["AKIAEXAMPLEKEYID1234", "the-secret-value"])
    try:
        log = logging.getLogger("botocore.auth")
        log.debug("CanonicalRequest: Credential=%s/20261201/us-east-1/s3/aws4_request", "MYKEYID")
        log.info("key %s secret %s", "AKIAEXAMPLEKEYID1234", "the-secret-value")
        try:
            raise ValueError("boom the-secret-value")
        except ValueError:
            log.exception("failed")
    finally:
        setup_logging("WARNING")
    err = capsys.readouterr().err
    assert "MYKEYID" not in err and "AKIAEXAMPLEKEYID1234" not in err and "the-secret-value" not in err
    assert err.count("***") >= 4 and "Credential=***/20261201" in err


def test_s3_key_id_never_in_debug_logs(s3_bucket: str, world: World, tmp_path: Path) -> None:
    """A real export to S3 (moto) from the CLI at DEBUG: botocore logs the signing scope, which holds
    the key id; it never reaches the output."""
    import os

    key_id = "AKIAFORECASTTEST0001"
    env = {**os.environ, "FORECAST_HOME": world.settings.home, "FORECAST_REGISTRY": str(world.settings.registry),
           "FORECAST_S3__KEY": key_id, "FORECAST_S3__SECRET": "secret-for-moto-0001", "FORECAST_LOG_LEVEL": "DEBUG"}
    forecast = str(Path(sys.executable).parent / "forecast")
    out = subprocess.run([forecast, "exports", "create", "s3x", "--forecast", "fq", "--destination",
                          f"s3://{s3_bucket}/out/"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "botocore" in out.stderr  # DEBUG logging did happen
    assert key_id not in out.stderr + out.stdout and "secret-for-moto-0001" not in out.stderr + out.stdout
