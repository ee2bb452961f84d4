"""A process's figures from /proc (Linux): its parent, its CPU ticks, when it started."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from orchestrator import procfs

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="Linux's /proc only")


def test_a_child_names_its_parent_and_started_after_it():
    before = time.time()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert procfs.parent_pid(child.pid) == os.getpid()
        born = procfs.started_at(child.pid)
        # clock ticks are 1/100 s: the start is known to within one tick (and the boot time to a second)
        assert born is not None and before - 1.5 <= born <= time.time() + 1.5
        assert procfs.started_at() <= born  # this process started first
    finally:
        child.kill()
        child.wait()


def test_cpu_ticks_grow_with_work_and_a_gone_process_has_none():
    start = procfs.cpu_ticks()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:  # burn 0.3 s of CPU
        pass
    assert procfs.cpu_ticks() - start >= 0.2 * os.sysconf("SC_CLK_TCK")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert procfs.cpu_ticks(gone.pid) is None and procfs.parent_pid(gone.pid) is None
    assert procfs.started_at(gone.pid) is None
