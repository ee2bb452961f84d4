"""A process's figures from Linux's /proc, for the start-up and warm-worker checks.

Read by the driver (which idle Ray workers are children of a raylet, how much CPU a worker has
used: :mod:`orchestrator.execution.ray_start`) and by a trial's worker (when its process started:
:mod:`orchestrator.training.trainable`'s start-up stamps). Elsewhere than Linux every function
answers None, and the callers do without.
"""

from __future__ import annotations

import os

__all__ = ["stat_fields", "parent_pid", "cpu_ticks", "started_at"]


def stat_fields(pid: int | str = "self") -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command's name (index 0: the state, 1: the parent,
    11 and 12: user and system CPU ticks, 19: the start in ticks after boot); None when unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def parent_pid(pid: int | str = "self") -> int | None:
    """The parent process id of ``pid``."""
    fields = stat_fields(pid)
    try:
        return int(fields[1]) if fields else None
    except (ValueError, IndexError):
        return None


def cpu_ticks(pid: int | str = "self") -> int | None:
    """``pid``'s user + system CPU time in clock ticks (None when it is gone)."""
    fields = stat_fields(pid)
    try:
        return int(fields[11]) + int(fields[12]) if fields else None
    except (ValueError, IndexError):
        return None


def started_at(pid: int | str = "self") -> float | None:
    """When ``pid`` started, in seconds since the epoch."""
    fields = stat_fields(pid)
    try:
        with open("/proc/stat", encoding="ascii") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK") if fields else None
    except (OSError, StopIteration, ValueError, IndexError):
        return None
