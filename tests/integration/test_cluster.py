"""A two-node Ray cluster on this machine, token authentication on, a sweep submitted as a Ray job.

The head and the worker are started with ``ray start --block`` on their own ports and temp
directories, each in its own process session, so the test stops exactly the process groups it
started (never ``ray stop``, which would stop every Ray on the machine). The session's embedded
Ray (``ray_session``) is not used, and ``RAY_ADDRESS`` from the environment is ignored.
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

import pandas as pd
import pytest
import yaml

from .conftest import ROOT

BIN = Path(sys.executable).parent
RAY = BIN / "ray"
START_TIMEOUT_S = 60
JOB_TIMEOUT_S = 150


def _free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free right now (held open together so they differ)."""
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


def _env(token: str | None, mode: str | None = "token") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update({"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "RAY_USAGE_STATS_ENABLED": "0",
                "PYTHONUNBUFFERED": "1", "RAY_DEDUP_LOGS": "0"})
    if mode is not None:
        env["RAY_AUTH_MODE"] = mode
    if token is not None:
        env["RAY_AUTH_TOKEN"] = token
    return env


def _kill_group(proc: subprocess.Popen, wait: float = 15) -> None:
    """Stop one ``ray start --block`` and every process it started (its own session), nothing else.

    SIGTERM to ``ray start`` itself first (it shuts its node down), then SIGKILL to whatever of its
    process group is left.
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _wait_for(predicate, timeout: float, what: str, procs: list[subprocess.Popen], logs: list[Path]):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: `ray start` exited with {p.returncode}:\n{_tails(logs)}")
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{_tails(logs)}")


def _tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-3000:]}" for p in logs if p.exists())


def _alive_nodes(gcs_port: int, env: dict[str, str]) -> int:
    """How many nodes the cluster has, asked through the GCS with the token (a short subprocess)."""
    code = ("import ray, json; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print('NODES', sum(1 for n in ray.nodes() if n['Alive']))") % f"127.0.0.1:{gcs_port}"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                       start_new_session=True)
    for line in r.stdout.splitlines():
        if line.startswith("NODES "):
            return int(line.split()[1])
    return 0


def _ray_start_works() -> str | None:
    if not RAY.exists():
        return f"{RAY} is missing (ray[default] is not installed)"
    r = subprocess.run([str(RAY), "start", "--help"], capture_output=True, text=True, timeout=60)
    return None if r.returncode == 0 else f"`ray start --help` failed: {r.stderr.strip()[:200]}"


@pytest.fixture(scope="module")
def cluster():
    """Head (1 CPU, dashboard) + worker (1 CPU) on loopback, token auth on; yields their addresses."""
    why = _ray_start_works()
    if why:
        pytest.skip(f"cannot start a Ray cluster here: {why}")
    # Short paths: Ray puts Unix sockets under the temp dir (at most 107 bytes per socket path).
    root = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))
    token = secrets.token_hex(32)
    env = _env(token)
    (gcs, dash, client, h_nm, h_om, h_ag, h_agg, h_rt, h_met, w_nm, w_om, w_ag, w_agg, w_rt, w_met) = _free_ports(15)
    head_cmd = [str(RAY), "start", "--head", "--block", f"--port={gcs}", "--node-ip-address=127.0.0.1",
                f"--temp-dir={root / 'head'}", "--num-cpus=1", "--num-gpus=0", "--include-dashboard=true",
                "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", f"--ray-client-server-port={client}",
                f"--node-manager-port={h_nm}", f"--object-manager-port={h_om}",
                f"--dashboard-agent-listen-port={h_ag}", f"--dashboard-agent-grpc-port={h_agg}",
                f"--runtime-env-agent-port={h_rt}", f"--metrics-export-port={h_met}",
                "--object-store-memory=100000000", "--disable-usage-stats"]
    worker_cmd = [str(RAY), "start", "--block", f"--address=127.0.0.1:{gcs}", "--node-ip-address=127.0.0.1",
                  f"--temp-dir={root / 'worker'}", "--num-cpus=1", "--num-gpus=0",
                  f"--node-manager-port={w_nm}", f"--object-manager-port={w_om}",
                  f"--dashboard-agent-listen-port={w_ag}", f"--dashboard-agent-grpc-port={w_agg}",
                  f"--runtime-env-agent-port={w_rt}", f"--metrics-export-port={w_met}",
                  "--object-store-memory=100000000", "--disable-usage-stats"]
    logs = [root / "head.log", root / "worker.log"]
    procs: list[subprocess.Popen] = []
    try:
        with open(logs[0], "wb") as log:
            procs.append(subprocess.Popen(head_cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True, cwd=root))
        try:
            _wait_for(lambda: _port_open(dash) and _port_open(gcs), START_TIMEOUT_S, "the head node", procs, logs)
        except AssertionError as e:  # `ray start` itself cannot run here (sandbox, no ports): not our code
            pytest.skip(f"cannot start a Ray head node here with `ray start`: {str(e)[-1500:]}")
        with open(logs[1], "wb") as log:
            procs.append(subprocess.Popen(worker_cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True, cwd=root))
        _wait_for(lambda: _alive_nodes(gcs, env) >= 2, START_TIMEOUT_S, "two alive nodes", procs, logs)
        yield {"root": root, "token": token, "gcs": f"127.0.0.1:{gcs}", "dashboard": f"http://127.0.0.1:{dash}",
               "logs": logs}
    finally:
        for p in reversed(procs):
            _kill_group(p)
        shutil.rmtree(root, ignore_errors=True)


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _job(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(RAY), "job", *args], env=env, capture_output=True, text=True, timeout=timeout,
                          start_new_session=True)


def test_job_submission_and_connection_without_the_token_are_refused(cluster, tmp_path):
    """Anyone who can reach the cluster's ports but lacks the token can run nothing on it."""
    work = tmp_path / "job"
    work.mkdir()
    marker = tmp_path / "ran"
    command = ["--", "python", "-c", f"open({str(marker)!r}, 'w').write('ran')"]
    addr = cluster["dashboard"]
    # No token at all: the job API answers 401.
    refused = _job(["submit", "--address", addr, "--no-wait", "--working-dir", str(work), *command],
                   _env(None, mode=None))
    assert refused.returncode != 0, refused.stdout + refused.stderr
    assert "401" in refused.stdout + refused.stderr or "nauthori" in refused.stdout + refused.stderr
    # A wrong token: refused as well.
    wrong = _job(["submit", "--address", addr, "--no-wait", "--working-dir", str(work), *command],
                 _env(secrets.token_hex(32)))
    assert wrong.returncode != 0, wrong.stdout + wrong.stderr
    # A driver connecting to the GCS without the token gets no node list.
    gcs_port = int(cluster["gcs"].rsplit(":", 1)[1])
    try:
        nodes = _alive_nodes(gcs_port, _env(None, mode=None))
    except subprocess.TimeoutExpired:
        nodes = 0
    assert nodes == 0
    # And the right token works (so the refusals above are about the token, not a dead cluster).
    assert _alive_nodes(gcs_port, _env(cluster["token"])) == 2
    time.sleep(2)
    assert not marker.exists()


def test_sweep_submitted_as_a_job_runs_on_both_nodes(cluster, tmp_path):
    work = tmp_path / "job"
    work.mkdir()
    (work / "spec.yaml").write_text(yaml.safe_dump({
        "name": "cluster",
        "data": {"dataset": "digits"},
        "model": {"epochs": 2, "units": 16, "batch_size": 128},
        "params": {"learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.05}},
        "metric": "val_accuracy",
        "search": {"algorithm": "random", "num_samples": 4, "seed": 1},
        "resources": {"cpu": 1},
    }, sort_keys=False))
    out = tmp_path / "shared"  # one machine: a local path is storage both nodes reach
    env = _env(cluster["token"])
    addr = cluster["dashboard"]

    sub = _job(["submit", "--address", addr, "--no-wait", "--submission-id", "sweep-two-nodes",
                "--working-dir", str(work), "--",
                "sweep", "run", "spec.yaml", "--out", str(out)], env)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    deadline = time.time() + JOB_TIMEOUT_S
    status = ""
    while time.time() < deadline:
        st = _job(["status", "--address", addr, "sweep-two-nodes"], env)
        status = (st.stdout + st.stderr).upper()
        if any(s in status for s in ("SUCCEEDED", "FAILED", "STOPPED")):
            break
        time.sleep(2)
    logs = _job(["logs", "--address", addr, "sweep-two-nodes"], env).stdout
    assert "SUCCEEDED" in status, f"{status}\n--- job logs\n{logs[-4000:]}\n{_tails(cluster['logs'])}"

    run_dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(run_dirs) == 1, run_dirs
    run_dir = run_dirs[0]
    info = json.loads((run_dir / "run.json").read_text())
    trials = pd.read_parquet(run_dir / "trials.parquet")
    assert info["status"] == "complete" and len(trials) == 4
    assert info["ray"]["address"] != "embedded"  # the job's driver joined the cluster
    assert info["ray"]["cluster_resources"].get("CPU") == 2.0
    # Both nodes have the address 127.0.0.1 here: the node ids tell them apart.
    assert trials["node_id"].nunique() == 2, trials[["trial_id", "node_id", "node_ip"]]
    assert trials["node_ip"].notna().all()
    assert "selected" in logs and str(run_dir.name) in logs
