"""Which process owns a job, in a form that survives pid reuse, and whether it is still alive.

A pid alone lies: after the owner dies its pid can be given to another process (or, in a
container that restarted, the new PID 1 has the old owner's pid), and a zombie still answers
``kill(pid, 0)``. So the owner is recorded as host, pid and the process's start time (clock ticks
after boot, read from ``/proc/<pid>/stat``) plus the boot id; it is alive only when a process
with that pid exists, has that start time in that boot, and is not a zombie.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@cache
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in ticks) from ``/proc/<pid>/stat``; ``None`` when there is no such process.

    Raises
    ------
    OSError
        No ``/proc`` on this system.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        if not Path("/proc/self/stat").exists():
            raise OSError("no /proc") from None
        return None
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces and parentheses
    return fields[0], fields[19]


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    pid: int
    started: str  # "<boot id>-<start ticks>", or "" where the OS does not tell

    def encode(self) -> str:
        return f"{self.host}|{self.pid}|{self.started}"

    @classmethod
    def decode(cls, text: str) -> ProcessIdentity:
        """Also reads the older ``host:pid`` form (no start time)."""
        if "|" in text:
            host, pid, started = text.split("|", 2)
        else:
            host, _, pid = text.rpartition(":")
            started = ""
        return cls(host=host, pid=int(pid), started=started)

    @classmethod
    def of(cls, pid: int | None = None) -> ProcessIdentity:
        """The identity of ``pid`` (default: this process)."""
        pid = os.getpid() if pid is None else pid
        try:
            st = _stat(pid)
        except OSError:
            st = None
        return cls(host=socket.gethostname(), pid=pid, started=f"{_boot_id()}-{st[1]}" if st else "")

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool | None:
        """Whether the process still runs; ``None`` when it is on another host (cannot tell)."""
        if not self.local:
            return None
        try:
            st = _stat(self.pid)
        except OSError:  # no /proc: fall back to the pid alone
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
        if st is None or st[0] in ("Z", "X"):  # gone, a zombie, or dead
            return False
        return not self.started or self.started == f"{_boot_id()}-{st[1]}"

    def signal(self, signum: int = signal.SIGTERM) -> bool:
        """Send ``signum`` if this very process is alive on this host; whether it was sent."""
        if self.pid == os.getpid() or self.alive() is not True:
            return False
        try:
            os.kill(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True
