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
