"""Where users see a real two-objective run: ``sweep show`` (the front, the importance table),
``sweep importance``, ``sweep report`` (the Front and Importance sections, and the page in headless
Chromium), MLflow (``--mlflow``) and the exported model's model.json.

One tiny run serves every test here (a module fixture): the digits, an MLP searched over a grid of
3 widths for 2 epochs, two objectives (val_accuracy max, params min) and a constraint on params
that the widest model breaks (an ``infeasible`` trial that never trains). The MLP on the digits has
``75 * units + 10`` trainable parameters: 4 units 310, 16 units 1210, 64 units 4810.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

import orchestrator
from tests.helpers import ROOT, only_run_dir, run_cli, write_spec

pytestmark = pytest.mark.integration

OBJECTIVES = [{"name": "val_accuracy", "mode": "max"}, {"name": "params", "mode": "min"}]
LIMIT = 3000
COSTS = ("params", "params_total", "model_bytes", "latency_ms", "latency_batch_ms")


@pytest.fixture(scope="module")
def two_objective_run(ray_session, tmp_path_factory) -> tuple[Path, str]:
    """The run directory and the MLflow store it was logged to."""
    tmp = tmp_path_factory.mktemp("seen")
    spec = write_spec(tmp, {
        "name": "seen", "data": {"dataset": "digits"},
        "model": {"hidden_layers": 1, "batch_size": 64, "learning_rate": 0.01, "optimizer": "adam", "epochs": 2},
        "params": {"units": {"type": "grid", "values": [4, 16, 64]}},
        "objectives": OBJECTIVES,
        "constraints": {"params": {"max": LIMIT}},
        "search": {"algorithm": "grid"},
        "resources": {"cpu": 1, "max_concurrent": 2},
    })
    store = f"file:{tmp / 'mlruns'}"
    out = tmp / "out"
    assert run_cli("run", spec, "--out", out, "--mlflow", store) == 0
    return only_run_dir(out), store


def _trials(run_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(run_dir / "trials.parquet").set_index("hp_units")


def test_the_run_has_a_front_an_infeasible_trial_and_a_selected_one(two_objective_run) -> None:
    run_dir, _ = two_objective_run
    t = _trials(run_dir)
    assert t.loc[64, "status"] == "infeasible" and t.loc[64, "epochs"] == 0 and t.loc[64, "params"] == 4810
    assert list(t.loc[[4, 16], "params"]) == [310, 1210] and t.loc[[4, 16], "feasible"].all()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["objectives"] == OBJECTIVES and info["feasible_count"] == 2
    assert {f["trial_id"] for f in info["front"]} == set(t.loc[t["pareto_rank"] == 0, "trial_id"])
    assert t.loc[t["is_selected"], "pareto_rank"].tolist() == [0]


def test_sweep_show_prints_the_front_and_the_importance(two_objective_run, capsys) -> None:
    run_dir, _ = two_objective_run
    t = _trials(run_dir).reset_index()
    capsys.readouterr()
    assert run_cli("show", run_dir) == 0
    out = capsys.readouterr().out
    front_ids = set(t.loc[t["pareto_rank"] == 0, "trial_id"])
    assert (f"front: {len(front_ids)} trial(s) of 2 feasible · objectives val_accuracy (max), params (min) · "
            f"constraints params <= {LIMIT}") in out
    front_part = out[out.index("front: "):out.index("importance (")]
    selected = t.loc[t["is_selected"], "trial_id"].item()
    rows = [line for line in front_part.splitlines() if any(tid in line for tid in t["trial_id"])]
    assert len(rows) == len(front_ids) and all(any(tid in r for tid in front_ids) for r in rows)
    assert [r for r in rows if "* " + selected in r]  # the selected one marked
    infeasible = t.loc[t["status"] == "infeasible", "trial_id"].item()
    assert infeasible not in front_part
    for tid in front_ids:  # its params as a whole number, its row's accuracy
        row = next(r for r in rows if tid in r)
        assert str(int(t.loc[t["trial_id"] == tid, "params"].item())) in row
    # the importance table: a column per objective, the one searched hyperparameter ranked for both
    imp = out[out.index("importance ("):]
    header = next(line for line in imp.splitlines() if "rank" in line)
    assert "val_accuracy" in header and "params" in header
    first = next(line for line in imp.splitlines() if re.match(r"^\W*1\W", line))
    assert first.count("units") == 2


def test_sweep_importance_ranks_the_searched_width_for_each_objective(two_objective_run, capsys) -> None:
    run_dir, _ = two_objective_run
    capsys.readouterr()
    assert run_cli("importance", run_dir) == 0
    out = capsys.readouterr().out
    run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
    assert out.splitlines()[0] == f"importance over 3 trials of run {run_id} (auto, seed 0); 1 = the most important"
    first = next(line for line in out.splitlines() if re.match(r"^\W*1\W", line))
    assert re.search(r"units\s+1\.000.*units\s+1\.000", first), first  # the only one: all of the variation


def test_mlflow_children_carry_costs_rank_and_feasibility_the_parent_the_objectives(two_objective_run) -> None:
    from mlflow.tracking import MlflowClient

    run_dir, store = two_objective_run
    t = _trials(run_dir).reset_index()
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("seen")
    logged = client.search_runs([exp.experiment_id], filter_string="tags.`sweep.run_id` != ''")
    parent = next(r for r in logged if "mlflow.parentRunId" not in r.data.tags)
    assert parent.data.params["objectives"] == "val_accuracy (max), params (min)"
    assert parent.data.params["constraints"] == f"params <= {LIMIT}" and parent.data.params["select.rule"] == "best"
    sel = t[t["is_selected"]].iloc[0]
    assert parent.data.metrics["params"] == sel["params"] and parent.data.metrics["feasible_trials"] == 2
    assert set(parent.data.tags["sweep.front"].split(",")) == set(t.loc[t["pareto_rank"] == 0, "trial_id"])
    children = {r.data.tags["sweep.trial_id"]: r for r in logged
                if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(children) == set(t["trial_id"])
    for _, row in t.iterrows():
        child = children[row["trial_id"]]
        m = child.data.metrics
        for cost in COSTS:
            assert m[cost] == pytest.approx(row[cost]), cost
        assert m["feasible"] == float(row["feasible"]) and child.data.tags["sweep.status"] == row["status"]
        if row["status"] == "infeasible":
            assert "pareto_rank" not in m and child.info.status == "FINISHED"
        else:
            assert m["pareto_rank"] == row["pareto_rank"]


def test_the_exported_model_json_carries_its_costs_and_objectives(two_objective_run) -> None:
    run_dir, _ = two_objective_run
    t = _trials(run_dir).reset_index()
    sel = t[t["is_selected"]].iloc[0]
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    assert meta["trial_id"] == sel["trial_id"]
    for cost in COSTS:
        assert meta["costs"][cost] == pytest.approx(sel[cost]), cost
    assert meta["costs"]["train_seconds"] == pytest.approx(sel["train_seconds"]) and sel["train_seconds"] > 0
    assert [(o["name"], o["mode"]) for o in meta["objectives"]] == [("val_accuracy", "max"), ("params", "min")]
    values = {o["name"]: o["value"] for o in meta["objectives"]}
    assert values == {"val_accuracy": pytest.approx(sel["best_val_accuracy"]), "params": sel["params"]}
    assert meta["constraints"] == {"params": {"max": LIMIT, "min": None}}
    # the API reads the same file
    assert orchestrator.load_model(run_dir).info["costs"]["params"] == sel["params"]


@pytest.fixture(scope="module")
def report_page(two_objective_run) -> Path:
    run_dir, _ = two_objective_run
    assert run_cli("report", run_dir) == 0
    return run_dir / "report.html"


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}">')
    return page[start:page.index("</section>", start)]


def test_the_report_plots_the_front_and_ranks_the_hyperparameters(two_objective_run, report_page) -> None:
    run_dir, _ = two_objective_run
    t = _trials(run_dir).reset_index()
    page = report_page.read_text(encoding="utf-8")
    front = _section(page, "front")
    assert 'alt="front of val_accuracy and params"' in front
    assert "feasible trials</th><td>2 of 3" in front and f"params &lt;= {LIMIT}" in front
    selected = t.loc[t["is_selected"], "trial_id"].item()
    assert f"★ {selected}" in front
    importance = _section(page, "importance")
    assert importance.count('<td class="bar">') == 2  # units, for each objective
    assert "for val_accuracy" in importance and "for params" in importance
    assert '<img alt="Goldilocks plot of units"' in page


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Chromium is not installed (Debian: apt-get install -y chromium); "
                           "the page is then checked by test_the_report_plots_the_front_and_ranks_the_hyperparameters")
def test_the_front_and_importance_sections_in_headless_chromium(report_page, tmp_path) -> None:
    from orchestrator.report import SECTIONS

    spec = importlib.util.spec_from_file_location("check_report_browser", ROOT / "scripts" / "check_report_browser.py")
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    result = checker.check(report_page, tmp_path / "report.png", browser=shutil.which("chromium"))
    assert result["ok"], result["problems"]
    dom = result["dom"]
    assert dom["broken"] == 0 and dom["sections"] == [sid for sid, _ in SECTIONS]
    assert dom["section_images"]["front"] == 1  # the one pair of objectives, decoded
    assert dom["bars"] == dom["bars_drawn"] == 2
    assert result["console_errors"] == []
