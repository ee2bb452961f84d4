"""The spec's ``model`` section (family, builder), the hyperparameters each model takes, the new
data keys (loader, args, shape, image_size, color_mode), and what follows from the model's kind:
what PBT may perturb and what the babysitter changes between models.

No Ray, no TensorFlow, and no builder is imported: the spec checks only the form of a
``file.py:function`` reference (the builder is imported when the sweep is validated or run).
"""

from __future__ import annotations

import json
import math
import random
import textwrap
from pathlib import Path

import pytest

from orchestrator.decisions.babysit_rules import ModelOutcome, next_config, start_config
from orchestrator.cli import main
from orchestrator.errors import SpecError
from orchestrator.spec import (
    CNN_HYPERPARAMETERS,
    HYPERPARAMETERS,
    TRAINING_HYPERPARAMETERS,
    Choice,
    Constant,
    Grid,
    IntRange,
    LogUniform,
    ModelSpec,
    SweepSpec,
    Uniform,
    active,
    load_spec,
    pbt_mutable,
)


def _load(tmp_path: Path, text: str, name: str = "s.yaml") -> SweepSpec:
    f = tmp_path / name
    f.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_spec(f)


BUILDER = """
data: {dataset: digits, shape: [8, 8, 1]}
metric: val_accuracy
model:
  builder: models.py:build_model
  epochs: 3
  kernel_size: 3
params:
  blocks: {type: choice, values: [1, 2]}
  heads: {type: int, low: 1, high: 8}
  width: {type: grid, values: [0.5, 1]}
  batch_norm: {type: choice, values: [true, false]}
  cell: {type: choice, values: [gru, lstm]}
  scale: 1e-3
  dropout: {type: uniform, low: 0.0, high: 0.4, when: {batch_norm: false}}
  learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-2}
"""


# ------------------------------------------------------------------------------------------
# the model: a family or a builder
# ------------------------------------------------------------------------------------------


def test_a_builder_spec_takes_the_users_names_with_the_kind_their_values_show(tmp_path):
    spec = _load(tmp_path, BUILDER)
    assert spec.model == ModelSpec(builder="models.py:build_model") and spec.model.kind == "builder"
    p = spec.params
    assert p["blocks"] == Choice(type="choice", values=[1, 2])  # integers
    assert isinstance(p["heads"], IntRange) and (p["heads"].low, p["heads"].high) == (1, 8)
    assert p["width"] == Grid(type="grid", values=[0.5, 1.0]) and all(type(v) is float for v in p["width"].values)
    assert p["batch_norm"].values == [True, False] and all(type(v) is bool for v in p["batch_norm"].values)
    assert p["cell"].values == ["gru", "lstm"]
    assert p["scale"] == Constant(value=1e-3) and type(p["scale"].value) is float  # YAML 1.1 read "1e-3"
    assert p["kernel_size"] == Constant(value=3) and p["epochs"] == Constant(value=3)
    # the training hyperparameters are there with their defaults; the MLP's are not
    for name, (_kind, default, _rule) in TRAINING_HYPERPARAMETERS.items():
        if name not in ("epochs", "learning_rate"):
            assert p[name] == Constant(value=default), name
    assert not {"units", "hidden_layers", "activation", "l2"} & set(p)
    assert set(p) == set(TRAINING_HYPERPARAMETERS) | {"blocks", "heads", "width", "batch_norm", "cell", "scale",
                                                      "dropout", "kernel_size"}
    # a condition on a user's boolean
    assert active(p, "dropout", {"batch_norm": False}) and not active(p, "dropout", {"batch_norm": True})
    # dropout is the builder's own here: no rule of the MLP's applies (the kind still does)
    assert isinstance(p["dropout"], Uniform)


def test_family_mlp_written_beside_a_builder_is_the_default_and_allowed(tmp_path):
    spec = _load(tmp_path, BUILDER.replace("  builder:", "  family: mlp\n  builder:"))
    assert spec.model.kind == "builder"


def test_a_cnn_spec_gets_the_cnn_defaults_and_not_the_mlps(tmp_path):
    spec = _load(tmp_path, """
        data: {dataset: digits, shape: [8, 8, 1]}
        model: {family: cnn, kernel_size: 5}
        params:
          filters: {type: choice, values: [16, 32]}
          pooling: {type: choice, values: [max, avg, none]}
          optimizer: {type: choice, values: [adamw, nadam]}
        """)
    assert spec.model.kind == "cnn" and spec.data.shape == [8, 8, 1]
    assert set(spec.params) == set(CNN_HYPERPARAMETERS)
    assert not {"units", "hidden_layers"} & set(spec.params)
    assert spec.params["conv_layers"] == Constant(value=2) and spec.params["dense_units"] == Constant(value=64)
    assert spec.params["kernel_size"] == Constant(value=5)
    assert spec.params["weight_decay"] == Constant(value=0.004)
    assert set(spec.searched) == {"filters", "pooling", "optimizer"}


def test_the_default_model_is_the_mlp_with_weight_decay_and_the_new_optimizers(tmp_path):
    spec = _load(tmp_path, """
        data: {dataset: digits}
        params:
          optimizer: {type: choice, values: [sgd, adam, rmsprop, adamw, nadam]}
          weight_decay: {type: loguniform, low: 1.0e-5, high: 1.0e-2, when: {optimizer: adamw}}
        """)
    assert spec.model == ModelSpec() and spec.model.kind == "mlp"
    assert set(spec.params) == set(HYPERPARAMETERS)


def test_the_spec_round_trips_through_run_json_and_an_old_run_json_is_an_mlp(tmp_path):
    for text in (BUILDER, "data: {dataset: digits}\nmodel: {family: cnn}\n"):
        spec = _load(tmp_path, text)
        again = SweepSpec.model_validate(json.loads(json.dumps(spec.to_dict())))
        assert again == spec and again.model.kind == spec.model.kind
    old = _load(tmp_path, "data: {dataset: digits}\n").to_dict()
    del old["model"]
    assert SweepSpec.model_validate(old).model.kind == "mlp"


# ------------------------------------------------------------------------------------------
# bad input: one line naming the key
# ------------------------------------------------------------------------------------------

DIGITS = "data: {dataset: digits}\n"
LOADER = "data:\n  loader: data.py:load\n  task: classification\n"

# (spec text, key, phrase in the message)
BAD = [
    (DIGITS + "model: {builder: models.py:build, family: cnn}\n", "model.builder", "not both"),
    (DIGITS + "model: {builder: models.py}\n", "model.builder", "must be 'file.py:function'"),
    (DIGITS + "model: {builder: 3}\n", "model.builder", "got 3"),
    (DIGITS + "model: {family: rnn}\n", "model.family", "must be one of mlp, cnn, got 'rnn'"),
    (DIGITS + "params: {heads: 4}\n", "params.heads", "model.builder takes any name"),
    (DIGITS + "model: {family: cnn}\nparams: {units: 64}\n", "params.units",
     "units is a hyperparameter of model.family mlp, not of cnn; cnn takes: conv_layers, filters"),
    (DIGITS + "model: {family: cnn, hidden_layers: 2}\n", "model.hidden_layers", "not of cnn"),
    (DIGITS + "params: {filters: 32}\n", "params.filters", "model.family cnn, not of mlp; mlp takes: hidden_layers"),
    (DIGITS + "model: {family: cnn}\nparams: {conv_layers: {type: int, low: 1, high: 9}}\n",
     "params.conv_layers.high", "must be <= 8, got 9"),
    (DIGITS + "model: {family: cnn}\nparams: {pooling: {type: choice, values: [max, mean]}}\n",
     "params.pooling.values[1]", "must be one of max, avg, none; got 'mean'"),
    (DIGITS + "model: {builder: m.py:b}\nparams: {mix: {type: choice, values: [a, 1]}}\n", "params.mix.values",
     "mixes kinds of value"),
    (DIGITS + "model: {builder: m.py:b}\nparams: {flag: {type: grid, values: [true, 2]}}\n", "params.flag.values",
     "mixes kinds of value"),
    (DIGITS + "model: {builder: m.py:b}\nparams: {my-hp: 3}\n", "params.my-hp", "must be an identifier"),
    (DIGITS + "model: {builder: m.py:b}\nparams: {learning_rate: -1}\n", "params.learning_rate", "must be > 0"),
    (DIGITS + "model: {builder: m.py:b}\nparams: {optimizer: adagrad}\n", "params.optimizer",
     "must be one of sgd, adam, rmsprop, adamw, nadam; got 'adagrad'"),
    (DIGITS + "model: {builder: m.py:b}\nparams: {cell: {type: uniform, low: a, high: b}}\n", "params.cell.low",
     "valid number"),
    (DIGITS + "model: {builder: m.py:b}\nparams:\n  cell: {type: choice, values: [gru, lstm]}\n"
     "  depth: {type: choice, values: [1, 2], when: {cell: rnn}}\n", "params.depth.when.cell",
     "'rnn' is not a value cell can take"),
    (DIGITS + "model: {builder: m.py:b}\nparams:\n  depth: {type: choice, values: [1, 2], when: {cel: gru}}\n",
     "params.depth.when.cel", "unknown hyperparameter"),
    (DIGITS + "params: {weight_decay: -0.1}\n", "params.weight_decay", "must be >= 0"),
    ("data: {dataset: digits, loader: data.py:load, task: classification}\n", "data",
     "give exactly one of data.dataset (digits, diabetes, exam), data.path"),
    ("data: {task: classification}\n", "data", "or data.loader (file.py:function)"),
    ("data: {dataset: digits, args: {n: 3}}\n", "data.args", "only with data.loader"),
    ("data: {loader: data.py:load}\n", "data.task", "required with data.loader"),
    ("data: {loader: load, task: regression}\n", "data.loader", "must be 'file.py:function'"),
    ("data: {dataset: digits, shape: [8, 0, 1]}\n", "data.shape", "1 to 4 positive whole numbers"),
    ("data: {dataset: digits, shape: [2, 2, 2, 2, 4]}\n", "data.shape", "got [2, 2, 2, 2, 4]"),
    ("data: {dataset: digits, shape: []}\n", "data.shape", "1 to 4 positive"),
    ("data: {dataset: digits, shape: [8.5, 8]}\n", "data.shape[0]", "valid integer"),
    (LOADER + "  image_size: [64]\n", "data.image_size", "two positive whole numbers"),
    ("data: {dataset: digits, image_size: [64, -1]}\n", "data.image_size", "got [64, -1]"),
    ("data: {dataset: digits, color_mode: cmyk}\n", "data.color_mode", "'rgb', 'grayscale' or 'rgba'"),
    (DIGITS + "model: {family: cnn}\nparams: {filters: {type: choice, values: [16, 32]}}\nscheduler: {type: pbt}\n",
     "scheduler.type", "pbt needs at least one searched hyperparameter that keeps the model's graph"),
    (DIGITS + "model: {builder: m.py:b}\nparams: {heads: {type: int, low: 1, high: 4}}\nscheduler: {type: pbt}\n",
     "scheduler.type", "pbt needs at least one searched"),
]


@pytest.mark.parametrize("text, key, phrase", BAD, ids=[f"{i}-{c[1]}" for i, c in enumerate(BAD)])
def test_bad_model_and_data_input_is_one_line_naming_the_key(tmp_path, text, key, phrase):
    with pytest.raises(SpecError) as info:
        _load(tmp_path, text, "bad.yaml")
    e = info.value
    assert e.key == key, str(e)
    assert phrase in e.message, str(e)
    assert str(e).startswith(f"bad.yaml: {key}: ") and len(str(e).splitlines()) == 1


def test_an_unknown_mlp_name_lists_the_names_mlp_takes(tmp_path):
    with pytest.raises(SpecError) as info:
        _load(tmp_path, DIGITS + "params: {heads: 4}\n")
    assert "unknown hyperparameter for model.family mlp; known: hidden_layers, units, activation" in info.value.message
    assert "weight_decay" in info.value.message


def test_the_cli_says_a_spec_error_in_one_line_and_exits_2(tmp_path, capsys):
    f = tmp_path / "both.yaml"
    f.write_text(DIGITS + "model: {builder: models.py:build, family: cnn}\n", encoding="utf-8")
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sweep: error: both.yaml: model.builder: ") and len(err.splitlines()) == 1


def test_an_image_folder_is_classification(tmp_path):
    (tmp_path / "images" / "cat").mkdir(parents=True)
    with pytest.raises(SpecError) as info:
        _load(tmp_path, "data: {path: images, task: regression}\n")
    assert info.value.key == "data.task" and "image folder" in info.value.message


def test_pbt_may_perturb_a_builders_own_hyperparameter_the_user_names(tmp_path):
    spec = _load(tmp_path, DIGITS + "model: {builder: m.py:b}\nparams: {heads: {type: int, low: 1, high: 4}}\n"
                 "scheduler: {type: pbt, mutations: [heads]}\n")
    assert spec.scheduler.mutations == ["heads"]


# ------------------------------------------------------------------------------------------
# PBT: what keeps the traced graph
# ------------------------------------------------------------------------------------------

SEARCHED = {
    "learning_rate": LogUniform(type="loguniform", low=1e-4, high=1e-1),
    "momentum": Uniform(type="uniform", low=0.0, high=0.9),
    "batch_size": Choice(type="choice", values=[16, 32]),
    "units": Choice(type="choice", values=[32, 64]),
    "filters": IntRange(type="int", low=8, high=64),
    "dropout": Uniform(type="uniform", low=0.0, high=0.5),
    "l2": LogUniform(type="loguniform", low=1e-6, high=1e-2),
    "heads": IntRange(type="int", low=1, high=8),
    "activation": Choice(type="choice", values=["relu", "tanh"]),
    "epochs": Constant(value=10),
}


def test_pbt_mutable_per_model_kind():
    # never what shapes the weights (units, filters): an exploited trial loads a donor's weights
    assert pbt_mutable(SEARCHED, "mlp") == pbt_mutable(SEARCHED) == [
        "learning_rate", "momentum", "batch_size", "dropout", "l2"]
    assert pbt_mutable(SEARCHED, "cnn") == ["learning_rate", "momentum", "batch_size", "dropout", "l2"]
    assert pbt_mutable(SEARCHED, "builder") == ["learning_rate", "momentum", "batch_size"]


# ------------------------------------------------------------------------------------------
# the babysitter's moves per model kind
# ------------------------------------------------------------------------------------------


def _babysat(tmp_path: Path, model: str, params: str) -> SweepSpec:
    return _load(tmp_path, f"data: {{dataset: digits, shape: [8, 8, 1]}}\nmetric: val_accuracy\nstrategy: babysit\n"
                           f"model: {model}\nparams:\n" + textwrap.indent(textwrap.dedent(params), "  "))


def _outcome(config, action, train=0.2, val=0.3):
    return ModelOutcome(config=config, action=action, best_value=0.9, lr_at_best=0.003,
                        train_loss_at_best=train, val_loss_at_best=val)


CNN_SPACE = """
learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0}
filters: {type: choice, values: [8, 16, 32, 64]}
conv_layers: {type: int, low: 1, high: 4}
dense_units: {type: choice, values: [0, 32, 64, 128]}
dropout: {type: uniform, low: 0.0, high: 0.5}
"""


def test_the_babysitter_grows_and_regularises_a_cnn_with_its_own_layers(tmp_path):
    spec = _babysat(tmp_path, "{family: cnn}", CNN_SPACE)
    first = start_config(spec)
    assert (first["filters"], first["conv_layers"], first["dense_units"]) == (16, 2, 32)
    grown, why = next_config([_outcome(first, "next_more_capacity")], spec)
    assert grown["filters"] == 32 and grown["conv_layers"] == 2 and "more capacity (filters)" in why
    regularised, why = next_config([_outcome(first, "stop_overfit")], spec)
    assert regularised["dropout"] == pytest.approx(first["dropout"] + 0.1) and "(dropout)" in why
    # with filters at their top, more blocks; with those at the top, a wider dense layer
    top = dict(first, filters=64)
    assert next_config([_outcome(top, "next_more_capacity")], spec)[0]["conv_layers"] == 3
    top = dict(top, conv_layers=4)
    assert next_config([_outcome(top, "next_more_capacity")], spec)[0]["dense_units"] == 64
    # nothing to regularise (dropout fixed): less capacity, fewer filters first
    fixed = _babysat(tmp_path, "{family: cnn}", "filters: {type: choice, values: [8, 16, 32]}\n"
                     "conv_layers: {type: int, low: 1, high: 3}\n")
    c, why = next_config([_outcome(start_config(fixed), "stop_overfit")], fixed)
    assert c["filters"] == 8 and "(filters)" in why


def test_the_babysitter_makes_no_architecture_move_on_a_builders_names(tmp_path):
    spec = _babysat(tmp_path, "{builder: m.py:b}", """
        learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0}
        units: {type: choice, values: [16, 32, 64, 128]}
        dropout: {type: uniform, low: 0.0, high: 0.5}
        """)
    first = start_config(spec)
    for action, train, val in (("next_more_capacity", 0.2, 0.3), ("stop_overfit", 0.2, 0.3),
                               ("stop_converged", 0.3, 0.31), ("stop_converged", 0.05, 0.3)):
        c, why = next_config([_outcome(first, action, train, val)], spec, random.Random(0))
        assert "no architecture move for a builder's own hyperparameters" in why, why
        # what changed is a random draw inside the space, never a step up or down it chose
        assert "drawn at random" in why
        for name, p in spec.params.items():
            if isinstance(p, Choice):
                assert c[name] in p.values
    # a diverged builder model: a smaller learning rate, its own names untouched
    c, why = next_config([_outcome(first, "stop_diverged")], spec, random.Random(0))
    assert c["learning_rate"] < first["learning_rate"] and c["units"] == first["units"]
    assert c["dropout"] == first["dropout"] and "diverged" in why
    assert math.isclose(c["learning_rate"], 0.0003)
