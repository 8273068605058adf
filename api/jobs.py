"""Start registered jobs in worker processes and watch them.

A watcher thread waits for each worker; if it exits without finishing its job (it could not
start, or died), the job is marked ``CREATE_FAILED`` with the end of the worker's stderr.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading

from api.settings import Settings
from datasets import Kind, Registry, Status

logger = logging.getLogger(__name__)


class JobRunner:
    def __init__(self, settings: Settings, registry: Registry, *, home: str) -> None:
        self.settings = settings
        self.registry = registry
        self.home = home
        self._procs: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["FORECAST_HOME"] = self.home
        env["FORECAST_REGISTRY"] = str(self.settings.registry_path())
        s3 = self.settings.s3
        for key, value in (("ENDPOINT_URL", s3.endpoint_url), ("REGION", s3.region),
                           ("KEY", s3.key.get_secret_value() if s3.key else None),
                           ("SECRET", s3.secret.get_secret_value() if s3.secret else None)):
            if value:
                env[f"FORECAST_S3__{key}"] = value
        return env

    def start(self, kind: Kind, name: str) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.worker", kind.value, name],
            env=self._env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        with self._lock:
            self._procs[(kind.value, name)] = proc
        threading.Thread(target=self._watch, args=(kind, name, proc), daemon=True).start()

    def _watch(self, kind: Kind, name: str, proc: subprocess.Popen[bytes]) -> None:
        _, err = proc.communicate()
        with self._lock:
            self._procs.pop((kind.value, name), None)
        try:
            r = self.registry.get(kind, name)
        except KeyError:
            return
        if r.status in (Status.CREATE_PENDING, Status.CREATE_IN_PROGRESS):
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            self.registry.update(kind, name, status=Status.CREATE_FAILED, message=f"worker exited: {tail[0]}")
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
