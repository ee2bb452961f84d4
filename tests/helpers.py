"""What test modules share: paths, spec files, the CLI (in-process and as a process), and stand-ins.

Test modules import from here, never from one another nor from a ``conftest.py`` (which holds only
fixtures and hooks). Nothing here imports Ray or TensorFlow, so unit tests may use all of it.

``run_cli`` and ``assert_no_native_lines`` hold every CLI test to what a user sees: no native log
line of TensorFlow/absl (``E0000 12:00:00.000 123 file.cc:52] ...``) ever reaches the terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import yaml

from orchestrator.execution import RunResult
from orchestrator.quiet import NATIVE_LOG_LINE
from orchestrator.results import write_json, write_parquet
from orchestrator.spec import SweepSpec, parse_spec

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "search_spaces"
# the Ray cluster launcher configs (``ray up``) the product ships
LAUNCHER = {"aws": ROOT / "cluster" / "aws-gpu.yaml", "onprem": ROOT / "cluster" / "onprem-local.yaml"}


# ------------------------------------------------------------------------------------------
# spec files and run directories
# ------------------------------------------------------------------------------------------


def write_spec(tmp_path: Path, base: str | dict[str, Any], **changes: Any) -> Path:
    """Copy a shipped spec (or a dict) into tmp_path with nested ``changes`` applied.

    ``changes`` keys are dotted paths, e.g. ``{"model.epochs": 2, "search.num_samples": 3}``;
    a value of ``None`` deletes the key.
    """
    doc = yaml.safe_load((SPECS / base).read_text()) if isinstance(base, str) else dict(base)
    if isinstance(base, str):
        _anchor_code_files(doc, SPECS)
    for dotted, value in changes.items():
        keys = dotted.split("__") if "__" in dotted else dotted.split(".")
        node = doc
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        if value is None:
            node.pop(keys[-1], None)
        else:
            node[keys[-1]] = value
    name = base if isinstance(base, str) else f"{doc.get('name', 'spec')}.yaml"
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _anchor_code_files(doc: dict[str, Any], spec_dir: Path) -> None:
    """Make a shipped spec's ``data.loader`` / ``model.builder`` file absolute: the spec names it
    relative to its own directory, and the copy lives in another one."""
    for section, key in (("data", "loader"), ("model", "builder")):
        ref = (doc.get(section) or {}).get(key)
        if not isinstance(ref, str):
            continue
        file, sep, func = ref.partition(":")
        if file.endswith(".py") and not Path(file).is_absolute() and (spec_dir / file).is_file():
            doc[section][key] = f"{(spec_dir / file).resolve()}{sep}{func}"


def journal(run: Any) -> list[dict[str, Any]]:
    """The entries of a run's ``journal.jsonl`` (written as each epoch and trial end is reported;
    the tables follow later): ``run`` a path or a storage Location; a line torn by a kill is skipped,
    a missing journal is empty."""
    try:
        text = (run / "journal.jsonl").read_text()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def is_loopback(ip: str) -> bool:
    """True for a loopback address, an IPv4 one mapped into IPv6 (``::ffff:127.0.0.1``) included."""
    import ipaddress

    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def only_run_dir(out: Path) -> Path:
    """The one run directory under ``out`` (fails when there are none or several)."""
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


RUN_STATUSES = {"completed", "stopped", "diverged", "error"}


def check_run_dir(run_dir: Path, n_trials: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What a user checks in a finished run directory of ``n_trials`` trials: its tables, their
    columns, one row per trial and epoch, the test score on the selected trial only; DuckDB reads them."""
    import duckdb

    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "complete"
    trials = pd.read_parquet(run_dir / "trials.parquet")
    epochs = pd.read_parquet(run_dir / "epochs.parquet")
    events = pd.read_parquet(run_dir / "events.parquet")
    assert len(trials) == n_trials
    assert set(trials["status"]) <= RUN_STATUSES
    assert trials["trial_id"].is_unique
    assert any(c.startswith("hp_") for c in trials.columns)
    # one row per trial and epoch, never duplicated, epochs numbered 1..n per trial
    assert not epochs.duplicated(["trial_id", "epoch"]).any()
    per_trial = epochs.groupby("trial_id")["epoch"].agg(["count", "max"])
    assert (per_trial["count"] == per_trial["max"]).all()
    assert per_trial["count"].sum() == trials["epochs"].sum()
    assert set(epochs["trial_id"]) == set(trials["trial_id"])
    for col in ("run_id", "trial_id", "epoch", "elapsed_s", "trial_elapsed_s", "train_loss", "val_loss",
                "learning_rate"):
        assert col in epochs.columns
    for col in ("run_id", "strategy", "trial_id", "status", "stop_reason", "epochs", "best_epoch",
                "train_seconds", "started_at", "ended_at", "cpus", "gpus", "node_ip", "gpu_ids",
                "diagnosis", "is_selected"):
        assert col in trials.columns, col
    # the test metric: on exactly one row, the selected one
    test_cols = [c for c in trials.columns if c.startswith("test_")]
    assert test_cols
    assert trials["is_selected"].sum() == 1
    has_test = trials[test_cols[0]].notna()
    assert has_test.sum() == 1
    assert trials.loc[has_test, "is_selected"].item()
    # DuckDB reads the same files
    con = duckdb.connect()
    n = con.execute(f"select count(*) from read_parquet('{run_dir / 'trials.parquet'}')").fetchone()[0]
    m = con.execute(f"select count(*) from read_parquet('{run_dir / 'epochs.parquet'}')").fetchone()[0]
    assert (n, m) == (len(trials), len(epochs))
    assert set(events.columns) >= {"trial_id", "epoch", "decision", "reason"}
    return trials, epochs


# ------------------------------------------------------------------------------------------
# the CLI, and what it leaves on the terminal
# ------------------------------------------------------------------------------------------


def assert_no_native_lines(text: str, where: str = "the command") -> None:
    """Fail, naming the first one, when ``text`` holds a native library's log line
    (:data:`orchestrator.quiet.NATIVE_LOG_LINE`)."""
    found = [line for line in text.splitlines() if NATIVE_LOG_LINE.match(line)]
    assert not found, (f"{where} let {len(found)} native log line(s) reach the terminal, "
                       f"the first: {found[0]!r}")


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


@contextlib.contextmanager
def _descriptors_held() -> Iterator[dict[int, bytes]]:
    """Send file descriptors 1 and 2 to temporary files while the block runs; then write what
    came to each back to where it pointed before (so pytest's capture still sees it), and leave
    it, per descriptor, in the yielded dict.

    Descriptors, not ``sys.stdout``/``sys.stderr``: native code (TensorFlow's C++ start-up, absl)
    writes to the descriptors directly, whatever Python's streams are.
    """
    held: dict[int, bytes] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        files = {1: out, 2: err}
        saved = {fd: os.dup(fd) for fd in files}
        for fd, f in files.items():
            os.dup2(f.fileno(), fd)
        try:
            yield held
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, f in files.items():
                os.dup2(saved[fd], fd)
                os.close(saved[fd])
                f.seek(0)
                held[fd] = f.read()
                _write_all(fd, held[fd])


def run_cli(*argv: Any) -> int:
    """``sweep ARGV...`` in this process; its exit code.

    Fails the test when the command let a native log line reach file descriptor 1 or 2 (when the
    command raises, its exception is what the test sees).
    """
    from orchestrator.cli import main

    args = [str(a) for a in argv]
    with _descriptors_held() as held:
        code = main(args)
    assert_no_native_lines(b"".join(held.values()).decode("utf-8", "replace"), f"sweep {' '.join(args[:1])}")
    return code


def start_sweep(*args: str, env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen:
    """``sweep ARGS...`` as a process in a session of its own (so that :func:`kill_group` ends it
    and whatever it started), its stdout and stderr appended to ``log`` (for
    :func:`assert_no_native_lines`, and to show when it fails)."""
    with open(log, "ab") as f:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args], cwd=cwd, env=env,
                                stdout=f, stderr=subprocess.STDOUT, start_new_session=True)


def kill_group(proc: subprocess.Popen, wait: float = 30) -> None:
    """SIGKILL a process started in its own session and every process it started, and nothing else."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=wait)


# ------------------------------------------------------------------------------------------
# a stand-in for the sweep (nightly and storage tests without Ray)
# ------------------------------------------------------------------------------------------

NIGHTLY_DATA = {"dataset": "digits"}
NIGHTLY_PARAMS = {"learning_rate": {"type": "loguniform", "low": 1e-3, "high": 0.1}}


def nightly_spec(params: dict[str, Any], metric: str = "val_accuracy", **extra: Any) -> SweepSpec:
    """A spec named ``n`` on the digits searching ``params``, as ``n.yaml``."""
    return parse_spec({"name": "n", "data": NIGHTLY_DATA, "params": params, "metric": metric, **extra},
                      source="n.yaml")


class FakeSweep:
    """Writes a run directory like the runner; records the warm-start points it was given."""

    def __init__(self, value: float | None = 0.9, test: float = 0.9, hp: dict | None = None,
                 fail: BaseException | None = None) -> None:
        self.value, self.test, self.hp, self.fail = value, test, hp or {"learning_rate": 0.01}, fail
        self.calls: list[dict] = []
        self.n = 0

    def __call__(self, spec: Any, out: Any, *, address: str | None = None, view: Any = None,
                 ray_resources: Any = None, warm_start: Any = None) -> RunResult:
        self.n += 1
        self.calls.append({"out": Path(out), "warm_start": warm_start})
        run_id = f"{spec.name}-{self.n}"
        run_dir = Path(out) / run_id
        run_dir.mkdir(parents=True)
        write_json({"run_id": run_id, "status": "running", "started_at": 1000.0 + self.n,
                    "budget": {"metric": spec.metric_name, "mode": spec.mode}}, run_dir / "run.json")
        if self.fail is not None:
            raise self.fail
        selected = "t0" if self.value is not None else None
        trials = pd.DataFrame([{"run_id": run_id, "trial_id": "t0", "status": "completed",
                                f"best_{spec.metric_name}": self.value, "is_selected": selected is not None,
                                "test_accuracy": self.test, **{f"hp_{k}": v for k, v in self.hp.items()}}])
        write_parquet(trials, run_dir / "trials.parquet")
        write_parquet(pd.DataFrame([{"run_id": run_id, "trial_id": "t0", "epoch": 1, "val_accuracy": self.value}]),
                      run_dir / "epochs.parquet")
        info = {"run_id": run_id, "name": spec.name, "status": "complete" if selected else "no_result",
                "started_at": 1000.0 + self.n, "budget": {"metric": spec.metric_name, "mode": spec.mode},
                "selected": None if not selected else {"trial_id": "t0", "config": self.hp,
                                                       f"best_{spec.metric_name}": self.value,
                                                       "test_accuracy": self.test}}
        write_json(info, run_dir / "run.json")
        return RunResult(run_dir, run_id, info["status"], selected, self.value,
                         {"test_accuracy": self.test} if selected else {}, {"completed": 1}, spec.metric_name)
