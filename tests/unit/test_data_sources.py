"""Unit tests for the array sources of orchestrator.data: NumPy ``.npz`` files, image folders (their
cheap checks: reading the images needs TensorFlow, tests/integration/test_image_folder.py), a
user's loader function, ``data.shape``, and ``Prepared.input_shape``.

No Ray, no TensorFlow.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from orchestrator.data import ArrayData, Prepared, check_source, load_for, load_source, prepare
from orchestrator.errors import DataError, SpecError
from orchestrator.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def _xy(n: int = 60, shape: tuple[int, ...] = (4, 3), classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(10.0, 5.0, size=(n, *shape)), np.arange(n) % classes


def _npz(tmp_path: Path, name: str = "data.npz", **arrays) -> Path:
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def _error(fn, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    return info.value


LOADERS = '''
import numpy as np
import pandas as pd

CALLS = []

def arrays(n=60, as_dict=False):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5, 2)).astype("float64")
    y = np.where(np.arange(n) % 2 == 0, "even", "odd")
    return {"x": x, "y": y} if as_dict else (x, y)

def frame(n=50):
    rng = np.random.default_rng(1)
    return pd.DataFrame({"a": rng.normal(size=n), "color": rng.choice(["red", "blue"], n),
                         "label": np.arange(n) % 2})

def parts(test=True, val=True, test_rows=7):
    rng = np.random.default_rng(2)
    out = {"train": (rng.normal(size=(40, 3)), np.arange(40) % 2)}
    if val:
        out["val"] = {"x": rng.normal(size=(12, 3)), "y": np.arange(12) % 2}
    if test:
        out["test"] = (np.arange(test_rows * 3, dtype=float).reshape(test_rows, 3) + 1000.0, np.arange(test_rows) % 2)
    return out

def mismatched():
    return np.zeros((30, 4)), np.arange(29) % 2

def ragged_parts():
    return {"train": (np.zeros((20, 3)), np.arange(20) % 2), "val": (np.zeros((10, 4)), np.arange(10) % 2),
            "test": (np.zeros((5, 3)), np.arange(5) % 2)}

def strange_keys():
    return {"features": np.zeros((20, 3)), "labels": np.zeros(20)}

def broken():
    raise ValueError("the bucket is empty\\nsecond line")

def number():
    return 42

def strict(n):
    CALLS.append(n)
    return np.zeros((20, 2)), np.arange(20) % 2
'''


@pytest.fixture()
def loaders(tmp_path):
    (tmp_path / "loaders.py").write_text(LOADERS)
    return tmp_path


def _load(loaders, fn, args=None, **kw):
    kw.setdefault("task", "classification")
    return load_source(loader=f"loaders.py:{fn}", args=args or {}, base_dir=str(loaders), **kw)


# ------------------------------------------------------------------------------------------
# .npz files
# ------------------------------------------------------------------------------------------


def test_npz_loads_any_example_shape_as_unscaled_float32(tmp_path):
    x, y = _xy(60, (4, 3))
    path = _npz(tmp_path, x=x, y=y)
    raw = load_source(path=path, task="classification")
    assert isinstance(raw, ArrayData) and raw.name == "data.npz" and raw.rows_dropped_missing_target == 0
    p = prepare(raw, seed=3)
    assert p.input_shape == (4, 3) and p.n_features == 12 and p.feature_names == []
    assert p.train.X.shape == (42, 4, 3) and p.train.X.dtype == np.float32 and p.train.y.dtype == np.int64
    assert (len(p.train), len(p.val), len(p.test)) == (42, 12, 6)
    # the values are the user's: not scaled, every example in exactly one split
    got = np.concatenate([p.train.X, p.val.X, p.test.X]).reshape(60, -1)
    assert np.allclose(np.sort(got.sum(axis=1)), np.sort(x.reshape(60, -1).sum(axis=1)), rtol=1e-5)
    assert p.report["source"] == "npz" and p.report["scaling"] == "none" and p.report["input_shape"] == [4, 3]
    assert p.report["stratified"] is True and p.report["class_counts"]["test"] == {"0": 2, "1": 2, "2": 2}
    # the readers of the report (sweep validate, sweep run's data line) find their keys
    for key in ("rows_train", "rows_val", "rows_test", "n_features", "rows_dropped_missing_target",
                "categorical_columns"):
        assert key in p.report
    assert sum(p.report["missing_values_imputed"].values()) == 0
    json.dumps(p.report)


def test_npz_split_is_the_same_for_the_same_seed_and_stratified(tmp_path):
    x, y = _xy(90, (6,))
    path = _npz(tmp_path, x=x, y=y)
    a = prepare(load_source(path=path, task="classification"), seed=5)
    b = prepare(load_source(path=path, task="classification"), seed=5)
    c = prepare(load_source(path=path, task="classification"), seed=6)
    assert np.array_equal(a.test.X, b.test.X) and not np.array_equal(a.test.X, c.test.X)
    assert np.bincount(a.val.y).tolist() == [6, 6, 6]


def test_npz_string_labels_column_labels_and_regression(tmp_path):
    x, _ = _xy(40, (3,))
    names = np.array(["cat", "dog"] * 20)
    p = prepare(load_source(path=_npz(tmp_path, "s.npz", x=x, y=names), task="classification"))
    assert p.class_names == ["cat", "dog"] and p.report["labels_encoded"] is True
    column = (np.arange(40) % 2).reshape(40, 1)  # y as (n, 1) is one label per example
    p = prepare(load_source(path=_npz(tmp_path, "c.npz", x=x, y=column), task="classification"))
    assert p.n_classes == 2 and p.train.y.ndim == 1
    target = np.linspace(0.0, 1.0, 40)
    p = prepare(load_source(path=_npz(tmp_path, "r.npz", x=x, y=target), task="regression"))
    assert p.task == "regression" and p.train.y.dtype == np.float32 and p.n_classes == 0


def test_npz_check_reads_only_the_headers(tmp_path, monkeypatch):
    x, y = _xy(30, (2, 2))
    path = _npz(tmp_path, x=x, y=y)

    def tripwire(*a, **k):
        raise AssertionError("check_source read the arrays")

    monkeypatch.setattr(np, "load", tripwire)
    assert check_source(path=path, task="classification") == "classification"
    e = _error(check_source, path=_npz(tmp_path, "bad.npz", x=x, y=y[:20]), task="classification")
    assert e.key == "data.path" and "bad.npz" in e.message and "30 examples" in e.message and "20 labels" in e.message


@pytest.mark.parametrize("case, key, phrases", [
    ("no_x", "data.path", ["has no array 'x'", "'features', 'y'", "numpy.savez"]),
    ("no_y", "data.path", ["has no array 'y'", "'x', 'target'"]),
    ("lengths", "data.path", ["30 examples", "29 labels", "same length"]),
    ("text_x", "data.path", ["x in", "not numbers"]),
    ("y_2d", "data.path", ["y in", "(30, 3)", "1-D"]),
    ("not_npz", "data.path", ["not a valid NumPy .npz file"]),
    ("no_task", "data.task", ["data.task is required with a NumPy file"]),
    ("nan_x", "data.path", ["1 NaN or infinite values", "data row 8"]),
    ("pickled_y", "data.path", ["y in", "Python objects", "never unpickled"]),
    ("one_class", "data.path", ["y in", "single class"]),
    ("too_few", "data.path", ["only 5 usable rows"]),
])
def test_bad_npz_files_are_one_line_naming_the_file(tmp_path, case, key, phrases):
    x, y = _xy(30, (3,), classes=2)
    task = "classification"
    name = f"{case}.npz"
    if case == "no_x":
        path = _npz(tmp_path, name, features=x, y=y)
    elif case == "no_y":
        path = _npz(tmp_path, name, x=x, target=y)
    elif case == "lengths":
        path = _npz(tmp_path, name, x=x, y=y[:29])
    elif case == "text_x":
        path = _npz(tmp_path, name, x=x.astype(str), y=y)
    elif case == "y_2d":
        path = _npz(tmp_path, name, x=x, y=np.zeros((30, 3)))
    elif case == "not_npz":
        path = tmp_path / name
        path.write_text("x,y\n1,2\n")
    elif case == "no_task":
        path, task = _npz(tmp_path, name, x=x, y=y), None
    elif case == "nan_x":
        x[7, 1] = np.nan
        path = _npz(tmp_path, name, x=x, y=y)
    elif case == "pickled_y":
        path = tmp_path / name
        np.savez(path, x=x, y=np.array([{"label": 1}] * 30, dtype=object))
    elif case == "one_class":
        path = _npz(tmp_path, name, x=x, y=np.zeros(30, dtype=int))
    else:
        path = _npz(tmp_path, name, x=x[:5], y=y[:5])
    e = _error(load_source, path=path, task=task)
    assert e.key == key and name in e.message, e
    for phrase in phrases:
        assert phrase in e.message, (phrase, e.message)
    assert "\n" not in str(e)
    if case in ("no_x", "no_y", "lengths", "text_x", "y_2d", "not_npz", "no_task", "pickled_y"):
        assert _error(check_source, path=path, task=task).message == e.message  # found without loading


# ------------------------------------------------------------------------------------------
# image folders: the cheap check (reading them: tests/integration/test_image_folder.py)
# ------------------------------------------------------------------------------------------


def _folder(tmp_path: Path, classes: dict[str, int]) -> Path:
    root = tmp_path / "pictures"
    for name, count in classes.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i}.png").write_bytes(b"not read by the check")
    root.mkdir(exist_ok=True)
    return root


def test_image_folder_check_implies_classification(tmp_path):
    root = _folder(tmp_path, {"cats": 2, "dogs": 1, "empty": 0, ".hidden": 3})
    assert check_source(path=root, task=None) == "classification"
    assert check_source(path=root, task="classification") == "classification"


@pytest.mark.parametrize("classes, phrase", [
    ({"cats": 3}, "only 1 class subfolder with images ('cats')"),
    ({"cats": 0, "dogs": 0}, "no subfolder with images"),
])
def test_image_folder_with_fewer_than_two_classes(tmp_path, classes, phrase):
    root = _folder(tmp_path, classes)
    for fn in (check_source, load_source):
        e = _error(fn, path=root, task=None)
        assert e.key == "data.path" and str(root) in e.message and phrase in e.message, e


def test_image_folder_for_regression_is_refused(tmp_path):
    root = _folder(tmp_path, {"cats": 1, "dogs": 1})
    e = _error(check_source, path=root, task="regression")
    assert e.key == "data.task" and "pictures" in e.message and "classification" in e.message


def test_image_folder_check_does_not_import_tensorflow(tmp_path):
    root = _folder(tmp_path, {"cats": 1, "dogs": 1})
    code = textwrap.dedent(f"""
        import sys
        from orchestrator.data import check_source
        assert check_source(path={str(root)!r}, task=None) == "classification"
        print(sorted(m for m in ("tensorflow", "keras", "ray") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_directory_named_like_a_table_is_still_a_bad_table_path(tmp_path):
    folder = tmp_path / "rows.csv"
    folder.mkdir()
    e = _error(check_source, path=folder, target="y", task="classification")
    assert e.key == "data.path" and "is a directory, not a data file" in e.message


# ------------------------------------------------------------------------------------------
# loaders
# ------------------------------------------------------------------------------------------


def test_loader_arrays_as_a_tuple_or_a_mapping(loaders):
    for args in ({}, {"as_dict": True}):
        raw = _load(loaders, "arrays", args)
        assert isinstance(raw, ArrayData) and raw.name == "loaders.py:arrays"
        p = prepare(raw, fractions=(0.5, 0.25, 0.25), seed=1)
        assert p.input_shape == (5, 2) and p.train.X.shape == (30, 5, 2) and p.train.X.dtype == np.float32
        assert p.class_names == ["even", "odd"] and p.report["source"] == "loader"
        assert p.report["split_by"] == "fractions" and p.report["fractions"] == [0.5, 0.25, 0.25]


def test_loader_dataframe_is_prepared_as_a_table(loaders):
    raw = _load(loaders, "frame", target="label")
    p = prepare(raw)
    assert p.feature_names == ["a", "color_blue", "color_red"] and p.input_shape == (3,)
    assert abs(float(p.train.X[:, 0].mean())) < 1e-5  # numeric columns scaled on the training rows
    assert p.report["source"] == "table" and p.report["categorical_columns"] == ["color"]
    e = _error(_load, loaders, "frame")
    assert e.key == "data.target" and "loaders.py:frame returned a DataFrame" in e.message and "'color'" in e.message
    e = _error(_load, loaders, "frame", target="lable")
    assert e.key == "data.target" and "loaders.py:frame" in e.message and "did you mean 'label'" in e.message


def test_loader_parts_are_used_as_given_and_the_test_part_only_in_the_final_evaluation(loaders):
    raw = _load(loaders, "parts", test_fraction=0.1)
    p = prepare(raw, fractions=(0.7, 0.2, 0.1), seed=9)
    expected_test = np.arange(21, dtype=np.float32).reshape(7, 3) + 1000.0
    assert np.array_equal(p.test.X, expected_test) and p.test.y.tolist() == [0, 1, 0, 1, 0, 1, 0]
    assert (len(p.train), len(p.val), len(p.test)) == (40, 12, 7)
    assert p.report["split_by"] == "loader" and p.report["stratified"] is False
    assert p.report["fractions"] == pytest.approx([40 / 59, 12 / 59, 7 / 59])
    trials = p.without_test()  # what trials get: no test row reaches them
    assert len(trials.test) == 0 and trials.test.X.shape == (0, 3) and trials.report["test_withheld"] is True
    assert not np.isin(trials.train.X, expected_test).any() and not np.isin(trials.val.X, expected_test).any()


def test_loader_parts_without_test_when_the_spec_asks_for_none(loaders):
    p = prepare(_load(loaders, "parts", {"test": False}, test_fraction=0.0))
    assert len(p.test) == 0 and p.test.X.shape == (0, 3) and len(p.val) == 12


@pytest.mark.parametrize("fn, args, key, phrases", [
    ("broken", {}, "data.loader", ["loaders.py:broken raised ValueError: the bucket is empty"]),
    ("number", {}, "data.loader", ["loaders.py:number returned an object of type int", "pandas DataFrame"]),
    ("strict", {"m": 3}, "data.args", ["loaders.py:strict takes (n)", "['m']"]),
    ("parts", {"test": False}, "data.loader", ["loaders.py:parts returned no 'test' part", "data.split.test is 0.1",
                                               "set data.split.test: 0"]),
    ("parts", {"val": False}, "data.loader", ["loaders.py:parts", "without a 'val' part"]),
    ("mismatched", {}, "data.loader", ["loaders.py:mismatched", "30 examples", "29 labels"]),
    ("ragged_parts", {}, "data.loader", ["the val part loaders.py:ragged_parts returned", "(4,)", "(3,)"]),
    ("strange_keys", {}, "data.loader", ["loaders.py:strange_keys returned an object of type dict", "['features', 'labels']"]),
])
def test_bad_loaders_are_one_line_naming_the_function(loaders, fn, args, key, phrases):
    e = _error(_load, loaders, fn, args, test_fraction=0.1)
    assert e.key == key, e
    for phrase in phrases:
        assert phrase in e.message, (phrase, e.message)
    assert "\n" not in str(e)


def test_loader_arguments_are_checked_before_it_is_called(loaders):
    e = _error(check_source, loader="loaders.py:strict", args={"m": 3}, base_dir=str(loaders), task="classification")
    assert e.key == "data.args"
    mine = str((loaders / "loaders.py").resolve())
    module = next(m for m in list(sys.modules.values()) if getattr(m, "__file__", None) == mine)
    assert module.CALLS == []  # refused before any call
    assert check_source(loader="loaders.py:strict", args={"n": 1}, base_dir=str(loaders),
                        task="classification") == "classification"
    assert module.CALLS == []  # the check imports, never calls
    _load(loaders, "strict", {"n": 4})
    assert module.CALLS == [4]


def test_loader_that_cannot_be_imported_or_has_no_task(loaders):
    with pytest.raises(SpecError) as info:
        check_source(loader="nowhere.py:load", base_dir=str(loaders), task="classification")
    assert info.value.key == "data.loader" and "nowhere.py" in info.value.message
    with pytest.raises(SpecError) as info:
        check_source(loader="loaders.py:absent", base_dir=str(loaders), task="classification")
    assert info.value.key == "data.loader" and "'absent'" in info.value.message
    e = _error(check_source, loader="loaders.py:arrays", base_dir=str(loaders), task=None)
    assert e.key == "data.task" and "loaders.py:arrays" in e.message


def test_exactly_one_source_with_a_loader(loaders, tmp_path):
    e = _error(check_source, dataset="digits", loader="loaders.py:arrays", base_dir=str(loaders))
    assert e.key == "data" and "data.dataset and data.loader were given" in e.message


# ------------------------------------------------------------------------------------------
# data.shape and input_shape
# ------------------------------------------------------------------------------------------


def test_a_table_keeps_its_row_shape_unless_data_shape_says_otherwise():
    from orchestrator.data import load_raw

    raw = load_raw(dataset="digits", samples=200)
    flat = prepare(raw)
    assert flat.input_shape == (64,) and flat.train.X.shape[1:] == (64,) and flat.report["input_shape"] == [64]
    assert flat.without_test().input_shape == (64,) and flat.without_test().test.X.shape == (0, 64)
    images = prepare(raw, shape=[8, 8, 1])
    assert images.input_shape == (8, 8, 1) and images.n_features == 64
    assert images.train.X.shape == (len(images.train), 8, 8, 1)
    assert np.array_equal(images.train.X.reshape(len(images.train), 64), flat.train.X)
    assert images.without_test().test.X.shape == (0, 8, 8, 1)


def test_a_shape_that_does_not_hold_a_row_is_refused():
    from orchestrator.data import load_raw

    e = _error(prepare, load_raw(dataset="digits", samples=100), shape=[8, 8, 2])
    assert e.key == "data.shape"
    assert e.message.startswith("[8, 8, 2] holds 128 values but each row has 64 features after encoding")
    e = _error(prepare, load_raw(dataset="digits", samples=100), shape=[0, 64])
    assert e.key == "data.shape" and "positive integers" in e.message


def test_a_shape_reshapes_arrays_and_names_their_example_shape(tmp_path):
    x, y = _xy(40, (70,))
    raw = load_source(path=_npz(tmp_path, x=x, y=y), task="classification")
    assert prepare(raw, shape=[7, 10]).input_shape == (7, 10)
    e = _error(prepare, raw, shape=[8, 8, 1])
    assert e.key == "data.shape" and "[8, 8, 1] holds 64 values but each example of x has 70 values" in e.message


def test_prepared_input_shape_defaults_to_the_feature_count():
    empty = np.empty((0, 3), dtype=np.float32)
    from orchestrator.data import Split

    s = Split(empty, np.empty(0))
    p = Prepared(s, s, s, task="regression", n_features=3, n_classes=0, class_names=[], feature_names=["a", "b", "c"])
    assert p.input_shape == (3,)


# ------------------------------------------------------------------------------------------
# through a spec
# ------------------------------------------------------------------------------------------


def test_load_for_a_spec_with_an_npz_a_loader_parts_and_a_shape(tmp_path, loaders):
    x, y = _xy(50, (6, 2), classes=2)
    np.savez(tmp_path / "arrays.npz", x=x, y=y)
    spec = parse_spec({"name": "n", "data": {"path": "arrays.npz", "task": "classification", "shape": [12]}},
                      source="n.yaml", base_dir=str(tmp_path))
    raw, p = load_for(spec)
    assert raw.name == "arrays.npz" and p.input_shape == (12,) and p.train.X.shape[1:] == (12,)

    spec = parse_spec({"name": "p", "data": {"loader": "loaders.py:parts", "args": {"test_rows": 5},
                                             "task": "classification"}},
                      source="p.yaml", base_dir=str(loaders))
    raw, p = load_for(spec)
    assert raw.name == "loaders.py:parts" and len(p.test) == 5 and p.test.X.min() >= 1000.0

    spec = parse_spec({"name": "p", "data": {"loader": "loaders.py:parts", "args": {"test": False},
                                             "task": "classification"}},
                      source="p.yaml", base_dir=str(loaders))
    with pytest.raises(DataError) as info:
        load_for(spec)
    assert info.value.key == "data.loader" and "data.split.test is 0.1" in info.value.message


def test_the_shipped_sequence_loader_loads_through_its_spec():
    from orchestrator.spec import load_spec

    spec = load_spec(ROOT / "search_spaces" / "examples" / "sequence.yaml")
    raw, p = load_for(spec)
    assert p.input_shape == (48, 1) and p.n_classes == 3 and len(p.train) + len(p.val) + len(p.test) == 900


def test_a_loader_frame_missing_values_follow_data_missing(loaders, tmp_path):
    (tmp_path / "gappy.py").write_text(textwrap.dedent("""
        import numpy as np, pandas as pd
        def load():
            a = np.arange(30, dtype=float)
            a[4] = np.nan
            return pd.DataFrame({"a": a, "y": np.arange(30) % 2})
    """))
    common = dict(loader="gappy.py:load", base_dir=str(tmp_path), target="y", task="classification")
    e = _error(load_source, missing="error", **common)
    assert e.key == "data.loader" and "gappy.py:load" in e.message and "column 'a'" in e.message
    p = prepare(load_source(missing="impute", **common))
    assert sum(p.report["missing_values_imputed"].values()) == 1
