"""`sweep nightly` for three dates with a search space that changes, then a planted regression."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd

import orchestrator
from orchestrator.nightly import REGRESSION_EXIT_CODE, load_history

from tests.helpers import run_cli, write_spec

BASE = {
    "name": "nightly",
    "data": {"dataset": "digits"},
    "model": {"epochs": 2, "batch_size": 64},
    "metric": "val_accuracy",
    "search": {"algorithm": "random", "num_samples": 2, "seed": 0},
}


def _spec(tmp_path: Path, night: str, params: dict, model: dict | None = None) -> Path:
    d = tmp_path / night
    d.mkdir()
    return write_spec(d, {**BASE, "model": {**BASE["model"], **(model or {})}, "params": params})


def _run_dirs(part: Path) -> list[Path]:
    return [p for p in part.iterdir() if p.is_dir()]


def _info(part: Path) -> dict:
    (run_dir,) = _run_dirs(part)
    return json.loads((run_dir / "run.json").read_text())


def test_three_nights_changing_space_then_a_regression(ray_session, tmp_path, capsys):
    hist = tmp_path / "history"
    lr = {"type": "loguniform", "low": 0.01, "high": 0.05}

    # Night 1: learning rate and units searched.
    s1 = _spec(tmp_path, "n1", {"learning_rate": lr, "units": {"type": "choice", "values": [16, 32]}})
    assert run_cli("nightly", s1, "--history", hist, "--date", "2026-11-20") == 0
    out = capsys.readouterr().out
    assert "no warm start (first night)" in out and "first night with val_accuracy" in out
    info1 = _info(hist / "date=2026-11-20")
    assert info1["status"] == "complete" and info1["nightly"]["warm_start"] == []
    best1 = info1["selected"]["config"]

    # Night 2: units fixed, optimizer and a conditional momentum searched. The warm start takes
    # night 1's learning rate and optimizer (adam), and leaves out its momentum (inactive with adam).
    s2 = _spec(tmp_path, "n2", {"learning_rate": lr, "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
                                "momentum": {"type": "uniform", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}}},
               model={"units": 16})
    assert run_cli("nightly", s2, "--history", hist, "--date", "2026-11-21", "--tolerance", "0.5") == 0
    out = capsys.readouterr().out
    assert "warm start with 1 configuration(s) from date=2026-11-20" in out
    info2 = _info(hist / "date=2026-11-21")
    assert info2["nightly"]["warm_start"] == [{"learning_rate": best1["learning_rate"], "optimizer": "adam"}]
    trials2 = pd.read_parquet(_run_dirs(hist / "date=2026-11-21")[0] / "trials.parquet")
    assert best1["learning_rate"] in set(trials2["hp_learning_rate"])  # the warm-start point ran
    assert "no regression: val_accuracy" in out
    # the test accuracy was held to its noise on the night's own test rows (digits: 180)
    assert info2["nightly"]["comparison"]["test_rows"] == info2["data"]["rows_test"] == 180

    # Re-running the same date replaces its partition (one run there, a new one).
    assert run_cli("nightly", s2, "--history", hist, "--date", "2026-11-21", "--tolerance", "0.5") == 0
    out = capsys.readouterr().out
    assert "replaced the earlier run of this date" in out
    info2b = _info(hist / "date=2026-11-21")
    assert info2b["run_id"] != info2["run_id"]

    # Night 3: a planted regression (learning rates far too small; plain SGD): exit 3, one line.
    s3 = _spec(tmp_path, "n3", {"learning_rate": {"type": "loguniform", "low": 1.0e-7, "high": 2.0e-7}},
               model={"units": 16, "optimizer": "sgd"})
    assert run_cli("nightly", s3, "--history", hist, "--date", "2026-11-22") == REGRESSION_EXIT_CODE
    captured = capsys.readouterr()
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("regression: val_accuracy "), captured.err
    assert "< previous best" in lines[0] and "date=2026-11-2" in lines[0]
    assert "outside tonight's [1e-07, 2e-07]" in captured.out  # earlier learning rates dropped
    info3 = _info(hist / "date=2026-11-22")
    assert info3["nightly"]["warm_start"] == [] and info3["nightly"]["comparison"]["regressed"]

    # The history reads as one table: pandas (a date column) ...
    h = load_history(hist)
    assert list(h.runs["date"].dt.strftime("%Y-%m-%d")) == ["2026-11-20", "2026-11-21", "2026-11-22"]
    t = h.trials
    assert len(t) == 6 and t["date"].nunique() == 3
    by_date = t.groupby(t["date"].dt.strftime("%Y-%m-%d"))
    assert by_date["hp_units"].apply(lambda s: s.notna().all()).all()  # fixed or searched: always there
    assert by_date["hp_learning_rate"].min()["2026-11-22"] < 1e-6
    night2 = t[t["date"] == pd.Timestamp("2026-11-21")]
    assert night2.loc[night2["hp_optimizer"] == "adam", "hp_momentum"].isna().all()  # conditional, inactive
    assert set(h.epochs["date"].dt.strftime("%Y-%m-%d")) == {"2026-11-20", "2026-11-21", "2026-11-22"}
    assert len(orchestrator.load_many(hist).runs) == 3

    # ... and DuckDB, with the query the README gives.
    con = duckdb.connect()
    rows = con.execute(
        f"select date, count(*) as n, count(hp_momentum) as with_momentum, max(best_val_accuracy) as best "
        f"from read_parquet('{hist}/*/*/trials.parquet', hive_partitioning=true, union_by_name=true) "
        f"group by date order by date").fetchall()
    assert [(str(r[0]), r[1]) for r in rows] == [("2026-11-20", 2), ("2026-11-21", 2), ("2026-11-22", 2)]
    assert rows[0][2] == 2 and rows[1][2] < 2 and rows[2][2] == 2  # night 2's adam trials: null momentum
    assert rows[2][3] < rows[0][3] - 0.1  # the planted regression is visible in the history too


def test_warm_start_points_come_first_with_tpe():
    """Optuna's TPE (define-by-run, conditional momentum) takes the points too, partial ones completed."""
    from orchestrator.execution.tune_setup import search_alg as _search_alg
    from orchestrator.spec import parse_spec

    spec = parse_spec({
        "name": "t", "data": {"dataset": "digits"}, "metric": "val_accuracy",
        "search": {"algorithm": "tpe", "num_samples": 3, "seed": 0},
        "params": {"learning_rate": {"type": "loguniform", "low": 1e-3, "high": 0.1},
                   "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
                   "momentum": {"type": "uniform", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}}},
    })
    alg = _search_alg(spec, [{"learning_rate": 0.02, "optimizer": "sgd", "momentum": 0.5}, {"learning_rate": 0.05}])
    alg.set_search_properties(None, None, {})
    first, second = alg.suggest("t0"), alg.suggest("t1")
    assert (first["learning_rate"], first["optimizer"], first["momentum"]) == (0.02, "sgd", 0.5)
    assert second["learning_rate"] == 0.05 and second["optimizer"] in ("adam", "sgd")
