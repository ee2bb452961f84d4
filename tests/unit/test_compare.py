"""sweep compare's pure parts: budget and strategy parsing, the time series, the summary, the CLI errors."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from orchestrator.compare import default_target, first_reach, summarize, summary_table, time_series
from orchestrator.errors import SpecError
from orchestrator.options import parse_budget, parse_strategies


@pytest.mark.parametrize("text, seconds", [("300", 300.0), ("90s", 90.0), ("5m", 300.0), ("1.5h", 5400.0),
                                           ("2min", 120.0), (" 45 s ", 45.0), ("0.5m", 30.0)])
def test_budgets_parse_to_seconds(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-5m", "m", "5 minutes", "1e3", "0", "0s", "nan", "9999h"])
def test_bad_budgets_are_one_line_errors_naming_the_option(text):
    with pytest.raises(SpecError) as info:
        parse_budget(text)
    assert info.value.key == "--budget" and "\n" not in str(info.value)


def test_strategies_parse_and_unknown_ones_are_refused():
    assert parse_strategies("parallel,babysit") == ["parallel", "babysit"]
    assert parse_strategies(" babysit ") == ["babysit"]
    for bad in ("", "panda", "parallel,parallel", ","):
        with pytest.raises(SpecError) as info:
            parse_strategies(bad)
        assert info.value.key == "--strategies"


def _epochs() -> pd.DataFrame:
    # two trials on two slots: a starts at 1 s, b at 2 s; a's second epoch is worse than its first
    return pd.DataFrame({
        "trial_id": ["a", "a", "b", "b"], "epoch": [1, 2, 1, 2],
        "elapsed_s": [3.0, 5.0, 4.0, 6.0], "trial_elapsed_s": [2.0, 4.0, 2.0, 4.0],
        "val_accuracy": [0.5, 0.4, 0.7, 0.9], "diverged": [False, False, False, True],
    })


def test_the_time_series_counts_compute_trials_and_best_so_far():
    s = time_series(_epochs(), "val_accuracy", "max", end_s=8.0)
    assert list(s.columns) == ["elapsed_s", "compute_s", "best_val_so_far", "trials_started", "epochs_trained"]
    assert s.elapsed_s.tolist() == [0.0, 3.0, 4.0, 5.0, 6.0, 8.0]
    # at 4 s: a has run 3 s (1..4), b 2 s (2..4)
    assert s.compute_s.tolist() == [0.0, 2.0 + 1.0, 3.0 + 2.0, 4.0 + 3.0, 4.0 + 4.0, 8.0]
    assert s.trials_started.tolist() == [0, 2, 2, 2, 2, 2]
    assert s.epochs_trained.tolist() == [0, 1, 2, 3, 4, 4]
    # 0.9 was a diverged epoch: never the best
    assert s.best_val_so_far.tolist()[1:] == [0.5, 0.7, 0.7, 0.7, 0.7]


def test_an_empty_run_is_a_flat_series():
    s = time_series(pd.DataFrame(), "val_loss", "min", end_s=10.0)
    assert s.elapsed_s.tolist() == [0.0, 10.0] and s.best_val_so_far.isna().all()


def test_time_and_compute_to_target():
    s = time_series(_epochs(), "val_accuracy", "max")
    assert first_reach(s, 0.7, "max") == (4.0, 5.0)
    assert first_reach(s, 0.95, "max") == (None, None)
    s_min = time_series(_epochs().assign(val_loss=[1.0, 0.8, 0.6, 0.5], diverged=False), "val_loss", "min")
    assert first_reach(s_min, 0.6, "min") == (4.0, 5.0)


def test_the_default_target_is_the_level_every_run_reached():
    assert default_target([0.95, 0.97, float("nan")], "max") == 0.95
    assert default_target([0.2, 0.1], "min") == 0.2
    assert default_target([None, float("nan")], "max") is None


def test_the_summary_has_per_run_and_per_strategy_figures_and_the_spread():
    e = _epochs()
    series = []
    runs = []
    for strategy, seed, shift, search in (("parallel", 0, 0.0, 31.0), ("parallel", 1, 0.05, 30.0),
                                          ("babysit", 0, 0.1, 30.5)):
        ee = e.assign(val_accuracy=e.val_accuracy + shift)
        s = time_series(ee, "val_accuracy", "max", end_s=search)
        s.insert(0, "seed", seed)
        s.insert(0, "strategy", strategy)
        series.append(s)
        runs.append({"strategy": strategy, "seed": seed, "best_val": 0.7 + shift, "test_accuracy": 0.6 + shift,
                     "search_elapsed_s": search, "elapsed_s": search + 2, "slot_seconds": search})
    summary = summarize(pd.DataFrame(runs), pd.concat(series), metric="val_accuracy", mode="max", budget_s=30.0,
                        target=None)
    assert summary["target"] == pytest.approx(0.7)
    by = {(r["strategy"], r["seed"]): r for r in summary["runs"]}
    assert by[("parallel", 0)]["over_budget_pct"] == pytest.approx(100 / 30)
    assert by[("babysit", 0)]["time_to_target_s"] == 4.0  # 0.6 at 3 s is below 0.7; 0.8 at 4 s reaches it
    assert by[("babysit", 0)]["compute_to_target_s"] == 5.0
    par = summary["strategies"]["parallel"]
    assert par["runs"] == 2 and par["best_val"]["min"] == pytest.approx(0.7)
    assert par["best_val"]["max"] == pytest.approx(0.75) and par["best_val"]["std"] > 0
    assert summary["strategies"]["babysit"]["test_accuracy"]["mean"] == pytest.approx(0.7)
    rows = summary_table(summary)
    assert rows[0][0] == "strategy" and len(rows) == 4
    assert all(not math.isnan(float(r[2])) for r in rows[1:])


def test_compare_refuses_bad_arguments_with_exit_code_2_and_writes_nothing(tmp_path, capsys):
    from orchestrator.cli import main

    spec = tmp_path / "s.yaml"
    spec.write_text("data: {dataset: digits}\n")
    for args in (["--budget", "5x"], ["--budget", "5m", "--strategies", "panda"], ["--budget", "5m", "--seeds", "0"]):
        assert main(["compare", str(spec), *args, "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sweep: error: --") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_run_budget_is_refused_when_malformed_and_passed_on_in_seconds(tmp_path, capsys, monkeypatch):
    """``sweep run --budget``: a bad value is one line with exit 2 and nothing written; a good one
    reaches the runner as the seconds left of it (never more than given)."""
    from orchestrator import execution as runner
    from orchestrator.cli import main

    spec = tmp_path / "s.yaml"
    spec.write_text("data: {dataset: digits}\n")
    assert main(["run", str(spec), "--budget", "-3", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sweep: error: --budget") and err.count("\n") == 1
    assert not (tmp_path / "out").exists()

    seen = {}

    class Stop(Exception):
        pass

    def fake_run_sweep(spec, out, **kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(runner, "run_sweep", fake_run_sweep)
    with pytest.raises(Stop):
        main(["run", str(spec), "--budget", "1.5m", "--out", str(tmp_path / "out")])
    assert 80 < seen["budget_s"] <= 90
