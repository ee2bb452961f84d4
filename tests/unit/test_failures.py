"""Unit tests for trial failures: the classification of an error, the retry count and its event in
the run tables (and their journal), and the test-only fault-injection plan. No Ray, no TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.results import RunTables, classify_failure
from orchestrator.training import faults as faults_mod
from orchestrator.training.faults import InjectedFault, faults_for, load_plan

ACTOR_DIED = (
    "The actor died unexpectedly before finishing this task.\n\tclass_name: ImplicitFunc\n\tpid: 23809\n"
    "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker exit detail: "
    "Worker unexpectedly exits with a connection error code 2. Some common causes include: (1) the process was "
    "killed by the OOM killer due to high memory usage, (2) ray stop --force was called"
)


# -- classify_failure ------------------------------------------------------------------------------


@pytest.mark.parametrize("types, message, reason, starts", [
    (["InjectedFault", "RuntimeError", "Exception"], "InjectedFault: boom at epoch 2\nmore", "error",
     "InjectedFault: boom at epoch 2"),
    (["MemoryError", "Exception"], "MemoryError: Unable to allocate 8.00 GiB", "out_of_memory",
     "out of memory: MemoryError: Unable to allocate 8.00 GiB"),
    (["ResourceExhaustedError", "OpError", "Exception"], "ResourceExhaustedError: OOM when allocating tensor",
     "out_of_memory", "out of memory: ResourceExhaustedError: OOM when allocating tensor"),
    (["OutOfMemoryError", "RayError"], "Task was killed due to the node running low on memory.", "out_of_memory",
     "out of memory: Task was killed"),
    (["RuntimeError"], "RuntimeError: CUDA out of memory. Tried to allocate 2 GiB", "out_of_memory",
     "out of memory: RuntimeError: CUDA out of memory"),
    (["ActorDiedError", "RayActorError", "RayError"], ACTOR_DIED, "worker_died",
     "worker process died (killed, possibly out of memory): The actor died unexpectedly"),
    (["ActorDiedError", "RayActorError"], ACTOR_DIED.replace("SYSTEM_ERROR", "NODE_OUT_OF_MEMORY"),
     "out_of_memory", "out of memory: The actor died unexpectedly"),
    (["ActorDiedError"], "The actor died unexpectedly before finishing this task.\nTask was killed due to the node "
     "running low on memory.", "out_of_memory", "out of memory: The actor died unexpectedly"),
    (["ValueError"], "ValueError: room for zoom", "error", "ValueError: room for zoom"),
])
def test_classify_failure(types: list[str], message: str, reason: str, starts: str) -> None:
    got_reason, text = classify_failure(types, message)
    assert got_reason == reason
    assert text.startswith(starts)
    assert "\n" not in text


def test_a_killed_worker_names_its_exit_type() -> None:
    assert classify_failure(["ActorDiedError"], ACTOR_DIED)[1].endswith("(exit type SYSTEM_ERROR)")


# -- retries in the tables --------------------------------------------------------------------------


def test_retries_are_counted_kept_as_events_and_replayed(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    t = RunTables("r", "val_loss", "min")
    t.open_journal(journal)
    t.trial_started("a", {"learning_rate": 0.1})
    t.epoch("a", {"epoch": 1, "val_loss": 1.0})
    t.trial_retried("a", "error", "InjectedFault: boom")
    t.trial_started("a", {"learning_rate": 0.1})
    t.epoch("a", {"epoch": 2, "val_loss": 0.9})
    t.trial_retried("a", "out_of_memory", "out of memory: MemoryError: x")
    t.trial_started("a", {"learning_rate": 0.1})
    t.trial_ended("a", "error", "out_of_memory", "out of memory: MemoryError: x")
    t.trial_started("b", {})
    t.close_journal()

    for tables in (t, RunTables.replay(journal, "r", "val_loss", "min")):
        rows = tables.trials_frame().set_index("trial_id")
        assert rows.loc["a", "retries"] == 2 and rows.loc["a", "attempts"] == 3
        assert rows.loc["a", "status"] == "error" and rows.loc["a", "stop_reason"] == "out_of_memory"
        assert rows.loc["a", "error"] == "out of memory: MemoryError: x"
        assert rows.loc["b", "retries"] == 0 and rows.loc["b", "attempts"] == 1
        ev = tables.events_frame()
        ev = ev[ev.trial_id == "a"]
        assert list(zip(ev.epoch, ev.decision, ev.reason)) == [
            (1, "retry", "error"), (2, "retry", "out_of_memory"), (2, "stop", "out_of_memory")]
        assert ev.detail.iloc[0] == "InjectedFault: boom"


def test_a_line_torn_by_a_kill_does_not_swallow_the_next(tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    t = RunTables("r", "val_loss", "min")
    t.open_journal(journal)
    t.trial_started("a", {})
    t.epoch("a", {"epoch": 1, "val_loss": 1.0})
    t.close_journal()
    with open(journal, "a", encoding="utf-8") as f:
        f.write('{"kind": "epoch", "trial_id": "a", "res')  # the driver died here
    resumed = RunTables.replay(journal, "r", "val_loss", "min")
    resumed.open_journal(journal)
    resumed.epoch("a", {"epoch": 2, "val_loss": 0.9})
    resumed.close_journal()
    assert sorted(RunTables.replay(journal, "r", "val_loss", "min").epochs) == [("a", 1), ("a", 2)]


# -- the fault plan -----------------------------------------------------------------------------------


def test_no_plan_when_the_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(faults_mod.ENV, raising=False)
    assert load_plan() is None
    assert faults_for(None, "t_00001", 5) == []


def test_an_unreadable_plan_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults_mod.ENV, str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="SWEEP_FAULT_INJECTION"):
        load_plan()
    (tmp_path / "bad.json").write_text('{"kind": "explode"}')
    with pytest.raises(ValueError, match="kind"):
        load_plan(str(tmp_path / "bad.json"))


def _plan(tmp_path: Path, doc: object) -> list[dict]:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc))
    plan = load_plan(str(path))
    assert plan is not None
    return plan


def test_listed_trials_and_a_random_epoch_that_leaves_a_checkpoint(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"trials": [3, 7], "epoch": "random", "seed": 5})
    assert plan[0]["state_dir"] == str((tmp_path / "plan.json.state").resolve())
    picked = {i for i in range(20) if faults_for(plan, f"train_{i:05d}", 6)}
    assert picked == {3, 7}
    epochs = [faults_for(plan, f"x_{i:05d}", 6)[0].epoch for i in (3, 7)]
    assert all(2 <= e <= 6 for e in epochs)
    # the same plan picks the same epochs every time (a retry and a resumed run agree)
    assert epochs == [faults_for(plan, f"x_{i:05d}", 6)[0].epoch for i in (3, 7)]


def test_probability_picks_about_that_share_reproducibly(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"probability": 0.1, "seed": 1})
    picked = [i for i in range(1000) if faults_for(plan, f"t_{i:05d}", 4)]
    assert 60 <= len(picked) <= 140
    assert picked == [i for i in range(1000) if faults_for(plan, f"t_{i:05d}", 4)]


def test_once_fires_on_one_attempt_only_and_logs_it(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"trials": [1], "epoch": 2, "times": "once"})
    (fault,) = faults_for(plan, "t_00001", 4)
    fault.at_epoch_begin(1)  # not its epoch
    with pytest.raises(InjectedFault, match="t_00001 at epoch 2"):
        fault.at_epoch_begin(2)
    fault.at_epoch_begin(2)  # the retry goes on
    fired = [json.loads(x) for x in (tmp_path / "plan.json.state" / "fired.jsonl").read_text().splitlines()]
    assert [(f["trial_id"], f["epoch"]) for f in fired] == [("t_00001", 2)]


def test_always_fires_every_attempt(tmp_path: Path) -> None:
    plan = _plan(tmp_path, {"trials": "all", "epoch": 3, "times": "always"})
    (fault,) = faults_for(plan, "t_00004", 4)
    for _ in range(3):
        with pytest.raises(InjectedFault):
            fault.at_epoch_begin(3)
    assert len((tmp_path / "plan.json.state" / "fired.jsonl").read_text().splitlines()) == 3


def test_memory_fault_really_fails_to_allocate_and_lifts_its_limit(tmp_path: Path) -> None:
    """In a child process: the allocation raises MemoryError, and afterwards memory is usable again."""
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"trials": [0], "epoch": 1, "kind": "memory"}))
    code = (
        "import resource, numpy as np\n"
        "from orchestrator.training.faults import load_plan, faults_for\n"
        f"(f,) = faults_for(load_plan({str(plan)!r}), 't_00000', 2)\n"
        "before = resource.getrlimit(resource.RLIMIT_AS)\n"
        "try:\n    f.at_epoch_begin(1)\nexcept MemoryError as e:\n    print('MemoryError', e)\n"
        "assert resource.getrlimit(resource.RLIMIT_AS) == before\n"
        "a = np.ones(64 << 20, dtype=np.uint8); print('ok', a.sum())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "MemoryError Unable to allocate" in out.stdout and f"ok {64 << 20}" in out.stdout


def test_slow_sleeps_every_epoch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(faults_mod.time, "sleep", slept.append)
    plan = _plan(tmp_path, {"trials": "all", "kind": "slow", "seconds": 0.25})
    (fault,) = faults_for(plan, "t_00002", 3)
    for e in (1, 2, 3):
        fault.at_epoch_begin(e)
    assert slept == [0.25, 0.25, 0.25]
