"""Unit tests for orchestrator.decisions.space: the Ray Tune translation table, trial counts, sampling, conditions.

Pure Python: no Ray, no TensorFlow, no Optuna (optuna_space is driven by a recording fake trial).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pytest

from orchestrator.decisions.space import (
    count_trials,
    grid_points,
    max_epochs,
    optuna_space,
    resolve_config,
    sample_config,
    tune_table,
)
from orchestrator.spec import HYPERPARAMETERS, load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]


def spec_of(params: dict[str, Any] | None = None, model: dict[str, Any] | None = None,
            search: dict[str, Any] | None = None, dataset: str = "digits"):
    doc: dict[str, Any] = {"data": {"dataset": dataset}}
    if params:
        doc["params"] = params
    if model:
        doc["model"] = model
    if search:
        doc["search"] = search
    return parse_spec(doc)


SGD_MOMENTUM = {
    "optimizer": {"type": "choice", "values": ["sgd", "adam", "rmsprop"]},
    "momentum": {"type": "uniform", "low": 0.1, "high": 0.9, "when": {"optimizer": "sgd"}},
    "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
}

# ------------------------------------------------------------------------------------------
# tune_table
# ------------------------------------------------------------------------------------------


def test_tune_table_for_every_distribution_type():
    spec = spec_of(
        params={
            "units": {"type": "grid", "values": [16, 32, 64]},
            "activation": {"type": "choice", "values": ["relu", "tanh"]},
            "dropout": {"type": "uniform", "low": 0.0, "high": 0.5},
            "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
            "epochs": {"type": "int", "low": 5, "high": 20},
            "batch_size": {"type": "int", "low": 8, "high": 256, "log": True},
            "hidden_layers": {"type": "randint", "low": 1, "high": 3},
        },
        model={"optimizer": "sgd"},
    )
    t = tune_table(spec)
    assert set(t) == set(HYPERPARAMETERS)
    assert t["units"] == ("grid_search", ([16, 32, 64],))
    assert t["activation"] == ("choice", (["relu", "tanh"],))
    assert t["dropout"] == ("uniform", (0.0, 0.5))
    assert t["learning_rate"] == ("loguniform", (1e-4, 1e-1))
    # the spec's int ranges include high; Ray's randint excludes it
    assert t["epochs"] == ("randint", (5, 21))
    assert t["hidden_layers"] == ("randint", (1, 4))
    assert t["batch_size"] == ("lograndint", (8, 257))
    assert t["optimizer"] == ("constant", ("sgd",))
    assert t["l2"] == ("constant", (0.0,))  # a default


# ------------------------------------------------------------------------------------------
# grid_points / count_trials
# ------------------------------------------------------------------------------------------


def test_grid_points_is_the_full_cross_product():
    spec = spec_of(
        params={
            "units": {"type": "grid", "values": [16, 32, 64]},
            "batch_size": {"type": "grid", "values": [8, 16, 32, 64]},
        },
        search={"algorithm": "grid"},
    )
    points = grid_points(spec)
    assert len(points) == 12
    assert len({(p["units"], p["batch_size"]) for p in points}) == 12
    assert {p["units"] for p in points} == {16, 32, 64}
    assert {p["batch_size"] for p in points} == {8, 16, 32, 64}
    assert all(set(p) == {"units", "batch_size"} for p in points)
    assert count_trials(spec) == 12


def test_grid_points_without_a_grid_is_one_empty_point():
    assert grid_points(spec_of()) == [{}]


@pytest.mark.parametrize(
    "search, expected",
    [
        ({"algorithm": "grid"}, 12),
        ({"algorithm": "grid", "num_samples": 3}, 36),
        ({"algorithm": "random"}, 12 * 16),
        ({"algorithm": "random", "num_samples": 2}, 24),
    ],
)
def test_count_trials_with_grids(search, expected):
    spec = spec_of(
        params={"units": {"type": "grid", "values": [16, 32, 64]},
                "batch_size": {"type": "grid", "values": [8, 16, 32, 64]}},
        search=search,
    )
    assert count_trials(spec) == expected


@pytest.mark.parametrize(
    "search, expected",
    [
        ({"algorithm": "random"}, 16),
        ({"algorithm": "random", "num_samples": 5}, 5),
        ({"algorithm": "tpe"}, 16),
        ({"algorithm": "tpe", "num_samples": 40}, 40),
    ],
)
def test_count_trials_random_and_tpe(search, expected):
    assert count_trials(spec_of(params=SGD_MOMENTUM, search=search)) == expected


def test_count_trials_of_the_quickstart():
    assert count_trials(load_spec(ROOT / "search_spaces" / "quickstart.yaml")) == 16


# ------------------------------------------------------------------------------------------
# resolve_config
# ------------------------------------------------------------------------------------------


def test_resolve_config_conditional_and_constants():
    spec = spec_of(params=SGD_MOMENTUM, model={"units": 48})
    sgd = resolve_config(spec, {"optimizer": "sgd", "momentum": 0.5, "learning_rate": 0.01})
    adam = resolve_config(spec, {"optimizer": "adam", "momentum": 0.5, "learning_rate": 0.01})
    for cfg in (sgd, adam):
        assert set(cfg) == set(HYPERPARAMETERS)
        assert cfg["units"] == 48  # a model constant
        assert cfg["batch_size"] == 32 and cfg["activation"] == "relu"  # defaults
        assert cfg["learning_rate"] == 0.01
    assert sgd["momentum"] == 0.5
    assert adam["momentum"] is None


def test_resolve_config_condition_with_a_list_of_values():
    spec = spec_of(params={
        "lr_schedule": {"type": "choice", "values": ["constant", "step", "exponential"]},
        "lr_decay_rate": {"type": "uniform", "low": 0.1, "high": 0.9, "when": {"lr_schedule": ["step", "exponential"]}},
    })
    assert resolve_config(spec, {"lr_schedule": "step", "lr_decay_rate": 0.3})["lr_decay_rate"] == 0.3
    assert resolve_config(spec, {"lr_schedule": "exponential", "lr_decay_rate": 0.3})["lr_decay_rate"] == 0.3
    assert resolve_config(spec, {"lr_schedule": "constant", "lr_decay_rate": 0.3})["lr_decay_rate"] is None


# ------------------------------------------------------------------------------------------
# sample_config
# ------------------------------------------------------------------------------------------

BOUNDS_SPEC = {
    "learning_rate": {"type": "loguniform", "low": 1e-5, "high": 3e-3},
    "dropout": {"type": "uniform", "low": 0.1, "high": 0.2},
    "hidden_layers": {"type": "int", "low": 1, "high": 3},
    "units": {"type": "int", "low": 8, "high": 64, "log": True},
    "activation": {"type": "choice", "values": ["relu", "tanh", "gelu"]},
}


def test_sample_config_respects_bounds():
    spec = spec_of(params=BOUNDS_SPEC)
    rng = random.Random(123)
    draws = [sample_config(spec, rng) for _ in range(2000)]
    lrs = [d["learning_rate"] for d in draws]
    assert all(1e-5 <= v <= 3e-3 for v in lrs)
    # log scale: about as many draws below the geometric midpoint as above it
    mid = math.sqrt(1e-5 * 3e-3)
    assert 0.4 < sum(v < mid for v in lrs) / len(lrs) < 0.6
    assert all(0.1 <= d["dropout"] <= 0.2 for d in draws)
    assert {d["hidden_layers"] for d in draws} == {1, 2, 3}  # both ends included
    units = [d["units"] for d in draws]
    assert all(isinstance(u, int) and 8 <= u <= 64 for u in units)
    assert 8 in units and 64 in units
    assert {d["activation"] for d in draws} == {"relu", "tanh", "gelu"}


class _LowestRandom(random.Random):
    """A generator stuck at the bottom of every range (random() == 0.0)."""

    def random(self) -> float:
        return 0.0


def test_sample_config_lowest_draw_stays_within_bounds():
    # exp(log(8)) == 7.999...: the lowest log draw must still be >= low
    spec = spec_of(params={"units": {"type": "int", "low": 8, "high": 64, "log": True},
                           "learning_rate": {"type": "loguniform", "low": 2e-4, "high": 1e-1}})
    cfg = sample_config(spec, _LowestRandom())
    assert cfg["units"] == 8
    assert cfg["learning_rate"] >= 2e-4


def test_sample_config_is_reproducible_for_a_seed():
    spec = spec_of(params={**BOUNDS_SPEC, **SGD_MOMENTUM})
    a = [sample_config(spec, random.Random(7)) for _ in range(3)]
    b = [sample_config(spec, random.Random(7)) for _ in range(3)]
    assert a == b
    rng = random.Random(7)
    seq1 = [sample_config(spec, rng) for _ in range(5)]
    rng = random.Random(7)
    assert seq1 == [sample_config(spec, rng) for _ in range(5)]
    assert seq1 != [sample_config(spec, random.Random(8)) for _ in range(5)]


def test_sample_config_conditions_and_constants():
    spec = spec_of(params=SGD_MOMENTUM, model={"units": 48})
    rng = random.Random(0)
    seen = set()
    for _ in range(300):
        cfg = sample_config(spec, rng)
        seen.add(cfg["optimizer"])
        assert cfg["units"] == 48
        if cfg["optimizer"] == "sgd":
            assert 0.1 <= cfg["momentum"] <= 0.9
        else:
            assert cfg["momentum"] is None
    assert seen == {"sgd", "adam", "rmsprop"}


# ------------------------------------------------------------------------------------------
# optuna_space (define-by-run)
# ------------------------------------------------------------------------------------------


class FakeTrial:
    """Records suggest_* calls; categorical answers come from ``picks``, numbers are the low end."""

    def __init__(self, picks: dict[str, Any] | None = None) -> None:
        self.picks = picks or {}
        self.calls: list[tuple] = []

    def suggest_categorical(self, name, choices):
        self.calls.append(("categorical", name, list(choices)))
        return self.picks.get(name, choices[0])

    def suggest_float(self, name, low, high, log=False):
        self.calls.append(("float", name, low, high, log))
        return self.picks.get(name, low)

    def suggest_int(self, name, low, high, log=False):
        self.calls.append(("int", name, low, high, log))
        return self.picks.get(name, low)

    def names(self) -> list[str]:
        return [c[1] for c in self.calls]


def _tpe_spec():
    return spec_of(
        params={
            **SGD_MOMENTUM,
            "epochs": {"type": "int", "low": 5, "high": 20},
            "batch_size": {"type": "int", "low": 8, "high": 256, "log": True},
        },
        model={"units": 48, "activation": "tanh"},
        search={"algorithm": "tpe", "num_samples": 8},
    )


def test_optuna_space_suggests_momentum_only_with_sgd():
    define = optuna_space(_tpe_spec())

    sgd = FakeTrial({"optimizer": "sgd"})
    constants = define(sgd)
    assert "momentum" in sgd.names()
    assert ("float", "momentum", 0.1, 0.9, False) in sgd.calls
    # the condition's parameter is suggested before the conditional one
    assert sgd.names().index("optimizer") < sgd.names().index("momentum")

    for other in ("adam", "rmsprop"):
        t = FakeTrial({"optimizer": other})
        define(t)
        assert "momentum" not in t.names()
        assert "optimizer" in t.names()

    # constants are returned (so they reach the trainable), searched ones are not
    assert constants["units"] == 48 and constants["activation"] == "tanh"
    assert constants["dropout"] == 0.0
    assert not {"optimizer", "momentum", "learning_rate", "epochs", "batch_size"} & set(constants)


def test_optuna_space_suggest_arguments():
    t = FakeTrial({"optimizer": "adam"})
    optuna_space(_tpe_spec())(t)
    calls = {c[1]: c for c in t.calls}
    assert calls["optimizer"] == ("categorical", "optimizer", ["sgd", "adam", "rmsprop"])
    assert calls["learning_rate"] == ("float", "learning_rate", 1e-4, 1e-1, True)
    # back to the spec's inclusive high for Optuna (Ray's exclusive high + 1 undone)
    assert calls["epochs"] == ("int", "epochs", 5, 20, False)
    assert calls["batch_size"] == ("int", "batch_size", 8, 256, True)
    assert len(t.calls) == len(set(t.names()))  # each suggested once


def test_optuna_space_conditional_constant():
    spec = spec_of(params={
        "optimizer": {"type": "choice", "values": ["sgd", "adam"]},
        "momentum": {"type": "constant", "value": 0.9, "when": {"optimizer": "sgd"}},
    }, search={"algorithm": "tpe"})
    define = optuna_space(spec)
    assert define(FakeTrial({"optimizer": "sgd"}))["momentum"] == 0.9
    assert "momentum" not in define(FakeTrial({"optimizer": "adam"}))


# ------------------------------------------------------------------------------------------
# max_epochs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model, params, expected",
    [
        (None, None, 20),  # the default
        ({"epochs": 7}, None, 7),
        (None, {"epochs": {"type": "choice", "values": [5, 30, 10]}}, 30),
        (None, {"epochs": {"type": "grid", "values": [3, 9]}}, 9),
        (None, {"epochs": {"type": "int", "low": 5, "high": 25}}, 25),
        (None, {"epochs": {"type": "int", "low": 4, "high": 50, "log": True}}, 50),
    ],
)
def test_max_epochs(model, params, expected):
    assert max_epochs(spec_of(params=params, model=model)) == expected


def test_max_epochs_of_the_quickstart():
    assert max_epochs(load_spec(ROOT / "search_spaces" / "quickstart.yaml")) == 12
