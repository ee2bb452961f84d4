"""Several objectives, constraints and the select rules on the Ray side.

Two kinds of test: the Ray Tune adapters fed scripted results, with no trial trained (the
multi-objective ASHA and the Optuna searcher: they import Ray, so they live here), and tiny
sweeps through the CLI on the digits (objectives with TPE and the multi-objective ASHA, an
infeasible trial, each select rule, a run where no trial is feasible).
"""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pandas as pd
import pytest

from orchestrator.decisions.select import select
from orchestrator.spec import load_spec
from tests.helpers import only_run_dir, run_cli, write_spec

# -- the multi-objective ASHA, fed scripted results ------------------------------------------------


def _feed(scheduler, reports):
    """Hand ``scheduler`` the results ``(trial_id, epoch, values...)`` in order; its decisions."""
    seen, out = set(), []
    for tid, epoch, *values in reports:
        trial = SimpleNamespace(trial_id=tid)
        if tid not in seen:
            seen.add(tid)
            scheduler.on_trial_add(None, trial)
        result = {"training_iteration": epoch, "objective": values[0],
                  **{f"objective_{i}": v for i, v in enumerate(values[1:], start=1)}}
        out.append(scheduler.on_trial_result(None, trial, result))
    return out


def test_multi_objective_asha_with_one_objective_decides_as_rays_asha():
    from ray.tune.schedulers import ASHAScheduler

    from orchestrator.execution.moasha import MultiObjectiveASHA

    rng = random.Random(3)
    # 30 trials, each reporting epochs 1..9 in an interleaved order, values drifting upwards
    reports, base = [], {f"t{i}": rng.random() for i in range(30)}
    for epoch in range(1, 10):
        for tid in rng.sample(sorted(base), len(base)):
            reports.append((tid, epoch, base[tid] + 0.01 * epoch + rng.gauss(0, 0.02)))
    ours = MultiObjectiveASHA(["max"], max_t=9, grace_period=1, reduction_factor=3)
    rays = ASHAScheduler(metric="objective", mode="max", max_t=9, grace_period=1, reduction_factor=3)
    stopped_ours: dict[str, int] = {}  # trial -> the epoch it was stopped at (max_t: it ran to the end)
    stopped_rays: dict[str, int] = {}
    for report in reports:  # a stopped trial reports no more, in either
        tid, epoch = report[0], report[1]
        for sched, stopped in ((ours, stopped_ours), (rays, stopped_rays)):
            if tid not in stopped and _feed(sched, [report]) == ["STOP"]:
                stopped[tid] = epoch
    assert stopped_ours == stopped_rays
    assert 10 < sum(e < 9 for e in stopped_ours.values()) < 30  # most stopped at a rung, some ran to the end


def test_multi_objective_asha_keeps_the_front_at_a_rung():
    from orchestrator.execution.moasha import MultiObjectiveASHA

    sched = MultiObjectiveASHA(["max", "min"], max_t=9, grace_period=1, reduction_factor=3)
    # at epoch 1: a, b, c are each the best on something (a front); d, e, f are dominated by them
    first = [("a", 1, 0.9, 5000.0), ("b", 1, 0.8, 1000.0), ("c", 1, 0.6, 200.0),
             ("d", 1, 0.5, 6000.0), ("e", 1, 0.4, 7000.0), ("f", 1, 0.3, 8000.0)]
    decisions = dict(zip("abcdef", _feed(sched, first)))
    assert decisions["d"] == decisions["e"] == decisions["f"] == "STOP"  # dominated when they arrived
    assert decisions["a"] == "CONTINUE"  # the first at the rung always goes on, as in Ray's ASHA
    # a dominated trial arriving now is stopped; one extending the front goes on
    assert _feed(sched, [("g", 1, 0.55, 7000.0)]) == ["STOP"]
    assert _feed(sched, [("h", 1, 0.95, 9000.0)]) == ["CONTINUE"]
    # between rungs, nothing is decided; at max_t every trial stops (it is done)
    assert _feed(sched, [("a", 2, 0.1, 9e9)]) == ["CONTINUE"]
    assert _feed(sched, [("a", 9, 0.9, 5000.0)]) == ["STOP"]


def test_multi_objective_asha_ignores_an_infeasible_report():
    from orchestrator.execution.moasha import MultiObjectiveASHA

    sched = MultiObjectiveASHA(["max", "min"], max_t=9, grace_period=1, reduction_factor=3)
    trial = SimpleNamespace(trial_id="x")
    sched.on_trial_add(None, trial)
    row = {"training_iteration": 1, "objective": -1e30, "objective_1": 9e9, "infeasible": True}
    assert sched.on_trial_result(None, trial, row) == "CONTINUE"
    sched.on_trial_complete(None, trial, row)
    assert all(not r for rungs in sched.recorded for r in rungs.values())


def test_one_objective_with_a_within_rule_ranks_its_rungs_on_the_rules_two_criteria():
    from orchestrator.execution.moasha import MultiObjectiveASHA
    from orchestrator.execution.tune_setup import scheduler
    from orchestrator.spec import parse_spec

    spec = parse_spec({"data": {"dataset": "digits"}, "metric": "val_accuracy", "model": {"epochs": 9},
                       "select": {"rule": "within", "then": "params"},
                       "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 3}})
    sched = scheduler(spec)
    assert isinstance(sched, MultiObjectiveASHA) and sched.columns == ["objective", "params"]

    def report(tid, accuracy, params, diverged=False):
        trial = SimpleNamespace(trial_id=tid)
        sched.on_trial_add(None, trial)
        return sched.on_trial_result(None, trial, {"training_iteration": 1, "objective": accuracy,
                                                    "val_accuracy": accuracy, "params": params,
                                                    "diverged": diverged})

    # the large models lead at the first rung; a small one behind them goes on, as the rule may keep it
    assert [report(t, a, p) for t, a, p in [("big", 0.95, 100_000), ("bigger", 0.96, 300_000),
                                             ("mid", 0.90, 120_000), ("mid2", 0.89, 150_000),
                                             ("mid3", 0.88, 200_000)]] == ["CONTINUE"] * 2 + ["STOP"] * 3
    assert report("small", 0.91, 2_000) == "CONTINUE"  # Ray's ASHA on accuracy alone would stop it
    # a tiny model whose epoch diverged is not on the front by being small
    assert report("tiny", 0.20, 50, diverged=True) == "STOP"


# -- the Optuna searcher, told scripted trials -----------------------------------------------------


def _searcher(modes, constraints=None):
    import optuna

    from orchestrator.execution.optuna_search import SweepOptunaSearch, tpe_sampler

    def space(trial):
        trial.suggest_float("x", 0.0, 1.0)

    return SweepOptunaSearch(space, modes, tpe_sampler(0, bool(constraints)), constraints), optuna


def _rows(values, stop_last=""):
    rows = [{"training_iteration": i, "epoch": i, "stop_reason": "", **v} for i, v in enumerate(values, start=1)]
    rows[-1]["stop_reason"] = stop_last
    return rows


def test_searcher_tells_the_best_epoch_not_the_last():
    s, optuna = _searcher(["max", "min"])
    s.suggest("t1")
    rows = _rows([{"objective": 0.5, "objective_1": 100.0}, {"objective": 0.9, "objective_1": 100.0},
                  {"objective": 0.7, "objective_1": 100.0}], stop_last="max_epochs")
    for r in rows[:-1]:
        s.on_trial_result("t1", r)
    s.on_trial_complete("t1", rows[-1])  # Tune hands the last result to on_trial_complete
    (t,) = s._ot_study.get_trials()
    assert t.state == optuna.trial.TrialState.COMPLETE and t.values == [0.9, 100.0]


def test_searcher_prunes_a_stopped_single_objective_trial_at_its_best_so_far():
    s, optuna = _searcher(["max"])
    s.suggest("t1")
    rows = _rows([{"objective": 0.6}, {"objective": 0.4}])  # no reason of its own: a scheduler stopped it
    s.on_trial_result("t1", rows[0])
    s.on_trial_complete("t1", rows[1])  # the stopping result reaches only on_trial_complete
    (t,) = s._ot_study.get_trials()
    assert t.state == optuna.trial.TrialState.PRUNED
    # its best so far at every step it reached, which TPE ranks pruned trials by (the last step first)
    assert t.intermediate_values == {1: 0.6, 2: 0.6}


def test_searcher_tells_constraints_of_feasible_and_infeasible_trials():
    from orchestrator.spec import Bound

    s, optuna = _searcher(["max", "min"], {"params": Bound(max=1000.0), "val_loss": Bound(max=0.5)})
    s.suggest("ok")
    s.suggest("big")
    s.on_trial_complete("ok", {"training_iteration": 3, "epoch": 3, "objective": 0.9, "objective_1": 500.0,
                               "params": 500.0, "val_loss": 0.25, "stop_reason": "max_epochs"})
    s.on_trial_complete("big", {"training_iteration": 1, "epoch": 0, "objective": -1e30, "objective_1": 4000.0,
                                "params": 4000.0, "infeasible": True})
    ok, big = s._ot_study.get_trials()
    assert ok.state == big.state == optuna.trial.TrialState.COMPLETE
    assert ok.constraints == {"params": 0.0, "val_loss": 0.0}  # kept (feasible: every value <= 0)
    assert big.constraints == pytest.approx({"params": 3.0})  # broken by 300%; its val_loss never measured


# -- sweeps through the CLI --------------------------------------------------------------------------

BASE = {"name": "objectives", "data": {"dataset": "digits"},
        "model": {"hidden_layers": 1, "batch_size": 64, "learning_rate": 0.01, "optimizer": "adam"},
        "resources": {"cpu": 1, "max_concurrent": 2}}
TWO = [{"name": "val_accuracy", "mode": "max"}, {"name": "params", "mode": "min"}]


def _run(tmp_path, doc):
    spec = write_spec(tmp_path, {**BASE, **doc})
    out = tmp_path / "out"
    code = run_cli("run", spec, "--out", out)
    run_dir = only_run_dir(out)
    return code, spec, pd.read_parquet(run_dir / "trials.parquet"), json.loads((run_dir / "run.json").read_text())


def _selection(spec_path, trials):
    """What decisions.select picks on the run's own trials table."""
    spec = load_spec(spec_path)
    ok = trials[trials["status"].isin(["completed", "stopped"])]
    rows = [{k: v for k, v in r.items()} for r in ok.to_dict("records")]
    return select(rows, spec.objectives, dict(spec.constraints), spec.select)


def test_two_objectives_with_tpe_and_the_multi_objective_asha(ray_session, tmp_path):
    model = {k: v for k, v in BASE["model"].items() if k != "learning_rate"}  # searched below
    code, _, trials, info = _run(tmp_path, {
        "model": {**model, "epochs": 4},
        "params": {"units": {"type": "choice", "values": [8, 16, 32, 64]},
                   "learning_rate": {"type": "loguniform", "low": 1e-3, "high": 0.05}},
        "objectives": TWO,
        "search": {"algorithm": "tpe", "num_samples": 6, "seed": 0},
        "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
    })
    assert code == 0
    for column in ("params", "params_total", "model_bytes", "latency_ms", "latency_batch_ms", "train_seconds",
                   "best_val_accuracy", "best_params", "feasible", "pareto_rank"):
        assert column in trials, column
    assert trials["feasible"].all() and (trials["params"] > 0).all() and (trials["latency_ms"] > 0).all()
    assert (trials["best_params"] == trials["params"]).all()
    front = trials[trials["pareto_rank"] == 0]
    assert len(front) >= 1 and {f["trial_id"] for f in info["front"]} == set(front["trial_id"])
    assert info["objectives"] == TWO
    selected = trials[trials["is_selected"]].iloc[0]
    assert selected["pareto_rank"] == 0 and info["selected"]["trial_id"] == selected["trial_id"]
    assert info["select"]["rule"] == "best" and info["select"]["selected"] == selected["trial_id"]
    # stopped trials were stopped by the multi-objective ASHA at a rung, recorded as Ray's ASHA stops are
    stopped = trials[trials["status"] == "stopped"]
    assert stopped["stop_reason"].str.match(r"asha_rung_\d").all()


def test_a_cost_constraint_makes_a_trial_infeasible_before_its_first_epoch(ray_session, tmp_path):
    # the MLP on digits has 75 * units + 10 parameters: 16 units 1210, 64 units 4810
    code, _, trials, info = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 2},
        "params": {"units": {"type": "grid", "values": [16, 64]}},
        "metric": "val_accuracy",
        "constraints": {"params": {"max": 3000}},
        "search": {"algorithm": "grid"},
    })
    assert code == 0
    t = trials.set_index("hp_units")
    assert t.loc[64, "status"] == "infeasible" and t.loc[64, "epochs"] == 0
    assert t.loc[64, "stop_reason"] == "constraint_params" and t.loc[64, "params"] == 4810
    assert not t.loc[64, "feasible"] and pd.isna(t.loc[64, "pareto_rank"]) and not t.loc[64, "is_selected"]
    assert t.loc[16, "status"] == "completed" and t.loc[16, "feasible"] and t.loc[16, "is_selected"]
    assert info["counts"] == {"completed": 1, "infeasible": 1} and info["feasible_count"] == 1
    epochs = pd.read_parquet(only_run_dir(tmp_path / "out") / "epochs.parquet")
    assert set(epochs["trial_id"]) == {t.loc[16, "trial_id"]}  # no epoch of the infeasible trial


@pytest.mark.parametrize("rule", [{"rule": "best"}, {"rule": "within", "tolerance": 0.05}, {"rule": "knee"}])
def test_each_select_rule_picks_what_decisions_select_picks(ray_session, tmp_path, rule):
    code, spec, trials, info = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 2},
        "params": {"units": {"type": "grid", "values": [4, 16, 64]}},
        "objectives": TWO,
        "select": rule,
        "search": {"algorithm": "grid"},
    })
    assert code == 0
    expected = _selection(spec, trials)
    assert info["selected"]["trial_id"] == expected.selected
    assert trials.loc[trials["is_selected"], "trial_id"].tolist() == [expected.selected]
    assert info["select"]["rule"] == rule["rule"]


def test_no_feasible_trial_ends_no_result_naming_the_constraint(ray_session, tmp_path, capsys):
    code, _, trials, info = _run(tmp_path, {
        "model": {**BASE["model"], "epochs": 2},
        "params": {"units": {"type": "grid", "values": [8, 16]}},
        "metric": "val_accuracy",
        "constraints": {"latency_ms": {"max": 1.0e-6}},
        "search": {"algorithm": "grid"},
    })
    captured = capsys.readouterr()
    assert code == 1 and info["status"] == "no_result"
    assert set(trials["status"]) == {"infeasible"} and (trials["epochs"] == 0).all()
    assert "latency_ms" in info["no_result_reason"]
    assert "latency_ms" in captured.out + captured.err and "Traceback" not in captured.out + captured.err
    assert "sweep: error: no feasible trial: " in captured.err
