"""A process's figures (its parent, CPU time, start, memory, loaded libraries), through psutil.

Read by the driver and the warm runtime (which idle Ray workers belong to a raylet or a runtime,
whether one has imported TensorFlow and is done with it: :mod:`orchestrator.execution.ray_start`;
whether a runtime's processes still live: :mod:`orchestrator.runtime.state`) and by a trial's
worker (when its process started and its resident memory, for the start-up stamps:
:mod:`orchestrator.training.trainable`). psutil reads them on Linux, macOS and Windows alike; a
figure a platform does not give (the mapped libraries on macOS) is None, and every caller does
without. A process that is gone answers None (or False, or is left out).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psutil

__all__ = ["parent_pid", "cpu_seconds", "started_at", "rss_mb", "address_space_bytes", "alive", "has_library",
           "idle_ray_workers"]

_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError)


def _process(pid: int | None) -> psutil.Process:
    return psutil.Process(os.getpid() if pid is None else int(pid))


def parent_pid(pid: int | None = None) -> int | None:
    """The parent process id of ``pid`` (None: this process)."""
    try:
        return _process(pid).ppid()
    except _GONE:
        return None


def cpu_seconds(pid: int | None = None) -> float | None:
    """``pid``'s user + system CPU time so far, in seconds."""
    try:
        times = _process(pid).cpu_times()
    except _GONE:
        return None
    return float(times.user + times.system)


def started_at(pid: int | None = None) -> float | None:
    """When ``pid`` started, in seconds since the epoch."""
    try:
        return float(_process(pid).create_time())
    except _GONE:
        return None


def rss_mb(pid: int | None = None) -> float | None:
    """``pid``'s resident memory in MiB."""
    try:
        return _process(pid).memory_info().rss / 2**20
    except _GONE:
        return None


def address_space_bytes(pid: int | None = None) -> int | None:
    """The size of ``pid``'s virtual address space in bytes (what ``RLIMIT_AS`` limits)."""
    try:
        return int(_process(pid).memory_info().vms)
    except _GONE:
        return None


def alive(pid: int) -> bool:
    """True when process ``pid`` exists and has not ended (a zombie has); True as well when it
    exists but belongs to a user whose processes this one may not read."""
    try:
        return _process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.AccessDenied:
        return True
    except _GONE:
        return False


def has_library(pid: int, fragment: str) -> bool | None:
    """True when process ``pid`` has a file mapped whose path contains ``fragment`` (a shared
    library it loaded), False when not or when it is gone; None where the platform does not list
    a process's mappings (macOS).

    On Linux it reads ``/proc/PID/maps`` (2 ms for a TensorFlow worker), not psutil's
    ``memory_maps``, which reads ``smaps`` and sums every mapping's memory (~60 ms): the runtime
    asks this of every idle worker while it waits for warm ones.
    """
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
            return any(fragment in line for line in f)
    except FileNotFoundError:
        if os.path.exists("/proc/self/maps"):
            return False  # Linux, and the process is gone
    except OSError:
        pass  # not readable this way (another user's process): psutil says what it can
    try:
        maps = _process(pid).memory_maps(grouped=True)
    except AttributeError:  # psutil offers no memory_maps on this platform
        return None
    except _GONE:
        return False
    return any(fragment in m.path for m in maps)


def _processes() -> Iterator[psutil.Process]:
    return psutil.process_iter(["pid", "ppid", "cmdline"])


def idle_ray_workers(session: int | None = None, parent: int | None = None) -> list[int]:
    """Process ids of the idle Ray workers (those Ray has titled ``ray::IDLE``) in the process
    session ``session`` or among the children of ``parent`` (either, or both, or neither)."""
    out = []
    for proc in _processes():
        info = proc.info
        cmdline = info.get("cmdline") or []
        if not cmdline or not cmdline[0].startswith("ray::IDLE"):
            continue
        if parent is not None and info.get("ppid") != parent:
            continue
        if session is not None:
            try:
                if os.getsid(info["pid"]) != session:
                    continue
            except OSError:
                continue
        out.append(int(info["pid"]))
    return sorted(out)
