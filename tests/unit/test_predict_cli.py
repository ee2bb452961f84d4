"""``sweep predict`` and ``orchestrator.run`` refuse bad input in one line, before Keras or Ray start.

A model directory is made here from a real table's fitted preprocessing (no training, no
TensorFlow): every refusal happens before the Keras file would be read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import orchestrator
from orchestrator.cli import main
from orchestrator.data import RawData, prepare
from orchestrator.errors import SpecError, UsageError


def _run_dir(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(0)
    n = 120
    df = pd.DataFrame({"age": rng.normal(40, 10, n), "city": rng.choice(["a", "b", "c"], n),
                       "label": rng.choice(["x", "y"], n)})
    p = prepare(RawData(df.drop(columns=["label"]), df["label"], "classification", "t.csv"), seed=1)
    run_dir = tmp_path / "run"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"run_id": "r", "status": "complete", "model": {"path": "model"}}))
    (run_dir / "model" / "preprocessing.json").write_text(json.dumps(p.preprocessing))
    (run_dir / "model" / "model.json").write_text(json.dumps({
        "format": 1, "task": "classification", "classes": ["x", "y"], "input_shape": list(p.input_shape),
        "trial_id": "t_00000", "custom_objects": []}))
    return run_dir, p.test_rows


@pytest.mark.parametrize("change, words", [
    (lambda r: r.drop(columns=["age"]), "bad.csv lacks the training column 'age'"),
    (lambda r: r.assign(age="forty"), "bad.csv: column 'age' holds 'forty'"),
    (lambda r: r.iloc[:0], "has no rows to predict"),
], ids=["missing-column", "wrong-type", "empty"])
def test_rows_that_do_not_fit_are_one_line_and_nothing_is_written(tmp_path, capsys, change, words) -> None:
    run_dir, rows = _run_dir(tmp_path)
    change(rows).to_csv(tmp_path / "bad.csv", index=False)
    assert main(["predict", str(run_dir), str(tmp_path / "bad.csv"), "--out", str(tmp_path / "p.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err
    assert not (tmp_path / "p.csv").exists()


def test_an_empty_file_a_missing_file_and_an_unknown_type_are_one_line(tmp_path, capsys) -> None:
    run_dir, _ = _run_dir(tmp_path)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "rows.txt").write_text("age,city\n1,a\n")
    cases = [(["predict", str(run_dir), str(tmp_path / "empty.csv")], "empty.csv is empty"),
             (["predict", str(run_dir), str(tmp_path / "nope.csv")], "INPUT: " + str(tmp_path / "nope.csv")),
             (["predict", str(run_dir), str(tmp_path / "rows.txt")], "unknown file type .txt"),
             (["predict", str(run_dir), str(tmp_path / "empty.csv"), "--out", str(tmp_path / "p.json")],
              "--out: " + str(tmp_path / "p.json"))]
    for argv, words in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (argv, err)


def test_a_run_without_an_exported_model_is_one_line(tmp_path, capsys) -> None:
    run_dir, rows = _run_dir(tmp_path)
    for f in (run_dir / "model").iterdir():
        f.unlink()
    rows.to_csv(tmp_path / "rows.csv", index=False)
    assert main(["predict", str(run_dir), str(tmp_path / "rows.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no exported model" in err and "run status: complete" in err
    assert not (tmp_path / "rows.predictions.csv").exists()


def test_refusing_rows_imports_neither_keras_nor_ray(tmp_path) -> None:
    run_dir, rows = _run_dir(tmp_path)
    rows.drop(columns=["city"]).to_csv(tmp_path / "bad.csv", index=False)
    code = (f"import sys; from orchestrator.cli import main; rc = main(['predict', {str(run_dir)!r}, "
            f"{str(tmp_path / 'bad.csv')!r}]); "
            "print(rc, sorted(m for m in ('tensorflow', 'keras', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "2 []"


def test_orchestrator_run_refuses_an_unknown_option_and_a_bad_inline_spec(tmp_path) -> None:
    with pytest.raises(UsageError) as e:
        orchestrator.run("search_spaces/quickstart.yaml", epochs=3)
    assert "orchestrator.run has no option 'epochs'" in str(e.value) and "num_samples" in str(e.value)
    with pytest.raises(SpecError) as e:
        orchestrator.run({"data": {"dataset": "digits"}, "params": {"learning_rate": {"type": "loguniform",
                                                                                     "low": 0, "high": 1}}})
    assert str(e.value).startswith("<dict>: params.learning_rate") and "log scale" in str(e.value)
    with pytest.raises(SpecError) as e:
        orchestrator.run("data: {dataset: digits}\nsearch: {algorithm: nope}\n")
    assert str(e.value).startswith("<yaml>: search.algorithm")
    with pytest.raises(UsageError) as e:
        orchestrator.run("search_spaces/quickstart.yaml", num_samples=0)
    assert str(e.value).startswith("num_samples: must be >= 1")


def test_a_spec_is_a_path_a_yaml_string_or_a_dict(tmp_path) -> None:
    from orchestrator.api import as_spec

    text = Path("search_spaces/quickstart.yaml").read_text()
    by_path = as_spec("search_spaces/quickstart.yaml")
    by_text = as_spec(text)
    import yaml

    by_dict = as_spec(yaml.safe_load(text))
    assert by_path.params == by_text.params == by_dict.params
    assert by_path.name == "quickstart" == by_text.name


def test_mlflow_missing_is_one_line_before_anything_starts(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    assert main(["run", "search_spaces/quickstart.yaml", "--mlflow", f"file:{tmp_path}/mlruns",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sweep: error: --mlflow: MLflow is not installed; pip install 'orchestrator[mlflow]' "
                   "(or: pip install mlflow)"]
    assert not (tmp_path / "out").exists()
    with pytest.raises(UsageError, match="^mlflow: MLflow is not installed"):
        orchestrator.run("search_spaces/quickstart.yaml", mlflow="file:./mlruns", out=str(tmp_path / "o"))


# ------------------------------------------------------------------------------------------
# a model trained on an image folder (or arrays) takes what its run was trained on
# ------------------------------------------------------------------------------------------


def _image_run_dir(tmp_path: Path) -> Path:
    """An image folder's run: 8x8 RGB pictures scaled to [0, 1], two classes (no Keras file)."""
    from orchestrator.data.schema import PIXELS_OVER_255, array_preprocessing

    run_dir = tmp_path / "img_run"
    (run_dir / "model").mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"run_id": "r", "status": "complete", "model": {"path": "model"}}))
    pre = {**array_preprocessing(PIXELS_OVER_255, {"image_size": [8, 8], "color_mode": "rgb"}),
           "classes": ["cat", "dog"]}
    (run_dir / "model" / "preprocessing.json").write_text(json.dumps(pre))
    (run_dir / "model" / "model.json").write_text(json.dumps({
        "format": 1, "task": "classification", "classes": ["cat", "dog"], "input_shape": [8, 8, 3],
        "data": {"name": "pets", "source": "image_folder"}, "trial_id": "t_00000", "custom_objects": []}))
    return run_dir


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Inputs an image model refuses, with the words of the one line that says why."""
    (tmp_path / "empty_folder" / "deep").mkdir(parents=True)
    (tmp_path / "empty_folder" / "deep" / "notes.txt").write_text("not a picture")
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    (tmp_path / "pictures.txt").write_text("cat.png\n")
    np.savez(tmp_path / "no_x.npz", pixels=np.zeros((2, 8, 8, 3)))
    np.savez(tmp_path / "flat.npz", x=np.zeros((2, 192)))
    np.savez(tmp_path / "words.npz", x=np.array(["a", "b"]))
    return {
        "folder without images": (tmp_path / "empty_folder", "holds no .bmp/.gif/.jpeg/.jpg/.png image"),
        "a table": (tmp_path / "rows.csv", "rows.csv is a table, but the model was trained on an image folder"),
        "unknown suffix": (tmp_path / "pictures.txt", "unknown file type .txt; this model takes a folder of images"),
        "npz without x": (tmp_path / "no_x.npz", "has no array 'x' (its arrays: 'pixels')"),
        "npz of the wrong shape": (tmp_path / "flat.npz", "examples shaped (192,); the model takes (8, 8, 3)"),
        "npz of text": (tmp_path / "words.npz", "not numbers"),
        "missing": (tmp_path / "nowhere", "nowhere: no such file or folder"),
    }


def test_an_image_model_refuses_what_it_cannot_read_in_one_line_and_writes_nothing(tmp_path, capsys) -> None:
    run_dir = _image_run_dir(tmp_path)
    for name, (given, words) in _bad_inputs(tmp_path).items():
        assert main(["predict", str(run_dir), str(given), "--out", str(tmp_path / "p.csv")]) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (name, err)
        assert not (tmp_path / "p.csv").exists(), name
    with pytest.raises(UsageError, match="not a DataFrame"):  # the Python way: an array, a path, not rows
        orchestrator.load_model(run_dir).predict(pd.DataFrame({"a": [1]}))


def test_a_table_model_refuses_pictures_and_arrays_in_one_line(tmp_path, capsys) -> None:
    run_dir, _ = _run_dir(tmp_path)
    (tmp_path / "pics").mkdir()
    (tmp_path / "cat.png").write_bytes(b"\x89PNG")
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 4)))
    for given in ("pics", "cat.png", "x.npz"):
        assert main(["predict", str(run_dir), str(tmp_path / given)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "but the model was trained on a table: give it a .csv or .parquet file" in err[0], err


def test_refusing_pictures_imports_neither_keras_nor_ray(tmp_path) -> None:
    run_dir = _image_run_dir(tmp_path)
    inputs = [str(p) for p, _ in _bad_inputs(tmp_path).values()]
    code = (f"import sys; from orchestrator.cli import main; "
            f"codes = [main(['predict', {str(run_dir)!r}, i]) for i in {inputs!r}]; "
            "print(sorted(set(codes)), sorted(m for m in ('tensorflow', 'keras', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[2] []"


@pytest.mark.parametrize("source, hint", [
    ("table", "sweep predict {run} ROWS.csv"),
    ("image_folder", "sweep predict {run} IMAGES/"),
    ("npz", "sweep predict {run} X.npz"),
    ("loader", "orchestrator.load_model('{run}').predict(array)"),
], ids=["table", "images", "npz", "loader"])
def test_the_hint_after_a_run_names_an_input_of_the_runs_kind(tmp_path, source, hint) -> None:
    from orchestrator.serving import predict_hint

    run_dir = _image_run_dir(tmp_path)
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    meta["data"]["source"] = source
    (run_dir / "model" / "model.json").write_text(json.dumps(meta))
    assert predict_hint(run_dir) == hint.format(run=run_dir)
