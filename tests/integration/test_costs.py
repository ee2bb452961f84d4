"""What a trial measures and reports of its model, with real Keras models (TensorFlow, no Ray).

Every trial's rows carry its model's costs, measured before its first epoch (parameters, the
weights file, the latency of one prediction) and one finite column per objective; a model that
breaks a cost constraint is never trained (one ``infeasible`` row, in a parallel trial and under
the babysitter alike); a builder's own compiled metric (AUC) is a column, so it can be an objective.
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from orchestrator import data as data_mod
from orchestrator.decisions.space import resolve_config
from orchestrator.spec import parse_spec

keras = pytest.importorskip("keras")

from orchestrator.babysit.worker import babysit_models  # noqa: E402
from orchestrator.training import trainable as T  # noqa: E402
from orchestrator.training.costs import clear_cost_cache, costs  # noqa: E402
from orchestrator.training.epoch import WORST_OBJECTIVE  # noqa: E402
from orchestrator.training.export import inference_copy  # noqa: E402
from orchestrator.training.inputs import ArraySplit, DataInfo, TrialData  # noqa: E402
from orchestrator.training.model import ModelCache, family_of  # noqa: E402
from orchestrator.training.worker import configure_tensorflow  # noqa: E402
from orchestrator.trial_events import EpochReported, TrialEnded, TrialStarted  # noqa: E402

COSTS = ("params", "params_total", "model_bytes", "latency_ms", "latency_batch_ms")


@pytest.fixture(scope="module")
def digits() -> data_mod.Prepared:
    configure_tensorflow(1)
    return data_mod.prepare(data_mod.load_raw(dataset="digits"), seed=0).without_test()


def _spec(**extra: Any) -> Any:
    return parse_spec({"name": "costs", "data": {"dataset": "digits"},
                       "model": {"epochs": 2, "units": 32, "batch_size": 64}, **extra})


def _run(spec: Any, data: Any, hp: dict[str, Any] | None = None,
         cache: ModelCache | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    info = T.run_trial({**resolve_config(spec, {}), **(hp or {})}, data, spec, 3,
                       report=lambda row, checkpoint: rows.append(row), cache=cache or ModelCache(0))
    return rows, info


def _weights_file_size(model: Any, tmp_path: Path) -> int:
    path = tmp_path / "inference.weights.h5"
    inference_copy(model).save_weights(str(path))  # the exported model: no optimizer
    return os.path.getsize(path)


def test_every_row_carries_the_costs_measured_before_the_first_epoch(digits, tmp_path) -> None:
    spec = _spec(objectives=[{"name": "val_accuracy"}, {"name": "params"}, {"name": "latency_ms"}])
    rows, info = _run(spec, digits)
    assert [r["epoch"] for r in rows] == [1, 2]
    first = rows[0]

    # the model those costs are of: the same configuration, built through the same family
    hp = resolve_config(spec, {})
    model, _ = ModelCache(0).get(hp, DataInfo.of(digits), seed=3, family=family_of(spec))
    assert first["params"] == model.count_params() == first["params_total"] == 64 * 32 + 32 + 32 * 10 + 10
    assert first["model_bytes"] == _weights_file_size(model, tmp_path)  # the weights, not Adam's slots
    assert 0 < first["latency_ms"] < 1000 and 0 < first["latency_batch_ms"] < 1000
    assert info["costs_s"] < first["trial_elapsed_s"]  # measured before training

    for r in rows:  # the same costs on every row, and the objectives as columns
        assert {c: r[c] for c in COSTS} == {c: first[c] for c in COSTS}
        assert r["objective"] == r["val_accuracy"]
        assert r["objective_1"] == r["params"] and r["objective_2"] == r["latency_ms"]
        assert r["train_seconds"] == r["trial_elapsed_s"]
    assert rows[1]["train_seconds"] > rows[0]["train_seconds"]


def test_figures_of_a_graph_seen_before_are_reused_and_a_new_batch_size_is_timed(digits) -> None:
    clear_cost_cache()
    spec = _spec()
    hp = resolve_config(spec, {})
    model, _ = ModelCache(0).get(hp, DataInfo.of(digits), seed=0, family=family_of(spec))
    first = costs(model, hp, digits.val.X, key=("mlp", "k"))
    again = costs(model, hp, digits.val.X, key=("mlp", "k"))
    assert again == first  # not timed again: the same figures
    other = costs(model, {**hp, "batch_size": 256}, digits.val.X, key=("mlp", "k"))
    assert other["latency_ms"] == first["latency_ms"] and other["latency_batch_ms"] != first["latency_batch_ms"]


def test_a_model_breaking_a_cost_constraint_is_never_trained(digits) -> None:
    spec = _spec(objectives=[{"name": "val_accuracy"}, {"name": "params"}], constraints={"params": {"max": 1000}})
    rows, info = _run(spec, digits)
    assert len(rows) == 1
    row = rows[0]
    assert row["infeasible"] is True and row["epoch"] == 0 and row["stop_reason"] == "infeasible"
    assert row["broken"] == "params" and row["params"] == 64 * 32 + 32 + 32 * 10 + 10  # 2410 > 1000
    assert row["model_bytes"] > 0 and row["latency_ms"] > 0
    assert row["objective"] == -WORST_OBJECTIVE and row["objective_1"] == 2410.0
    assert info["epochs"] == 0 and info["infeasible"] and "first_epoch_s" not in info

    # the same sweep with a model that keeps the bound trains as usual
    rows, info = _run(spec, digits, {"units": 8})
    assert [r["epoch"] for r in rows] == [1, 2] and not any(r.get("infeasible") for r in rows)
    assert rows[0]["params"] == 64 * 8 + 8 + 8 * 10 + 10 <= 1000


def test_the_babysitter_skips_a_model_breaking_a_cost_constraint(digits, tmp_path) -> None:
    spec = parse_spec({"name": "sit", "data": {"dataset": "digits"}, "strategy": "babysit",
                       "model": {"epochs": 2, "units": 32}, "metric": "val_accuracy",
                       "constraints": {"latency_ms": {"max": 1e-6}}, "babysit": {"max_models": 2}})
    data = TrialData(digits.train, digits.val, ArraySplit(digits.val.X[:0], digits.val.y[:0]), digits.task,
                     digits.n_features, digits.n_classes, tuple(digits.input_shape))
    events: list[Any] = []
    babysit_models(spec, data, events.append, run_started_at=0.0, deadline=None,
                   checkpoint_root=str(tmp_path / "ckpt"))
    kinds = [type(e).__name__ for e in events if type(e).__name__ != "Intervention"]
    assert kinds == ["TrialStarted", "EpochReported", "TrialEnded"] * 2
    rows = [e.row for e in events if isinstance(e, EpochReported)]
    assert all(r["infeasible"] and r["epoch"] == 0 and r["latency_ms"] > 1e-6 for r in rows)
    ended = [e for e in events if isinstance(e, TrialEnded)]
    assert {(e.status, e.reason) for e in ended} == {("infeasible", "infeasible")}
    assert len({e.trial_id for e in events if isinstance(e, TrialStarted)}) == 2
    assert not (tmp_path / "ckpt").exists()  # nothing trained, nothing kept


BUILDER = '''
import keras


def scored(hp, data):
    model = keras.Sequential([keras.Input(data.input_shape), keras.layers.Dense(hp["units"], activation="relu"),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy", keras.metrics.AUC(name="auc")])
    return model
'''


def test_a_builder_compiled_metric_lands_in_the_rows_and_can_be_an_objective(tmp_path) -> None:
    (tmp_path / "models.py").write_text(textwrap.dedent(BUILDER))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype("float32")
    y = (X[:, 0] + 0.3 * rng.normal(size=200) > 0).astype("int64")
    data = TrialData(ArraySplit(X[:150], y[:150]), ArraySplit(X[150:], y[150:]), ArraySplit(X[:0], y[:0]),
                     "classification", 6, 2, (6,))
    spec = parse_spec({"name": "auc", "data": {"dataset": "digits"}, "model": {"builder": "models.py:scored",
                       "epochs": 2, "batch_size": 32}, "params": {"units": {"type": "choice", "values": [4]}},
                       "objectives": [{"name": "val_auc"}, {"name": "model_bytes"}]}, base_dir=str(tmp_path))
    rows, _ = _run(spec, data, {"units": 4})
    assert [r["epoch"] for r in rows] == [1, 2]
    for r in rows:
        assert 0 <= r["val_auc"] <= 1 and 0 <= r["train_auc"] <= 1
        assert r["objective"] == r["val_auc"]  # the first objective: the builder's metric, maximised
        assert r["objective_1"] == r["model_bytes"] > 0
        assert r["params"] == 6 * 4 + 4 + 4 + 1 and not math.isnan(r["val_accuracy"])
