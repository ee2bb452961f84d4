"""Which idle workers count as warm: TensorFlow loaded *and* its import finished."""
import subprocess
import sys

from orchestrator.execution import ray_start


def test_a_worker_still_importing_is_not_warm(monkeypatch):
    # Both "have TensorFlow loaded" (as a worker does from its import's first moments); one is still
    # busy (importing), the other sits idle in its loop: only the idle one is ready for a trial.
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        monkeypatch.setattr(ray_start, "has_tensorflow", lambda pid: pid in (busy.pid, idle.pid))
        assert ray_start.tensorflow_ready([busy.pid, idle.pid], window=0.5) == [idle.pid]
    finally:
        busy.kill()
        idle.kill()


def test_gone_and_cold_processes_are_not_warm(monkeypatch):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    monkeypatch.setattr(ray_start, "has_tensorflow", lambda pid: pid == gone.pid)
    assert ray_start.tensorflow_ready([gone.pid], window=0.1) == []
    monkeypatch.setattr(ray_start, "has_tensorflow", lambda pid: False)
    assert ray_start.tensorflow_ready([gone.pid], window=0.1) == []


def test_where_the_platform_cannot_list_libraries_a_quiet_worker_is_warm(monkeypatch):
    # macOS: psutil cannot list a process's mappings; the runtime's workers all preload TensorFlow,
    # so a quiet one has finished its import and a busy one has not
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    idle = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        monkeypatch.setattr(ray_start, "has_tensorflow", lambda pid: None)
        assert ray_start.tensorflow_ready([busy.pid, idle.pid], window=0.5) == [idle.pid]
    finally:
        busy.kill()
        idle.kill()
