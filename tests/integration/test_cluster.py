"""A two-node Ray cluster on this machine, token authentication on, sweeps run on it as a Ray job and
with ``sweep run --address``, each sending only the code its spec names (never a 3 GiB data folder).

The head and the worker are started with ``ray start --block`` on their own ports and temp
directories, each in its own process session, so the test stops exactly the process groups it
started (never ``ray stop``, which would stop every Ray on the machine). The session's embedded
Ray (``ray_session``) is not used, and ``RAY_ADDRESS`` from the environment is ignored.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import yaml

from orchestrator.runtime.control import free_ports
from tests.helpers import only_run_dir

BIN = Path(sys.executable).parent
RAY = BIN / "ray"
START_TIMEOUT_S = 120  # a loaded 2-core machine took 64 s to open the head node's ports
JOB_TIMEOUT_S = 300  # a deadline only: a job under load took 150 s to end after its sweep printed its results


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


def _alive_nodes(gcs_port: int, env: dict[str, str], timeout: float = 60) -> int:
    """How many nodes the cluster has, asked through the GCS with the token (a short subprocess)."""
    code = ("import ray, json; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print('NODES', sum(1 for n in ray.nodes() if n['Alive']))") % f"127.0.0.1:{gcs_port}"
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout,
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
    (gcs, dash, client, h_nm, h_om, h_ag, h_agg, h_rt, h_met, w_nm, w_om, w_ag, w_agg, w_rt, w_met) = free_ports(15)
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
        # `ray start --block` says so once its node registered; polling with drivers before then
        # (each one a Ray client process) starved the worker's raylet on a loaded 2-core machine.
        _wait_for(lambda: b"block forever" in logs[1].read_bytes(), START_TIMEOUT_S, "the worker node", procs, logs)
        _wait_for(lambda: _alive_nodes(gcs, env, START_TIMEOUT_S) >= 2, START_TIMEOUT_S, "two alive nodes", procs, logs)
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
    refused_at = time.time()
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
    time.sleep(max(0.0, refused_at + 2 - time.time()))  # 2 s for a job that got through to have run
    assert not marker.exists()


# A user's builder next to the spec, with a helper module of its own; each call records where it
# ran and where both files were imported from (the test reads the records back).
CLUSTER_BUILDER = """
import json
import os

import keras
import ray

import blocks

RECORDS = {records!r}


def build_model(hp, data):
    record = {{"node_id": None, "actor_id": None, "cwd": os.getcwd(), "file": __file__, "pid": os.getpid(),
              "helper": blocks.__file__, "started_in": os.environ.get("TUNE_ORIG_WORKING_DIR")}}
    if ray.is_initialized():
        context = ray.get_runtime_context()
        record.update(node_id=context.get_node_id(), actor_id=context.get_actor_id())
    with open(os.path.join(RECORDS, f"{{os.getpid()}}.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\\n")
    inputs = keras.Input(shape=data.input_shape)
    outputs = keras.layers.Dense(data.n_classes, activation="softmax")(blocks.hidden(inputs, hp["units"]))
    return keras.Model(inputs, outputs)
"""
BLOCKS = """
import keras


def hidden(x, units):
    return keras.layers.Dense(units, activation="relu")(x)
"""
SEARCH = {"params": {"units": {"type": "choice", "values": [8, 16]},
                     "learning_rate": {"type": "loguniform", "low": 1.0e-3, "high": 0.05}},
          "metric": "val_accuracy", "search": {"algorithm": "random", "num_samples": 4, "seed": 1},
          "resources": {"cpu": 1}}
SHIPPED_LINE = re.compile(r"^code: 2 files, [0-9.]+ (B|KiB) sent to the cluster \(models\.py, blocks\.py\)$", re.M)


def _data_folder(work: Path) -> dict:
    """``work/data``: the CSV the driver reads (600 rows of the digits) beside a 3 GiB file (sparse:
    no disk used, but anything that sent the folder would count, read and zip all of it)."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    table = pd.DataFrame(x[:600], columns=[f"p{i}" for i in range(x.shape[1])]).assign(label=y[:600])
    (work / "data").mkdir(parents=True, exist_ok=True)
    table.to_csv(work / "data" / "digits.csv", index=False)
    with open(work / "data" / "raw_scans.bin", "wb") as f:
        f.truncate(3 * 1024**3)
    return {"path": "data/digits.csv", "target": "label", "task": "classification"}


def _builder_spec(work: Path, records: Path, big_data: bool = False) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    records.mkdir(parents=True, exist_ok=True)
    (work / "models.py").write_text(CLUSTER_BUILDER.format(records=str(records)))
    (work / "blocks.py").write_text(BLOCKS)
    (work / "notebook.py").write_text("import blocks\n")  # beside the spec, imported by nothing named
    data = _data_folder(work) if big_data else {"dataset": "digits", "samples": 600}
    spec = work / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "cluster_builder", "data": data,
                                    "model": {"builder": "models.py:build_model", "epochs": 2, "batch_size": 128},
                                    **SEARCH}, sort_keys=False))
    return spec


def _job_api(cluster, job_id: str, what: str = "") -> dict:
    """``GET /api/jobs/JOB_ID[what]`` from the head's dashboard, with the token (the job API the
    ``ray job`` commands use; asked from this process, not one ``ray job`` process per poll)."""
    request = urllib.request.Request(f"{cluster['dashboard']}/api/jobs/{job_id}{what}",
                                     headers={"Authorization": f"Bearer {cluster['token']}"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=30) as answer:
        return json.loads(answer.read())


def _run_job(cluster, job_id: str, args: list[str]) -> str:
    """Submit ``args`` as a Ray job, wait for it; its logs (the test fails unless it succeeded)."""
    env, addr = _env(cluster["token"]), cluster["dashboard"]
    sub = _job(["submit", "--address", addr, "--no-wait", "--submission-id", job_id, *args], env)
    assert sub.returncode == 0, sub.stdout + sub.stderr
    deadline, status = time.time() + JOB_TIMEOUT_S, ""
    while time.time() < deadline:
        try:
            status = _job_api(cluster, job_id).get("status", "")
        except OSError:  # the dashboard slow to answer on a loaded machine: ask again
            pass
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            break
        time.sleep(1)
    logs = _job_api(cluster, job_id, "/logs").get("logs", "")
    assert status == "SUCCEEDED", f"{status}\n--- job logs\n{logs[-4000:]}\n{_tails(cluster['logs'])}"
    return logs


def _sweep_run(cluster, work: Path, out: Path) -> str:
    """``sweep run spec.yaml --address HEAD`` in ``work``, as a user types it; its output."""
    r = subprocess.run([str(BIN / "sweep"), "run", "spec.yaml", "--address", cluster["gcs"], "--out", str(out)],
                       env=_env(cluster["token"]), cwd=work, capture_output=True, text=True, timeout=JOB_TIMEOUT_S,
                       start_new_session=True)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}\n{_tails(cluster['logs'])}"
    return r.stdout + r.stderr


def _ran_on_both_nodes(out: Path, logs: str) -> pd.DataFrame:
    """The run in ``out`` completed on the cluster, its trials spread over both nodes; its trials."""
    run_dir = only_run_dir(out)
    info = json.loads((run_dir / "run.json").read_text())
    trials = pd.read_parquet(run_dir / "trials.parquet")
    assert info["status"] == "complete", info.get("error")
    assert info["ray"]["address"] != "embedded"  # the driver joined the cluster
    assert info["ray"]["cluster_resources"].get("CPU") == 2.0
    assert "selected" in logs and str(run_dir.name) in logs  # the sweep's own lines reach the output
    assert len(trials) == 4 and (trials["status"] == "completed").all(), trials[["trial_id", "status", "error"]]
    # Both nodes have the address 127.0.0.1 here: the node ids tell them apart.
    assert trials["node_id"].nunique() == 2, trials[["trial_id", "node_id"]]
    assert trials["node_ip"].notna().all()
    return trials


def _imported_on_each_node(cluster, records: Path, trials: pd.DataFrame, work: Path) -> set[str]:
    """Each trial imported the builder, and its helper, from its own node's copy of the working_dir
    (not from the driver's path, which this machine also has); the files those copies hold."""
    source = (work / "models.py").read_text()
    calls = [json.loads(line) for f in records.glob("*.jsonl") for line in f.read_text().splitlines()]
    in_trials = [c for c in calls if c["started_in"]]  # Tune's trials (not the driver's check, nor the evaluation)
    assert {c["node_id"] for c in in_trials} == set(trials["node_id"]), in_trials
    temp_dirs = {"head": cluster["root"] / "head", "worker": cluster["root"] / "worker"}
    nodes_by_dir = {name: {c["node_id"] for c in in_trials if Path(c["started_in"]).is_relative_to(d)}
                    for name, d in temp_dirs.items()}
    assert all(nodes_by_dir.values()) and not (nodes_by_dir["head"] & nodes_by_dir["worker"]), in_trials
    held: set[str] = set()
    for c in in_trials:  # each trial started in its node's copy of the spec's directory, the builder in it
        copy = Path(c["started_in"])
        assert "_ray_pkg_" in c["started_in"] and (copy / "models.py").read_text() == source, c
        assert Path(c["file"]).parent == copy and Path(c["helper"]).parent == copy, c
        held |= {p.relative_to(copy).as_posix() for p in copy.rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
    return held


@pytest.mark.parametrize("how", ["job_working_dir", "spec_dir_sent_by_sweep"])
def test_a_builder_spec_imports_the_users_file_on_both_nodes(cluster, tmp_path, how):
    """The user's ``models.py`` next to the spec travels with the job to every node its trials run on.

    ``job_working_dir``: ``ray job submit --working-dir DIR`` (the job's own working_dir, kept as is).
    ``spec_dir_sent_by_sweep``: a job without one, the spec named by its path, beside a 3 GiB data
    folder; ``sweep run`` sends the code the spec names (the builder and the module it imports) as
    the working_dir (orchestrator/execution/working_dir.py), not the data. In both, each trial
    imports its own node's copy, though the driver's path exists too (both nodes share this machine).

    Ray starts each worker in its node's copy of the working_dir, under the node's own temp dir;
    Ray Tune then moves a trial into its trial directory and keeps where it started in
    ``TUNE_ORIG_WORKING_DIR``.
    """
    work, records, out = tmp_path / "job", tmp_path / "records", tmp_path / "shared"
    spec = _builder_spec(work, records, big_data=how == "spec_dir_sent_by_sweep")
    if how == "job_working_dir":
        args = ["--working-dir", str(work), "--", "sweep", "run", "spec.yaml", "--out", str(out)]
    else:
        args = ["--", "sweep", "run", str(spec), "--out", str(out)]
    logs = _run_job(cluster, f"sweep-builder-{how.replace('_', '-')}", args)

    trials = _ran_on_both_nodes(out, logs)
    assert trials["hp_units"].isin([8, 16]).all()
    held = _imported_on_each_node(cluster, records, trials, work)
    if how == "job_working_dir":  # the job's own working_dir: all of it, and nothing sent by the sweep
        assert {"models.py", "blocks.py", "notebook.py", "spec.yaml"} <= held
        assert not SHIPPED_LINE.search(logs) and "sent to the cluster" not in logs
    else:  # only the code: not the data folder, nor a file nothing named imports
        assert held == {"models.py", "blocks.py"}
        assert SHIPPED_LINE.search(logs), logs[-3000:]


def test_sweep_run_address_sends_a_builders_code_not_its_3_gib_data_folder(cluster, tmp_path):
    """``sweep run spec.yaml --address HEAD`` beside a 3 GiB data folder: the code goes, one line says so."""
    work, records, out = tmp_path / "project", tmp_path / "records", tmp_path / "out"
    _builder_spec(work, records, big_data=True)
    output = _sweep_run(cluster, work, out)
    assert len(SHIPPED_LINE.findall(output)) == 1, output[-3000:]
    trials = _ran_on_both_nodes(out, output)
    assert _imported_on_each_node(cluster, records, trials, work) == {"models.py", "blocks.py"}


def test_sweep_run_address_of_a_spec_naming_no_code_in_a_large_directory_sends_nothing(cluster, tmp_path):
    """The built-in MLP on a CSV in a directory of 3 GiB (a home directory, a data folder): nothing is
    sent, whatever the directory holds, and the run goes ahead with no environment variable set."""
    work, out = tmp_path / "home", tmp_path / "out"
    data = _data_folder(work)
    (work / "analysis.py").write_text("import pandas\n")
    (work / "spec.yaml").write_text(yaml.safe_dump({"name": "cluster_mlp", "data": data,
                                                    "model": {"epochs": 2, "batch_size": 128}, **SEARCH},
                                                   sort_keys=False))
    output = _sweep_run(cluster, work, out)
    assert "sent to the cluster" not in output and "working_dir" not in output, output[-3000:]
    trials = _ran_on_both_nodes(out, output)
    assert trials["hp_units"].isin([8, 16]).all()


def test_code_over_the_limit_is_refused_before_the_cluster_is_used(cluster, tmp_path):
    work, out = tmp_path / "big", tmp_path / "out"
    spec = _builder_spec(work, tmp_path / "records")
    doc = yaml.safe_load(spec.read_text())
    spec.write_text(yaml.safe_dump({**doc, "code": {"include": ["weights.bin", "notes.txt"]}}, sort_keys=False))
    (work / "weights.bin").write_bytes(b"\0" * (2 * 1024 * 1024))
    (work / "notes.txt").write_text("small")
    env = {**_env(cluster["token"]), "SWEEP_WORKING_DIR_LIMIT_MB": "1"}
    r = subprocess.run([str(BIN / "sweep"), "run", "spec.yaml", "--address", cluster["gcs"], "--out", str(out)],
                       env=env, cwd=work, capture_output=True, text=True, timeout=120, start_new_session=True)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stdout + r.stderr
    assert lines[0].startswith("sweep: error: spec.yaml: code: the code to send to the cluster"), lines[0]
    assert " is 2 MiB in 4 files" in lines[0], lines[0]
    assert "over the 1 MiB limit" in lines[0] and "largest: weights.bin (2 MiB)" in lines[0]
    assert "code.include" in lines[0] and "SWEEP_WORKING_DIR_LIMIT_MB" in lines[0]
    assert not out.exists() or not any(out.iterdir())
