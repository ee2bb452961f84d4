"""The YAML reading rules beyond ``safe_load``: keys given twice, deep nesting, line breaks in keys.

Each is one line naming the file (and the key path where there is one), read without building
anything deep. The corpus cases (tests/specs/bad/duplicate_key.yaml, deeply_nested.yaml) are in
test_spec.py's BAD_CASES; these vary them. No Ray, no TensorFlow.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from orchestrator.errors import SpecError
from orchestrator.spec import MAX_YAML_DEPTH, load_spec, parse_spec
from orchestrator.spec.loading import read_yaml


def _load(tmp_path: Path, text: str, name: str = "bad.yaml"):
    f = tmp_path / name
    f.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_spec(f)


def _error(tmp_path: Path, text: str, name: str = "bad.yaml") -> SpecError:
    with pytest.raises(SpecError) as info:
        _load(tmp_path, text, name)
    assert len(str(info.value).splitlines()) == 1, str(info.value)
    return info.value


# ------------------------------------------------------------------------------------------
# a key given twice
# ------------------------------------------------------------------------------------------


def test_a_key_given_twice_names_the_key_path_and_both_lines(tmp_path):
    err = _error(tmp_path, """\
        data: {dataset: digits}
        params:
          units: 32

          learning_rate: 0.01
          batch_size: 64
          activation: relu
          dropout: 0.1
          units: 64
        """)
    assert str(err) == "bad.yaml: params.units: given twice (lines 3 and 9)"
    assert (err.file, err.key) == ("bad.yaml", "params.units")


@pytest.mark.parametrize("text, key, lines", [
    ("data: {dataset: digits}\ndata: {dataset: exam}\n", "data", (1, 2)),
    ("data: {dataset: digits, dataset: exam}\n", "data.dataset", (1, 1)),
    ("data: {dataset: digits}\nparams:\n  optimizer: {type: choice, values: [sgd], type: grid}\n",
     "params.optimizer.type", (3, 3)),
    ("data: {dataset: digits}\nstoppers:\n  plateau: {patience: 2}\n  plateau: {patience: 3}\n",
     "stoppers.plateau", (3, 4)),
    # in a list: the position is part of the path
    ("data: {dataset: digits}\nx:\n  - {a: 1}\n  - {b: 1, b: 2}\n", "x[1].b", (4, 4)),
    # the same key however it is written: quoted, or as another spelling of the same number
    ("data: {dataset: digits}\n\"seed\": 1\nseed: 2\n", "seed", (2, 3)),
    ("data: {dataset: digits}\nmodel: {1: a, 0x1: b}\n", "model.1", (2, 2)),
])
def test_duplicates_anywhere_are_refused(tmp_path, text, key, lines):
    err = _error(tmp_path, text)
    assert err.key == key
    assert err.message == f"given twice (lines {lines[0]} and {lines[1]})"


def test_merge_keys_may_be_overridden_as_yaml_intends():
    # `<<: *base` then the same key: the explicit one wins, by design; that is not a duplicate
    doc = read_yaml("base: &b {units: 32, dropout: 0.1}\nmodel:\n  <<: *b\n  units: 64\n")
    assert doc["model"] == {"units": 64, "dropout": 0.1}


def test_the_same_key_in_two_mappings_is_not_a_duplicate(tmp_path):
    spec = _load(tmp_path, """\
        data: {dataset: digits, seed: 1}
        search: {seed: 1}
        params:
          momentum: {type: uniform, low: 0.0, high: 0.9, when: {optimizer: sgd}}
          optimizer: {type: choice, values: [sgd, adam]}
        """, "ok.yaml")
    assert spec.data.seed == 1 and spec.search.seed == 1


# ------------------------------------------------------------------------------------------
# deep nesting
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nest", [
    lambda n: "[" * n + "1" + "]" * n,          # flow sequences
    lambda n: "{a: " * n + "1" + "}" * n,       # flow mappings
    lambda n: "[" * n,                          # never closed
    lambda n: "- " * n + "1",                   # block sequences on one line
])
def test_ten_thousand_levels_are_one_line_and_fast(tmp_path, nest):
    t0 = time.perf_counter()
    err = _error(tmp_path, "data: {dataset: digits}\nmodel:\n  units:\n    " + nest(10_000) + "\n", "deep.yaml")
    assert time.perf_counter() - t0 < 5.0
    assert str(err).startswith(f"deep.yaml: values are nested more than {MAX_YAML_DEPTH} levels deep (at line 4")
    assert err.key == ""


def test_a_whole_document_nested_deep_is_refused_the_same_way(tmp_path):
    err = _error(tmp_path, "- " * 10_000 + "x\n")
    assert f"nested more than {MAX_YAML_DEPTH} levels deep (at line 1" in str(err)


def test_nesting_up_to_the_limit_is_read():
    assert read_yaml("[" * MAX_YAML_DEPTH + "1" + "]" * MAX_YAML_DEPTH) is not None
    with pytest.raises(SpecError, match="nested more than"):
        read_yaml("[" * (MAX_YAML_DEPTH + 1) + "1" + "]" * (MAX_YAML_DEPTH + 1))


def test_nesting_built_through_aliases_is_refused_too():
    # each anchor nests the previous one 40 levels deeper: few events deep, very deep once expanded
    lines = ["a0: &a0 1"]
    for i in range(1, 5):
        lines.append(f"a{i}: &a{i} " + "[" * 40 + f"*a{i - 1}" + "]" * 40)
    with pytest.raises(SpecError, match=f"nested more than {MAX_YAML_DEPTH} levels deep once aliases are expanded"):
        read_yaml("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------
# one line, whatever the user wrote
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["learning\nrate", "a\rb", "a\u2028b", "a\x85b"])
def test_a_line_break_in_a_key_is_escaped_not_printed(key):
    with pytest.raises(SpecError) as info:
        parse_spec({"data": {"dataset": "digits"}, "params": {key: 1}})
    text = str(info.value)
    assert len(text.splitlines()) == 1, text
    assert "unknown hyperparameter" in text
