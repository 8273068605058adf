"""Run a ``forecast`` command in a child process and kill it midway, as a crash would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def kill_cli_when(args: list[str], ready: Callable[[], bool], *, what: str, timeout: float, poll: float,
                  env: dict[str, str] | None = None) -> None:
    """Start ``forecast <args>`` and SIGKILL it as soon as ``ready()`` is true; it must still be
    running then (else the test could not interrupt it), and within ``timeout`` seconds."""
    forecast = str(Path(sys.executable).parent / "forecast")
    proc = subprocess.Popen([forecast, *args], env=env if env is not None else os.environ.copy(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert proc.poll() is None, f"the {what} finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(poll)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
