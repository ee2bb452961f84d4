"""sweep compare end to end on a short budget: the Parquet, the summary, the plots, the budget."""

from __future__ import annotations

import io
import json

import pandas as pd
from PIL import Image

from orchestrator.compare import BUDGET_SLACK_S

from tests.helpers import SPECS, run_cli

BUDGET_S = 15  # each strategy searches this long: enough for both to train and select (kept short for CI)


def test_a_small_compare_writes_its_evidence_and_keeps_the_budget(ray_session, tmp_path):
    out = tmp_path / "cmp"
    code = run_cli("compare", SPECS / "babysit_vs_parallel.yaml", "--budget", f"{BUDGET_S}s", "--seeds", "1",
                   "--out", out)
    assert code == 0
    comp = next(p for p in out.iterdir() if p.is_dir())

    # comparison.parquet: the time series of every strategy and seed
    series = pd.read_parquet(comp / "comparison.parquet")
    assert list(series.columns) == ["strategy", "seed", "elapsed_s", "compute_s", "best_val_so_far",
                                    "trials_started", "epochs_trained"]
    assert set(series.strategy) == {"parallel", "babysit"} and set(series.seed) == {0}
    for _, g in series.groupby("strategy"):
        for col in ("elapsed_s", "compute_s", "epochs_trained", "trials_started"):
            assert g[col].is_monotonic_increasing, col
        best = g.best_val_so_far.dropna()
        assert best.is_monotonic_increasing  # val_accuracy: best so far never gets worse
    baby = series[series.strategy == "babysit"]
    assert baby.epochs_trained.max() >= 1

    # the summary: per run figures, and the budget kept by both strategies
    summary = json.loads((comp / "summary.json").read_text())
    assert summary["budget_s"] == BUDGET_S and summary["metric"] == "val_accuracy"
    runs = {r["strategy"]: r for r in summary["runs"]}
    assert set(runs) == {"parallel", "babysit"}
    for strategy, r in runs.items():
        assert r["search_elapsed_s"] <= BUDGET_S * 1.05 + BUDGET_SLACK_S, (strategy, r["search_elapsed_s"])
        assert r["search_elapsed_s"] >= BUDGET_S * 0.5, (strategy, r["search_elapsed_s"])  # it used the budget
        assert r["elapsed_s"] >= r["search_elapsed_s"]
    assert runs["babysit"]["slots"] == 1
    assert runs["babysit"]["best_val"] is not None and runs["babysit"].get("test_accuracy") is not None
    assert set(summary["strategies"]) == {"parallel", "babysit"}

    # each strategy's run directory, readable as any run (the test split scored once per run)
    run_dirs = sorted(p for p in (comp / "runs").iterdir() if p.is_dir())
    strategies = {json.loads((p / "run.json").read_text())["strategy"]: p for p in run_dirs}
    assert set(strategies) == {"parallel", "babysit"}
    trials = pd.read_parquet(strategies["babysit"] / "trials.parquet")
    assert trials.test_accuracy.notna().sum() == 1
    assert run_cli("show", strategies["babysit"]) == 0

    # the plots decode as PNG and the page embeds them
    pngs = sorted((comp / "plots").glob("*.png"))
    names = {p.name for p in pngs}
    assert {"best_vs_time.png", "best_vs_compute.png", "babysit_curves_seed0.png"} <= names
    for p in pngs:
        with Image.open(io.BytesIO(p.read_bytes())) as im:
            im.verify()
            assert im.format == "PNG"
    page = (comp / "index.html").read_text()
    assert page.count("data:image/png;base64,") == len(pngs)
