"""``sweep predict`` takes what the run was trained on: for a run on an image folder, a folder of
pictures (or one picture); for a run on a ``.npz``, a ``.npz`` of examples. On the run's own test
examples it gives the run's own test predictions (``model/test_predictions.parquet``, which names
each test picture's file and each test array's row), as test_export.py checks for a table.

Each test runs a tiny sweep through the CLI as a user would, then predicts through the CLI and
through ``orchestrator.load_model``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import orchestrator
from tests.helpers import assert_no_native_lines, only_run_dir, run_cli

pytestmark = pytest.mark.integration

PARAMS = {"learning_rate": {"type": "loguniform", "low": 3e-3, "high": 3e-2}}


def _stripes(folder: Path, per_class: int = 15) -> Path:
    """Two classes of small RGB pictures of different sizes: horizontal and vertical stripes."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for name, axis in (("across", 0), ("down", 1)):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            h, w = rng.integers(9, 15, size=2)
            wave = (np.arange(h if axis == 0 else w) + i) % 4 < 2
            grid = np.repeat(wave[:, None], w, 1) if axis == 0 else np.repeat(wave[None, :], h, 0)
            pixels = np.clip(grid[..., None] * 180 + rng.integers(0, 60, (h, w, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{name}_{i:02d}.png")
    return folder


def _spec(where: Path, data: dict) -> Path:
    path = where / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "data": data, "model": {"family": "cnn", "epochs": 2},
                                    "params": PARAMS, "search": {"num_samples": 1, "seed": 0}}))
    return path


def _run(spec: Path, out: Path, capsys: pytest.CaptureFixture[str], example: str) -> tuple[Path, pd.DataFrame]:
    """``sweep run SPEC``: its run directory, once the line after it named a ``sweep predict`` of
    ``example``'s kind; and the run's own test predictions."""
    capsys.readouterr()
    assert run_cli("run", spec, "--out", out) == 0
    run_dir = only_run_dir(out)
    assert f"model: {run_dir / 'model' / 'model.keras'} (sweep predict {run_dir} {example})" in capsys.readouterr().out
    return run_dir, pd.read_parquet(run_dir / "model" / "test_predictions.parquet")


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    """The labels equal, the probabilities to float tolerance (as for a table's model)."""
    probabilities = [c for c in expected.columns if c.startswith("probability_")]
    assert len(got) == len(expected) and len(probabilities) == 2
    assert got["prediction"].astype(str).tolist() == expected["prediction"].astype(str).tolist()
    np.testing.assert_allclose(got[probabilities].to_numpy(), expected[probabilities].to_numpy(), atol=1e-5)


def test_an_image_folders_run_predicts_its_own_test_pictures(ray_session, tmp_path, capsys):
    pictures = _stripes(tmp_path / "spec" / "pictures")
    spec = _spec(tmp_path / "spec", {"path": "pictures", "image_size": [8, 8]})
    run_dir, done = _run(spec, tmp_path / "out", capsys, "IMAGES/")

    # the run's test pictures, copied into a folder of the user's (a subfolder per class, as found)
    assert list(done.columns[:2]) == ["path", "target"] and len(done) == 3
    new = tmp_path / "new_pictures"
    for p in map(Path, done["path"]):
        assert p.parent.parent == pictures.resolve() or p.parent.parent == pictures
        (new / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, new / p.parent.name / p.name)
    capsys.readouterr()
    assert run_cli("predict", run_dir, new) == 0  # default output: beside the folder
    assert capsys.readouterr().out.strip() == f"predicted 3 rows: {tmp_path / 'new_pictures.predictions.csv'}"
    got = pd.read_csv(tmp_path / "new_pictures.predictions.csv")
    assert list(got.columns) == ["path", "prediction", "probability_across", "probability_down"]
    key = [Path(p).parent.name + "/" + Path(p).name for p in done["path"]]
    got = got.set_index(got["path"].map(lambda p: Path(p).parent.name + "/" + Path(p).name)).loc[key]
    _same(got, done)
    assert (got["prediction"].to_numpy() == done["target"].to_numpy()).mean() == pytest.approx(
        float(pd.read_parquet(run_dir / "trials.parquet").query("is_selected")["test_accuracy"].iloc[0]))

    # one picture, and the Python way: a folder's path, or an array of pixel values
    one = Path(done["path"].iloc[0])
    assert run_cli("predict", run_dir, one, "--out", tmp_path / "one.parquet") == 0
    single = pd.read_parquet(tmp_path / "one.parquet")
    assert single["path"].tolist() == [str(one)]
    _same(single, done.iloc[:1])
    model = orchestrator.load_model(run_dir)
    by_path = model.predict(new)
    assert by_path["path"].map(lambda p: Path(p).parent.name + "/" + Path(p).name).tolist() == sorted(key)
    from orchestrator.data.images import read_images

    pixels, _ = read_images(one, image_size=[8, 8], color_mode="rgb")
    _same(model.predict(pixels), done.iloc[:1])

    # a run exported before preprocessing.json said how its pictures were read: its example shape says
    sidecar = run_dir / "model" / "preprocessing.json"
    sidecar.write_text(json.dumps({k: v for k, v in json.loads(sidecar.read_text()).items() if k != "images"}))
    _same(orchestrator.load_model(run_dir).predict(one), done.iloc[:1])


def test_a_npz_run_predicts_its_own_test_rows(ray_session, tmp_path, capsys):
    rng = np.random.default_rng(2)
    y = np.arange(60) % 2
    x = rng.normal(0, 1, (60, 6, 6, 1)).astype(np.float32) + y[:, None, None, None] * 1.5
    (tmp_path / "spec").mkdir()
    np.savez(tmp_path / "spec" / "arrays.npz", x=x, y=y)
    spec = _spec(tmp_path / "spec", {"path": "arrays.npz", "task": "classification"})
    run_dir, done = _run(spec, tmp_path / "out", capsys, "X.npz")
    assert list(done.columns[:2]) == ["index", "target"] and len(done) == 6
    assert (done["target"].to_numpy() == y[done["index"]]).all()
    np.savez(tmp_path / "test_x.npz", x=x[done["index"]])
    # as a user runs it, TensorFlow's own log level at 0: loading the model finds no GPU, and says
    # so in a native line that must not reach the terminal
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"}
    shown = subprocess.run([sys.executable, "-m", "orchestrator.cli", "predict", str(run_dir),
                            str(tmp_path / "test_x.npz"), "--out", str(tmp_path / "p.parquet")],
                           capture_output=True, text=True, env=env, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert_no_native_lines(shown.stdout + shown.stderr, "sweep predict")
    got = pd.read_parquet(tmp_path / "p.parquet")
    assert list(got.columns) == ["prediction", "probability_0", "probability_1"]
    _same(got, done)
    _same(orchestrator.load_model(run_dir).predict(x[done["index"]]), done)
