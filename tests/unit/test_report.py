"""Unit tests for ``sweep report`` (orchestrator.report) and ``orchestrator.load_many``, on run
directories fabricated with RunTables (no Ray, no TensorFlow).
"""

from __future__ import annotations

import base64
import io
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import orchestrator
from orchestrator.cli import main
from orchestrator.report import SECTIONS, goldilocks_regions, param_kinds, render_report, write_report
from orchestrator.results import RunTables, load, write_json

IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"')
XSS = "<script>alert('x')</script> & \"quoted\""

SPEC_PARAMS = {
    "epochs": {"type": "constant", "value": 8, "when": None},
    "optimizer": {"type": "choice", "values": ["adam", "sgd"], "when": None},
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1.0, "when": None},
    "momentum": {"type": "uniform", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
    "units": {"type": "int", "low": 8, "high": 256, "log": True, "when": None},
    "dropout": {"type": "uniform", "low": 0.0, "high": 0.5, "when": None},
    "batch_size": {"type": "choice", "values": [16, 32, 64], "when": None},
    "activation": {"type": "constant", "value": "relu", "when": None},
}


def _curve(lr: float, n: int, rng: np.random.Generator) -> list[tuple[float, float, float, float]]:
    """(train_loss, val_loss, train_accuracy, val_accuracy) per epoch; best near lr = 0.01."""
    quality = math.exp(-((math.log10(lr) + 2) ** 2) / 1.5)  # 1 at lr=0.01, small at the ends
    rows = []
    for e in range(1, n + 1):
        acc = 0.1 + 0.85 * quality * (1 - math.exp(-0.6 * e)) + rng.normal(0, 0.005)
        loss = 2.3 * (1 - 0.9 * quality * (1 - math.exp(-0.5 * e))) + rng.normal(0, 0.01)
        rows.append((loss * 0.9, loss, min(acc + 0.02, 1.0), acc))
    return rows


def fabricate_run(run_dir: Path, n_trials: int = 14, seed: int = 0, params: dict[str, Any] | None = None,
                  run_id: str = "demo-20260101-000000-abcd", with_spec: bool = True) -> str:
    """A run directory as the runner writes it: trials of every status, events, run.json with the spec."""
    rng = np.random.default_rng(seed)
    params = SPEC_PARAMS if params is None else params
    tables = RunTables(run_id, "val_accuracy", "max")
    t0 = 1_767_225_600.0
    for i in range(n_trials):
        tid = f"t{i:03d}"
        lr = float(10 ** rng.uniform(-4, 0))
        opt = ["adam", "sgd"][i % 2]
        config = {"epochs": 8, "optimizer": opt, "learning_rate": lr,
                  "momentum": float(rng.uniform(0, 0.9)) if opt == "sgd" else None,
                  "units": int(2 ** rng.integers(3, 9)), "dropout": float(rng.uniform(0, 0.5)),
                  "batch_size": int(rng.choice([16, 32, 64])), "activation": "relu"}
        config = {k: v for k, v in config.items() if k in params}
        tables.trial_started(tid, config)
        n = 8 if i % 3 == 0 else 2
        curve = _curve(lr, n, rng)
        diverge = i == 1
        for e, (tl, vl, ta, va) in enumerate(curve, start=1):
            div = diverge and e == n
            tables.epoch(tid, {
                "epoch": e, "train_loss": math.nan if div else tl, "val_loss": math.nan if div else vl,
                "train_accuracy": ta, "val_accuracy": math.nan if div else va, "epoch_s": 0.5,
                "trial_elapsed_s": 0.5 * e, "elapsed_s": 2.0 + i * 1.5 + 0.5 * e, "learning_rate": lr,
                "diverged": div, "started_at": t0 + i, "stop_reason": "",
            })
        if diverge:
            tables.trial_ended(tid, "diverged", "diverged")
        elif i == 2:
            tables.trial_ended(tid, "error", "error", error=XSS)
        elif n == 8:
            tables.trial_ended(tid, "completed", "max_epochs")
        else:
            tables.trial_ended(tid, "stopped", "asha_rung_0" if i % 2 else "plateau")
        tables.diagnoses[tid] = {"label": "good" if i != 4 else "overfit",
                                 "reason": f"fabricated <b>{i}</b>", "stop_epoch": 1 if i == 4 else None}
    tables.selected = tables.select_best()
    tables.test_metrics = {"test_accuracy": 0.9312, "test_loss": 0.25}
    tables.flush(run_dir)
    info = {
        "run_id": run_id, "name": "demo", "status": "complete", "strategy": "parallel",
        "started_at": t0, "ended_at": t0 + 60,
        "budget": {"trials": n_trials, "metric": "val_accuracy", "mode": "max", "max_epochs": 8},
        "compute": tables.compute(),
        "selected": {"trial_id": tables.selected, "config": tables.trials[tables.selected].config,
                     "best_val_accuracy": tables.best(tables.selected)[0], "best_epoch": tables.best(tables.selected)[1],
                     **tables.test_metrics},
    }
    if with_spec:
        info["spec"] = {"name": "demo", "params": params, "metric": {"name": "val_accuracy", "mode": "max"},
                        "search": {"algorithm": "random", "num_samples": n_trials}, "scheduler": {"type": "asha"}}
    write_json(info, run_dir / "run.json")
    return tables.selected


def _images(page: str) -> list[tuple[str, Image.Image]]:
    out = []
    for alt, data in IMG.findall(page):
        raw = base64.b64decode(data, validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n", alt
        im = Image.open(io.BytesIO(raw))
        im.load()  # decodes every pixel
        out.append((alt, im))
    return out


@pytest.fixture()
def run_dir(tmp_path: Path) -> Path:
    d = tmp_path / "demo-run"
    d.mkdir()
    fabricate_run(d)
    return d


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """The fabricated run and its page, rendered once for the tests that only read it."""
    d = tmp_path_factory.mktemp("demo") / "demo-run"
    d.mkdir()
    fabricate_run(d)
    return d, render_report(load(d))


# -- the page --------------------------------------------------------------------------------------


def test_report_has_every_section_and_decodable_images(demo) -> None:
    page = demo[1]
    for sid, heading in SECTIONS:
        assert f'<section id="{sid}">' in page, sid
        assert f"<h2>{heading}</h2>" in page, heading
    imgs = _images(page)
    alts = [a for a, _ in imgs]
    # overview + top + stopped + best-so-far + one per searched hp (6) + parallel coordinates
    assert len(imgs) == 3 + 1 + 6 + 1, alts
    for name in ("learning_rate", "momentum", "units", "dropout", "batch_size", "optimizer"):
        assert f"Goldilocks plot of {name}" in alts, alts
    for alt, im in imgs:
        assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 150, alt
        assert len(im.convert("RGB").getcolors(1 << 16) or range(1 << 16)) > 8, f"{alt}: blank image"
    assert "src=\"http" not in page and "<link" not in page  # self-contained


def test_report_escapes_values_from_the_data(demo) -> None:
    page = demo[1]
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in page
    assert "<b>0</b>" not in page and "fabricated &lt;b&gt;0&lt;/b&gt;" in page


def test_the_compute_section_credits_early_stopping_only_with_what_a_stop_decision_saved(demo) -> None:
    from orchestrator.report import sections
    from orchestrator.report.context import Context

    run = load(demo[0])
    compute = {"epochs_trained": 40, "trial_seconds": 20.0, "epochs_full": 100, "trial_seconds_full": 50.0,
               "epochs_saved_fraction": 0.6, "trial_seconds_saved_fraction": 0.6,
               "epochs_untrained": {"early_stopping": 30, "error": 20, "interrupted": 0, "budget": 10}}
    ctx = Context.of(run)
    ctx.info = {**ctx.info, "compute": compute}
    html = sections.compute_section(ctx)
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", html)
    assert cells[cells.index("saved by early stopping") + 1] == "30% of epochs"  # not the 60% not trained
    assert cells[cells.index("not trained") + 1] == "20% because trials failed, 10% because the time budget ran out"


def test_report_content(demo) -> None:
    run = load(demo[0])
    page = demo[1]
    sel = run.info["selected"]["trial_id"]
    assert "test_accuracy = 0.9312" in page
    assert f"Trial <b>{sel}</b> was selected" in page
    assert "trial-seconds spent" in page and "saved by early stopping" in page
    # every trial is a row of the table, the selected one first, diverged/failed ones last
    table = page[page.index('<section id="trials">'):]
    rows = re.findall(r"<tr(?: class=\"sel\")?><td class=\"num\">(\d+)</td><td class=\"tid\">(★ )?(t\d+)</td>", table)
    assert len(rows) == len(run.trials)
    assert rows[0][2] == sel and rows[0][1] == "★ "
    assert {rows[-1][2], rows[-2][2]} == {"t001", "t002"}
    for status in ("completed", "stopped", "diverged", "error"):
        assert f'class="s-{status}">{status}</td>' in table
    assert "asha_rung_0" in table and "plateau" in table and "overfit" in table


def test_goldilocks_axes_follow_the_spec() -> None:
    trials = pd.DataFrame({f"hp_{n}": v for n, v in {
        "learning_rate": [1e-3, 1e-2], "units": [8, 64], "dropout": [0.1, 0.2], "optimizer": ["adam", "sgd"],
        "batch_size": [16, 64], "epochs": [8, 8], "lrs": [1e-7, 1.0]}.items()})
    params = dict(SPEC_PARAMS, lrs={"type": "grid", "values": [1e-7, 0.01, 1.0]},
                  steps={"type": "int", "low": 1, "high": 9, "log": False})
    kinds = param_kinds(params, trials)
    assert kinds["learning_rate"] == {"kind": "numeric", "log": True, "values": []}
    assert kinds["units"]["log"] is True                      # int with log: true
    assert kinds["dropout"] == {"kind": "numeric", "log": False, "values": []}
    assert kinds["optimizer"]["kind"] == "categorical"
    assert kinds["batch_size"] == {"kind": "numeric", "log": False, "values": [16, 32, 64]}
    assert kinds["lrs"]["log"] is True                        # a grid spanning 7 decades
    assert "epochs" not in kinds and "activation" not in kinds  # constants
    assert "steps" not in kinds                                # no column
    assert "momentum" not in kinds                             # one value at most
    # no spec: every hp column with two values, numeric by dtype
    assert set(param_kinds(None, trials)) == {"learning_rate", "units", "dropout", "optimizer", "batch_size", "lrs"}


def test_goldilocks_regions_max() -> None:
    # a learning rate with a sweet spot around 1e-2: 10 trials below it, 6 above (one diverged)
    x = ([10 ** e for e in np.linspace(-5, -3.2, 10)] + [10 ** e for e in (-2.2, -2, -1.8, -1.6)]
         + [10 ** e for e in (-0.8, -0.6, -0.4, -0.2, 0, 0.2)])
    y = [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.93, 0.95, 0.94, 0.92,
         0.3, 0.25, 0.2, 0.15, 0.1, math.nan]
    r = goldilocks_regions(x, y, "max", log=True)
    assert r is not None and r["best"] == 0.95 and r["median"] == 0.3
    assert r["tol"] == pytest.approx(0.325) and r["threshold"] == pytest.approx(0.625)
    assert r["poor"] == pytest.approx(0.3 - 0.325)
    assert (r["lo"], r["hi"]) == (10 ** -2.2, 10 ** -1.6) and r["n_good"] == 4
    assert r["n_below"] == 10 and r["n_above"] == 6
    # 4 good trials of 20: all 10 at the low end bad by chance: C(16, 10) / C(20, 10)
    assert r["p_below"] == pytest.approx(math.comb(16, 10) / math.comb(20, 10)) and r["p_below"] < 0.05
    assert r["low_shaded"] and r["sweet_spot"]
    # 6 at the high end: C(16, 6) / C(20, 6) = 21% could be luck, and their best (0.3) is the median
    assert r["p_above"] == pytest.approx(math.comb(16, 6) / math.comb(20, 6)) and not r["high_shaded"]
    assert r["low_edge"] == pytest.approx(10 ** -2.7) and r["high_edge"] == pytest.approx(10 ** -1.2)


def test_goldilocks_regions_do_not_shade_luck() -> None:
    # 40 trials of a hyperparameter that does not matter: the 3 at the top end all happen to be bad
    rng = np.random.default_rng(1)
    x = np.linspace(0, 1, 40)
    y = rng.uniform(0.5, 0.9, 40)
    y[-3:] = [0.6, 0.55, 0.62]
    y[-4] = 0.899  # a good one just before them
    r = goldilocks_regions(x, y, "max")
    assert r["n_above"] == 3 and not r["high_shaded"] and not r["sweet_spot"]
    # a grid with one trial per value: 1e-7 is far worse than the median, 1.0 only a little
    r = goldilocks_regions([1e-7, 0.01, 1.0], [0.12, 0.986, 0.97], "max", log=True)
    assert r["low_shaded"] and not r["high_shaded"] and (r["lo"], r["hi"]) == (0.01, 0.01)


def test_goldilocks_regions_min_and_edges() -> None:
    r = goldilocks_regions([1, 2, 3, 4], [5.0, 1.0, 1.01, 6.0], "min")
    assert (r["lo"], r["hi"]) == (2, 3) and r["n_below"] == 1 and r["n_above"] == 1
    assert r["low_edge"] == 1.5 and r["high_edge"] == 3.5
    assert r["poor"] == pytest.approx(3.005 + 0.5 * 2.005)
    assert r["low_shaded"] and r["high_shaded"]  # for a loss, 5.0 and 6.0 are both above the poor line 4.0075
    r = goldilocks_regions([1, 2, 3], [0.9, 0.5, 0.4], "max")  # the best value is at the low end
    assert r["low_edge"] is None and r["n_below"] == 0 and r["n_above"] == 2 and not r["low_shaded"]
    assert goldilocks_regions([1.0], [0.5], "max") is None
    assert goldilocks_regions([1.0, 2.0], [math.nan, math.nan], "max") is None
    # trials without a result are never good, and a region of only those is poor
    r = goldilocks_regions([1, 2, 3, 4], [0.9, 0.91, math.nan, math.nan], "max")
    assert r["hi"] == 2 and r["n_above"] == 2 and r["high_shaded"]
    # a log axis with a non-positive value falls back to linear instead of failing
    assert goldilocks_regions([0.0, 1.0, 2.0], [0.1, 0.9, 0.2], "max", log=True)["log"] is False


def test_report_without_a_spec_or_compute_and_with_one_trial(tmp_path: Path) -> None:
    d = tmp_path / "old"
    d.mkdir()
    fabricate_run(d, n_trials=1, with_spec=False)
    info = load(d).info
    info.pop("compute")
    write_json(info, d / "run.json")
    page = render_report(load(d))
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in page
    _images(page)
    assert "no compute summary" in page


def test_the_selected_section_says_when_the_test_score_is_a_refit_models(tmp_path: Path, demo) -> None:
    """`final: {refit: train+val}`: the terminal said "test (once, refit on train+val)", the report
    credited the score to the trial's own evaluation."""
    assert "refit" not in demo[1].split('<section id="selected">')[1].split("</section>")[0]
    d = tmp_path / "refit"
    d.mkdir()
    fabricate_run(d)
    info = load(d).info
    info["selected"].update({"refit": "train+val", "refit_epochs": 7})
    write_json(info, d / "run.json")
    section = render_report(load(d)).split('<section id="selected">')[1].split("</section>")[0]
    assert "test score (once, refit on train+val): test_accuracy = 0.9312" in section
    assert "by the final evaluation of its configuration refit on train+val for 7 epochs" in section


def test_report_of_an_empty_running_run(tmp_path: Path) -> None:
    RunTables("r-1", "val_loss", "min").flush(tmp_path)
    write_json({"run_id": "r-1", "status": "running", "budget": {"metric": "val_loss", "mode": "min"}},
               tmp_path / "run.json")
    page = render_report(load(tmp_path))
    for sid, _ in SECTIONS:
        assert f'<section id="{sid}">' in page
    assert "No trial was selected" in page and IMG.search(page) is None


def test_report_of_a_min_metric_with_exploding_losses(tmp_path: Path) -> None:
    tables = RunTables("m-1", "val_loss", "min")
    for i, lr in enumerate([1e-4, 1e-3, 1e-2, 1e-1, 1.0, 3.0]):
        tables.trial_started(f"m{i}", {"learning_rate": lr})
        for e in range(1, 4):
            v = 1e6 * e if lr == 3.0 else 0.3 + abs(math.log10(lr) + 2) / e
            tables.epoch(f"m{i}", {"epoch": e, "train_loss": v, "val_loss": v, "elapsed_s": i + e,
                                   "trial_elapsed_s": e, "epoch_s": 1})
        tables.trial_ended(f"m{i}", "completed", "max_epochs")
    tables.selected = tables.select_best()
    tables.flush(tmp_path)
    write_json({"run_id": "m-1", "status": "complete", "budget": {"metric": "val_loss", "mode": "min"},
                "spec": {"params": {"learning_rate": {"type": "loguniform", "low": 1e-4, "high": 3}}}},
               tmp_path / "run.json")
    page = render_report(load(tmp_path))
    # no stopped trial: overview + top + best-so-far + learning_rate + parallel coordinates
    assert len(_images(page)) == 2 + 1 + 1 + 1
    assert "learning curves of stopped trials: nothing to plot" in page


# -- the command -----------------------------------------------------------------------------------


def _one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("sweep: error: "), err
    return lines[0]


def test_cli_report_writes_run_dir_report_html(run_dir: Path, capsys) -> None:
    assert main(["report", str(run_dir)]) == 0
    out = run_dir / "report.html"
    assert out.is_file() and f"report: {out}" in capsys.readouterr().out
    assert '<section id="goldilocks">' in out.read_text(encoding="utf-8")
    assert not list(run_dir.glob(".*.tmp"))


def test_cli_report_out_and_open(run_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    opened = []
    import webbrowser

    import orchestrator.report

    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    monkeypatch.setattr(orchestrator.report, "render_report", lambda run: "<html>stub</html>")  # the plumbing only
    target = tmp_path / "elsewhere.html"
    assert main(["report", str(run_dir), "--out", str(target), "--open"]) == 0
    assert target.is_file() and not (run_dir / "report.html").exists()
    assert opened == [target.resolve().as_uri()]


def test_cli_report_on_a_directory_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "not a run directory" in line and str(tmp_path) in line


@pytest.mark.parametrize("broken", ["trials.parquet", "epochs.parquet", "run.json"])
def test_cli_report_on_an_unreadable_file(run_dir: Path, broken: str, capsys) -> None:
    (run_dir / broken).write_bytes(b"{not a table")
    assert main(["report", str(run_dir)]) == 2
    assert "cannot read" in _one_error_line(capsys.readouterr().err)
    assert not (run_dir / "report.html").exists()


def test_cli_report_unwritable_out(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["report", str(run_dir), "--out", str(tmp_path / "no" / "such" / "dir.html")]) == 2
    assert "cannot write" in _one_error_line(capsys.readouterr().err)


def test_report_module_imports_no_ray_tensorflow_or_matplotlib() -> None:
    code = ("import sys, orchestrator.report, orchestrator.cli\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'tensorflow', 'keras', 'matplotlib'))\n"
            "print(bad)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_write_report_accepts_a_path(run_dir: Path, monkeypatch) -> None:
    import orchestrator.report

    monkeypatch.setattr(orchestrator.report, "render_report", lambda run: f"<html>{run.info['run_id']}</html>")
    assert write_report(run_dir) == run_dir / "report.html"
    assert (run_dir / "report.html").read_text() == "<html>demo-20260101-000000-abcd</html>"


# -- load_many ----------------------------------------------------------------------------------------


def _two_runs(parent: Path) -> tuple[Path, Path]:
    a, b = parent / "nightly" / "2026-01-01" / "a-run", parent / "nightly" / "2026-01-02" / "b-run"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    fabricate_run(a, n_trials=4, run_id="a-run")
    # the second run searched other hyperparameters: no dropout, no units
    fabricate_run(b, n_trials=3, seed=1, run_id="b-run",
                  params={k: v for k, v in SPEC_PARAMS.items() if k not in ("dropout", "units")})
    (b / "tune").mkdir()
    write_json({"run_id": "not-a-run"}, b / "tune" / "run.json")  # never looked for inside a run
    return a, b


def test_load_many_from_a_parent_directory(tmp_path: Path) -> None:
    a, b = _two_runs(tmp_path)
    runs = orchestrator.load_many(tmp_path / "nightly")
    assert [p.name for p in runs.paths] == ["a-run", "b-run"]
    assert list(runs.runs["run_id"]) == ["a-run", "b-run"]
    assert list(runs.runs["trials"]) == [4, 3]
    assert runs.runs["test_accuracy"].tolist() == [0.9312, 0.9312]
    assert len(runs.trials) == 7 and runs.trials.groupby("run_id").size().to_dict() == {"a-run": 4, "b-run": 3}
    assert runs.trials.loc[runs.trials["run_id"] == "b-run", "hp_dropout"].isna().all()
    assert runs.trials.loc[runs.trials["run_id"] == "a-run", "hp_dropout"].notna().all()
    assert set(runs.epochs["run_id"]) == {"a-run", "b-run"}
    assert len(runs.epochs) == len(load(a).epochs) + len(load(b).epochs)
    assert set(runs.events["run_id"]) <= {"a-run", "b-run"}


def test_load_many_from_a_glob_and_a_list(tmp_path: Path) -> None:
    a, b = _two_runs(tmp_path)
    assert [p.name for p in orchestrator.load_many(str(tmp_path / "nightly" / "*" / "b-*")).paths] == ["b-run"]
    assert len(orchestrator.load_many(str(tmp_path / "**" / "a-run")).paths) == 1
    both = orchestrator.load_many([a, b / "run.json", a])  # duplicates once
    assert [p.name for p in both.paths] == ["a-run", "b-run"]


def test_load_many_finds_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no run directory"):
        orchestrator.load_many(tmp_path)
    with pytest.raises(FileNotFoundError, match="no run directory"):
        orchestrator.load_many(str(tmp_path / "nope-*"))
    with pytest.raises(FileNotFoundError):
        orchestrator.load_many(tmp_path / "missing")


def test_report_of_one_objective_has_no_front_and_too_few_trials_to_rank(demo) -> None:
    page = demo[1]
    start = page.index('<section id="front">')
    front = page[start:page.index("</section>", start)]
    assert "One objective (val_accuracy) and no constraint" in front and "<img" not in front
    start = page.index('<section id="importance">')
    importance = page[start:page.index("</section>", start)]
    # 14 trials with a finished epoch for 5 varied hyperparameters (momentum is conditional):
    # not ranked at all rather than a ranking of noise.
    assert "Not computed: too few trials to rank: 14 finished" in importance
    assert not re.findall(r'<td class="bar">', importance)


def test_report_ranks_the_hyperparameters_of_enough_trials_and_names_what_it_left_out(tmp_path) -> None:
    from orchestrator.report.context import Context
    from orchestrator.report.importance import importance_section

    d = tmp_path / "demo-run"
    d.mkdir()
    fabricate_run(d, n_trials=30)
    ctx = Context.of(load(d))
    importance = importance_section(ctx)
    ranked = re.findall(r'<td class="num">\d+</td><td>(\w+)</td><td class="bar">', importance)
    assert ranked[0] == "learning_rate"  # the one the fabricated accuracy depends on
    assert set(ranked) == {"learning_rate", "units", "dropout", "batch_size", "optimizer"}
    assert "Not ranked (no importance): momentum (conditional, active in" in importance
    assert ctx.importance_order()[0] == "learning_rate"  # the Goldilocks plots' order
