"""Property: whatever a spec file holds, loading it gives a SweepSpec or a one-line SpecError.

Generated documents mix the spec's own keys and plausible values (so many get deep into the
checks) with random structure, text and bytes, then are sometimes damaged the way files are
(a line given twice, a cut, brackets piled up). Anything else (a traceback, a second line)
fails the test with the document that caused it. No Ray, no TensorFlow; a few seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.errors import SpecError
from orchestrator.spec import HYPERPARAMETERS, SweepSpec, load_spec
from orchestrator.spec.sections import (BabysitSpec, DataSpec, RawSpec, ResourcesSpec, SchedulerSpec, SearchSpec,
                                        SplitSpec, StoppersSpec)

# No stored examples: nothing is written to the working tree. Random on a developer's machine (each
# run explores new documents); the same documents on every CI run, so a run of CI is reproducible.
FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=os.environ.get("CI") == "true",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

SECTION_KEYS = sorted({*RawSpec.model_fields, *DataSpec.model_fields, *SplitSpec.model_fields,
                       *SearchSpec.model_fields, *SchedulerSpec.model_fields, *StoppersSpec.model_fields,
                       *ResourcesSpec.model_fields, *BabysitSpec.model_fields,
                       "type", "low", "high", "values", "when", "log", "value", "name", "mode"})
WORDS = ["digits", "diabetes", "exam", "classification", "regression", "grid", "choice", "uniform",
         "loguniform", "int", "randint", "constant", "random", "tpe", "asha", "hyperband", "median", "pbt",
         "none", "auto", "val_loss", "val_accuracy", "val_mae", "min", "max", "sgd", "adam", "relu",
         "parallel", "babysit", "1e-3", "data.csv", ""]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 200), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1),
    st.sampled_from(WORDS), st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(SECTION_KEYS + list(HYPERPARAMETERS)), st.text(max_size=8), st.integers(-2, 2))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=16)
distributions = st.fixed_dictionaries(
    {"type": st.sampled_from(["grid", "choice", "uniform", "loguniform", "int", "randint", "constant", "normal"])},
    optional={"low": scalars, "high": scalars, "values": st.lists(scalars, max_size=5), "log": st.booleans(),
              "value": scalars,
              "when": st.dictionaries(st.sampled_from(list(HYPERPARAMETERS)), scalars | st.lists(scalars, max_size=3),
                                      max_size=2)},
)
hyperparameters = st.dictionaries(st.sampled_from(list(HYPERPARAMETERS)) | st.text(max_size=6),
                                  scalars | distributions | values, max_size=5)


def section(names: list[str]) -> st.SearchStrategy:
    """A mapping of a section's own keys (and now and then another) to plausible values."""
    return st.dictionaries(st.sampled_from(names) | keys, scalars | values, max_size=4)


# Values a spec would plausibly hold, so that many documents get past the structure checks to the
# hyperparameters, conditions, search, scheduler and strategy checks.
numbers = st.sampled_from([0, 1, 2, 3, 8, 64, 0.0, 1e-4, 0.01, 0.3, 0.5, 1.0, -1, 1e9]) | st.floats(-1, 2) \
    | st.integers(-1, 100)
names = st.sampled_from(["sgd", "adam", "rmsprop", "adamw", "relu", "tanh", "step", "constant", "exponential"])
plausible_distributions = st.fixed_dictionaries(
    {"type": st.sampled_from(["grid", "choice", "uniform", "loguniform", "int", "randint"])},
    optional={"low": numbers, "high": numbers, "values": st.lists(numbers | names, max_size=4), "log": st.booleans(),
              "when": st.dictionaries(st.sampled_from(["optimizer", "lr_schedule", "units", "learning_rate"]),
                                      names | numbers | st.lists(names, max_size=2), max_size=1)},
)
plausible_params = st.dictionaries(st.sampled_from(list(HYPERPARAMETERS)), numbers | names | plausible_distributions,
                                   max_size=6)
splits = st.fixed_dictionaries({"train": st.sampled_from([0.7, 0.6, 1.0]), "val": st.sampled_from([0.2, 0.3]),
                                "test": st.sampled_from([0.1, 0.0])}) | section(list(SplitSpec.model_fields))
builtin_data = st.fixed_dictionaries({"dataset": st.sampled_from(["digits", "diabetes", "exam"])},
                                    optional={"split": splits, "samples": st.integers(0, 500),
                                              "stratify": st.booleans(),
                                              "missing": st.sampled_from(["error", "impute", "drop"])})
spec_like = st.fixed_dictionaries(
    {"data": builtin_data | builtin_data | section(list(DataSpec.model_fields))},
    optional={
        "params": plausible_params | plausible_params | hyperparameters,
        "model": st.dictionaries(st.sampled_from(list(HYPERPARAMETERS)), numbers | names, max_size=3) | hyperparameters,
        "metric": st.sampled_from(WORDS) | section(["name", "mode"]),
        "search": st.fixed_dictionaries({}, optional={"algorithm": st.sampled_from(["grid", "random", "tpe"]),
                                                      "num_samples": st.integers(0, 200)})
        | section(list(SearchSpec.model_fields)),
        "scheduler": st.fixed_dictionaries({}, optional={
            "type": st.sampled_from(["none", "asha", "hyperband", "median", "pbt"]),
            "mutations": st.lists(st.sampled_from(list(HYPERPARAMETERS)), max_size=3),
            "grace_period": st.integers(0, 4)}) | section(list(SchedulerSpec.model_fields)),
        "resources": section(list(ResourcesSpec.model_fields)),
        "babysit": section(list(BabysitSpec.model_fields)),
        "stoppers": section(list(StoppersSpec.model_fields)),
        "early_stopping": st.fixed_dictionaries({}, optional={"monitor": st.sampled_from(WORDS)}) | scalars,
        "strategy": st.sampled_from(["parallel", "babysit", "panda"]),
        "name": st.one_of(st.just("fuzz"), st.just("fuzz"), st.just("my sweep/v2"), scalars),
        "max_failures": st.integers(-1, 3) | scalars,
    },
)
# Right where a random document fails first (data, name), plausible elsewhere: the later checks.
searches = st.fixed_dictionaries({}, optional={"algorithm": st.sampled_from(["grid", "random", "tpe"]),
                                              "num_samples": st.integers(1, 200)})
later_checks = st.fixed_dictionaries(
    {"data": st.sampled_from([{"dataset": "digits"}, {"dataset": "diabetes"}]), "params": plausible_params},
    optional={"model": st.dictionaries(st.sampled_from(list(HYPERPARAMETERS)), numbers | names, max_size=3),
              "search": searches,
              "scheduler": st.fixed_dictionaries({"type": st.sampled_from(["none", "asha", "pbt"])}, optional={
                  "mutations": st.lists(st.sampled_from(list(HYPERPARAMETERS)), max_size=3)}),
              "metric": st.sampled_from(["val_loss", "val_accuracy", "val_mae", "test_accuracy"]),
              "strategy": st.sampled_from(["parallel", "babysit"])},
)
# Mostly spec-shaped (to get past the first checks), now and then anything at all.
documents = st.one_of(spec_like, later_checks, later_checks, values)


@st.composite
def damaged(draw: st.DrawFn, text: str) -> str:
    """``text`` as it is, or with a line given twice, cut short, or under a pile of brackets."""
    lines = text.splitlines(keepends=True) or [""]
    how = draw(st.sampled_from(["as is", "as is", "as is", "line twice", "cut", "brackets", "anchors"]))
    if how == "line twice":
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(draw(st.integers(0, len(lines))), lines[i])
    elif how == "cut":
        return text[: draw(st.integers(0, len(text)))]
    elif how == "brackets":
        depth = draw(st.sampled_from([2, 50, 51, 200]))  # 10,000: tests/specs/bad/deeply_nested.yaml
        return "[" * depth + text.replace("\n", " ") + "]" * draw(st.sampled_from([0, depth]))
    elif how == "anchors":  # an anchored section used again through an alias
        return "x: &a " + yaml.safe_dump(draw(values), default_flow_style=True) + "y: [*a, *a]\n" + text
    return "".join(lines)


def _outcome(path: Path) -> None:
    try:
        spec = load_spec(path)
    except SpecError as e:
        text = str(e)
        assert len(text.splitlines()) == 1, text
        assert text.startswith(f"{path.name}: "), text
    else:
        assert isinstance(spec, SweepSpec)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@FUZZ
@given(doc=documents, data=st.data())
def test_generated_documents_load_or_fail_with_one_line(doc, data, workdir):
    text = data.draw(damaged(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)))
    path = workdir / "generated.yaml"
    path.write_text(text, encoding="utf-8")
    _outcome(path)


@FUZZ
@given(raw=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8")))
def test_arbitrary_bytes_load_or_fail_with_one_line(raw, workdir):
    path = workdir / "raw.yaml"
    path.write_bytes(raw)
    _outcome(path)
