"""A process's figures through psutil: its parent, CPU time, start, memory, liveness, libraries,
and which processes are idle Ray workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from orchestrator import processes


def _sleeper(title: str | None = None) -> subprocess.Popen:
    """A child that sleeps; with ``title``, its command line starts with ``title`` (as Ray titles
    its workers ``ray::IDLE``)."""
    code = "import time; time.sleep(60)"
    if title is not None:
        return subprocess.Popen(["bash", "-c", f"exec -a '{title}' {sys.executable} -c '{code}'"])
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_child_names_its_parent_and_started_after_it():
    before = time.time()
    child = _sleeper()
    try:
        assert processes.parent_pid(child.pid) == os.getpid()
        born = processes.started_at(child.pid)
        assert born is not None and before - 1.5 <= born <= time.time() + 1.5
        assert processes.started_at() <= born  # this process started first
        assert processes.alive(child.pid)
        deadline = time.time() + 10  # just started, the child may not have loaded its interpreter yet
        while time.time() < deadline and (processes.rss_mb(child.pid) or 0) <= 1:
            time.sleep(0.05)
        assert processes.rss_mb(child.pid) > 1  # an interpreter holds a few MiB at least
        assert processes.address_space_bytes(child.pid) >= processes.rss_mb(child.pid) * 2**20
    finally:
        child.kill()
        child.wait()


def test_cpu_time_grows_with_work_and_a_gone_process_has_none():
    start = processes.cpu_seconds()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # burn 0.3 s of CPU
        pass
    assert processes.cpu_seconds() - start >= 0.2
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert processes.cpu_seconds(gone.pid) is None and processes.parent_pid(gone.pid) is None
    assert processes.started_at(gone.pid) is None and processes.rss_mb(gone.pid) is None
    assert not processes.alive(gone.pid)


def test_a_zombie_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.time() + 10
    while time.time() < deadline and processes.alive(child.pid):  # ended, not yet reaped: a zombie
        time.sleep(0.05)
    try:
        assert not processes.alive(child.pid)
    finally:
        child.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="psutil lists a process's mappings on Linux")
def test_the_libraries_a_process_loaded():
    assert processes.has_library(os.getpid(), "libpython") or processes.has_library(os.getpid(), "python")
    assert processes.has_library(os.getpid(), "libtensorflow-not-a-library") is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="psutil lists a process's mappings on Linux")
def test_a_library_another_process_loaded_read_from_its_maps_and_through_psutil_alike(monkeypatch):
    child = subprocess.Popen([sys.executable, "-c", "import numpy, sys; print('up', flush=True); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "up"  # numpy's extension is mapped by now
        direct = processes.has_library(child.pid, "_multiarray_umath")
        absent = processes.has_library(child.pid, "libtensorflow")
        real_open = open

        def unreadable(path, *args, **kwargs):  # /proc/PID/maps refused, as for another user's process
            if str(path).endswith("/maps"):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr("builtins.open", unreadable)
        assert (direct, absent) == (True, False)
        assert processes.has_library(child.pid, "_multiarray_umath") is True  # psutil's smaps instead
        assert processes.has_library(child.pid, "libtensorflow") is False
    finally:
        child.stdin.close()
        child.wait()
    monkeypatch.undo()
    assert processes.has_library(child.pid, "_multiarray_umath") is False  # gone


def test_idle_ray_workers_by_parent_and_by_session():
    idle = _sleeper("ray::IDLE")
    other = _sleeper("ray::ImplicitFunc.train")
    plain = _sleeper()
    try:
        deadline = time.time() + 10
        while time.time() < deadline and idle.pid not in processes.idle_ray_workers(parent=os.getpid()):
            time.sleep(0.05)
        assert processes.idle_ray_workers(parent=os.getpid()) == [idle.pid]  # not the busy one, not the plain one
        assert idle.pid in processes.idle_ray_workers(session=os.getsid(0))
        assert processes.idle_ray_workers(parent=os.getpid(), session=os.getsid(0) + 10**6) == []
        assert processes.idle_ray_workers(parent=plain.pid) == []
    finally:
        for proc in (idle, other, plain):
            proc.kill()
            proc.wait()
