"""Start registered jobs in worker processes, watch them, keep their logs.

The server registers a job (``CREATE_PENDING``), starts ``python -m api.jobs.worker KIND NAME``, makes
the worker the job's owner at once (so a stop request signals the worker, never the server), and
hands it the server's whole settings on stdin (secrets included, never through the environment or
the command line). The worker's stdout and stderr go to the job's log file, which stays with the
resource until it is deleted. A watcher thread reaps each worker (no zombies); if it exits while
its job is still in flight, the job is marked failed (or stopped) with the last line of its log
and its partial output is removed.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from api.settings import Settings
from resources import Kind, NotFoundError, Registry, Workspace
from resources.lifecycle import end_orphaned

logger = logging.getLogger(__name__)

#: The largest log tail ``GET /v1/{kind}s/{name}/log`` returns.
MAX_LOG_BYTES = 1 << 20


def settings_json(settings: Settings) -> str:
    """The settings as JSON with secret values revealed (for the worker's stdin only)."""
    def reveal(v: Any) -> Any:
        if isinstance(v, SecretStr):
            return v.get_secret_value()
        raise TypeError(type(v).__name__)

    return json.dumps(settings.model_dump(), default=reveal)


def log_path(settings: Settings, kind: Kind, name: str) -> Path:
    """Where the log of an HTTP-started job lives: beside the registry (always a local file)."""
    return settings.registry_path().parent / "logs" / f"{kind.value}s" / f"{name}.log"


def read_log(settings: Settings, kind: Kind, name: str, max_bytes: int = MAX_LOG_BYTES) -> str:
    """The job's log (its last ``max_bytes``).

    Raises
    ------
    NotFoundError
        No log: the job was not started over HTTP (the CLI prints to the terminal instead).
    """
    path = log_path(settings, kind, name)
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        raise NotFoundError(f"{kind.value} {name!r} has no job log (only jobs started over HTTP keep one)") from None
    return data.decode(errors="replace")


def remove_log(settings: Settings, kind: Kind, name: str) -> None:
    log_path(settings, kind, name).unlink(missing_ok=True)


class JobRunner:
    def __init__(self, settings: Settings, registry: Registry, workspace: Workspace) -> None:
        self.settings = settings
        self.registry = registry
        self.workspace = workspace
        self._procs: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def start(self, kind: Kind, name: str) -> None:
        path = log_path(self.settings, kind, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as log:  # a job run on (an extended tuning job) keeps its earlier log
            proc = subprocess.Popen(
                [sys.executable, "-m", "api.jobs.worker", kind.value, name],
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
            )
        self.registry.claim(kind, name, pid=proc.pid)
        assert proc.stdin is not None
        try:
            proc.stdin.write(settings_json(self.settings).encode())
            proc.stdin.close()
        except BrokenPipeError:  # the worker died at once; the watcher records it
            pass
        with self._lock:
            self._procs[(kind.value, name)] = proc
        threading.Thread(target=self._watch, args=(kind, name, proc), daemon=True).start()

    def _watch(self, kind: Kind, name: str, proc: subprocess.Popen[bytes]) -> None:
        proc.wait()
        with self._lock:
            self._procs.pop((kind.value, name), None)
        try:
            lines = read_log(self.settings, kind, name, 4096).strip().splitlines()
        except NotFoundError:
            lines = []
        reason = lines[-1] if lines else f"exit code {proc.returncode}"
        try:
            end_orphaned(self.registry, self.workspace, kind, name, f"worker exited: {reason}", pid=proc.pid)
        except NotFoundError:  # deleted meanwhile
            return
        if proc.returncode:
            logger.warning("%s %s worker exited with %s", kind.value, name, proc.returncode)

    def running(self) -> int:
        with self._lock:
            return len(self._procs)

    def wait_all(self, timeout: float | None = None) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for p in procs:
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
