"""Nightly history without Ray: warm-start points, comparison, partition swap, reading it back.

The sweep itself is replaced by a stand-in that writes a run directory (run.json, trials.parquet,
epochs.parquet) the way the runner does, so partitioning, replacement, failure and the history's
readers are tested in milliseconds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestrator import nightly as nl
from orchestrator.cli import main
from orchestrator.errors import SpecError
from orchestrator.results import write_json, write_parquet
from tests.helpers import NIGHTLY_DATA, NIGHTLY_PARAMS, FakeSweep, nightly_spec


def _night(date: str, value: float | None, config: dict | None = None, metric: str = "val_accuracy",
           mode: str = "max", test: dict | None = None, run_id: str | None = None) -> nl.Night:
    d = dt.date.fromisoformat(date)
    return nl.Night(d, Path(f"/h/date={date}"), Path(f"/h/date={date}/r"), run_id or f"run-{date}", "complete",
                    metric, mode, value, test or {}, config)


# ------------------------------------------------------------------------------------------
# parsing
# ------------------------------------------------------------------------------------------


def test_parse_date_and_partition_name():
    assert nl.partition_name(nl.parse_date("2026-11-22")) == "date=2026-11-22"
    assert nl.parse_date(None) == dt.date.today()
    for bad in ("2026-13-01", "22.11.2026", "2026-11-31", "yesterday"):
        with pytest.raises(SpecError, match="--date"):
            nl.parse_date(bad)


def test_parse_tolerance_absolute_and_relative():
    assert nl.parse_tolerance("0.01")(0.97) == 0.01
    assert math.isclose(nl.parse_tolerance("2%")(0.5), 0.01)
    assert math.isclose(nl.parse_tolerance("10%")(-3.0), 0.3)  # of the magnitude
    for bad in ("-1", "x", "nan", "%"):
        with pytest.raises(SpecError, match="--tolerance"):
            nl.parse_tolerance(bad)


def test_remote_uris_are_recognised():
    assert all(nl.is_remote_uri(u) for u in ("s3://b/x", "gs://b", "file:///tmp/x", "s3:/b/x", "hdfs://nn/p"))
    assert not any(nl.is_remote_uri(p) for p in ("results", "/shared/nfs/x", "./a:b", "C/x"))


# ------------------------------------------------------------------------------------------
# warm start
# ------------------------------------------------------------------------------------------


def test_warm_start_keeps_what_tonight_searches_and_allows():
    spec = nightly_spec({
        "learning_rate": {"type": "loguniform", "low": 1e-3, "high": 0.1},
        "units": {"type": "choice", "values": [16, 32]},
        "batch_size": {"type": "grid", "values": [32, 64]},
        "dropout": {"type": "uniform", "low": 0.0, "high": 0.3},
    })
    previous = [
        _night("2026-11-18", 0.90, {"learning_rate": 0.5, "units": 32.0, "batch_size": 32, "dropout": 0.1}),
        _night("2026-11-19", 0.95, {"learning_rate": 0.01, "units": 64, "l2": 0.1, "batch_size": 64}),
        _night("2026-11-20", 0.93, {"learning_rate": 0.02, "units": 16, "dropout": None}),
    ]
    points, used, notes = nl.warm_start_points(spec, previous, k=2)
    # most recent first; the best night (11-19) is among the 2 most recent; 11-18 is not used
    assert points == [{"learning_rate": 0.02, "units": 16}, {"learning_rate": 0.01}]
    assert [n.date.isoformat() for n in used] == ["2026-11-20", "2026-11-19"]
    assert any("units=64 is outside tonight's {16, 32}" in n for n in notes)
    assert all(isinstance(p.get("units", 0), int) for p in points)  # the spec's value, not 32.0

    # k=1: the most recent night, plus the best night so far; a float that was an int in JSON
    points, used, _ = nl.warm_start_points(spec, previous, k=1)
    assert [n.date.isoformat() for n in used] == ["2026-11-20", "2026-11-19"]
    # an out-of-range learning rate is dropped, the rest of that configuration kept
    points, _, notes = nl.warm_start_points(spec, previous[:1], k=3)
    assert points == [{"units": 32, "dropout": 0.1}]
    assert "learning_rate=0.5 is outside tonight's [0.001, 0.1]" in notes[0]


def test_warm_start_conditions_caps_and_grid_search():
    spec = nightly_spec({
        "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
        "momentum": {"type": "uniform", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
        "units": {"type": "int", "low": 8, "high": 64},
    }, search={"algorithm": "random", "num_samples": 2})
    previous = [
        _night("2026-11-01", 0.9, {"optimizer": "adam", "momentum": 0.5, "units": 12}),
        _night("2026-11-02", 0.8, {"optimizer": "sgd", "momentum": 0.5, "units": 12.5}),
        _night("2026-11-03", 0.7, {"optimizer": "sgd", "momentum": 0.3, "units": 20}),
        _night("2026-11-04", 0.7, {"optimizer": "sgd", "momentum": 0.3, "units": 20}),  # a duplicate
    ]
    points, used, notes = nl.warm_start_points(spec, previous, k=3)
    assert points == [{"optimizer": "sgd", "momentum": 0.3, "units": 20},
                      {"optimizer": "sgd", "momentum": 0.5}]  # 12.5 is no integer; no third (num_samples)
    assert any("fill search.num_samples" in n for n in notes)
    # momentum with adam would never be drawn tonight: left out
    points, _, _ = nl.warm_start_points(spec, previous[:1], k=1)
    assert points == [{"optimizer": "adam", "units": 12}]
    assert nl.warm_start_points(spec, previous, k=0)[0] == []
    grid = nightly_spec({"units": {"type": "grid", "values": [16, 32]}}, search={"algorithm": "grid"})
    points, _, notes = nl.warm_start_points(grid, previous, k=3)
    assert points == [] and "grid search" in notes[0]


# ------------------------------------------------------------------------------------------
# comparison
# ------------------------------------------------------------------------------------------


def test_compare_against_the_best_previous_night():
    previous = [_night("2026-11-19", 0.97, test={"test_accuracy": 0.95}),
                _night("2026-11-20", 0.95, test={"test_accuracy": 0.99}),
                _night("2026-11-18", 0.99, metric="val_loss", mode="min")]  # another metric: ignored
    first = nl.compare("val_accuracy", "max", 0.5, {}, [])
    assert not first.regressed and first.reference is None and "nothing to compare" in first.summary

    ok = nl.compare("val_accuracy", "max", 0.962, {"test_accuracy": 0.945}, previous, "0.01")
    assert not ok.regressed and ok.reference.date.isoformat() == "2026-11-19"
    assert ok.summary.startswith("no regression: val_accuracy 0.9620 >= previous best 0.9700")

    bad = nl.compare("val_accuracy", "max", 0.91, {"test_accuracy": 0.93}, previous, "0.01")
    assert bad.regressed and len(bad.regressions) == 2
    assert bad.summary.startswith("regression: val_accuracy 0.9100 < previous best 0.9700 (tolerance 0.01; "
                                  "date=2026-11-19, run run-2026-11-19); test_accuracy 0.9300 < 0.9500")
    assert "\n" not in bad.summary
    assert not nl.compare("val_accuracy", "max", 0.91, {}, previous, "7%").regressed  # 0.97 * 7% = 0.068
    assert nl.compare("val_accuracy", "max", 0.91, {}, previous, "5%").regressed

    losses = [_night("2026-11-19", 0.30, metric="val_loss", mode="min", test={"test_loss": 0.31})]
    assert not nl.compare("val_loss", "min", 0.305, {"test_loss": 0.3}, losses, "0.01").regressed
    worse = nl.compare("val_loss", "min", 0.35, {"test_loss": 0.3}, losses, "0.01")
    assert worse.regressions == ["val_loss 0.3500 > previous best 0.3000 (tolerance 0.01; date=2026-11-19, "
                                 "run run-2026-11-19)"]



def test_a_test_accuracy_within_its_rows_noise_is_no_regression():
    """The case a user hit: the validation score improved (0.9721 -> 0.9833) while the test accuracy
    on 180 rows fell by two rows (0.9611 -> 0.9500); with the tolerance 0.01 alone, exit 3."""
    previous = [_night("2026-11-19", 0.9721, test={"test_accuracy": 0.9611})]
    tonight = ("val_accuracy", "max", 0.9833, {"test_accuracy": 0.9500}, previous, "0.01")
    assert nl.compare(*tonight).regressed  # the row count unknown: the tolerance alone, as before
    calm = nl.compare(*tonight, test_rows=180)
    assert not calm.regressed and calm.summary.startswith("no regression: val_accuracy 0.9833")
    # two standard errors of 0.96 on 180 rows: ~0.03, ~5 rows; a real fall is still one
    assert 0.028 < nl.test_noise("test_accuracy", 0.9611, 180) < 0.032
    fell = nl.compare("val_accuracy", "max", 0.9833, {"test_accuracy": 0.90}, previous, "0.01", test_rows=180)
    assert fell.regressions == ["test_accuracy 0.9000 < 0.9611 on that night (2 standard errors of an accuracy "
                                "on 180 test rows, 0.03056)"]
    # many test rows: the noise is under the tolerance, which then decides (and is named)
    big = nl.compare("val_accuracy", "max", 0.9833, {"test_accuracy": 0.9500}, previous, "0.01", test_rows=100_000)
    assert big.regressions == ["test_accuracy 0.9500 < 0.9611 on that night (tolerance 0.01)"]
    # a perfect score is one measurement too; a loss has no such noise (its tolerance alone)
    assert 0.0 < nl.test_noise("test_accuracy", 1.0, 180) < 0.02
    assert nl.test_noise("test_loss", 0.3, 180) == 0.0 and nl.test_noise("test_accuracy", 0.9, None) == 0.0


# ------------------------------------------------------------------------------------------
# a night, with a stand-in for the sweep
# ------------------------------------------------------------------------------------------


def test_nights_partitions_replacement_and_warm_start(tmp_path):
    hist = tmp_path / "h"
    spec = nightly_spec(NIGHTLY_PARAMS)
    sweep = FakeSweep(0.9, hp={"learning_rate": 0.02})
    r1 = nl.run_nightly(spec, hist, "2026-11-20", run=sweep)
    assert r1.partition == hist.resolve() / "date=2026-11-20" and r1.result.run_dir.parent == r1.partition
    assert (r1.result.run_dir / "trials.parquet").is_file() and not r1.replaced
    assert sweep.calls[0]["warm_start"] is None and r1.comparison.reference is None
    assert sweep.calls[0]["out"].parent == hist.resolve() / "_staging"  # written aside, then renamed
    assert [p.name for p in (hist / "_staging").iterdir()] == ["date=2026-11-20.lock"]

    messages: list[str] = []
    r2 = nl.run_nightly(spec, hist, "2026-11-21", run=FakeSweep(0.95), log=messages.append)
    assert r2.warm_start == [{"learning_rate": 0.02}] and r2.warm_start_from == ["date=2026-11-20"]
    assert not r2.regressed and "warm start with 1 configuration(s) from date=2026-11-20" in messages[0]
    info = json.loads((r2.result.run_dir / "run.json").read_text())
    assert info["nightly"]["date"] == "2026-11-21" and info["nightly"]["comparison"]["previous_best"]["value"] == 0.9

    # the same date again: replaced (one run in the partition), compared with earlier dates only
    r2b = nl.run_nightly(spec, hist, "2026-11-21", run=FakeSweep(0.5), log=messages.append)
    assert r2b.replaced and r2b.regressed and [p.name for p in r2b.partition.iterdir()] == [r2b.result.run_id]
    assert r2b.comparison.reference.date == dt.date(2026, 11, 20)
    # a backfill of an earlier date sees only what came before it
    r0 = nl.run_nightly(spec, hist, "2026-11-19", run=FakeSweep(0.1))
    assert r0.comparison.reference is None and r0.warm_start == []
    assert [n.date.isoformat() for n in nl.read_nights(hist)] == ["2026-11-19", "2026-11-20", "2026-11-21"]


def test_a_failed_night_leaves_the_history_as_it_was(tmp_path):
    hist = tmp_path / "h"
    spec = nightly_spec(NIGHTLY_PARAMS)
    first = nl.run_nightly(spec, hist, "2026-11-20", run=FakeSweep(0.9))
    with pytest.raises(KeyboardInterrupt):
        nl.run_nightly(spec, hist, "2026-11-20", run=FakeSweep(fail=KeyboardInterrupt()))
    with pytest.raises(SpecError):
        nl.run_nightly(spec, hist, "2026-11-20", run=FakeSweep(fail=SpecError("resources.cpu", "too many")))
    assert [p.name for p in (hist / "date=2026-11-20").iterdir()] == [first.result.run_id]
    assert not [p for p in (hist / "_staging").iterdir() if p.is_dir()]
    # a night with no usable trial is that night's result: it replaces the partition, no comparison
    empty = nl.run_nightly(spec, hist, "2026-11-20", run=FakeSweep(None))
    assert empty.comparison is None and empty.result.status == "no_result" and empty.replaced


def test_stale_staging_is_cleaned_and_a_held_date_is_refused(tmp_path):
    import fcntl

    hist = tmp_path / "h"
    stale = hist / "_staging" / "date=2026-11-20.dead" / "run"
    stale.mkdir(parents=True)
    (stale / "run.json").write_text("{}")
    nl.run_nightly(nightly_spec(NIGHTLY_PARAMS), hist, "2026-11-20", run=FakeSweep())
    assert not stale.parent.exists()
    with open(hist / "_staging" / "date=2026-11-21.lock", "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        with pytest.raises(SpecError, match="another nightly run for date=2026-11-21 is in progress"):
            nl.run_nightly(nightly_spec(NIGHTLY_PARAMS), hist, "2026-11-21", run=FakeSweep())
    with pytest.raises(SpecError, match="--history"):
        nl.run_nightly(nightly_spec(NIGHTLY_PARAMS), "nope://bucket/h", "2026-11-21", run=FakeSweep())


# ------------------------------------------------------------------------------------------
# reading the history back when columns differ between nights
# ------------------------------------------------------------------------------------------


def _fake_night(hist: Path, date: str, trials: list[dict], epochs: list[dict] | None = None) -> None:
    run_id = f"n-{date}"
    run_dir = hist / f"date={date}" / run_id
    run_dir.mkdir(parents=True)
    write_json({"run_id": run_id, "status": "complete", "started_at": 0.0,
                "budget": {"metric": "val_accuracy", "mode": "max"}}, run_dir / "run.json")
    write_parquet(pd.DataFrame([{"run_id": run_id, **t} for t in trials]), run_dir / "trials.parquet")
    write_parquet(pd.DataFrame([{"run_id": run_id, **e} for e in epochs or [{"trial_id": "a", "epoch": 1}]]),
                  run_dir / "epochs.parquet")
    (run_dir / "tune").mkdir()
    (run_dir / "tune" / "experiment_state.json").write_text("{}")


def _history_with_drift(tmp_path: Path) -> Path:
    hist = tmp_path / "history"
    # night 1 has hp_old; night 2 lost it and gained hp_new (an int there, a float in night 3);
    # night 3 has a hyperparameter that is null in every row (a conditional one never active)
    _fake_night(hist, "2026-11-20", [{"trial_id": "a", "best_val_accuracy": 0.9, "hp_lr": 0.1, "hp_old": "x"},
                                     {"trial_id": "b", "best_val_accuracy": 0.8, "hp_lr": 0.2, "hp_old": "y"}])
    _fake_night(hist, "2026-11-21", [{"trial_id": "a", "best_val_accuracy": 0.95, "hp_lr": 0.1, "hp_new": 3}],
                [{"trial_id": "a", "epoch": 1, "val_mae": 1.0}])
    _fake_night(hist, "2026-11-22", [{"trial_id": "a", "best_val_accuracy": 0.7, "hp_lr": 0.3, "hp_new": 2.5,
                                      "hp_momentum": None}])
    (hist / "_staging" / "date=2026-11-23.abcd" / "r").mkdir(parents=True)  # in progress: not history
    (hist / "_staging" / "date=2026-11-23.abcd" / "r" / "run.json").write_text("{}")
    return hist


def test_load_history_is_one_table_with_a_date_column(tmp_path):
    h = nl.load_history(_history_with_drift(tmp_path))
    assert list(h.runs["date"].dt.strftime("%Y-%m-%d")) == ["2026-11-20", "2026-11-21", "2026-11-22"]
    t = h.trials
    assert len(t) == 4 and t.columns[0] == "date" and str(t["date"].dtype).startswith("datetime64")
    assert t["hp_old"].notna().tolist() == [True, True, False, False]
    assert t["hp_new"].tolist()[2:] == [3, 2.5] and t["hp_new"].isna().sum() == 2
    assert "val_mae" in h.epochs and h.epochs["date"].notna().all()
    with pytest.raises(FileNotFoundError):
        nl.load_history(tmp_path / "nothing")


def test_duckdb_reads_the_history_with_hive_partitions_and_union_by_name(tmp_path):
    hist = _history_with_drift(tmp_path)
    con = duckdb.connect()
    df = con.execute(f"select * from read_parquet('{hist}/*/*/trials.parquet', hive_partitioning=true, "
                     f"union_by_name=true) order by date, trial_id").df()
    assert [str(d)[:10] for d in df["date"]] == ["2026-11-20", "2026-11-20", "2026-11-21", "2026-11-22"]
    assert {"hp_old", "hp_new", "hp_momentum", "hp_lr"} <= set(df.columns)
    assert df["hp_old"].isna().tolist() == [False, False, True, True]
    assert df["hp_new"].tolist()[2:] == [3.0, 2.5]
    best = con.execute(f"select date, max(best_val_accuracy) from read_parquet('{hist}/*/*/trials.parquet', "
                       f"hive_partitioning=true, union_by_name=true) group by date order by date").fetchall()
    assert [round(b[1], 2) for b in best] == [0.9, 0.95, 0.7]


# ------------------------------------------------------------------------------------------
# the command line (the sweep replaced by the stand-in)
# ------------------------------------------------------------------------------------------


@pytest.fixture
def spec_file(tmp_path):
    import yaml

    p = tmp_path / "n.yaml"
    p.write_text(yaml.safe_dump({"name": "n", "data": NIGHTLY_DATA, "params": NIGHTLY_PARAMS, "metric": "val_accuracy"}))
    return p


def test_cli_nightly_exit_codes(tmp_path, spec_file, capsys, monkeypatch):
    import orchestrator.execution

    hist = tmp_path / "h"
    monkeypatch.setattr(orchestrator.execution, "run_sweep", FakeSweep(0.97, test=0.95))
    assert main(["nightly", str(spec_file), "--history", str(hist), "--date", "2026-11-20"]) == 0
    out = capsys.readouterr().out
    assert "first night with val_accuracy" in out and "date=2026-11-20" in out

    monkeypatch.setattr(orchestrator.execution, "run_sweep", FakeSweep(0.91, test=0.9))
    assert main(["nightly", str(spec_file), "--history", str(hist), "--date", "2026-11-21"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("regression: val_accuracy 0.9100 < previous best 0.9700 "
                                               "(tolerance 0.01; date=2026-11-20, run n-1)")
    monkeypatch.setattr(orchestrator.execution, "run_sweep", FakeSweep(0.91, test=0.9))
    assert main(["nightly", str(spec_file), "--history", str(hist), "--date", "2026-11-21",
                 "--tolerance", "10%"]) == 0
    monkeypatch.setattr(orchestrator.execution, "run_sweep", FakeSweep(None))
    assert main(["nightly", str(spec_file), "--history", str(hist), "--date", "2026-11-22"]) == 1


@pytest.mark.parametrize("argv, key", [
    (["--date", "2026-02-30"], "--date"),
    (["--tolerance", "-1"], "--tolerance"),
    (["--warm-start", "-1"], "--warm-start"),
])
def test_cli_nightly_bad_arguments(tmp_path, spec_file, capsys, argv, key):
    assert main(["nightly", str(spec_file), "--history", str(tmp_path / "h"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"sweep: error: {key}: "), err
    assert not (tmp_path / "h").exists()  # refused before anything was created


@pytest.mark.parametrize("cmd", [["run", "--out", "nope://bucket/runs"], ["nightly", "--history", "nope://b/h"]])
def test_unknown_storage_schemes_are_refused_with_one_line(spec_file, capsys, cmd):
    assert main([cmd[0], str(spec_file), *cmd[1:]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"sweep: error: {cmd[1]}: {cmd[2]}: Unrecognized filesystem type")


# ------------------------------------------------------------------------------------------
# the selected model's costs: carried by the history, compared with the last night's
# ------------------------------------------------------------------------------------------


def _costly(date: str, params: float, latency: float = 0.2, value: float = 0.9) -> nl.Night:
    night = _night(date, value, test={"test_accuracy": value})
    return dataclasses.replace(night, costs={"params": params, "model_bytes": 4 * params, "latency_ms": latency})


def test_compare_flags_a_bigger_or_slower_model_than_last_nights():
    previous = [_costly("2026-11-19", 50_000), _costly("2026-11-20", 10_000, latency=0.20)]
    same = {"params": 10_500.0, "model_bytes": 42_000.0, "latency_ms": 0.21}
    ok = nl.compare("val_accuracy", "max", 0.9, {}, previous, "0.01", costs=same)
    assert not ok.regressed and ok.cost_reference.date == dt.date(2026, 11, 20)  # the last night, not the best
    assert ok.summary.endswith("; costs within 10% of date=2026-11-20's")

    bigger = {"params": 12_500.0, "model_bytes": 50_000.0, "latency_ms": 0.21}
    bad = nl.compare("val_accuracy", "max", 0.9, {}, previous, "0.01", costs=bigger)
    assert bad.regressions == [
        "params 12500 > 10000 of the selected model on date=2026-11-20 (+25%, tolerance 10%)",
        "model_bytes 50000 > 40000 of the selected model on date=2026-11-20 (+25%, tolerance 10%)"]
    assert bad.summary.startswith("regression: params 12500 > 10000") and "\n" not in bad.summary
    # a percentage tolerance applies to the costs too; an absolute one is in the metric's units
    assert not nl.compare("val_accuracy", "max", 0.9, {}, previous, "30%", costs=bigger).regressed
    slower = nl.compare("val_accuracy", "max", 0.9, {}, previous, "0.01", costs={**same, "latency_ms": 0.3})
    assert slower.regressions == ["latency_ms 0.3 ms > 0.2 ms of the selected model on date=2026-11-20 "
                                  "(+50%, tolerance 10%)"]
    # no costs on either side (an older night): nothing to compare, as before costs existed
    assert not nl.compare("val_accuracy", "max", 0.9, {}, [_night("2026-11-20", 0.9)], "0.01", costs=bigger).regressed
    assert nl.compare("val_accuracy", "max", 0.9, {}, previous, "0.01").cost_reference is None
    d = bad.to_dict()
    assert d["costs"] == bigger and d["last_night_costs"]["params"] == 10_000 and d["cost_tolerance"] == 0.1


class CostlySweep(FakeSweep):
    """FakeSweep whose selected trial's model has costs (in trials.parquet only, as a run with one
    objective and no constraint writes them)."""

    def __init__(self, params: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.params = params

    def __call__(self, spec, out, **kwargs):
        result = super().__call__(spec, out, **kwargs)
        trials = pd.read_parquet(result.run_dir / "trials.parquet")
        trials["params"], trials["model_bytes"], trials["latency_ms"] = self.params, 4 * self.params, 0.2
        write_parquet(trials, result.run_dir / "trials.parquet")
        return result


def test_the_history_carries_costs_and_the_cli_exits_3_on_a_bigger_model(tmp_path, capsys, monkeypatch):
    import orchestrator.execution
    import yaml

    # the spec ranks params and bounds model_bytes: the night is held to both (latency it names not)
    spec_file = tmp_path / "n.yaml"
    spec_file.write_text(yaml.safe_dump({
        "name": "n", "data": NIGHTLY_DATA, "params": NIGHTLY_PARAMS,
        "objectives": [{"name": "val_accuracy", "mode": "max"}, {"name": "params", "mode": "min"}],
        "constraints": {"model_bytes": {"max": 1e9}}}))
    hist = tmp_path / "h"
    monkeypatch.setattr(orchestrator.execution, "run_sweep", CostlySweep(10_000, value=0.97, test=0.95))
    assert main(["nightly", str(spec_file), "--history", str(hist), "--date", "2026-11-20"]) == 0
    night = nl.read_nights(hist)[0]
    assert night.costs == {"params": 10_000.0, "model_bytes": 40_000.0, "latency_ms": 0.2}  # from trials.parquet
    assert nl.load_history(hist).trials["params"].tolist() == [10_000]
    capsys.readouterr()

    monkeypatch.setattr(orchestrator.execution, "run_sweep", CostlySweep(20_000, value=0.97, test=0.95))
    assert main(["nightly", str(spec_file), "--history", str(hist), "--date", "2026-11-21"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["regression: params 20000 > 10000 of the selected model on date=2026-11-20 (+100%, tolerance 10%); "
                   "model_bytes 80000 > 40000 of the selected model on date=2026-11-20 (+100%, tolerance 10%)"]
    info = json.loads(next((hist / "date=2026-11-21").glob("*/run.json")).read_text())
    assert info["nightly"]["comparison"]["costs"]["params"] == 20_000

    # compared with the last night (the 21st's 20000), not the first or the smallest (the 20th's 10000)
    monkeypatch.setattr(orchestrator.execution, "run_sweep", CostlySweep(15_000, value=0.97, test=0.95))
    assert main(["nightly", str(spec_file), "--history", str(hist), "--date", "2026-11-22"]) == 0
    assert "costs within 10% of date=2026-11-21's" in capsys.readouterr().out


def test_a_night_is_held_to_the_costs_its_spec_ranks_or_bounds_only(tmp_path):
    from orchestrator.spec import SweepSpec, load_spec

    def spec(extra: str) -> "SweepSpec":
        f = tmp_path / "s.yaml"
        f.write_text("name: s\ndata: {dataset: digits}\nparams:\n  units: {type: choice, values: [8, 16]}\n" + extra)
        return load_spec(f)

    assert nl.watched_costs(spec("")) == ()
    ranked = spec("objectives: [{name: val_accuracy}, {name: params}]\nconstraints: {latency_ms: {max: 5}}\n")
    assert nl.watched_costs(ranked) == ("params", "latency_ms")
    previous = [_costly("2026-11-20", 10_000, latency=0.20)]
    slower_and_bigger = {"params": 12_500.0, "model_bytes": 50_000.0, "latency_ms": 0.3}
    # a one-metric spec: a bigger, slower model (or latency noise) is no regression
    quiet = nl.compare("val_accuracy", "max", 0.9, {}, previous, "0.01", costs=slower_and_bigger, watch=())
    assert not quiet.regressed and quiet.cost_reference is None and "costs within" not in quiet.summary
    loud = nl.compare("val_accuracy", "max", 0.9, {}, previous, "0.01", costs=slower_and_bigger,
                      watch=nl.watched_costs(ranked))
    assert [r.split(" ")[0] for r in loud.regressions] == ["params", "latency_ms"]  # not model_bytes
