"""``sweep report`` on a real small sweep (the session's Ray), and the page in headless Chromium."""

from __future__ import annotations

import base64
import importlib.util
import io
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

import orchestrator
from orchestrator.report import SECTIONS

from tests.helpers import ROOT, only_run_dir, run_cli, write_spec

IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)"')


@pytest.fixture(scope="module")
def reported_run(ray_session, tmp_path_factory) -> tuple[Path, Path]:
    """A quickstart sweep of 4 trials x 3 epochs (with TensorBoard files), then ``sweep report`` on it."""
    tmp = tmp_path_factory.mktemp("report")
    spec = write_spec(tmp, "quickstart.yaml", **{"model.epochs": 3, "scheduler.grace_period": 1})
    out = tmp / "out"
    assert run_cli("run", spec, "--out", out, "--num-samples", "4", "--seed", "1", "--tensorboard") == 0
    run_dir = only_run_dir(out)
    assert run_cli("report", run_dir) == 0
    page = run_dir / "report.html"
    assert page.is_file()
    return run_dir, page


def test_report_of_a_real_run(reported_run) -> None:
    run_dir, page = reported_run
    html = page.read_text(encoding="utf-8")
    for sid, heading in SECTIONS:
        assert f'<section id="{sid}"' in html and f"<h2>{heading}</h2>" in html, sid
    imgs = IMG.findall(html)
    alts = [a for a, _ in imgs]
    # overview, top trials, best so far, parallel coordinates, and a Goldilocks plot of the learning rate
    for alt in ("validation curves of all trials", "learning curves of the top trials", "best so far over time",
                "parallel coordinates", "Goldilocks plot of learning_rate"):
        assert alt in alts, alts
    for alt, data in imgs:
        raw = base64.b64decode(data, validate=True)
        im = Image.open(io.BytesIO(raw))
        im.load()
        assert im.format == "PNG" and min(im.size) > 100, alt
    run = orchestrator.load(run_dir)
    selected = run.trials.loc[run.trials["is_selected"], "trial_id"].item()
    assert f"Trial <b>{selected}</b> was selected" in html
    assert "test_accuracy = " in html
    for tid in run.trials["trial_id"]:
        assert tid in html
    assert "<script" not in html.lower()
    # load_many reads the run's parent as one
    many = orchestrator.load_many(run_dir.parent)
    assert list(many.runs["run_id"]) == [run.info["run_id"]] and len(many.trials) == len(run.trials)


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="Chromium is not installed (Debian: apt-get install -y chromium); "
                           "the page is then checked by test_report_of_a_real_run only")
def test_report_page_in_headless_chromium(reported_run, tmp_path) -> None:
    _, page = reported_run
    spec = importlib.util.spec_from_file_location("check_report_browser", ROOT / "scripts" / "check_report_browser.py")
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    result = checker.check(page, tmp_path / "report.png", browser=shutil.which("chromium"))
    assert result["ok"], result["problems"]
    assert result["dom"]["images"] >= 5 and result["dom"]["broken"] == 0
    assert result["dom"]["sections"] == [sid for sid, _ in SECTIONS]
    assert result["console_errors"] == []
    stats = result["screenshot_stats"]
    assert stats["non_white_fraction"] > 0.02 and stats["distinct_colours"] > 64


def test_tensorboard_reads_each_trials_curves(reported_run) -> None:
    """``--tensorboard``: one event file per trial whose scalars are the epochs in epochs.parquet."""
    from tensorflow.compat.v1.train import summary_iterator

    run_dir, _ = reported_run
    run = orchestrator.load(run_dir)
    files = sorted((run_dir / "tune").glob("*/events.out.tfevents.*"))
    assert len(files) == len(run.trials)
    seen = set()
    for f in files:
        tid = next(t for t in run.trials["trial_id"] if t in f.parent.name)
        seen.add(tid)
        scalars: dict[str, dict[int, float]] = {}
        for event in summary_iterator(str(f)):
            for v in event.summary.value:
                if v.HasField("simple_value"):
                    scalars.setdefault(v.tag.removeprefix("ray/tune/"), {})[event.step] = v.simple_value
        assert {"val_loss", "train_loss", "learning_rate"} <= set(scalars), sorted(scalars)
        assert not [k for k in scalars if k.startswith(("node", "pid", "cpus", "gpu"))], sorted(scalars)
        epochs = run.epochs[run.epochs["trial_id"] == tid].set_index("epoch")
        assert sorted(scalars["val_loss"]) == sorted(epochs.index)
        for epoch, value in scalars["val_loss"].items():
            assert value == pytest.approx(epochs.loc[epoch, "val_loss"], rel=1e-5)
    assert seen == set(run.trials["trial_id"])
