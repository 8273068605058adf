"""The registry's one ACTIVE check, shared by every layer that uses a resource."""

from __future__ import annotations

from pathlib import Path

import pytest

from resources import ConflictError, Kind, Registry, Status


def test_get_active(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry.db")
    registry.create(Kind.FORECAST, "f", status=Status.CREATE_PENDING, spec={})
    with pytest.raises(ConflictError, match="forecast 'f' is CREATE_PENDING, not ACTIVE"):
        registry.get_active(Kind.FORECAST, "f")
    registry.update(Kind.FORECAST, "f", status=Status.ACTIVE)  # ACTIVE but nothing stored: not usable
    with pytest.raises(ConflictError, match="forecast 'f' is ACTIVE but has nothing stored"):
        registry.get_active(Kind.FORECAST, "f")
    registry.update(Kind.FORECAST, "f", artifact="forecasts/f/x")
    assert registry.get_active(Kind.FORECAST, "f").artifact == "forecasts/f/x"
    # an export's files live at its destination, not in the workspace
    registry.create(Kind.EXPORT, "e", status=Status.ACTIVE, spec={})
    assert registry.get_active(Kind.EXPORT, "e").name == "e"


# -- liveness: who owns a job, and whether it is still alive ---------------------------------------

import os
import socket
import subprocess
import sys
import time

from resources.lifecycle import delete_resource, request_stop, sweep
from resources.owner import ProcessIdentity
from resources.workspace import Workspace


def _row_owned_by(registry: Registry, name: str, owner: str, status: Status = Status.CREATE_IN_PROGRESS) -> None:
    registry.create(Kind.FORECAST, name, status=status, spec={})
    with registry._connect() as db:
        db.execute("UPDATE resources SET owner = ? WHERE name = ?", (owner, name))


def test_identity_of_this_process_is_alive() -> None:
    me = ProcessIdentity.of()
    assert me.pid == os.getpid() and me.started and me.alive() is True
    assert ProcessIdentity.decode(me.encode()) == me


def test_reused_pid_is_dead(tmp_path: Path) -> None:
    """Same host and pid, another start time: the pid was given to another process."""
    me = ProcessIdentity.of()
    boot, ticks = me.started.rsplit("-", 1)
    reused = ProcessIdentity(me.host, me.pid, f"{boot}-{int(ticks) - 1}")
    assert reused.alive() is False
    registry = Registry(tmp_path / "r.db")
    _row_owned_by(registry, "f", reused.encode())
    r = registry.get(Kind.FORECAST, "f")
    assert r.status == Status.CREATE_FAILED and "exited before it finished" in (r.message or "")


def test_restarted_container_pid_1_is_dead(tmp_path: Path) -> None:
    """A container restarted: its new PID 1 is not the old owner (other start time / boot)."""
    host = socket.gethostname()
    registry = Registry(tmp_path / "r.db")
    _row_owned_by(registry, "f", f"{host}|1|00000000-1", Status.CREATE_PENDING)
    assert registry.get(Kind.FORECAST, "f").status == Status.CREATE_FAILED


def test_zombie_is_dead(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = ProcessIdentity.of(child.pid)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().split(")")[-1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    try:
        assert identity.alive() is False  # exited but not reaped: os.kill(pid, 0) would still succeed
        os.kill(child.pid, 0)
        registry = Registry(tmp_path / "r.db")
        _row_owned_by(registry, "f", identity.encode())
        assert registry.get(Kind.FORECAST, "f").status == Status.CREATE_FAILED
    finally:
        child.wait()


def test_legacy_owner_form_and_other_hosts(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "r.db")
    _row_owned_by(registry, "gone", f"{socket.gethostname()}:999999999")
    assert registry.get(Kind.FORECAST, "gone").status == Status.CREATE_FAILED
    _row_owned_by(registry, "remote", "some-other-host|123|abc-1")  # cannot be judged from here
    assert registry.get(Kind.FORECAST, "remote").status == Status.CREATE_IN_PROGRESS


def test_dead_owner_of_a_stopping_job_means_stopped(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "r.db")
    _row_owned_by(registry, "f", f"{socket.gethostname()}|999999999|x-1", Status.CREATE_STOPPING)
    assert registry.get(Kind.FORECAST, "f").status == Status.CREATE_STOPPED


def test_stop_signals_the_owner_and_claim_notices(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "r.db")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        registry.create(Kind.PREDICTOR, "p", status=Status.CREATE_IN_PROGRESS, spec={})
        registry.claim(Kind.PREDICTOR, "p", pid=child.pid)
        # the child dies of SIGTERM at once: it may already read as a dead (zombie) owner
        assert request_stop(registry, Kind.PREDICTOR, "p").status in (Status.CREATE_STOPPING, Status.CREATE_STOPPED)
        assert child.wait(timeout=10) == -15  # SIGTERM reached the owner, not us
        assert registry.get(Kind.PREDICTOR, "p").status == Status.CREATE_STOPPED
    finally:
        child.kill()
        child.wait()
    # a job stopped before its worker claimed it ends at the claim
    registry.create(Kind.FORECAST, "f", status=Status.CREATE_PENDING, spec={})
    assert request_stop(registry, Kind.FORECAST, "f").status == Status.CREATE_STOPPING  # owner is us: no signal
    from resources.errors import JobStopped

    with pytest.raises(JobStopped):
        registry.claim(Kind.FORECAST, "f")
    assert registry.get(Kind.FORECAST, "f").status == Status.CREATE_STOPPED
    with pytest.raises(ConflictError, match="only a job in progress can be stopped"):
        registry.create(Kind.DATASET, "d", status=Status.ACTIVE, spec={}, artifact="datasets/d/x")
        request_stop(registry, Kind.DATASET, "d")


def test_progress_report_sees_a_stop_request(tmp_path: Path) -> None:
    from resources.errors import JobStopped

    registry = Registry(tmp_path / "r.db")
    registry.create(Kind.EXPORT, "e", status=Status.CREATE_IN_PROGRESS, spec={})
    registry.report_progress(Kind.EXPORT, "e", {"rows_done": 10})
    assert registry.get(Kind.EXPORT, "e").result == {"progress": {"rows_done": 10}}
    registry.transition(Kind.EXPORT, "e", from_=Status.CREATE_IN_PROGRESS, to=Status.CREATE_STOPPING)
    with pytest.raises(JobStopped):
        registry.report_progress(Kind.EXPORT, "e", {"rows_done": 20})


def test_sweep_removes_partial_output_of_dead_jobs_only(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "r.db")
    workspace = Workspace(str(tmp_path / "home"))
    dead, alive = "forecasts/dead/1", "forecasts/alive/2"
    for name, rel in (("dead", dead), ("alive", alive)):
        workspace.write_bytes(f"{rel}/part.bin", b"x")
        registry.create(Kind.FORECAST, name, status=Status.CREATE_IN_PROGRESS, spec={})
        registry.set_partial(Kind.FORECAST, name, rel)
    with registry._connect() as db:
        db.execute("UPDATE resources SET owner = ? WHERE name = 'dead'", (f"{socket.gethostname()}|999999999|x-1",))
    outside = tmp_path / "dest" / "e_20261201T000000Z"  # an export's run folder at its destination
    outside.mkdir(parents=True)
    (outside / "e_20261201T000000Z_part0.csv").write_text("x")
    _row_owned_by(registry, "e-row", f"{socket.gethostname()}|999999999|x-1")
    registry.set_partial(Kind.FORECAST, "e-row", f"file://{outside}")
    assert sorted(r.name for r in sweep(registry, workspace)) == ["dead", "e-row"]
    assert not workspace.exists(dead) and workspace.exists(f"{alive}/part.bin") and not outside.exists()
    assert registry.get(Kind.FORECAST, "dead").artifact is None
    with pytest.raises(ConflictError, match="stop it first"):
        delete_resource(registry, workspace, Kind.FORECAST, "alive")
    delete_resource(registry, workspace, Kind.FORECAST, "dead")
    assert not registry.exists(Kind.FORECAST, "dead")
