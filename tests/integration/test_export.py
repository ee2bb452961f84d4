"""The best model, back in the user's hands: RUN_DIR/model/, ``sweep predict``, refit, MLflow.

Every check goes through the CLI (or the Python API) and reads back what a user would: the
predictions ``sweep predict`` writes on the raw test rows equal, to float tolerance, the ones the
run's final evaluation computed (``model/test_predictions.parquet``), and their accuracy is the
test accuracy the run reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import only_run_dir, run_cli, write_spec

pytestmark = pytest.mark.integration


def _inputs(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The run's raw test rows (as read) and the final evaluation's predictions on them."""
    done = pd.read_parquet(run_dir / "model" / "test_predictions.parquet")
    pred_cols = [c for c in done.columns if c == "prediction" or c.startswith("probability_")]
    return done.drop(columns=pred_cols), done[pred_cols]


def _people_csv(path: Path, n: int = 400, seed: int = 0) -> Path:
    """A table with categorical columns, missing values and text labels."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, n)
    city = rng.choice(["paris", "lyon", "nice"], n)
    member = rng.choice(["yes", "no"], n)
    score = age / 10 + (city == "paris") * 2 + (member == "yes") * 1.5 + rng.normal(0, 1, n)
    df = pd.DataFrame({"age": age.round(1), "city": city, "member": member,
                       "label": np.where(score > np.median(score), "buys", "leaves")})
    df.loc[rng.choice(n, 40, replace=False), "age"] = np.nan
    df.loc[rng.choice(n, 30, replace=False), "city"] = np.nan
    df.to_csv(path, index=False)
    return path


def test_quickstart_refit_exported_predicted_and_logged_to_mlflow(ray_session, tmp_path, capsys):
    """One sweep through orchestrator.run, with final: {refit: train+val} and --mlflow; then sweep
    predict, orchestrator.load_model and plain Keras on its model, and MLflow's own client on its store."""
    import keras
    from mlflow.tracking import MlflowClient

    import orchestrator

    spec = write_spec(tmp_path, "quickstart.yaml", **{"model.epochs": 3, "final": {"refit": "train+val"}})
    store = f"file:{tmp_path / 'mlruns'}"
    run = orchestrator.run(spec, out=str(tmp_path / "out"), num_samples=3, mlflow=store)
    run_dir = Path(run.path)
    info = run.info
    assert run.status == "complete" and len(run.trials) == 3

    # the refit: both figures in run.json and on the selected row, and the exported model is the refit one
    sel = info["selected"]
    assert sel["refit"] == "train+val" and sel["refit_epochs"] == sel["best_epoch"] >= 1
    row = run.best
    assert row["refit"] == "train+val" and row["refit_epochs"] == sel["refit_epochs"]
    assert row["test_accuracy"] == pytest.approx(sel["test_accuracy"])
    assert row["best_val_accuracy"] == pytest.approx(sel["best_val_accuracy"])
    assert run.trials.loc[~run.trials["is_selected"], ["test_accuracy", "refit"]].isna().all().all()

    # the export: run.json points to it; model.json says what it is
    assert info["model"]["path"] == "model" and (run_dir / info["model"]["file"]).is_file()
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    assert meta["trial_id"] == sel["trial_id"] and meta["classes"] == list(range(10))
    assert meta["config"] == sel["config"] and meta["versions"]["keras"] and meta["refit"] == "train+val"
    assert meta["custom_objects"] == []  # stock Keras layers only: loads anywhere Keras does

    # sweep predict on the raw test rows: the final evaluation's predictions, and its test accuracy
    rows, expected = _inputs(run_dir)
    assert "target" in rows and len(rows) == info["data"]["rows_test"]
    rows.to_csv(tmp_path / "test_rows.csv", index=False)
    capsys.readouterr()
    assert run_cli("predict", run_dir, tmp_path / "test_rows.csv", "--out", tmp_path / "p.csv") == 0
    assert capsys.readouterr().out.strip() == f"predicted {len(rows)} rows: {tmp_path / 'p.csv'}"
    got = pd.read_csv(tmp_path / "p.csv")
    assert list(got.columns) == ["target", "prediction", *[f"probability_{k}" for k in range(10)]]
    np.testing.assert_allclose(got[expected.columns[1:]].to_numpy(), expected.iloc[:, 1:].to_numpy(), atol=1e-5)
    assert (got["prediction"] == expected["prediction"]).all()
    accuracy = float((got["prediction"] == got["target"]).mean())
    assert accuracy == pytest.approx(sel["test_accuracy"], abs=1e-6)

    # the same through the Python API; the Keras file loads with plain Keras
    again = run.model().predict(rows.drop(columns=["target"]))
    np.testing.assert_allclose(again.iloc[:, 1:].to_numpy(), expected.iloc[:, 1:].to_numpy(), atol=1e-5)
    plain = keras.saving.load_model(run_dir / "model" / "model.keras")
    assert plain.count_params() == orchestrator.load_model(run_dir).keras_model.count_params()

    # MLflow: a parent run, one child per trial, histories equal to epochs.parquet, the model on the selected
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("quickstart")
    logged = client.search_runs([exp.experiment_id], filter_string="tags.`sweep.run_id` != ''")
    parent = next(r for r in logged if "mlflow.parentRunId" not in r.data.tags)
    children = [r for r in logged if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(run.trials) == 3
    assert parent.data.metrics["test_accuracy"] == pytest.approx(run.test_metrics["test_accuracy"])
    for child in children:
        tid = child.data.tags["sweep.trial_id"]
        trial = run.trials[run.trials["trial_id"] == tid].iloc[0]
        assert child.data.tags["sweep.status"] == trial["status"]
        assert child.data.params["learning_rate"] == str(trial["hp_learning_rate"])
        curve = run.epochs[run.epochs["trial_id"] == tid].sort_values("epoch")
        for figure in ("train_loss", "val_loss", "train_accuracy", "val_accuracy", "learning_rate", "epoch_s"):
            history = client.get_metric_history(child.info.run_id, figure)
            assert [m.step for m in history] == curve["epoch"].tolist(), figure
            np.testing.assert_allclose([m.value for m in history], curve[figure].to_numpy(), err_msg=figure)
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id, "model")}
        assert (artifacts == {"model/model.keras", "model/model.json", "model/preprocessing.json",
                              "model/test_predictions.parquet"}) == bool(trial["is_selected"])


def test_a_table_with_categories_and_gaps_predicts_from_raw_rows(ray_session, tmp_path, capsys):
    csv = _people_csv(tmp_path / "people.csv")
    spec = write_spec(tmp_path, {
        "name": "people",
        "data": {"path": str(csv), "target": "label", "task": "classification", "missing": "impute"},
        "model": {"epochs": 3, "units": 16, "learning_rate": 0.01},
        "params": {"batch_size": {"type": "choice", "values": [16, 32]}},
        "metric": "val_accuracy", "search": {"algorithm": "random", "num_samples": 2, "seed": 0},
    })
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    run_dir = only_run_dir(out)
    info = json.loads((run_dir / "run.json").read_text())
    rows, expected = _inputs(run_dir)
    assert list(rows.columns) == ["age", "city", "member", "label"]
    assert rows["age"].isna().any() and rows["city"].isna().any()  # the raw rows, gaps and all
    pre = json.loads((run_dir / "model" / "preprocessing.json").read_text())
    assert [(c["name"], c["kind"]) for c in pre["columns"]] == [
        ("age", "numeric"), ("city", "categorical"), ("member", "categorical")]
    # an id column the model never saw, first: passed through with the target
    rows.insert(0, "customer", [f"c{i:04d}" for i in range(len(rows))])
    rows.to_parquet(tmp_path / "rows.parquet")
    capsys.readouterr()
    assert run_cli("predict", run_dir, tmp_path / "rows.parquet", "--out", tmp_path / "p.parquet") == 0
    got = pd.read_parquet(tmp_path / "p.parquet")
    assert list(got.columns[:2]) == ["customer", "label"] and (got["customer"] == rows["customer"]).all()
    np.testing.assert_allclose(got[["probability_buys", "probability_leaves"]].to_numpy(),
                               expected[["probability_buys", "probability_leaves"]].to_numpy(), atol=1e-5)
    assert float((got["prediction"] == got["label"]).mean()) == pytest.approx(
        info["selected"]["test_accuracy"], abs=1e-6)

    # unseen categories: predicted, and counted in one note
    new = rows.drop(columns=["label", "customer"]).copy()
    new.loc[new.index[:3], "city"] = "marseille"
    new.to_csv(tmp_path / "new.csv", index=False)
    assert run_cli("predict", run_dir, tmp_path / "new.csv") == 0
    printed = capsys.readouterr().out
    assert f"column 'city': 3 of {len(new)} rows hold a category training never saw" in printed
    assert len(pd.read_csv(tmp_path / "new.predictions.csv")) == len(new)

    # bad input: one line naming the column or the file, exit 2, nothing written
    bad = {
        "missing.csv": (new.drop(columns=["age"]), "lacks the training column 'age'"),
        "wrongtype.csv": (new.assign(age=["old"] * len(new)), "column 'age' holds 'old'"),
        "empty.csv": (new.iloc[:0], "has no rows to predict"),
    }
    for name, (frame, words) in bad.items():
        frame.to_csv(tmp_path / name, index=False)
        target = tmp_path / f"{name}.out.csv"
        assert run_cli("predict", run_dir, tmp_path / name, "--out", target) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0] and name in err[0], err
        assert not target.exists()


def test_predict_on_a_run_without_a_model_is_one_line(tmp_path, capsys):
    old = tmp_path / "old-run"
    old.mkdir()
    (old / "run.json").write_text(json.dumps({"run_id": "old", "status": "no_result"}))
    (tmp_path / "rows.csv").write_text("a,b\n1,2\n")
    assert run_cli("predict", old, tmp_path / "rows.csv") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has no exported model" in err[0] and "no_result" in err[0]
    assert not (tmp_path / "rows.predictions.csv").exists()


CUSTOM_LAYER_BUILDER = '''
import keras


@keras.saving.register_keras_serializable(package="people")
class Scale(keras.layers.Layer):
    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def build_model(hp, data):
    inputs = keras.Input(shape=data.input_shape)
    x = Scale(hp["factor"])(keras.layers.Flatten()(inputs))
    x = keras.layers.Dense(hp["units"], activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(data.n_classes, activation="softmax")(x))
'''


def test_a_builder_model_with_a_custom_layer_exports_and_says_what_to_register(ray_session, tmp_path, capsys):
    (tmp_path / "custom_layers.py").write_text(CUSTOM_LAYER_BUILDER)
    spec = write_spec(tmp_path, {
        "name": "custom", "data": {"dataset": "digits", "samples": 400, "shape": [8, 8, 1]},
        "model": {"builder": "custom_layers.py:build_model", "epochs": 2, "units": 16, "factor": 0.5},
        "params": {"learning_rate": {"type": "grid", "values": [0.003, 0.01]}},
        "metric": "val_accuracy", "search": {"algorithm": "grid"},
    })
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    run_dir = only_run_dir(out)
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    assert meta["builder"] == "custom_layers.py:build_model" and meta["input_shape"] == [8, 8, 1]
    assert meta["custom_objects"] == [{"class": "Scale", "registered_name": "people>Scale",
                                       "defined_in": str(tmp_path / "custom_layers.py")}]
    # where the layer is not registered (as in a process that never imported the builder): one
    # line naming it and its file
    import keras

    import orchestrator

    registered = keras.saving.get_custom_objects()
    scale = registered.pop("people>Scale")  # this process imported the builder to check it: forget it
    try:
        with pytest.raises(orchestrator.UsageError) as e:
            orchestrator.load_model(run_dir).keras_model
    finally:
        registered["people>Scale"] = scale
    assert "cannot load model/model.keras" in str(e.value) and len(str(e.value).splitlines()) == 1
    assert "it uses custom layers Scale (custom_layers.py): register them" in str(e.value)
    # where it is registered: the model loads and predicts as the run did

    rows, expected = _inputs(run_dir)
    got = orchestrator.load_model(run_dir).predict(rows.drop(columns=["target"]))
    np.testing.assert_allclose(got.iloc[:, 1:].to_numpy(), expected.iloc[:, 1:].to_numpy(), atol=1e-5)
