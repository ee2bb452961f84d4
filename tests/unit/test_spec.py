"""Unit tests for orchestrator.spec: good specs load with defaults resolved; bad specs fail with one line.

The bad specs are files under tests/specs/bad/ (one case per file); BAD_CASES says, for each, the key
path and a phrase its error must contain. No Ray, no TensorFlow.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.errors import DataError, SpecError
from orchestrator.spec import (
    HYPERPARAMETERS,
    MAX_GRID_TRIALS,
    Choice,
    Constant,
    Grid,
    IntRange,
    LogUniform,
    SweepSpec,
    Uniform,
    active,
    count_trials,
    load_spec,
    hyperparameters,
    parse_spec,
)

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "search_spaces").glob("*.yaml"))
BAD_DIR = ROOT / "tests" / "specs" / "bad"


def _spec(text: str, tmp_path: Path, name: str = "spec.yaml") -> SweepSpec:
    f = tmp_path / name
    f.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_spec(f)


# ------------------------------------------------------------------------------------------
# good specs
# ------------------------------------------------------------------------------------------


def test_there_is_at_least_the_quickstart_spec():
    assert ROOT / "search_spaces" / "quickstart.yaml" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_spec_loads_with_every_hyperparameter_resolved(path):
    spec = load_spec(path)
    # every hyperparameter of the spec's model family (the MLP's by default, the CNN's for family: cnn)
    assert set(spec.params) == set(hyperparameters(spec.model.kind))
    assert spec.mode in ("min", "max")
    assert spec.task in ("classification", "regression")
    assert spec.source == str(path)
    # every shipped spec runs less than the grid limit and searches something
    from orchestrator.decisions.space import count_trials

    assert 1 <= count_trials(spec) <= MAX_GRID_TRIALS
    assert spec.searched, f"{path.name} searches nothing"


def test_quickstart_resolves_as_written():
    spec = load_spec(ROOT / "search_spaces" / "quickstart.yaml")
    assert spec.name == "quickstart"
    assert spec.task == "classification"
    assert (spec.metric_name, spec.mode) == ("val_accuracy", "max")
    assert spec.params["hidden_layers"] == Constant(value=1)
    assert spec.params["epochs"] == Constant(value=12)
    assert spec.params["optimizer"] == Choice(type="choice", values=["adam", "sgd", "rmsprop"])
    lr = spec.params["learning_rate"]
    assert isinstance(lr, LogUniform) and (lr.low, lr.high) == (1e-4, 0.3)
    mom = spec.params["momentum"]
    assert isinstance(mom, Uniform) and mom.when == {"optimizer": "sgd"}
    # not mentioned: the model's defaults
    assert spec.params["dropout"] == Constant(value=0.0)
    assert spec.params["activation"] == Constant(value="relu")
    assert set(spec.searched) == {"optimizer", "learning_rate", "momentum", "units", "batch_size"}
    assert spec.scheduler.type == "asha" and spec.scheduler.grace_period == 2
    assert spec.search.num_samples == 16


def test_minimal_spec_gets_every_default(tmp_path):
    spec = _spec("data: {dataset: digits}\n", tmp_path, "tiny.yaml")
    assert spec.name == "tiny"  # the file's stem
    for name, (_kind, default, _rule) in HYPERPARAMETERS.items():
        assert spec.params[name] == Constant(value=default), name
    assert (spec.metric_name, spec.mode) == ("val_loss", "min")
    split = spec.data.split
    assert (split.train, split.val, split.test) == (0.7, 0.2, 0.1)
    # every hyperparameter a constant: one trial, not the default sample count of a searched space
    assert spec.search.algorithm == "random" and spec.search.num_samples == 1 and count_trials(spec) == 1
    assert spec.scheduler.type == "none"
    assert spec.resources.cpu == 1.0 and spec.resources.gpu == 0.0
    assert spec.max_failures == 0
    assert spec.searched == {}


@pytest.mark.parametrize(
    "dataset, metric, mode",
    [
        ("digits", "val_accuracy", "max"),
        ("digits", "val_loss", "min"),
        ("exam", "val_accuracy", "max"),
        ("diabetes", "val_loss", "min"),
        ("diabetes", "val_mae", "min"),
        ("diabetes", "val_mse", "min"),
    ],
)
def test_metric_mode_is_inferred_from_the_metric(dataset, metric, mode):
    spec = parse_spec({"data": {"dataset": dataset}, "metric": metric})
    assert spec.metric_name == metric and spec.mode == mode
    # written as a mapping without mode: the same
    spec = parse_spec({"data": {"dataset": dataset}, "metric": {"name": metric}})
    assert spec.mode == mode


@pytest.mark.parametrize("dataset, task", [("digits", "classification"), ("exam", "classification"),
                                           ("diabetes", "regression")])
def test_builtin_dataset_implies_the_task(dataset, task):
    assert parse_spec({"data": {"dataset": dataset}}).task == task


def test_exponent_without_a_dot_is_a_float(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-3 as the *string* "1e-3"; the spec must accept it as a number.
    spec = _spec(
        """\
        data: {dataset: digits}
        model:
          l2: 1e-4
        params:
          learning_rate: {type: loguniform, low: 1e-5, high: 1e-1}
          lr_decay_rate: {type: choice, values: [5e-1, 1e-1]}
        """,
        tmp_path,
    )
    assert spec.params["l2"] == Constant(value=1e-4)
    assert isinstance(spec.params["l2"].value, float)
    lr = spec.params["learning_rate"]
    assert (lr.low, lr.high) == (1e-5, 1e-1)
    assert spec.params["lr_decay_rate"].values == [0.5, 0.1]
    assert all(isinstance(v, float) for v in spec.params["lr_decay_rate"].values)
    spec = _spec("data: {dataset: digits}\nmodel: {learning_rate: 3e-4}\n", tmp_path)
    assert spec.params["learning_rate"] == Constant(value=3e-4)


def test_model_constants_and_params_distributions(tmp_path):
    spec = _spec(
        """\
        data: {dataset: digits}
        model:
          hidden_layers: 2
          activation: tanh
          dropout: 0.25
        params:
          units: {type: grid, values: [16, 32]}
          batch_size: {type: choice, values: [32, 64]}
          l2: {type: uniform, low: 0.0, high: 0.01}
          learning_rate: {type: loguniform, low: 1.0e-4, high: 1.0e-1}
          epochs: {type: int, low: 5, high: 20}
          lr_decay_epochs: {type: randint, low: 2, high: 64, log: true}
          optimizer: {type: constant, value: sgd}
        """,
        tmp_path,
    )
    p = spec.params
    assert p["hidden_layers"] == Constant(value=2)
    assert p["activation"] == Constant(value="tanh")
    assert p["dropout"] == Constant(value=0.25)
    assert p["optimizer"] == Constant(value="sgd")
    assert isinstance(p["units"], Grid) and p["units"].values == [16, 32] and p["units"].is_grid
    assert isinstance(p["batch_size"], Choice) and not p["batch_size"].is_grid
    assert isinstance(p["l2"], Uniform) and (p["l2"].low, p["l2"].high) == (0.0, 0.01)
    assert isinstance(p["learning_rate"], LogUniform)
    assert isinstance(p["epochs"], IntRange) and (p["epochs"].low, p["epochs"].high, p["epochs"].log) == (5, 20, False)
    assert isinstance(p["lr_decay_epochs"], IntRange) and p["lr_decay_epochs"].log
    assert set(spec.searched) == {"units", "batch_size", "l2", "learning_rate", "epochs", "lr_decay_epochs"}


def test_integer_written_as_a_whole_float_is_accepted_as_int():
    spec = parse_spec({"data": {"dataset": "digits"}, "model": {"units": 32.0}})
    assert spec.params["units"].value == 32 and isinstance(spec.params["units"].value, int)


def test_conditional_parameter_parsing():
    spec = parse_spec({
        "data": {"dataset": "digits"},
        "params": {
            "optimizer": {"type": "choice", "values": ["sgd", "adam", "rmsprop"]},
            "momentum": {"type": "uniform", "low": 0.0, "high": 0.9, "when": {"optimizer": "sgd"}},
            "lr_schedule": {"type": "choice", "values": ["constant", "step", "exponential"]},
            "lr_decay_rate": {"type": "uniform", "low": 0.1, "high": 0.9,
                              "when": {"lr_schedule": ["step", "exponential"]}},
        },
    })
    p = spec.params
    assert p["momentum"].when == {"optimizer": "sgd"}
    assert p["lr_decay_rate"].when == {"lr_schedule": ["step", "exponential"]}
    assert active(p, "momentum", {"optimizer": "sgd"})
    assert not active(p, "momentum", {"optimizer": "adam"})
    assert active(p, "lr_decay_rate", {"lr_schedule": "exponential"})
    assert not active(p, "lr_decay_rate", {"lr_schedule": "constant"})
    assert active(p, "optimizer", {})  # unconditional


def test_condition_on_a_model_constant():
    spec = parse_spec({
        "data": {"dataset": "digits"},
        "model": {"optimizer": "sgd"},
        "params": {"momentum": {"type": "choice", "values": [0.5, 0.9], "when": {"optimizer": "sgd"}}},
    })
    assert active(spec.params, "momentum", {"optimizer": "sgd"})


def test_data_path_relative_to_the_spec_file(tmp_path, monkeypatch):
    (tmp_path / "specs" / "data").mkdir(parents=True)
    (tmp_path / "specs" / "data" / "t.csv").write_text("a,b,y\n1,2,0\n3,4,1\n", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # not where the spec is
    spec = _spec("data: {path: data/t.csv, target: y, task: regression}\n", tmp_path / "specs")
    assert spec.task == "regression"
    assert Path(spec.data_path()) == tmp_path / "specs" / "data" / "t.csv"
    assert (spec.metric_name, spec.mode) == ("val_loss", "min")


def test_spec_is_immutable():
    spec = parse_spec({"data": {"dataset": "digits"}, "params": {"units": {"type": "choice", "values": [8, 16]}}})
    with pytest.raises(ValidationError):
        spec.name = "other"
    with pytest.raises(ValidationError):
        spec.search.num_samples = 3
    with pytest.raises(ValidationError):
        spec.params["units"].values = [1]
    with pytest.raises(ValidationError):
        spec.data.split.train = 0.5


def test_with_overrides_returns_a_copy():
    spec = parse_spec({"data": {"dataset": "digits"}})
    other = spec.with_overrides(search=spec.search.model_copy(update={"num_samples": 3}))
    assert other.search.num_samples == 3
    assert spec.search.num_samples == 1  # nothing searched: one trial


def test_to_dict_is_json_serialisable():
    import json

    spec = load_spec(ROOT / "search_spaces" / "quickstart.yaml")
    d = json.loads(json.dumps(spec.to_dict()))
    assert d["metric"] == {"name": "val_accuracy", "mode": "max"}
    assert d["params"]["momentum"]["when"] == {"optimizer": "sgd"}


# ------------------------------------------------------------------------------------------
# bad specs: one file per case under tests/specs/bad/
# ------------------------------------------------------------------------------------------

# (file name, key path ("" when the problem is the file as a whole), phrase in the message)
BAD_CASES = [
    ("unknown_top_level_key.yaml", "trials", "unknown key; expected one of: name, description, data"),
    ("unknown_param_typo_learning_rat.yaml", "params.learning_rat", "unknown hyperparameter"),
    ("unknown_key_in_distribution.yaml", "params.learning_rate.base", "unknown key; expected one of: when, type, low, high"),
    ("unknown_key_in_data_section.yaml", "data.shuffle", "unknown key; expected one of: dataset, path, target"),
    ("unknown_key_in_metric_mapping.yaml", "metric.direction", "unknown key; expected one of: name, mode"),
    ("units_wrong_type_many.yaml", "params.units", "must be an integer, got 'many'"),
    ("uniform_low_above_high.yaml", "params.dropout.low", "must be below high"),
    ("loguniform_low_zero.yaml", "params.learning_rate.low", "must be > 0 for a log scale"),
    ("int_log_low_zero.yaml", "params.hidden_layers.low", "must be > 0 for a log scale"),
    ("choice_empty.yaml", "params.units.values", "is empty"),
    ("grid_empty.yaml", "params.batch_size.values", "is empty"),
    ("choice_duplicate_values.yaml", "params.units.values", "has duplicates"),
    ("categorical_with_uniform.yaml", "params.activation.type", "activation is categorical"),
    ("float_with_int_range.yaml", "params.dropout.type", "dropout is a float"),
    ("optimizer_unknown_adagrad.yaml", "params.optimizer.values[1]",
     "must be one of sgd, adam, rmsprop, adamw, nadam; got 'adagrad'"),
    ("bare_list_param_value.yaml", "params.units", "a list is ambiguous"),
    ("asha_grace_period_past_epochs.yaml", "scheduler.grace_period",
     "3 is more than the 2 epochs a trial trains at most"),
    ("distribution_type_is_a_list.yaml", "params.units.type", "must be one of grid, choice"),
    ("model_holds_distribution.yaml", "model.units", "put distributions under params"),
    ("param_in_model_and_params.yaml", "model.units", "set it in one place"),
    ("learning_rate_infinite.yaml", "model.learning_rate", "must be finite"),
    ("data_section_missing.yaml", "data", "required key is missing"),
    ("data_both_dataset_and_path.yaml", "data", "give exactly one of data.dataset"),
    ("data_path_missing_csv.yaml", "data.path", "does_not_exist.csv does not exist"),
    ("data_target_column_missing.yaml", "data.target", "target column 'pass' is not in"),
    ("data_task_missing_with_path.yaml", "data.task", "required with data.path"),
    ("data_builtin_with_target.yaml", "data.target", "only for data.path"),
    ("data_unknown_builtin_dataset.yaml", "data.dataset", "got 'mnist'"),
    ("split_not_summing_to_one.yaml", "data.split", "train + val + test must be 1"),
    ("metric_val_accuracy_on_diabetes.yaml", "metric.name", "for regression, got 'val_accuracy'"),
    ("metric_mode_contradicts_metric.yaml", "metric.mode", "mode must be 'min', got 'max'"),
    ("metric_test_accuracy_for_selection.yaml", "metric.name", "the test split is never used for selection"),
    ("early_stopping_monitor_wrong_task.yaml", "early_stopping.monitor", "got 'val_mae'"),
    ("python_object_tag.yaml", "", "YAML tags such as !!python/... are not allowed"),
    ("billion_laughs_anchors.yaml", "", "once aliases are expanded"),
    ("not_utf8_latin1.yaml", "", "not UTF-8"),
    ("a_directory.yaml", "", "is a directory, not a spec file"),
    ("empty_file.yaml", "", "the file is empty"),
    ("top_level_list.yaml", "", "a spec is a mapping of keys"),
    ("invalid_yaml_syntax.yaml", "", "not valid YAML at line 2"),
    ("grid_expands_past_limit.yaml", "params", "the grid expands to 12500 trials"),
    ("grid_with_tpe_search.yaml", "params.units.type", "(tpe) samples; use type: choice"),
    ("choice_with_grid_search.yaml", "params.units.type", "search.algorithm grid tries listed values only"),
    ("grid_conditional.yaml", "params.momentum.when", "a grid parameter cannot be conditional"),
    ("condition_unknown_parameter.yaml", "params.momentum.when.optimiser", "unknown hyperparameter"),
    ("condition_impossible_value.yaml", "params.momentum.when.optimizer", "'rmsprop' is not a value optimizer can take"),
    ("resources_cpu_negative.yaml", "resources.cpu", "greater than 0, got -1"),
    ("resources_gpu_fractional_above_one.yaml", "resources.gpu", "must be a whole number, got 1.5"),
    ("max_failures_negative.yaml", "max_failures", "greater than or equal to 0, got -1"),
    ("search_num_samples_zero.yaml", "search.num_samples", "greater than or equal to 1, got 0"),
    ("name_with_spaces_and_slashes.yaml", "name", "got 'my sweep/v2'"),
    ("babysit_lr_cut_not_below_one.yaml", "babysit.lr_cut", "less than 1, got 1.5"),
    ("babysit_unknown_rule.yaml", "babysit.patiense", "unknown key; expected one of: patience"),
    ("babysit_with_asha.yaml", "scheduler.type", "strategy babysit adjusts and stops its models itself"),
    ("strategy_unknown.yaml", "strategy", "'parallel' or 'babysit', got 'panda'"),
    ("duplicate_key.yaml", "params.units", "given twice (lines 4 and 6)"),
    ("deeply_nested.yaml", "", "nested more than 50 levels deep (at line 4"),
]


def test_bad_corpus_and_table_agree():
    on_disk = {p.name for p in BAD_DIR.glob("*.yaml")}
    in_table = [name for name, _key, _phrase in BAD_CASES]
    assert len(in_table) == len(set(in_table)), "a case is listed twice"
    assert on_disk == set(in_table)
    assert len(on_disk) >= 25


@pytest.mark.parametrize("fname, key, phrase", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_spec_fails_with_one_line_naming_file_and_key(fname, key, phrase, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything a bad spec might write lands here
    with pytest.raises(SpecError) as info:
        load_spec(BAD_DIR / fname)
    err = info.value
    text = str(err)
    assert "\n" not in text and "\r" not in text, text
    assert text.startswith(f"{fname}: {key}: " if key else f"{fname}: "), text
    assert phrase in text, text
    assert err.file == fname and err.key == key
    assert "Traceback" not in text


def test_python_tag_is_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError):
        load_spec(BAD_DIR / "python_object_tag.yaml")
    assert not (tmp_path / "hacked_marker.txt").exists()
    assert "os.system" in (BAD_DIR / "python_object_tag.yaml").read_text()  # the fixture still is one


def test_billion_laughs_fails_fast():
    t0 = time.perf_counter()
    with pytest.raises(SpecError):
        load_spec(BAD_DIR / "billion_laughs_anchors.yaml")
    assert time.perf_counter() - t0 < 2.0


def test_too_many_aliases_is_refused(tmp_path):
    body = "x: &x 1\nlist: [" + ", ".join(["*x"] * 150) + "]\ndata: {dataset: digits}\n"
    (tmp_path / "aliases.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(SpecError, match=r"^aliases\.yaml: 150 YAML aliases; at most 100"):
        load_spec(tmp_path / "aliases.yaml")


def test_not_utf8_fixture_really_is_not_utf8():
    raw = (BAD_DIR / "not_utf8_latin1.yaml").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_not_utf8_written_by_the_test(tmp_path):
    f = tmp_path / "utf16.yaml"
    f.write_bytes("data: {dataset: digits}\n".encode("utf-16"))
    with pytest.raises(SpecError, match=r"^utf16\.yaml: not UTF-8 text \(byte 0\)"):
        load_spec(f)


def test_missing_spec_file(tmp_path):
    with pytest.raises(SpecError) as info:
        load_spec(tmp_path / "nope.yaml")
    assert str(info.value).startswith("nope.yaml: ") and "no such file" in str(info.value)


def test_oversized_spec_file(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("data: {dataset: digits}\n" + "# padding\n" * 120_000, encoding="utf-8")
    with pytest.raises(SpecError, match=r"^big\.yaml: file is \d+ bytes"):
        load_spec(f)


def test_data_errors_are_spec_errors_with_the_file_name():
    with pytest.raises(DataError) as info:
        load_spec(BAD_DIR / "data_target_column_missing.yaml")
    assert info.value.file == "data_target_column_missing.yaml"
    assert "did you mean 'passed'" in str(info.value)


def test_grid_at_the_limit_is_accepted():
    values = list(range(1, 101))
    spec = parse_spec({
        "data": {"dataset": "digits"},
        "search": {"algorithm": "grid"},
        "params": {"units": {"type": "grid", "values": values}, "batch_size": {"type": "grid", "values": values}},
    })
    from orchestrator.decisions.space import count_trials

    assert count_trials(spec) == MAX_GRID_TRIALS


def test_random_search_counts_grid_times_samples_against_the_limit():
    doc = {
        "data": {"dataset": "digits"},
        "search": {"algorithm": "random", "num_samples": 101},
        "params": {"units": {"type": "grid", "values": list(range(1, 101))}},
    }
    with pytest.raises(SpecError, match="the grid expands to 10100 trials"):
        parse_spec(doc)


def test_parse_spec_errors_have_no_file_until_loaded():
    with pytest.raises(SpecError) as info:
        parse_spec({"data": {"dataset": "digits"}, "params": {"units": "many"}})
    assert info.value.file is None
    assert str(info.value) == "params.units: must be an integer, got 'many'"


@pytest.mark.parametrize(
    "doc, key",
    [
        ({"data": {"dataset": "digits"}, "metric": {"name": "val_loss", "mode": "up"}}, "metric.mode"),
        ({"data": {"dataset": "digits"}, "search": {"algorithm": "bayes"}}, "search.algorithm"),
        ({"data": {"dataset": "digits"}, "scheduler": {"type": "asha", "grace": 1}}, "scheduler.grace"),
        ({"data": {"dataset": "digits", "split": {"train": 0.7, "val": 0.2, "tst": 0.1}}}, "data.split.tst"),
        ({"data": {"dataset": "digits"}, "params": {"units": {"type": "choice", "values": 5}}}, "params.units.values"),
        ({"data": {"dataset": "digits"}, "params": {"units": {"values": [1, 2]}}}, "params.units.type"),
        ({"data": {"dataset": "digits"}, "params": {"units": {"type": "normal"}}}, "params.units.type"),
        ({"data": {"dataset": "digits"}, "params": {"units": {"type": "int", "low": 1.5, "high": 4}}},
         "params.units.low"),
        ({"data": {"dataset": "digits"}, "params": {"dropout": 1.0}}, "params.dropout"),
        ({"data": {"dataset": "digits"}, "params": {"momentum": {"type": "uniform", "low": 0.0, "high": 0.5,
                                                                 "when": {"dropout": 0.3}}}},
         "params.momentum.when.dropout"),
        ({"data": {"dataset": "digits"}, 1: 2}, "1"),
    ],
)
def test_more_key_paths(doc, key):
    with pytest.raises(SpecError) as info:
        parse_spec(doc)
    assert info.value.key == key, str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_key_hint_lists_the_section_fields_not_the_top_level():
    with pytest.raises(SpecError) as info:
        parse_spec({"data": {"dataset": "digits"}, "search": {"algo": "grid"}})
    assert str(info.value) == "search.algo: unknown key; expected one of: algorithm, num_samples, seed"


def test_spec_modules_import_neither_ray_nor_tensorflow():
    code = (
        "import orchestrator.spec, orchestrator.decisions.space, orchestrator.cli, sys;"
        "orchestrator.spec.load_spec(sys.argv[1]);"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'tensorflow', 'keras'));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code, str(ROOT / "search_spaces" / "quickstart.yaml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_strategy_defaults_to_parallel_with_default_babysit_rules(tmp_path):
    spec = _spec("data: {dataset: digits}\n", tmp_path)
    assert spec.strategy == "parallel"
    assert spec.babysit.lr_cut < 1 < spec.babysit.lr_raise
    assert 0 < spec.babysit.lr_decay < 1


def test_babysit_rules_are_read_and_survive_run_json(tmp_path):
    spec = _spec("""
        data: {dataset: digits}
        strategy: babysit
        babysit: {patience: 5, lr_cut: 0.1, max_models: 3}
        """, tmp_path)
    assert spec.strategy == "babysit"
    assert (spec.babysit.patience, spec.babysit.lr_cut, spec.babysit.max_models) == (5, 0.1, 3)
    again = SweepSpec.model_validate(spec.to_dict())
    assert again.strategy == "babysit" and again.babysit == spec.babysit
    # a run.json written before strategies existed still reads back (as a parallel sweep)
    old = spec.to_dict()
    del old["strategy"], old["babysit"]
    assert SweepSpec.model_validate(old).strategy == "parallel"
