"""What a sweep optimises, as a spec writes it: objectives, constraints, select, the costs, the default search.

Good specs resolve (modes from the names, the metric equal to the first objective, the select
rule's defaults) and survive run.json; every bad one is one line through ``sweep validate`` and
``sweep run`` naming the file and the key, exit 2, nothing started. The parameter counts of the
built-in families (``decisions.sizes``) are checked on hand-counted models and against every
configuration of small spaces; Keras' own count is the integration test's. No Ray, no TensorFlow.
"""

from __future__ import annotations

import itertools
import json
import math
import textwrap
from pathlib import Path

import pytest

import orchestrator.execution
import orchestrator.spec.sections
from orchestrator.cli import main
from orchestrator.decisions.sizes import cnn_param_count, mlp_param_count, param_count, param_range
from orchestrator.decisions.space import count_trials
from orchestrator.errors import SpecError
from orchestrator.spec import (COSTS, Bound, Objective, SelectSpec, SweepSpec, default_algorithm, default_mode,
                               is_cost, load_spec, parse_spec)
from tests.helpers import run_cli

DIGITS = {"data": {"dataset": "digits"}}


def _write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    f = tmp_path / name
    f.write_text(textwrap.dedent(text), encoding="utf-8")
    return f


@pytest.fixture
def no_runner(monkeypatch):
    """``sweep run`` must stop before the runner: calling it fails the test."""
    calls: list[str] = []

    def run_sweep(*a, **k):
        calls.append("run")
        raise AssertionError("run_sweep was called")

    monkeypatch.setattr(orchestrator.execution, "run_sweep", run_sweep)
    return calls


# ------------------------------------------------------------------------------------------
# good specs
# ------------------------------------------------------------------------------------------


def test_objectives_resolve_with_modes_from_their_names_and_the_metric_is_the_first():
    spec = parse_spec({**DIGITS, "objectives": [{"name": "val_accuracy"}, {"name": "params"},
                                                {"name": "latency_ms", "mode": "min"}]})
    assert spec.objectives == (Objective(name="val_accuracy", mode="max"), Objective(name="params", mode="min"),
                               Objective(name="latency_ms", mode="min"))
    assert (spec.metric_name, spec.mode) == ("val_accuracy", "max")
    assert spec.objective_names == ("val_accuracy", "params", "latency_ms")
    assert spec.objective_modes == ("max", "min", "min")
    assert spec.objective_columns == ("objective", "objective_1", "objective_2")
    assert spec.multi_objective
    assert spec.select == SelectSpec(rule="best") and spec.constraints == {}


def test_without_objectives_the_metric_is_the_one_objective():
    spec = parse_spec({**DIGITS, "metric": "val_accuracy"})
    assert spec.objectives == (Objective(name="val_accuracy", mode="max"),)
    assert not spec.multi_objective and spec.objective_columns == ("objective",)
    assert parse_spec(DIGITS).objectives == (Objective(name="val_loss", mode="min"),)


def test_objectives_may_be_plain_names_and_the_metric_may_repeat_the_first():
    spec = parse_spec({**DIGITS, "metric": {"name": "val_loss"}, "objectives": ["val_loss", "train_seconds"]})
    assert spec.objective_names == ("val_loss", "train_seconds") and spec.objective_modes == ("min", "min")


@pytest.mark.parametrize("name, mode", [("val_accuracy", "max"), ("val_auc", "max"), ("train_precision", "max"),
                                        ("val_recall", "max"), ("val_f1_score", "max"), ("val_loss", "min"),
                                        ("val_mae", "min"), ("val_my_metric", "min"), *((c, "min") for c in COSTS)])
def test_default_mode_from_the_name(name, mode):
    assert default_mode(name) == mode


def test_costs_are_the_contract_names():
    assert COSTS == ("params", "params_total", "model_bytes", "latency_ms", "latency_batch_ms", "train_seconds")
    assert is_cost("latency_batch_ms") and not is_cost("val_loss")


def test_a_builder_may_name_any_metric_its_model_reports_with_the_mode_it_says():
    spec = parse_spec({**DIGITS, "model": {"builder": "models.py:build"},
                       "objectives": [{"name": "val_auc"}, {"name": "val_my_score", "mode": "max"}, "params"],
                       "constraints": {"train_loss": {"max": 2}}}, base_dir=".")
    assert spec.objective_modes == ("max", "max", "min") and spec.metric_name == "val_auc"
    # what the model check asks the built model for (costs need no metric)
    assert spec.metric_keys() == [("objectives[1].name", "val_my_score"), ("constraints.train_loss", "train_loss")]


def test_constraints_split_into_those_known_when_the_model_is_built_and_the_rest():
    spec = parse_spec({**DIGITS, "constraints": {"params": {"max": 2e5}, "latency_ms": {"max": 2.0},
                                                 "val_loss": {"max": 0.5}, "train_seconds": {"max": 60},
                                                 "model_bytes": {"min": 10, "max": "1e6"}}})
    assert spec.constraints["params"] == Bound(max=200000.0)
    assert spec.constraints["model_bytes"] == Bound(min=10.0, max=1e6)  # YAML 1.1 reads 1e6 as a string
    assert set(spec.build_constraints) == {"params", "latency_ms", "model_bytes"}
    assert set(spec.record_constraints) == {"val_loss", "train_seconds"}
    assert not spec.multi_objective  # constraints work with one objective


def test_a_bound_says_whether_and_how_far_a_value_breaks_it():
    b = Bound(max=2.0, min=0.5)
    assert b.allows(2.0) and b.allows(0.5) and not b.allows(2.5) and not b.allows(math.nan)
    assert (b.excess(1.0), b.excess(3.0), b.excess(0.25), b.excess(None)) == (0.0, 1.0, 0.25, math.inf)
    assert b.text("latency_ms") == "0.5 <= latency_ms <= 2" and Bound(max=5).text("params") == "params <= 5"


@pytest.mark.parametrize("objectives, select, expected", [
    (["val_accuracy", "params"], {"rule": "within"},
     SelectSpec(rule="within", of="val_accuracy", tolerance=0.01, then="params")),
    (["val_accuracy"], {"rule": "within", "tolerance": 0.02},
     SelectSpec(rule="within", of="val_accuracy", tolerance=0.02, then="params")),
    (["val_accuracy", "latency_ms"], {"rule": "within", "of": "val_loss", "then": "model_bytes", "tolerance": 0},
     SelectSpec(rule="within", of="val_loss", tolerance=0.0, then="model_bytes")),
    (["val_accuracy", "params"], {"rule": "knee"}, SelectSpec(rule="knee")),
    (["val_accuracy", "params"], {}, SelectSpec(rule="best")),
])
def test_select_rules_resolve_their_defaults(objectives, select, expected):
    assert parse_spec({**DIGITS, "objectives": objectives, "select": select}).select == expected


def test_objectives_constraints_and_select_survive_run_json():
    spec = parse_spec({**DIGITS, "objectives": ["val_accuracy", "params"], "constraints": {"val_loss": {"max": 1}},
                       "select": {"rule": "within", "tolerance": 0.05}})
    d = json.loads(json.dumps(spec.to_dict()))
    assert d["objectives"] == [{"name": "val_accuracy", "mode": "max"}, {"name": "params", "mode": "min"}]
    assert d["constraints"] == {"val_loss": {"max": 1.0, "min": None}}
    assert SweepSpec.model_validate(d) == spec


def test_a_run_json_from_before_objectives_reads_the_metric_as_the_one_objective():
    d = parse_spec({**DIGITS, "metric": "val_accuracy"}).to_dict()
    for key in ("objectives", "constraints", "select"):
        del d[key]
    old = SweepSpec.model_validate(d)
    assert old.objectives == (Objective(name="val_accuracy", mode="max"),)
    assert old.constraints == {} and old.select.rule == "best"


# ------------------------------------------------------------------------------------------
# bad specs: one line naming the file and the key, exit 2, nothing started
# ------------------------------------------------------------------------------------------

BAD = [
    ("objectives: [val_accuracy, flops]", "objectives[1].name", "must be a cost (params, params_total"),
    ("objectives: [val_accuracy, val_auc]", "objectives[1].name", "or one of val_loss, val_accuracy, train_loss, "
                                                                    "train_accuracy for classification, got 'val_auc'"),
    ("objectives: [val_accuracy, params, latency_ms, model_bytes]", "objectives", "1 to 3 objectives"),
    ("objectives: []", "objectives", "1 to 3 objectives"),
    ("objectives: [params, val_accuracy]", "objectives[0].name", "must be a validation metric, got the cost 'params'"),
    ("objectives: [train_loss, params]", "objectives[0].name", "must be one of val_loss, val_accuracy"),
    ("objectives: [val_accuracy, test_accuracy]", "objectives[1].name", "the test split is never used"),
    ("objectives: [val_accuracy, val_accuracy]", "objectives[1].name", "already an objective"),
    ("objectives: [val_accuracy, {name: params, mode: max}]", "objectives[1].mode",
     "params is better when it is lower: mode must be 'min', got 'max'"),
    ("objectives: [val_accuracy, {name: params, direction: min}]", "objectives[1].direction", "unknown key"),
    ("metric: val_loss\nobjectives: [val_accuracy, params]", "metric", "the first objective is val_accuracy"),
    ("constraints: {flops: {max: 5}}", "constraints.flops", "must be a cost (params"),
    ("constraints: {params: {}}", "constraints.params", "give max and/or min"),
    ("constraints: {params: {min: 10, max: 5}}", "constraints.params.min", "must be at most max (5), got 10"),
    ("constraints: {params: 5}", "constraints.params", "valid dictionary"),
    ("constraints: {params: {maximum: 5}}", "constraints.params.maximum", "unknown key; expected one of: max, min"),
    ("constraints: {latency_ms: {max: .inf}}", "constraints.latency_ms.max", "finite number"),
    ("select: {rule: pareto}", "select.rule", "'best', 'within' or 'knee'"),
    ("select: {rule: within, tolerance: -0.1}", "select.tolerance", "greater than or equal to 0"),
    ("select: {rule: within, then: smallness}", "select.then", "must be a cost (params"),
    ("select: {rule: within, of: val_auc}", "select.of", "got 'val_auc'"),
    ("metric: val_accuracy\nselect: {rule: within, then: val_accuracy}", "select.then", "must differ from select.of"),
    ("select: {rule: best, then: params}", "select.then", "only with rule: within"),
    ("select: {rule: knee}", "select.rule", "needs two or three objectives"),
    ("objectives: [val_accuracy, params]\nstrategy: babysit", "strategy", "babysit follows one metric"),
    ("objectives: [val_accuracy, params]\nscheduler: {type: pbt}", "scheduler.type", "pbt ranks trials by one"),
    ("objectives: [val_accuracy, params]\nscheduler: {type: hyperband}", "scheduler.type", "use asha"),
    ("objectives: [val_accuracy, params]\nscheduler: {type: median}", "scheduler.type", "use asha"),
]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("text, key, phrase", BAD, ids=[b[1] + ":" + b[2][:20] for b in BAD])
def test_a_bad_objective_constraint_or_rule_is_one_line_exit_2_nothing_started(command, text, key, phrase, tmp_path,
                                                                              capsys, no_runner, monkeypatch):
    monkeypatch.chdir(tmp_path)
    f = _write(tmp_path, "data: {dataset: digits}\nparams: {learning_rate: {type: loguniform, low: 0.001, "
                         "high: 0.1}}\n" + text + "\n")
    out = tmp_path / "out"
    argv = [command, str(f)] + (["--out", str(out)] if command == "run" else [])
    assert main(argv) == 2
    stdout, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"sweep: error: s.yaml: {key}: "), lines[0]
    assert phrase in lines[0], lines[0]
    assert stdout == "" and no_runner == [] and not out.exists()


def test_a_builder_metric_name_must_have_a_prefix():
    with pytest.raises(SpecError) as raised:
        parse_spec({**DIGITS, "model": {"builder": "m.py:f"}, "objectives": ["val_auc", "auc"]})
    assert raised.value.key == "objectives[1].name" and "val_<name> / train_<name>" in raised.value.message


# ------------------------------------------------------------------------------------------
# sweep validate says what the sweep optimises
# ------------------------------------------------------------------------------------------


def test_validate_prints_the_objectives_constraints_and_rule(tmp_path, capsys):
    f = _write(tmp_path, """\
        data: {dataset: digits}
        metric: val_accuracy
        objectives: [{name: val_accuracy}, {name: params}]
        constraints: {params: {max: 200000}, val_loss: {max: 0.5}}
        select: {rule: within, tolerance: 0.02}
        params: {units: {type: choice, values: [16, 64]}}
        """)
    assert main(["validate", str(f)]) == 0
    out = capsys.readouterr().out
    assert ("objectives val_accuracy (max), params (min); constraints params <= 200000, val_loss <= 0.5; "
            "select the lowest params within 0.02 of the best val_accuracy; scheduler none") in out


def test_validate_of_a_one_metric_spec_says_the_metric_as_before(tmp_path, capsys):
    f = _write(tmp_path, "data: {dataset: digits}\nmetric: val_accuracy\n")
    assert main(["validate", str(f)]) == 0
    assert "random search over nothing; metric val_accuracy (max); scheduler none;" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------
# parameter counts of the built-in families, and a constraint no model of the space keeps
# ------------------------------------------------------------------------------------------

MLP_HP = {"hidden_layers": 1, "units": 32}
CNN_HP = {"conv_layers": 2, "filters": 4, "kernel_size": 3, "pooling": "max", "dense_units": 16}


def test_mlp_param_count_by_hand():
    assert mlp_param_count(MLP_HP, (64,), 10) == (64 * 32 + 32) + (32 * 10 + 10)
    assert mlp_param_count({"hidden_layers": 0, "units": 32}, (8, 8, 1), 10) == 64 * 10 + 10  # flattened
    assert mlp_param_count({"hidden_layers": 2, "units": 5}, (3,), 0) == (3 * 5 + 5) + (5 * 5 + 5) + (5 + 1)


def test_cnn_param_count_by_hand():
    # 8x8x1 -> conv 4 (40) -> pool 4x4 -> conv 4 (148) -> pool 2x2 -> flatten 16 -> dense 16 (272) -> 10 (170)
    assert cnn_param_count(CNN_HP, (8, 8, 1), 10) == 40 + 148 + 272 + 170
    # no pooling: the flattened map stays 8x8x4 = 256
    assert cnn_param_count({**CNN_HP, "pooling": "none", "dense_units": 0}, (8, 8, 1), 10) == 40 + 148 + 2570
    # a sequence (20 steps, 2 channels): Conv1D, global pooling over the steps, one linear output
    assert cnn_param_count({**CNN_HP, "conv_layers": 1, "filters": 8, "dense_units": 0}, (20, 2), 0) == \
        (2 * 3 * 8 + 8) + (8 + 1)
    # a side of 1 is never pooled: 1x8 image, three pooled blocks leave 1x1
    hp = {**CNN_HP, "conv_layers": 3, "dense_units": 0}
    assert cnn_param_count(hp, (1, 8, 1), 3) == (1 * 9 * 4 + 4) + 2 * (4 * 9 * 4 + 4) + (4 * 3 + 3)
    assert param_count(CNN_HP, (8, 8, 1), 10, family="cnn") == cnn_param_count(CNN_HP, (8, 8, 1), 10)
    with pytest.raises(ValueError, match="steps, channels"):
        cnn_param_count(CNN_HP, (64,), 10)


@pytest.mark.parametrize("family, space, shape, n_classes", [
    ("mlp", {"hidden_layers": {"type": "int", "low": 0, "high": 3}, "units": {"type": "int", "low": 1, "high": 40}},
     (64,), 10),
    ("mlp", {"hidden_layers": {"type": "choice", "values": [0, 2]}, "units": {"type": "choice", "values": [4, 9, 300]}},
     (5,), 0),
    ("cnn", {"conv_layers": {"type": "int", "low": 1, "high": 4}, "filters": {"type": "choice", "values": [2, 3, 8]},
             "kernel_size": {"type": "int", "low": 1, "high": 4}, "pooling": {"type": "choice",
                                                                              "values": ["max", "none"]},
             "dense_units": {"type": "int", "low": 0, "high": 6}}, (9, 9, 2), 4),
    ("cnn", {"conv_layers": {"type": "grid", "values": [1, 3]}, "filters": {"type": "int", "low": 1, "high": 5},
             "dense_units": {"type": "choice", "values": [0, 3, 7]}, "pooling": {"type": "choice",
                                                                                   "values": ["avg", "none"]}},
     (12, 3), 0),
])
def test_param_range_is_the_min_and_max_over_every_configuration(family, space, shape, n_classes):
    spec = parse_spec({**DIGITS, "model": {"family": family}, "params": space})
    names = list(space)
    values = []
    for n in names:
        p = spec.params[n]
        values.append(list(range(p.low, p.high + 1)) if hasattr(p, "low") else list(p.values))
    base = {n: (p.value if hasattr(p, "value") else None) for n, p in spec.params.items()}
    counts = [param_count({**base, **dict(zip(names, combo))}, shape, n_classes, family=family)
              for combo in itertools.product(*values)]
    (low, _), (high, _) = param_range(spec.params, family, shape, n_classes)
    assert (low, high) == (min(counts), max(counts))


MLP_SPACE = """\
data: {dataset: digits}
params:
  hidden_layers: {type: choice, values: [1, 2]}
  units: {type: choice, values: [32, 64]}
"""


@pytest.mark.parametrize("bound, phrase", [
    ("{max: 1000}", "every configuration breaks max 1000: the smallest model of the space (units=32, "
                    "hidden_layers=1) has 2,410 parameters on this data"),
    ("{min: 100000}", "every configuration breaks min 100000: the largest model of the space (units=64, "
                      "hidden_layers=2) has 8,970 parameters on this data"),
])
def test_a_params_constraint_no_model_of_the_space_keeps_is_refused_by_validate(bound, phrase, tmp_path, capsys):
    f = _write(tmp_path, MLP_SPACE + f"constraints: {{params: {bound}}}\n")
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"sweep: error: s.yaml: constraints.params: {phrase}"]


def test_a_params_constraint_some_model_keeps_passes(tmp_path, capsys):
    f = _write(tmp_path, MLP_SPACE + "constraints: {params: {max: 2410}, params_total: {min: 8970}}\n")
    assert main(["validate", str(f)]) == 0, capsys.readouterr().err


def test_a_cnn_params_constraint_is_checked_on_the_images_shape(tmp_path, capsys):
    f = _write(tmp_path, """\
        data: {dataset: digits, shape: [8, 8, 1]}
        model: {family: cnn, conv_layers: 2, filters: 4, kernel_size: 3, dense_units: 16}
        params: {pooling: {type: choice, values: [max, none]}}
        constraints: {params_total: {max: 600}}
        """)
    assert main(["validate", str(f)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "sweep: error: s.yaml: constraints.params_total: every configuration breaks max 600: the smallest model of "
        "the space (filters=4, kernel_size=3, dense_units=16, conv_layers=2, pooling=max) has 630 parameters on "
        "this data"]


def test_sweep_run_refuses_such_a_constraint_before_anything_starts(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,y\n" + "\n".join(f"{i},{i % 3},{i % 2}" for i in range(40)))
    spec = _write(tmp_path, """\
        data: {path: d.csv, target: y, task: classification}
        model: {units: 64}
        constraints: {params: {max: 100}}
        """)
    out = tmp_path / "out"
    assert run_cli("run", spec, "--out", out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["sweep: error: s.yaml: constraints.params: every configuration breaks max 100: the smallest "
                   "model of the space (units=64, hidden_layers=1) has 322 parameters on this data"]
    assert not out.exists()


# ------------------------------------------------------------------------------------------
# the search a spec gets when it names none
# ------------------------------------------------------------------------------------------

SAMPLED = {"learning_rate": {"type": "loguniform", "low": 1e-3, "high": 1e-1}}
GRID = {"units": {"type": "grid", "values": [16, 32]}}


@pytest.mark.parametrize("params, extra, expected", [
    (SAMPLED, {}, "tpe"),
    ({}, {}, "tpe"),
    (GRID, {}, "grid"),
    ({**GRID, **SAMPLED}, {}, "random"),  # a grid with sampled parameters: random samples at each point
    (SAMPLED, {"scheduler": {"type": "pbt"}}, "random"),
    (SAMPLED, {"strategy": "babysit"}, "random"),
])
def test_default_algorithm_when_switched_on(params, extra, expected, monkeypatch):
    monkeypatch.setattr(orchestrator.spec.sections, "DEFAULT_ALGORITHM_IS_TPE", True)
    spec = parse_spec({**DIGITS, "params": params, **extra})
    assert spec.search.algorithm == expected
    assert spec.to_dict()["search"]["algorithm"] == expected  # visible in run.json
    if expected == "grid":
        assert count_trials(spec) == 2  # each point once


@pytest.mark.parametrize("params", [SAMPLED, GRID, {**GRID, **SAMPLED}])
def test_default_algorithm_is_random_while_switched_off(params):
    assert orchestrator.spec.sections.DEFAULT_ALGORITHM_IS_TPE is False  # until the benchmark supports tpe
    assert parse_spec({**DIGITS, "params": params}).search.algorithm == "random"
    assert default_algorithm(parse_spec({**DIGITS, "params": params}).params) == "random"


@pytest.mark.parametrize("on", [False, True])
def test_a_written_algorithm_is_kept(on, monkeypatch):
    monkeypatch.setattr(orchestrator.spec.sections, "DEFAULT_ALGORITHM_IS_TPE", on)
    spec = parse_spec({**DIGITS, "params": SAMPLED, "search": {"algorithm": "random"}})
    assert spec.search.algorithm == "random"


def test_the_shipped_specs_keep_loading(tmp_path):
    root = Path(__file__).resolve().parents[2] / "search_spaces"
    for path in sorted(root.glob("*.yaml")):
        spec = load_spec(path)
        assert spec.objectives[0].name == spec.metric_name and spec.constraints == {}


# ------------------------------------------------------------------------------------------
# what ASHA's rungs rank
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("goals, expected", [
    ({"metric": "val_accuracy"}, (("val_accuracy", "objective", "max"),)),
    ({"objectives": ["val_accuracy", "params"]},
     (("val_accuracy", "objective", "max"), ("params", "objective_1", "min"))),
    # one objective and the within rule: its of and then, so that a rung does not stop the small
    # models the rule is looking for
    ({"metric": "val_accuracy", "select": {"rule": "within", "then": "params"}},
     (("val_accuracy", "objective", "max"), ("params", "params", "min"))),
    ({"metric": "val_loss", "select": {"rule": "within", "of": "val_accuracy", "tolerance": 0.02, "then": "latency_ms"}},
     (("val_accuracy", "val_accuracy", "max"), ("latency_ms", "latency_ms", "min"))),
    # several objectives and a within rule: the objectives, as before
    ({"objectives": ["val_accuracy", "params", "latency_ms"], "select": {"rule": "within", "then": "params"}},
     (("val_accuracy", "objective", "max"), ("params", "objective_1", "min"), ("latency_ms", "objective_2", "min"))),
    ({"metric": "val_accuracy", "select": {"rule": "best"}}, (("val_accuracy", "objective", "max"),)),
])
def test_rungs_rank_the_objectives_or_the_within_rules_two_criteria(goals, expected):
    spec = parse_spec({**DIGITS, **goals, "scheduler": {"type": "asha"}})
    assert spec.rung_criteria == expected


def test_validate_says_what_the_asha_rungs_rank(tmp_path, capsys):
    f = _write(tmp_path, """\
        data: {dataset: digits}
        metric: val_accuracy
        select: {rule: within, then: params}
        scheduler: {type: asha}
        """)
    assert main(["validate", str(f)]) == 0
    assert "scheduler asha ranking val_accuracy and params;" in capsys.readouterr().out
    g = _write(tmp_path, "data: {dataset: digits}\nmetric: val_accuracy\nscheduler: {type: asha}\n", "g.yaml")
    assert main(["validate", str(g)]) == 0
    assert "scheduler asha;" in capsys.readouterr().out
