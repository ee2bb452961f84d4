"""``sweep up``, ``sweep down`` and ``sweep status``: start, stop and show the warm runtime.

``sweep up`` starts Ray's own ``ray start --head --block`` bound to 127.0.0.1, with token
authentication, its own temporary folder and ports, and the machine's CPUs and GPUs (or those
asked for); then the host (:mod:`.host`), the runtime's long-lived driver. Both run in process
groups of their own, detached from the terminal; ``sweep down`` stops exactly those (by process
group, never ``ray stop``, which would stop every Ray on the machine) and removes what ``sweep up``
wrote. Imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .. import processes
from . import state as state_mod
from .state import State, Unusable

__all__ = ["up", "down", "status", "free_ports", "UP_TIMEOUT_S"]

UP_TIMEOUT_S = float(os.environ.get("SWEEP_UP_TIMEOUT_S", "180"))


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports on 127.0.0.1 free right now (held open together so that they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _env(token_file: Path) -> dict[str, str]:
    """The environment of the runtime's processes: Ray's token on, single-machine mode (every
    server on 127.0.0.1), and what the sweep's workers and driver need (:mod:`..execution.ray_start`)."""
    from ..execution.ray_start import DRIVER_ENV, WORKER_ENV

    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update(WORKER_ENV)
    env.update(DRIVER_ENV)
    env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file),
                # Ray's single-machine mode: its GCS, raylet and workers bind to 127.0.0.1 only
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "PYTHONUNBUFFERED": "1"})
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def _ray_command(temp_dir: str, cpus: float | None, gpus: float | None) -> tuple[list[str], str]:
    from ..execution.ray_start import PRELOAD_MODULES, WORKER_NICENESS

    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    if ray is None:
        raise UsageError("sweep up", "Ray's `ray` command is not installed (pip install 'ray[default]')")
    gcs, client, nm, om, ag, agg, rt, met, dash = free_ports(9)
    cmd = [ray, "start", "--head", "--block", f"--port={gcs}", "--node-ip-address=127.0.0.1",
           f"--temp-dir={temp_dir}", "--include-dashboard=false", f"--dashboard-port={dash}",
           f"--ray-client-server-port={client}", f"--node-manager-port={nm}", f"--object-manager-port={om}",
           f"--dashboard-agent-listen-port={ag}", f"--dashboard-agent-grpc-port={agg}",
           f"--runtime-env-agent-port={rt}", f"--metrics-export-port={met}", "--disable-usage-stats",
           # every worker imports TensorFlow as it starts, at the driver's priority; the host stocks
           # the pool itself (prestart_workers), so the first driver gets no extra workers
           "--system-config=" + json.dumps({"preload_python_modules": list(PRELOAD_MODULES),
                                            "worker_niceness": WORKER_NICENESS,
                                            "prestart_worker_first_driver": False})]
    if cpus is not None:
        cmd.append(f"--num-cpus={cpus:g}")
    if gpus is not None:
        cmd.append(f"--num-gpus={gpus:g}")
    return cmd, f"127.0.0.1:{gcs}"


def _gpus() -> float:
    """GPUs this machine has, as Ray counts them (CUDA_VISIBLE_DEVICES, else nvidia-smi)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return float(len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"]))
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0.0
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0.0
    return float(sum(1 for line in out.splitlines() if line.startswith("GPU ")))


def _check_count(option: str, value: float | None, low: int, why: str) -> None:
    """Refuse a CPU or GPU count Ray's ``ray start`` would not take (it wants a whole number), or
    one below ``low``, naming ``option``."""
    if value is not None and not (float(value).is_integer() and value >= low):
        raise UsageError(option, f"must be a whole number of at least {low}" + (f" ({why})" if why else "")
                         + f", got {value:g}")


def up(cpus: float | None = None, gpus: float | None = None, log: Any = print) -> State:
    """Start the warm runtime (or say it is up already); the state written down.

    Raises:
        UsageError: ``cpus`` or ``gpus`` is no count Ray takes (before anything starts); it could not
            start (the message names the log to read).
    """
    _check_count("--num-cpus", cpus, 1, "a runtime without a CPU runs no trial")
    _check_count("--num-gpus", gpus, 0, "")
    folder = state_mod.runtime_dir()
    try:
        existing = state_mod.read(folder)
    except Unusable as e:
        raise UsageError("sweep up", str(e)) from None
    if existing is not None:
        if processes.alive(existing.host_pid) and processes.alive(existing.ray_pid):
            log(f"runtime already up at {existing.address} ({existing.cpus:g} CPUs, {existing.gpus:g} GPUs; "
                f"host pid {existing.host_pid}); `sweep down` stops it")
            return existing
        log(f"runtime: clearing a runtime left by a `sweep up` that was killed (at {existing.address})")
        _stop(existing, folder)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)
    token_file = folder / "token"
    old = os.umask(0o177)
    try:
        token_file.write_text(secrets.token_hex(32), encoding="ascii")
    finally:
        os.umask(old)
    # Short: Ray puts Unix sockets under its temp folder (at most 107 bytes a socket path).
    temp_dir = tempfile.mkdtemp(prefix="sweep-ray-", dir="/tmp")
    cpus = float(os.cpu_count() or 1) if cpus is None else float(cpus)
    gpus = _gpus() if gpus is None else float(gpus)
    cmd, address = _ray_command(temp_dir, cpus, gpus)
    env = _env(token_file)
    ray_log = folder / "ray.log"
    with open(ray_log, "wb") as f:
        ray_proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=temp_dir)
    st = State(address=address, socket=str(folder / "host.sock"), token_file=str(token_file), ray_pid=ray_proc.pid,
               host_pid=0, cpus=cpus, gpus=gpus, fingerprint=state_mod.fingerprint(),
               env=state_mod.forwarded_env(), temp_dir=temp_dir, started_at=time.time())
    state_mod.write(st, folder)
    try:
        _wait(lambda: b"block forever" in ray_log.read_bytes(), ray_proc, ray_log, "Ray's head node")
        host_log = folder / "host.log"
        with open(host_log, "wb") as f:
            host = subprocess.Popen([sys.executable, "-m", "orchestrator.runtime.host", str(folder)], env=env,
                                    stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, cwd=temp_dir)
        st.host_pid = host.pid
        state_mod.write(st, folder)
        _wait(lambda: bool((state_mod.read(folder) or st).ready), host, host_log, "the runtime's host")
    except BaseException:
        _stop(st, folder)
        raise
    return state_mod.read(folder) or st


def _wait(ready: Any, proc: subprocess.Popen, log_file: Path, what: str) -> None:
    deadline = time.time() + UP_TIMEOUT_S
    while time.time() < deadline:
        if ready():
            return
        if proc.poll() is not None:
            raise UsageError("sweep up", f"{what} exited with code {proc.returncode} (log: {log_file})")
        time.sleep(0.2)
    raise UsageError("sweep up", f"{what} was not up after {UP_TIMEOUT_S:g} s (log: {log_file})")


def _kill_group(pid: int, wait_s: float = 15.0) -> None:
    """SIGTERM the process ``pid`` (it shuts down what it started), then SIGKILL its process group."""
    if pid <= 0:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.time() + wait_s
    while time.time() < deadline and processes.alive(pid):
        time.sleep(0.1)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:  # reap it when it is our child (sweep up failed half way)
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def _stop(st: State, folder: Path) -> None:
    _kill_group(st.host_pid, wait_s=5.0)
    _kill_group(st.ray_pid)
    shutil.rmtree(st.temp_dir, ignore_errors=True)
    state_mod.clear(folder)


def down(log: Any = print) -> bool:
    """Stop the warm runtime; False when none was up (said, not an error)."""
    folder = state_mod.runtime_dir()
    try:
        st = state_mod.read(folder)
    except Unusable as e:
        raise UsageError("sweep down", str(e)) from None
    if st is None:
        log("no runtime is up")
        return False
    _stop(st, folder)
    log(f"runtime at {st.address} stopped")
    return True


def status() -> dict[str, Any] | None:
    """The runtime's address, resources, warm workers and running sweeps; None when none is up.

    Raises:
        UsageError: one is written down but cannot be reached (the message says why).
    """
    from .client import ask

    try:
        st = state_mod.read()
    except Unusable as e:
        raise UsageError("sweep status", str(e)) from None
    if st is None:
        return None
    if not (processes.alive(st.host_pid) and processes.alive(st.ray_pid)):
        raise UsageError("sweep status", f"the runtime at {st.address} is not running (left by a `sweep up` that "
                                         "was killed, or it died); `sweep down` clears it")
    return {**state_mod.describe(st), **ask(st, {"op": "status"})}
