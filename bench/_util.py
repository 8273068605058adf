"""Helpers for benchmarks: run a command in a child process and report wall time and peak RSS."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "out"


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` in a fresh process (so peak RSS is its own) and return seconds and peak MiB."""
    wrapper = [sys.executable, "-c", (
        "import resource, subprocess, sys, time, json;"
        "t = time.perf_counter();"
        "rc = subprocess.call(sys.argv[1:]);"
        "dt = time.perf_counter() - t;"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024;"
        "print(json.dumps({'rc': rc, 'seconds': dt, 'peak_mib': peak}), file=sys.stderr)"
    ), *cmd]
    proc = subprocess.run(wrapper, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    last = proc.stderr.strip().splitlines()[-1]
    result: dict[str, Any] = json.loads(last)
    if result["rc"] != 0:
        raise RuntimeError(f"{cmd} failed:\n{proc.stderr[-3000:]}")
    result["stdout"] = proc.stdout
    return result


def self_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def now() -> float:
    return time.perf_counter()
