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

from tests.integration.conftest import only_run_dir, run_cli, write_spec

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


def test_quickstart_exports_a_model_whose_predictions_are_the_runs_own(ray_session, tmp_path, capsys):
    spec = write_spec(tmp_path, "quickstart.yaml", **{"model.epochs": 2, "search.num_samples": 2})
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    printed = capsys.readouterr().out
    run_dir = only_run_dir(out)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["model"]["path"] == "model" and (run_dir / info["model"]["file"]).is_file()
    assert f"model: {run_dir}/model/model.keras" in printed
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    assert meta["trial_id"] == info["selected"]["trial_id"] and meta["classes"] == list(range(10))
    assert meta["config"] == info["selected"]["config"] and meta["versions"]["keras"]
    assert meta["custom_objects"] == []  # stock Keras layers only: loads anywhere Keras does

    rows, expected = _inputs(run_dir)
    assert "target" in rows and len(rows) == info["data"]["rows_test"]
    rows.to_csv(tmp_path / "test_rows.csv", index=False)
    assert run_cli("predict", run_dir, tmp_path / "test_rows.csv", "--out", tmp_path / "p.csv") == 0
    got = pd.read_csv(tmp_path / "p.csv")
    assert list(got.columns) == ["target", "prediction", *[f"probability_{k}" for k in range(10)]]
    np.testing.assert_allclose(got[expected.columns[1:]].to_numpy(), expected.iloc[:, 1:].to_numpy(), atol=1e-5)
    assert (got["prediction"] == expected["prediction"]).all()
    accuracy = float((got["prediction"] == got["target"]).mean())
    assert accuracy == pytest.approx(info["selected"]["test_accuracy"], abs=1e-6)

    # the same through the Python API, the Keras file loading with plain Keras
    import keras

    import orchestrator

    model = orchestrator.load_model(run_dir)
    again = model.predict(rows.drop(columns=["target"]))
    np.testing.assert_allclose(again.iloc[:, 1:].to_numpy(), expected.iloc[:, 1:].to_numpy(), atol=1e-5)
    plain = keras.saving.load_model(run_dir / "model" / "model.keras")
    assert plain.count_params() == model.keras_model.count_params()


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


def test_refit_on_train_and_val_scores_once_and_exports_the_refit_model(ray_session, tmp_path):
    spec = write_spec(tmp_path, "quickstart.yaml", **{"model.epochs": 3, "search.num_samples": 2,
                                                       "final": {"refit": "train+val"}})
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 0
    run_dir = only_run_dir(out)
    info = json.loads((run_dir / "run.json").read_text())
    sel = info["selected"]
    assert sel["refit"] == "train+val" and sel["refit_epochs"] == sel["best_epoch"] >= 1
    assert 0 < sel["best_val_accuracy"] <= 1 and 0 < sel["test_accuracy"] <= 1
    trials = pd.read_parquet(run_dir / "trials.parquet")
    row = trials[trials["is_selected"]].iloc[0]
    assert row["refit"] == "train+val" and row["refit_epochs"] == sel["refit_epochs"]
    assert row["test_accuracy"] == pytest.approx(sel["test_accuracy"])
    assert row["best_val_accuracy"] == pytest.approx(sel["best_val_accuracy"])
    assert trials.loc[~trials["is_selected"], ["test_accuracy", "refit"]].isna().all().all()
    meta = json.loads((run_dir / "model" / "model.json").read_text())
    assert meta["refit"] == "train+val" and meta["refit_epochs"] == sel["refit_epochs"]
    rows, expected = _inputs(run_dir)
    acc = float((expected["prediction"] == rows["target"]).mean())
    assert acc == pytest.approx(sel["test_accuracy"], abs=1e-6)  # the exported model is the refit one


def test_mlflow_logs_a_parent_run_and_one_child_per_trial(ray_session, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    from mlflow.tracking import MlflowClient

    import orchestrator

    store = f"file:{tmp_path / 'mlruns'}"
    run = orchestrator.run(write_spec(tmp_path, "quickstart.yaml", **{"model.epochs": 2}),
                           out=str(tmp_path / "out"), num_samples=3, mlflow=store)
    assert run.status == "complete" and len(run.trials) == 3
    client = MlflowClient(store)
    exp = client.get_experiment_by_name("quickstart")
    parents = client.search_runs([exp.experiment_id], filter_string="tags.`sweep.run_id` != ''")
    parent = next(r for r in parents if "mlflow.parentRunId" not in r.data.tags)
    children = [r for r in parents if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == len(run.trials) == 3
    assert parent.data.metrics["test_accuracy"] == pytest.approx(run.test_metrics["test_accuracy"])
    for child in children:
        tid = child.data.tags["sweep.trial_id"]
        trial = run.trials[run.trials["trial_id"] == tid].iloc[0]
        assert child.data.tags["sweep.status"] == trial["status"]
        assert child.data.params["learning_rate"] == str(trial["hp_learning_rate"])
        curve = run.epochs[run.epochs["trial_id"] == tid].sort_values("epoch")
        history = client.get_metric_history(child.info.run_id, "val_loss")
        assert [m.step for m in history] == curve["epoch"].tolist()
        np.testing.assert_allclose([m.value for m in history], curve["val_loss"].to_numpy())
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id, "model")}
        assert (artifacts == {"model/model.keras", "model/model.json", "model/preprocessing.json",
                              "model/test_predictions.parquet"}) == bool(trial["is_selected"])
    assert mlflow.get_tracking_uri()  # the library the store was read back with
