"""Unit tests for orchestrator.results (and progress.format_config): the run tables fed fabricated
trial reports, the status of a finished trial, and the atomic writers. No Ray, no TensorFlow.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator.progress import format_config
from orchestrator.results import (
    RunTables,
    asha_rung,
    clean_json,
    end_status,
    new_run_id,
    load,
    write_json,
    write_parquet,
)

NAN, INF = math.nan, math.inf


def report(epoch: int, val_loss: float, **extra: Any) -> dict[str, Any]:
    """A trial's per-epoch report, as the trainable sends it to Ray Tune."""
    r = {"epoch": epoch, "val_loss": val_loss, "train_loss": val_loss, "epoch_s": 1.0,
         "trial_elapsed_s": float(epoch), "diverged": False, "stop_reason": ""}
    r.update(extra)
    return r


def feed(tables: RunTables, trial_id: str, values: list[float], config: dict[str, Any] | None = None,
         metric: str = "val_loss", **extra: Any) -> None:
    tables.trial_started(trial_id, config or {})
    for i, v in enumerate(values, start=1):
        r = report(i, v, **extra)
        r[metric] = v
        tables.epoch(trial_id, r)


# -- asha_rung -----------------------------------------------------------------------------------


@pytest.mark.parametrize("epochs, rung", [(1, 0), (2, 0), (3, 1), (5, 1), (8, 1), (9, 2), (26, 2), (27, 3)])
def test_asha_rung_grace_1_rf_3(epochs: int, rung: int) -> None:
    assert asha_rung(epochs, grace_period=1, reduction_factor=3) == rung


@pytest.mark.parametrize("epochs, rung", [(2, 0), (3, 0), (4, 1), (7, 1), (8, 2), (15, 2), (16, 3)])
def test_asha_rung_grace_2_rf_2(epochs: int, rung: int) -> None:
    assert asha_rung(epochs, grace_period=2, reduction_factor=2) == rung


def test_asha_rung_fractional_reduction_factor() -> None:
    # milestones 4, 6, 9, 13.5
    assert [asha_rung(e, 4, 1.5) for e in (4, 5, 6, 8, 9, 13, 14)] == [0, 0, 1, 1, 2, 2, 3]


# -- end_status ----------------------------------------------------------------------------------


@pytest.mark.parametrize("errored, last, scheduler, expected", [
    (True, {"epoch": 10, "stop_reason": "max_epochs"}, "asha", ("error", "error")),
    (True, None, "none", ("error", "error")),
    (False, {"epoch": 4, "diverged": True, "stop_reason": "diverged"}, "asha", ("diverged", "diverged")),
    (False, {"epoch": 10, "diverged": True, "stop_reason": "diverged"}, "none", ("diverged", "diverged")),
    (False, {"epoch": 6, "stop_reason": "patience"}, "asha", ("stopped", "patience")),
    (False, {"epoch": 10, "stop_reason": "max_epochs"}, "asha", ("completed", "max_epochs")),
    (False, {"epoch": 10, "stop_reason": ""}, "none", ("completed", "max_epochs")),
    (False, {"epoch": 1, "stop_reason": ""}, "asha", ("stopped", "asha_rung_0")),
    (False, {"epoch": 3, "stop_reason": ""}, "asha", ("stopped", "asha_rung_1")),
    (False, {"epoch": 9, "stop_reason": ""}, "asha", ("stopped", "asha_rung_2")),
    (False, {"epoch": 4, "stop_reason": ""}, "median", ("stopped", "median")),
    (False, {"epoch": 4, "stop_reason": ""}, "hyperband", ("stopped", "hyperband")),
    (False, {"epoch": 4, "stop_reason": ""}, "none", ("stopped", "stopped")),
    (False, None, "none", ("stopped", "stopped")),
])
def test_end_status(errored: bool, last: dict[str, Any] | None, scheduler: str, expected: tuple[str, str]) -> None:
    assert end_status(errored=errored, last=last, max_epochs=10, scheduler=scheduler,
                      grace_period=1, reduction_factor=3) == expected


def test_end_status_asha_uses_the_spec_rungs() -> None:
    last = {"epoch": 4, "stop_reason": ""}
    assert end_status(errored=False, last=last, max_epochs=20, scheduler="asha",
                      grace_period=2, reduction_factor=2) == ("stopped", "asha_rung_1")


# -- RunTables: recording and queries ------------------------------------------------------------


def test_records_trials_and_epochs() -> None:
    t = RunTables("run-1", "val_loss", "min")
    feed(t, "a", [1.0, 0.8, 0.9], config={"learning_rate": 0.01})
    feed(t, "b", [2.0, 1.5])
    ep = t.epochs_frame()
    assert list(zip(ep.trial_id, ep.epoch)) == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)]
    assert ep.loc[(ep.trial_id == "a") & (ep.epoch == 2), "val_loss"].item() == 0.8
    assert set(ep.run_id) == {"run-1"}
    assert ep["diverged"].dtype == bool
    assert "stop_reason" not in ep  # only the epoch fields are copied
    assert t.curve("a", "val_loss") == [1.0, 0.8, 0.9]
    assert t.trials["a"].config == {"learning_rate": 0.01}


def test_re_recording_an_epoch_replaces_it() -> None:
    t = RunTables("r", "val_loss", "min")
    feed(t, "a", [1.0, 0.8, 0.7])
    t.epoch("a", report(2, 0.5))  # a restored trial reports epoch 2 again
    t.epoch("a", report(3, 0.4))
    ep = t.epochs_frame()
    assert len(ep) == 3
    assert list(ep.val_loss) == [1.0, 0.5, 0.4]
    assert t.compute()["epochs_trained"] == 3


def test_restarted_trial_counts_attempts() -> None:
    t = RunTables("r", "val_loss", "min")
    feed(t, "a", [1.0])
    t.trial_started("a", {})
    assert t.trials["a"].attempts == 2
    assert t.trials_frame().attempts.tolist() == [2]


def test_a_paused_and_resumed_trial_keeps_the_seconds_of_every_attempt(tmp_path) -> None:
    """A PBT, median or Hyperband pause restarts the trial's function, which counts its seconds and
    its start anew (a user's PBT run showed 0.7 trial-seconds where its epochs took 6)."""
    journal = tmp_path / "journal.jsonl"
    t = RunTables("r", "val_loss", "min")
    t.open_journal(journal)
    t.trial_started("a", {"epochs": 3})
    t.epoch("a", report(1, 0.9, trial_elapsed_s=4.0, train_seconds=4.0, started_at=100.0))
    for epoch, seconds, start in ((2, 0.2, 105.0), (3, 0.16, 106.0)):  # two more attempts, an epoch each
        t.trial_started("a", {"epochs": 3})
        t.epoch("a", report(epoch, 0.9 - epoch / 10, trial_elapsed_s=seconds, train_seconds=seconds,
                            started_at=start))
    for tables in (t, RunTables.replay(journal, "r", "val_loss", "min")):
        ep, row = tables.epochs_frame(), tables.trials_frame().iloc[0]
        assert ep.trial_elapsed_s.tolist() == pytest.approx([4.0, 4.2, 4.36])
        assert row.train_seconds == pytest.approx(4.36) and row.attempts == 3
        assert row.started_at == pd.Timestamp(100.0, unit="s", tz="UTC")  # its first attempt's
        assert tables.compute()["trial_seconds"] == pytest.approx(4.36)


@pytest.mark.parametrize("mode, values, expected", [
    ("min", [NAN, 0.5, NAN, 0.3, INF, -INF, 0.4], (0.3, 4)),
    ("max", [NAN, 0.5, INF, 0.7, NAN, 0.6], (0.7, 4)),
    ("min", [0.5, 0.5], (0.5, 1)),  # the first epoch with the best value
])
def test_best_skips_non_finite(mode: str, values: list[float], expected: tuple[float, int]) -> None:
    t = RunTables("r", "val_loss", mode)
    feed(t, "a", values)
    assert t.best("a") == expected


def test_best_epoch_is_the_reported_epoch_when_a_trial_jumps_ahead() -> None:
    # PBT restored this trial from a donor's checkpoint at epoch 6: it goes on at epoch 7
    t = RunTables("r", "val_loss", "min")
    t.trial_started("b", {})
    for epoch, v in [(1, 1.0), (2, 0.9), (3, 0.8), (4, 0.85), (7, 0.4), (8, 0.5)]:
        t.epoch("b", report(epoch, v))
    assert t.best("b") == (0.4, 7)
    t.trial_ended("b", "completed", "max_epochs")
    row = t.trials_frame().iloc[0]
    ep = t.epochs_frame()
    assert ep.loc[ep.epoch == row.best_epoch, "val_loss"].item() == row.best_val_loss


def test_best_of_an_all_nan_curve() -> None:
    t = RunTables("r", "val_loss", "min")
    feed(t, "a", [NAN, NAN])
    best, epoch = t.best("a")
    assert math.isnan(best) and epoch == 0


def _finished(t: RunTables, trial_id: str, values: list[float], status: str, reason: str, **kw: Any) -> None:
    feed(t, trial_id, values, **kw)
    t.trial_ended(trial_id, status, reason)


def test_select_best_min_never_diverged_or_errored() -> None:
    t = RunTables("r", "val_loss", "min")
    _finished(t, "completed", [1.0, 0.3], "completed", "max_epochs")
    _finished(t, "stopped", [1.0, 0.25], "stopped", "asha_rung_1")
    _finished(t, "diverged", [0.1, NAN], "diverged", "diverged")
    _finished(t, "error", [0.05], "error", "error")
    feed(t, "running", [0.01])
    assert t.select_best() == "stopped"


def test_select_best_max() -> None:
    t = RunTables("r", "val_accuracy", "max")
    _finished(t, "a", [0.5, 0.9, 0.8], "completed", "max_epochs", metric="val_accuracy")
    _finished(t, "b", [0.6, 0.85], "completed", "max_epochs", metric="val_accuracy")
    _finished(t, "c", [0.99], "diverged", "diverged", metric="val_accuracy")
    assert t.select_best() == "a"


def test_select_best_ties_go_to_the_earliest_best_epoch() -> None:
    t = RunTables("r", "val_loss", "min")
    _finished(t, "late", [1.0, 0.9, 0.5], "completed", "max_epochs")
    _finished(t, "early", [0.5, 0.9, 0.9], "completed", "max_epochs")
    assert t.select_best() == "early"


def test_select_best_none_when_nothing_is_selectable() -> None:
    t = RunTables("r", "val_loss", "min")
    _finished(t, "a", [0.5, INF], "diverged", "diverged")
    _finished(t, "b", [0.4, NAN], "diverged", "diverged")
    _finished(t, "c", [NAN], "stopped", "asha_rung_0")  # no finite value at all
    assert t.select_best() is None


# -- trials_frame --------------------------------------------------------------------------------


def _two_trial_run(metric: str = "val_accuracy", mode: str = "max") -> RunTables:
    t = RunTables("run-7", metric, mode, strategy="parallel", resources={"cpu": 2.0, "gpu": 0.5})
    t.node_ips = {"node-a": "10.0.0.1"}
    t.trial_started("t1", {"learning_rate": 0.01, "units": 32, "epochs": 10})
    for i, (acc, loss) in enumerate([(0.5, 1.2), (0.8, 0.6), (0.7, 0.7)], start=1):
        extra = {"node_id": "node-a", "node_ip": "192.168.0.9", "gpu_ids": "0", "pid": 123,
                 "started_at": 1_700_000_000.0} if i == 1 else {}
        t.epoch("t1", report(i, loss, val_accuracy=acc, trial_elapsed_s=3.0 * i, **extra))
    t.trial_ended("t1", "stopped", "asha_rung_1")
    t.trial_started("t2", {"learning_rate": 0.1, "units": 64, "epochs": 10})
    t.epoch("t2", report(1, 0.9, val_accuracy=0.6, node_id="node-b", node_ip="192.168.0.10", gpu_ids=""))
    t.epoch("t2", report(2, 0.8, val_accuracy=NAN))
    t.trial_ended("t2", "stopped", "patience")
    t.selected = t.select_best()
    t.test_metrics = {"test_loss": 0.4, "test_accuracy": 0.77}
    return t


TRIAL_COLUMNS = ["run_id", "strategy", "trial_id", "status", "stop_reason", "epochs", "best_epoch",
                 "best_val_accuracy", "last_val_accuracy", "train_seconds", "started_at", "ended_at",
                 "cpus", "gpus", "node_ip", "gpu_ids", "diagnosis", "is_selected"]


def test_trials_frame_columns_and_values() -> None:
    t = _two_trial_run()
    t.diagnoses = {"t1": {"label": "healthy", "reason": "ok", "stop_epoch": None}}
    df = t.trials_frame().set_index("trial_id", drop=False)
    missing = [c for c in TRIAL_COLUMNS + ["hp_learning_rate", "hp_units", "hp_epochs"] if c not in df]
    assert not missing
    r1, r2 = df.loc["t1"], df.loc["t2"]
    assert (r1.run_id, r1.strategy, r1.status, r1.stop_reason) == ("run-7", "parallel", "stopped", "asha_rung_1")
    assert (r1.epochs, r1.best_epoch, r1.best_val_accuracy, r1.last_val_accuracy) == (3, 2, 0.8, 0.7)
    assert r1.best_val_loss == 0.6
    assert r1.train_seconds == 9.0
    assert r1.started_at == pd.Timestamp("2023-11-14 22:13:20", tz="UTC")
    assert r1.ended_at >= r1.started_at
    assert (r1.cpus, r1.gpus) == (2.0, 0.5)
    assert r1.node_ip == "10.0.0.1"  # the address Ray knows the node by, not the one the trial saw
    assert r2.node_ip == "192.168.0.10"  # unknown node id: the reported address
    assert r1.gpu_ids == "0"
    assert r1.pid == 123
    assert r1.diagnosis == "healthy" and pd.isna(r2.diagnosis)
    assert (r2.epochs, r2.best_epoch, r2.best_val_accuracy, r2.last_val_accuracy) == (2, 1, 0.6, 0.6)
    assert (r1.hp_learning_rate, r1.hp_units, r2.hp_learning_rate, r2.hp_units) == (0.01, 32, 0.1, 64)


def test_test_metrics_only_on_the_selected_row() -> None:
    t = _two_trial_run()
    df = t.trials_frame().set_index("trial_id")
    assert t.selected == "t1"
    assert df.is_selected.tolist() == [True, False]
    assert df.loc["t1", "test_accuracy"] == 0.77 and df.loc["t1", "test_loss"] == 0.4
    assert pd.isna(df.loc["t2", "test_accuracy"]) and pd.isna(df.loc["t2", "test_loss"])


def test_no_selection_no_test_metrics() -> None:
    t = RunTables("r", "val_loss", "min")
    _finished(t, "a", [0.5, NAN], "diverged", "diverged")
    t.selected = t.select_best()
    df = t.trials_frame()
    assert df.is_selected.tolist() == [False]


# -- events --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, reason, source", [
    ("stopped", "asha_rung_1", "scheduler"),
    ("stopped", "median", "scheduler"),
    ("stopped", "hyperband", "scheduler"),
    ("stopped", "plateau", "stopper"),
    ("stopped", "experiment_plateau", "stopper"),
    ("diverged", "diverged", "guard"),
    ("stopped", "patience", "early_stopping"),
    ("error", "error", "error"),
])
def test_an_event_for_every_stop_that_is_not_the_budget(status: str, reason: str, source: str) -> None:
    t = RunTables("r", "val_loss", "min")
    feed(t, "a", [1.0, 0.9, 0.95])
    t.trial_ended("a", status, reason, error="boom" if status == "error" else "")
    ev = t.events_frame()
    assert len(ev) == 1
    e = ev.iloc[0]
    assert (e.run_id, e.trial_id, e.epoch, e.source, e.decision, e.reason) == ("r", "a", 3, source, "stop", reason)
    assert e["at"].tzinfo is not None
    if status == "error":
        assert e.detail == "boom"


def test_no_event_when_a_trial_trains_to_its_budget() -> None:
    t = RunTables("r", "val_loss", "min")
    feed(t, "a", [1.0, 0.9])
    t.trial_ended("a", "completed", "max_epochs")
    assert t.events_frame().empty


def test_error_detail_is_truncated() -> None:
    t = RunTables("r", "val_loss", "min")
    feed(t, "a", [1.0])
    t.trial_ended("a", "error", "error", error="x" * 5000)
    assert len(t.events_frame().detail.iloc[0]) == 500
    assert t.trials_frame().error.iloc[0] == "x" * 5000


# -- compute -------------------------------------------------------------------------------------


def test_compute_on_two_trials_by_hand() -> None:
    t = RunTables("r", "val_loss", "min")
    # t1 trains all 10 epochs: first epoch 3 s (set-up), then 1 s each -> 12 s.
    t.trial_started("t1", {"epochs": 10})
    for i in range(1, 11):
        t.epoch("t1", report(i, 1.0 / i, epoch_s=3.0 if i == 1 else 1.0, trial_elapsed_s=2.0 + i))
    t.trial_ended("t1", "completed", "max_epochs")
    # t2 stopped after 3 of 10 epochs: 3 s, 1 s, 2 s -> 6 s spent (elapsed reported 6.0);
    # steady pace (1 + 2) / 2 = 1.5 s/epoch -> 7 more epochs would have cost 10.5 s.
    t.trial_started("t2", {"epochs": 10})
    for i, s in enumerate([3.0, 1.0, 2.0], start=1):
        t.epoch("t2", report(i, 1.0, epoch_s=s, trial_elapsed_s=[3.0, 4.0, 6.0][i - 1]))
    t.trial_ended("t2", "stopped", "asha_rung_1")

    c = t.compute()
    assert c["epochs_trained"] == 13
    assert c["epochs_full"] == 20
    assert c["epochs_saved_fraction"] == pytest.approx(1 - 13 / 20)
    assert c["trial_seconds"] == pytest.approx(12.0 + 6.0)
    assert c["trial_seconds_full"] == pytest.approx(12.0 + 6.0 + 10.5)
    assert c["trial_seconds_saved_fraction"] == pytest.approx(1 - 18.0 / 28.5)


def test_compute_without_configured_epochs_counts_what_ran() -> None:
    t = RunTables("r", "val_loss", "min")
    feed(t, "a", [1.0, 0.9])
    c = t.compute()
    assert (c["epochs_trained"], c["epochs_full"], c["epochs_saved_fraction"]) == (2, 2, 0.0)


def test_compute_of_an_empty_run() -> None:
    c = RunTables("r", "val_loss", "min").compute()
    assert c["epochs_trained"] == 0 and c["epochs_full"] == 0
    assert c["epochs_saved_fraction"] == 0.0 and c["trial_seconds_saved_fraction"] == 0.0


# -- writing -------------------------------------------------------------------------------------


def test_flush_writes_three_tables_pandas_reads_back(tmp_path: Path) -> None:
    t = _two_trial_run()
    t.flush(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epochs.parquet", "events.parquet", "trials.parquet"]
    trials = pd.read_parquet(tmp_path / "trials.parquet")
    epochs = pd.read_parquet(tmp_path / "epochs.parquet")
    events = pd.read_parquet(tmp_path / "events.parquet")
    pd.testing.assert_frame_equal(trials, t.trials_frame(), check_dtype=False)
    pd.testing.assert_frame_equal(epochs, t.epochs_frame(), check_dtype=False)
    pd.testing.assert_frame_equal(events, t.events_frame(), check_dtype=False)
    assert trials.trial_id.tolist() == ["t1", "t2"]
    assert len(epochs) == 5
    assert events.reason.tolist() == ["asha_rung_1", "patience"]


def test_empty_events_table_keeps_its_columns_and_types(tmp_path: Path) -> None:
    full = _two_trial_run()
    empty = RunTables("run-0", "val_accuracy", "max")
    write_parquet(full.events_frame(), tmp_path / "full.parquet")
    write_parquet(empty.events_frame(), tmp_path / "empty.parquet")
    schema = pq.read_schema(tmp_path / "empty.parquet").remove_metadata()
    assert schema.names == ["run_id", "trial_id", "epoch", "at", "source", "decision", "reason", "detail",
                            "old_value", "new_value"]
    assert schema == pq.read_schema(tmp_path / "full.parquet").remove_metadata()
    assert pa.types.is_int64(schema.field("epoch").type)
    assert pa.types.is_timestamp(schema.field("at").type) and schema.field("at").type.tz == "UTC"
    for name in ("run_id", "trial_id", "source", "decision", "reason", "detail"):
        typ = schema.field(name).type
        assert pa.types.is_string(typ) or pa.types.is_large_string(typ), (name, typ)
    for name in ("old_value", "new_value"):
        assert pa.types.is_float64(schema.field(name).type), name
    assert len(pd.read_parquet(tmp_path / "empty.parquet")) == 0


def test_write_parquet_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "trials.parquet"
    first = pd.DataFrame({"trial_id": ["a", "b"], "value": [1.0, 2.0]})
    write_parquet(first, path)

    def half_written(table: Any, where: Any, *args: Any, **kwargs: Any) -> None:
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", half_written)
    with pytest.raises(OSError, match="disk full"):
        write_parquet(pd.DataFrame({"trial_id": ["c"], "value": [3.0]}), path)
    monkeypatch.undo()

    pd.testing.assert_frame_equal(pd.read_parquet(path), first)
    assert [p.name for p in tmp_path.iterdir()] == ["trials.parquet"]  # no temporary file left


def test_write_parquet_replaces_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    write_parquet(pd.DataFrame({"a": [1, 2, 3]}), path)
    write_parquet(pd.DataFrame({"a": [4]}), path)
    assert pd.read_parquet(path).a.tolist() == [4]
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


def test_write_json_refuses_nan_and_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_json({"status": "running"}, path)
    with pytest.raises(ValueError):
        write_json({"status": "done", "best": NAN}, path)
    assert json.loads(path.read_text()) == {"status": "running"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_clean_json_maps_non_finite_to_none(tmp_path: Path) -> None:
    info = {"best": NAN, "worst": INF, "nested": {"x": -INF, "ok": 1.5, "list": [1.0, NAN, "s"]},
            "pair": (NAN, 2), "name": "sweep", "n": 3, "flag": True, "none": None}
    cleaned = clean_json(info)
    assert cleaned == {"best": None, "worst": None, "nested": {"x": None, "ok": 1.5, "list": [1.0, None, "s"]},
                       "pair": [None, 2], "name": "sweep", "n": 3, "flag": True, "none": None}
    assert math.isnan(info["best"])  # the input is not modified
    write_json(cleaned, tmp_path / "run.json")
    assert json.loads((tmp_path / "run.json").read_text()) == cleaned


def test_write_json_serialises_timestamps_and_numpy_scalars(tmp_path: Path) -> None:
    import numpy as np

    write_json({"at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "n": np.int64(7),
                "path": tmp_path}, tmp_path / "x.json")
    assert json.loads((tmp_path / "x.json").read_text()) == {
        "at": "2024-01-02T03:04:05+00:00", "n": 7, "path": str(tmp_path)}


# -- run ids and reading a run -------------------------------------------------------------------


def test_new_run_id_format() -> None:
    now = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc).timestamp()
    rid = new_run_id("quickstart", now)
    assert re.fullmatch(r"quickstart-20240102-030405-[0-9a-f]{4}", rid), rid
    later = new_run_id("quickstart", now + 1)
    assert later > rid  # sortable by start time
    assert re.fullmatch(r"x-\d{8}-\d{6}-[0-9a-f]{4}", new_run_id("x"))


def test_new_run_ids_in_the_same_second_differ() -> None:
    ids = [new_run_id("sweep", 1_700_000_000.0) for _ in range(100)]
    # a 4-hex suffix: among 100 draws a collision or two is possible, more is not random
    assert len(set(ids)) >= 97


def test_read_run_round_trip(tmp_path: Path) -> None:
    t = _two_trial_run()
    run_dir = tmp_path / t.run_id
    run_dir.mkdir()
    info = {"run_id": t.run_id, "status": "completed", "compute": t.compute(), "best": NAN}
    write_json(clean_json(info), run_dir / "run.json")
    t.flush(run_dir)

    run = load(run_dir)
    assert run.path == run_dir
    assert run.info["run_id"] == "run-7" and run.info["best"] is None
    assert run.info["compute"]["epochs_trained"] == 5
    assert run.trials.trial_id.tolist() == ["t1", "t2"]
    assert run.trials.loc[run.trials.is_selected, "trial_id"].tolist() == ["t1"]
    assert len(run.epochs) == 5 and len(run.events) == 2


def test_read_run_without_tables(tmp_path: Path) -> None:
    write_json({"status": "running"}, tmp_path / "run.json")
    run = load(tmp_path)
    assert run.info == {"status": "running"}
    assert run.trials.empty and run.epochs.empty and run.events.empty


# -- costs, infeasible trials, several objectives and constraints ---------------------------------

COSTS = {"params": 1210.0, "params_total": 1210.0, "model_bytes": 9000.0, "latency_ms": 0.4, "latency_batch_ms": 1.1}


def goals(objectives, constraints=None, rule=None):
    from orchestrator.results import Goals
    from orchestrator.spec import Bound, Objective, SelectSpec

    return Goals(tuple(Objective(name=n, mode=m) for n, m in objectives),
                 {k: Bound(**v) for k, v in (constraints or {}).items()}, SelectSpec(**(rule or {"rule": "best"})))


def infeasible_row(**costs: float) -> dict[str, Any]:
    """The one report of a trial whose model broke a cost constraint before its first epoch."""
    return {"infeasible": True, "epoch": 0, "objective": -1e30, **costs}


def test_an_infeasible_trial_keeps_its_costs_and_adds_no_epoch(tmp_path: Path) -> None:
    t = RunTables("r", "val_accuracy", "max", goals=goals([("val_accuracy", "max")], {"params": {"max": 1000}}))
    t.open_journal(tmp_path / "journal.jsonl")
    t.trial_started("big", {"units": 64, "epochs": 10})
    t.epoch("big", infeasible_row(**{**COSTS, "params": 4810.0}))
    status, reason = end_status(errored=False, last=t.trials["big"].last, max_epochs=10, scheduler="asha")
    assert (status, reason) == ("infeasible", "constraint")
    assert t.broken_constraints("big") == ["params"]
    t.trial_ended("big", status, reason)  # the tables name the constraint
    feed(t, "small", [0.5, 0.7], metric="val_accuracy", config={"units": 16, "epochs": 2}, **COSTS)
    t.trial_ended("small", "completed", "max_epochs")
    t.close_journal()
    for tables in (t, RunTables.replay(tmp_path / "journal.jsonl", "r", "val_accuracy", "max", goals=t.goals)):
        df = tables.trials_frame().set_index("trial_id")
        assert df.loc["big", "status"] == "infeasible" and df.loc["big", "epochs"] == 0
        assert df.loc["big", "params"] == 4810 and df.loc["small", "latency_ms"] == 0.4
        assert set(tables.epochs_frame()["trial_id"]) == {"small"}
        assert tables.selectable() == ["small"]
        # never meant to train: neither spent nor saved by early stopping
        assert tables.compute()["epochs_full"] == 2
    events = t.events_frame()
    assert events.loc[events.trial_id == "big", ["source", "reason"]].values.tolist() == [["constraint",
                                                                                          "constraint_params"]]


def test_costs_are_columns_without_objectives() -> None:
    t = RunTables("r", "val_loss", "min")
    feed(t, "a", [1.0, 0.8], **COSTS, train_seconds=0.5)
    df = t.trials_frame()
    assert df.loc[0, "model_bytes"] == 9000.0 and df.loc[0, "train_seconds"] == 2.0  # its seconds until the last report
    assert "pareto_rank" not in df and "feasible" not in df and t.selection() is None


def test_objective_values_are_read_at_the_best_epoch_of_the_first() -> None:
    t = RunTables("r", "val_accuracy", "max", goals=goals([("val_accuracy", "max"), ("val_loss", "min")]))
    t.trial_started("a", {})
    for epoch, (acc, loss) in enumerate([(0.5, 1.0), (0.9, 0.6), (0.8, 0.3)], start=1):
        t.epoch("a", report(epoch, loss, val_accuracy=acc, **COSTS))
    assert t.best("a") == (0.9, 2)
    assert t.values("a") == {"val_accuracy": 0.9, "val_loss": 0.6}  # epoch 2's loss, not the lowest


def test_a_metric_the_objectives_name_is_kept_per_epoch() -> None:
    t = RunTables("r", "val_auc", "max", goals=goals([("val_auc", "max"), ("params", "min")]))
    feed(t, "a", [0.7, 0.8], metric="val_auc", **COSTS)
    assert t.curve("a", "val_auc") == [0.7, 0.8] and t.values("a") == {"val_auc": 0.8, "params": 1210.0}


def test_two_objectives_give_the_front_and_the_selection() -> None:
    t = RunTables("r", "val_accuracy", "max", goals=goals([("val_accuracy", "max"), ("params", "min")],
                                                          rule={"rule": "within", "tolerance": 0.02}))
    # big: best accuracy; small: 0.01 below it with a third of the parameters; worse: dominated by small
    for tid, acc, params in [("big", 0.95, 4810.0), ("small", 0.94, 1210.0), ("worse", 0.90, 2410.0)]:
        feed(t, tid, [acc - 0.1, acc], metric="val_accuracy", **{**COSTS, "params": params})
        t.trial_ended(tid, "completed", "max_epochs")
    feed(t, "blew", [0.99], metric="val_accuracy", **COSTS)
    t.trial_ended("blew", "diverged", "diverged")  # never ranked nor selected, whatever its values
    df = t.trials_frame().set_index("trial_id")
    assert df["best_params"].to_dict() == {"big": 4810.0, "small": 1210.0, "worse": 2410.0, "blew": 1210.0}
    assert df["pareto_rank"].tolist()[:3] == [0, 0, 1] and pd.isna(df.loc["blew", "pareto_rank"])
    assert str(df["pareto_rank"].dtype) == "Int64" and df["feasible"].all()
    selection = t.selection()
    assert selection.selected == "small" and selection.front == ("big", "small")


def test_a_metric_constraint_is_judged_on_the_best_epoch() -> None:
    t = RunTables("r", "val_accuracy", "max",
                  goals=goals([("val_accuracy", "max")], {"val_loss": {"max": 0.5}}))
    t.trial_started("a", {})
    # best accuracy at epoch 2, where val_loss is 0.6; its lowest val_loss (0.4, epoch 3) does not count
    for epoch, (acc, loss) in enumerate([(0.5, 0.9), (0.9, 0.6), (0.8, 0.4)], start=1):
        t.epoch("a", report(epoch, loss, val_accuracy=acc))
    t.trial_ended("a", "completed", "max_epochs")
    df = t.trials_frame()
    assert not df.loc[0, "feasible"] and df.loc[0, "best_val_loss"] == 0.4  # the column keeps its meaning
    selection = t.selection()
    assert selection.selected is None and "val_loss <= 0.5" in selection.reason


# -- progress.format_config ----------------------------------------------------------------------


def test_format_config_abbreviates_and_skips_none() -> None:
    cfg = {"learning_rate": 0.00123456, "batch_size": 32, "hidden_layers": 2, "optimizer": "adam",
           "momentum": None, "units": 64}
    assert format_config(cfg) == "lr=0.00123 bs=32 layers=2 opt=adam units=64"


def test_format_config_with_keys_keeps_their_order() -> None:
    cfg = {"learning_rate": 0.1, "optimizer": "sgd", "momentum": None, "dropout": 0.25}
    assert format_config(cfg, ["optimizer", "momentum", "learning_rate", "units"]) == "opt=sgd lr=0.1"
    assert format_config(cfg, []) == ""


def test_progress_shows_resources_in_use():
    import io

    from rich.console import Console

    from orchestrator.progress import ProgressView

    view = ProgressView("s", 4, "val_loss", "min", [], console=Console(file=io.StringIO()), interactive=False)
    assert view.resource_use() == ""
    view.set_capacity({"cpu": 1, "gpu": 0.5}, {"CPU": 2.0, "GPU": 4.0})
    view.set_running(2)
    assert view.resource_use() == "CPU 2/2 · GPU 1/4"
    line = str(view._render())
    assert "0/4 done" in line and "in use: CPU 2/2 · GPU 1/4" in line


def test_a_finished_trials_line_names_its_best_and_the_sweeps():
    """`val_loss=1.645 best=0.631` read as the trial's last value and its best; it was the trial's
    best epoch and the sweep's best so far."""
    import io

    from rich.console import Console

    from orchestrator.progress import ProgressView

    out = io.StringIO()
    view = ProgressView("s", 2, "val_loss", "min", ["learning_rate"], console=Console(file=out, width=200),
                        interactive=False)
    view.epoch("t1", 0.631, {"learning_rate": 0.01})
    view.trial_finished("t2", "stopped", "asha_rung_0", 1, 1.645, {"learning_rate": 0.5})
    assert "[1/2] t2 stopped (asha_rung_0) after 1 epochs: best val_loss=1.645 (sweep's best so far 0.631) " \
        in out.getvalue()
