"""Where users see several objectives, constraints and the importance of the hyperparameters:
``sweep show`` (the front, the importance table), ``sweep importance`` (one run, a history, bad
input), ``run.importance`` (and its cache in run.json), and MLflow -- on run directories written
by the run's own tables (RunTables with its goals), without Ray or TensorFlow.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import orchestrator
from orchestrator.cli import main
from orchestrator.results import RunTables, load, write_json
from orchestrator.results.goals import Goals
from orchestrator.spec import Bound, Objective, SelectSpec

PARAMS = {
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1.0, "when": None},
    "units": {"type": "int", "low": 8, "high": 512, "log": True, "when": None},
    "dropout": {"type": "uniform", "low": 0.0, "high": 0.5, "when": None},
    "epochs": {"type": "constant", "value": 3, "when": None},
}


def fabricate(run_dir: Path, n: int = 40, objectives: tuple[tuple[str, str], ...] = (("val_accuracy", "max"),
                                                                                       ("params", "min")),
              constraints: dict[str, dict[str, float]] | None = None, seed: int = 0, status: str = "complete",
              run_id: str = "mo-20260101-000000-abcd", lr_range: tuple[float, float] = (-4, 0),
              started_at: float = 1_767_225_600.0) -> dict[str, Any]:
    """A finished run as the runner writes it: accuracy driven by the learning rate alone, the
    model's size by the units alone, dropout doing nothing; a trial whose params break a
    constraint is infeasible (no epoch); run.json as finalize writes it (objectives, constraints,
    select, front, the selected trial's costs)."""
    rng = np.random.default_rng(seed)
    constraints = {"params": {"max": 20_000}} if constraints is None else constraints
    goals = Goals(tuple(Objective(name=a, mode=m) for a, m in objectives),
                  {k: Bound(**v) for k, v in constraints.items()}, SelectSpec(rule="best"))
    metric, mode = objectives[0]
    tables = RunTables(run_id, metric, mode, goals=goals)
    for i in range(n):
        tid = f"t{i:03d}"
        lr = float(10 ** rng.uniform(*lr_range))
        units = int(round(2 ** rng.uniform(3, 9)))
        config = {"learning_rate": lr, "units": units, "dropout": float(rng.uniform(0, 0.5)), "epochs": 3}
        tables.trial_started(tid, config)
        costs = {"params": 100.0 * units + 10, "params_total": 100.0 * units + 10, "model_bytes": 400.0 * units,
                 "latency_ms": 0.05 + 0.001 * units, "latency_batch_ms": 0.5 + 0.01 * units}
        if costs["params"] > constraints.get("params", {}).get("max", math.inf):
            tables.epoch(tid, {"infeasible": True, **costs, "epoch": 0, "started_at": started_at + i})
            tables.trial_ended(tid, "infeasible", "constraint")
            continue
        quality = math.exp(-((math.log10(lr) + 2) ** 2) / 1.5)
        for e in range(1, 4):
            acc = 0.1 + 0.85 * quality * (1 - math.exp(-0.8 * e)) + float(rng.normal(0, 0.002))
            tables.epoch(tid, {"epoch": e, "val_accuracy": acc, "val_loss": 2.3 * (1 - acc), "train_loss": 2.0 - acc,
                               "train_accuracy": acc, "trial_elapsed_s": 0.4 * e, "elapsed_s": 1.0 + i + 0.4 * e,
                               "epoch_s": 0.4, "started_at": started_at + i, **costs})
        tables.trial_ended(tid, "completed", "max_epochs")
    selection = tables.selection()  # None: one objective, no constraint (the best trial, as before)
    tables.selected = selection.selected if selection is not None else tables.select_best()
    tables.test_metrics = {"test_accuracy": 0.91}
    tables.flush(run_dir)
    sel = tables.selected
    info = {"run_id": run_id, "name": "mo", "status": status, "strategy": "parallel", "started_at": started_at,
            "ended_at": started_at + 60,
            "budget": {"trials": n, "metric": metric, "mode": mode, "max_epochs": 3},
            "spec": {"name": "mo", "params": PARAMS, "metric": {"name": metric, "mode": mode},
                     "objectives": [{"name": a, "mode": m} for a, m in objectives], "constraints": constraints,
                     "select": {"rule": "best"}, "search": {"algorithm": "tpe", "num_samples": n},
                     "scheduler": {"type": "asha"}},
            **goals.to_json(),
            "selected": {"trial_id": sel, "config": tables.trials[sel].config,
                         f"best_{metric}": tables.best(sel)[0], "best_epoch": tables.best(sel)[1],
                         **tables.test_metrics}}
    if selection is not None:  # as finalize writes it
        info.update({"feasible_count": sum(map(bool, selection.feasible.values())),
                     "front": [{"trial_id": t, **{a: tables.values(t)[a] for a, _ in objectives}}
                               for t in selection.front]})
        info["select"] = {**info["select"], "selected": sel, "why": selection.why}
        info["selected"].update(tables.trials[sel].costs)
    write_json(info, run_dir / "run.json")
    return info


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "mo-run"
    d.mkdir()
    fabricate(d)
    return d


def _out(capsys) -> str:
    return capsys.readouterr().out


# -- sweep show -------------------------------------------------------------------------------------


def test_show_prints_the_front_with_the_selected_trial_marked(run_dir: Path, capsys) -> None:
    assert main(["show", str(run_dir)]) == 0
    out = _out(capsys)
    run = load(run_dir)
    t = run.trials
    front_ids = set(t.loc[t["pareto_rank"] == 0, "trial_id"])
    feasible = int(t["feasible"].sum())
    assert f"front: {len(front_ids)} trial(s) of {feasible} feasible" in out
    assert "objectives val_accuracy (max), params (min) · constraints params <= 20000" in out
    front_part = out[out.index("front: "):out.index("importance")]
    shown = set(re.findall(r"(t\d{3})", front_part))
    assert shown == front_ids
    selected = run.info["selected"]["trial_id"]
    assert f"* {selected}" in front_part
    assert t.loc[t["trial_id"] == selected, "pareto_rank"].item() == 0
    for infeasible in t.loc[t["status"] == "infeasible", "trial_id"]:
        assert infeasible not in front_part  # greyed out of the front: never on it
    assert "params_total" in front_part and "latency_ms" in front_part  # the costs beside the objectives


def test_show_of_a_one_objective_run_has_no_front_but_its_importance(tmp_path: Path, capsys) -> None:
    d = tmp_path / "one"
    d.mkdir()
    fabricate(d, objectives=(("val_accuracy", "max"),), constraints={})
    assert main(["show", str(d)]) == 0
    out = _out(capsys)
    assert "front:" not in out
    assert "importance (which hyperparameters mattered" in out
    first = next(line for line in out.splitlines() if re.match(r"^\W*1\W", line))
    assert "learning_rate" in first  # the one that drives the accuracy, ranked first


# -- sweep importance --------------------------------------------------------------------------------


def _ranked(out: str, column: int) -> list[str]:
    """The parameter names of one objective's column of ``sweep importance``'s table, by rank."""
    rows = [line for line in out.splitlines() if re.match(r"^\W*\d+\W", line)]
    cells = [re.split(r"[│|┃]", r) for r in rows]
    return [c[column + 2].split()[0] for c in cells if len(c) > column + 2 and c[column + 2].strip()]


def test_sweep_importance_ranks_what_matters_first_and_what_does_nothing_last(run_dir: Path, capsys) -> None:
    assert main(["importance", str(run_dir)]) == 0
    out = _out(capsys)
    assert out.splitlines()[0].startswith("importance over 40 trials of run mo-20260101-000000-abcd (auto, seed 0)")
    accuracy, size = _ranked(out, 0), _ranked(out, 1)
    assert accuracy[0] == "learning_rate" and size[0] == "units"
    assert set(accuracy) == set(size) == {"learning_rate", "units", "dropout"}  # constants are not ranked
    assert main(["importance", str(run_dir)]) == 0
    assert _out(capsys) == out  # seeded: the same ranking every time


def test_run_importance_is_a_table_cached_in_run_json(run_dir: Path, monkeypatch) -> None:
    table = orchestrator.load(run_dir).importance
    assert list(table.columns) == ["objective", "param", "importance", "rank"]
    assert set(table["objective"]) == {"val_accuracy", "params"}
    top = table[table["rank"] == 1].set_index("objective")["param"].to_dict()
    assert top == {"val_accuracy": "learning_rate", "params": "units"}
    for _, g in table.groupby("objective"):
        assert list(g["rank"]) == list(range(1, len(g) + 1))
        assert g["importance"].is_monotonic_decreasing
    cached = json.loads((run_dir / "run.json").read_text())["importance"]
    assert cached["trials"] == 40 and cached["objectives"]["val_accuracy"][0][0] == "learning_rate"

    import orchestrator.decisions.importance as decisions

    def refuse(*a: Any, **k: Any) -> Any:
        raise AssertionError("ranked again although run.json holds the ranking")

    monkeypatch.setattr(decisions, "importance", refuse)
    again = orchestrator.load(run_dir).importance
    assert again.equals(table)


def test_importance_of_an_unfinished_run_is_not_written_into_it(tmp_path: Path) -> None:
    d = tmp_path / "running"
    d.mkdir()
    fabricate(d, status="running")
    before = (d / "run.json").read_text()
    assert not orchestrator.load(d).importance.empty
    assert (d / "run.json").read_text() == before


def test_sweep_importance_over_a_history_of_nights(tmp_path: Path, capsys) -> None:
    hist = tmp_path / "nightly"
    for k, (date, lr) in enumerate((("2026-01-01", (-4, -1)), ("2026-01-02", (-3, 0)))):
        d = hist / f"date={date}" / f"mo-{k}"
        d.mkdir(parents=True)
        fabricate(d, n=24, seed=k, run_id=f"mo-{k}", lr_range=lr, started_at=1_767_225_600.0 + 86400 * k)
    assert main(["importance", str(hist)]) == 0
    out = _out(capsys)
    assert out.splitlines()[0].startswith("importance over 48 trials of 2 runs")
    assert _ranked(out, 0)[0] == "learning_rate"


@pytest.mark.parametrize("argv, start", [
    (["importance", "{tmp}/missing"], "sweep: error: RUN_DIR: {tmp}/missing: not a directory"),
    (["importance", "{run}", "--evaluator", "forest"], "sweep: error: --evaluator: must be one of auto, fanova, "
                                                       "ped_anova, got 'forest'"),
])
def test_sweep_importance_bad_input_is_one_line(run_dir: Path, tmp_path: Path, capsys, argv, start) -> None:
    args = [a.format(tmp=tmp_path, run=run_dir) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(start.format(tmp=tmp_path)), err


@pytest.mark.parametrize("run_json, start", [
    (None, "sweep: error: RUN_DIR: no run directory (with a run.json) in {d}"),  # a directory, not a run
    ("{not json", "sweep: error: {d}: cannot read: run.json: Expecting property name"),
    ("[1, 2]", "sweep: error: {d}: cannot read: run.json: not a JSON object but a list"),
])
@pytest.mark.parametrize("command", ["importance", "show"])
def test_a_directory_that_is_not_a_readable_run_is_one_line(tmp_path: Path, capsys, run_json, start,
                                                           command) -> None:
    d = tmp_path / "not-a-run"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "notes.txt").write_text("no run here\n")
    if run_json is not None:
        (d / "run.json").write_text(run_json)
    elif command == "show":
        start = "sweep: error: {d}: not a run directory (no run.json)"
    assert main([command, str(d)]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(start.format(d=d)), err
    assert "Traceback" not in captured.out + captured.err


def test_sweep_importance_of_a_run_with_nothing_searched(tmp_path: Path, capsys) -> None:
    d = tmp_path / "fixed"
    d.mkdir()
    fabricate(d, n=6)
    info = json.loads((d / "run.json").read_text())
    info["spec"]["params"] = {"epochs": PARAMS["epochs"]}
    write_json(info, d / "run.json")
    assert main(["importance", str(d)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"sweep: error: {d}: cannot rank: no searched hyperparameter to rank"]


# -- MLflow ------------------------------------------------------------------------------------------


def test_mlflow_gets_costs_rank_and_feasibility_of_each_trial(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from orchestrator.tracking import log_run

    store = f"file:{tmp_path / 'mlruns'}"
    parent_id = log_run(load(run_dir), store)
    client = MlflowClient(tracking_uri=store)
    parent = client.get_run(parent_id)
    assert parent.data.params["objectives"] == "val_accuracy (max), params (min)"
    assert parent.data.params["constraints"] == "params <= 20000" and parent.data.params["select.rule"] == "best"
    run = load(run_dir)
    sel = run.trials[run.trials["is_selected"]].iloc[0]
    assert parent.data.metrics["params"] == sel["params"] and parent.data.metrics["latency_ms"] == sel["latency_ms"]
    front = set(run.trials.loc[run.trials["pareto_rank"] == 0, "trial_id"])
    assert set(parent.data.tags["sweep.front"].split(",")) == front
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'",
                                  max_results=1000)
    assert len(children) == len(run.trials)
    by_id = {c.data.tags["sweep.trial_id"]: c for c in children}
    for _, t in run.trials.iterrows():
        m = by_id[t["trial_id"]].data.metrics
        assert m["params"] == t["params"] and m["model_bytes"] == t["model_bytes"]
        assert m["feasible"] == float(t["feasible"])
        if t["status"] == "infeasible":
            assert "pareto_rank" not in m and by_id[t["trial_id"]].info.status == "FINISHED"
        else:
            assert m["pareto_rank"] == t["pareto_rank"]


# -- the report --------------------------------------------------------------------------------------

IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"')


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}">')
    return page[start:page.index("</section>", start)]


def _colour_share(data: str, rgb: tuple[int, int, int]) -> float:
    """The share of an embedded PNG's pixels within a few units of ``rgb``."""
    import base64
    import io

    from PIL import Image

    px = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"), dtype=int)
    return float((np.abs(px - np.array(rgb)).max(axis=2) <= 12).mean())


def test_report_plots_every_pair_of_objectives_and_ranks_the_hyperparameters(tmp_path: Path) -> None:
    from orchestrator.report import render_report

    d = tmp_path / "three"
    d.mkdir()
    fabricate(d, objectives=(("val_accuracy", "max"), ("params", "min"), ("latency_ms", "min")))
    page = render_report(load(d))
    run = load(d)
    front = _section(page, "front")
    imgs = dict(IMG.findall(front))
    assert set(imgs) == {"front of val_accuracy and params", "front of val_accuracy and latency_ms",
                         "front of params and latency_ms"}
    for data in imgs.values():
        assert _colour_share(data, (0xff, 0xb3, 0x00)) > 0  # the selected trial's star
        assert _colour_share(data, (0xb0, 0xbe, 0xc5)) > 0  # the greyed infeasible trials
    assert "params &lt;= 20000" in front and f"26 of {len(run.trials)}" in front
    rows = re.findall(r'<td class="tid">(★ )?(t\d{3})</td>', front)
    assert {t for _, t in rows} == set(run.trials.loc[run.trials["pareto_rank"] == 0, "trial_id"])
    assert [t for star, t in rows if star] == [run.info["selected"]["trial_id"]]

    importance = _section(page, "importance")
    for name, top in (("val_accuracy", "learning_rate"), ("params", "units"), ("latency_ms", "units")):
        table = importance[importance.index(f"<h3>for {name}</h3>"):]
        assert re.search(r'<td class="num">1</td><td>(\w+)</td>', table).group(1) == top
    assert importance.count('<td class="bar"><div style="width:100.0%">') == 3  # each objective's top bar
    # the Goldilocks plots come in the order of importance for the metric
    gold = [a for a, _ in IMG.findall(_section(page, "goldilocks"))]
    assert gold[0] == "Goldilocks plot of learning_rate"


def test_report_of_one_objective_with_a_constraint_plots_it_against_the_constrained_cost(tmp_path: Path) -> None:
    from orchestrator.report import render_report

    d = tmp_path / "constrained"
    d.mkdir()
    fabricate(d, objectives=(("val_accuracy", "max"),), constraints={"params": {"max": 20_000}})
    front = _section(render_report(load(d)), "front")
    assert [a for a, _ in IMG.findall(front)] == ["front of val_accuracy and params"]
    assert "val_accuracy (max)" in front and "params &lt;= 20000" in front
