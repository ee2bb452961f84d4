"""Unit tests for orchestrator.data: loading, splitting and leak-free preprocessing.

No Ray, no TensorFlow: these run in a few seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from orchestrator.data import (
    BUILTIN_DATASETS,
    TASKS,
    Prepared,
    RawData,
    check_source,
    load_raw,
    prepare,
    split_indices,
)
from orchestrator.errors import DataError


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------


def _frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """A small mixed-type classification table: two numeric columns, one string column."""
    rng = np.random.default_rng(seed)
    a = rng.normal(5.0, 2.0, n)
    b = rng.normal(-3.0, 0.5, n)
    color = rng.choice(["red", "green", "blue"], n)
    label = np.where(a + rng.normal(0, 1, n) > 5, "yes", "no")
    return pd.DataFrame({"a": a, "b": b, "color": color, "label": label})


def _raw(df: pd.DataFrame, target: str = "label", task: str = "classification") -> RawData:
    return RawData(X=df.drop(columns=[target]), y=df[target], task=task, name="table.csv")


def _csv(tmp_path, df: pd.DataFrame, name: str = "data.csv"):
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def _error(fn, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------------------------
# built-in data sets
# ------------------------------------------------------------------------------------------


def test_constants():
    assert BUILTIN_DATASETS == ("digits", "diabetes", "exam")
    assert TASKS == ("classification", "regression")


def test_digits_split_sizes_stratified_and_complete():
    raw = load_raw(dataset="digits")
    assert raw.task == "classification" and raw.name == "digits"
    n = len(raw.y)
    assert n == 1797 and raw.X.shape == (1797, 64)

    p = prepare(raw, seed=0)
    sizes = (len(p.train.y), len(p.val.y), len(p.test.y))
    assert sum(sizes) == n
    for size, fraction in zip(sizes, (0.7, 0.2, 0.1)):
        assert abs(size - fraction * n) <= 1
    assert (p.report["rows_train"], p.report["rows_val"], p.report["rows_test"]) == sizes

    assert p.n_features == 64 and p.n_classes == 10
    assert p.class_names == [str(i) for i in range(10)]
    assert p.report["labels_encoded"] is False
    for split in (p.train, p.val, p.test):
        assert split.X.dtype == np.float32 and split.y.dtype == np.int64
        assert split.X.shape[1] == 64

    overall = np.bincount(raw.y.to_numpy(), minlength=10) / n
    for split in (p.train, p.val, p.test):
        share = np.bincount(split.y, minlength=10) / len(split.y)
        assert np.abs(share - overall).max() < 0.01


def test_split_indices_disjoint_covering_deterministic():
    y = load_raw(dataset="digits").y
    tr, va, te = split_indices(y, task="classification", seed=3)
    assert len(np.intersect1d(tr, va)) == len(np.intersect1d(tr, te)) == 0
    assert len(np.intersect1d(va, te)) == 0
    assert np.array_equal(np.sort(np.concatenate([tr, va, te])), np.arange(len(y)))
    for idx in (tr, va, te):
        assert np.array_equal(idx, np.sort(idx)) and idx.dtype == np.int64

    again = split_indices(y, task="classification", seed=3)
    assert all(np.array_equal(x, z) for x, z in zip((tr, va, te), again))
    other = split_indices(y, task="classification", seed=4)
    assert not np.array_equal(tr, other[0])


def test_prepare_is_deterministic_for_a_seed():
    raw = load_raw(dataset="digits")
    p1, p2, p3 = prepare(raw, seed=7), prepare(raw, seed=7), prepare(raw, seed=8)
    assert np.array_equal(p1.train.X, p2.train.X) and np.array_equal(p1.test.y, p2.test.y)
    assert not np.array_equal(p1.train.y, p3.train.y)


def test_diabetes_is_regression_and_target_not_scaled():
    raw = load_raw(dataset="diabetes")
    assert raw.task == "regression" and raw.X.shape == (442, 10)
    p = prepare(raw, seed=0)
    assert p.n_classes == 0 and p.class_names == []
    assert p.train.y.dtype == np.float32
    tr, va, te = split_indices(raw.y, task="regression", seed=0)
    assert np.allclose(p.test.y, raw.y.to_numpy()[te].astype(np.float32))
    assert p.train.y.mean() > 50  # raw disease progression values (25..346), not standardised
    assert "class_counts" not in p.report


def test_builtin_subsample_is_deterministic():
    a = load_raw(dataset="digits", samples=300, seed=1)
    b = load_raw(dataset="digits", samples=300, seed=1)
    c = load_raw(dataset="digits", samples=300, seed=2)
    assert len(a.y) == 300 and a.X.shape == (300, 64)
    assert a.X.equals(b.X) and a.y.equals(b.y)
    assert not a.X.equals(c.X)
    assert list(a.X.index) == list(range(300))


def test_builtin_errors():
    assert _error(load_raw, dataset="digits", task="regression").key == "data.task"
    assert _error(load_raw, dataset="diabetes", task="classification").key == "data.task"
    e = _error(load_raw, dataset="mnist")
    assert e.key == "data.dataset" and "digits" in e.message
    assert _error(load_raw, dataset="digits", samples=5000).key == "data.samples"
    assert _error(load_raw, dataset="digits", samples=0).key == "data.samples"
    assert _error(load_raw, dataset="exam", samples=5).key == "data.samples"
    assert _error(load_raw, dataset="exam", target="score").key == "data.target"
    assert _error(load_raw, dataset="digits", task="bogus").key == "data.task"
    # the implied task/target may be repeated
    assert load_raw(dataset="exam", target="passed", task="classification").task == "classification"


def test_exactly_one_source(tmp_path):
    path = _csv(tmp_path, _frame())
    assert _error(load_raw).key == "data"
    assert _error(load_raw, dataset="digits", path=path, target="label").key == "data"
    assert _error(check_source, dataset=None, path=None, target=None, task=None).key == "data"


# ------------------------------------------------------------------------------------------
# exam
# ------------------------------------------------------------------------------------------


def test_exam_shape_determinism_and_classes():
    raw = load_raw(dataset="exam")
    assert raw.X.shape == (1000, 2)
    assert list(raw.X.columns) == ["hours_studied", "hours_slept"]
    assert raw.y.name == "passed" and raw.task == "classification"
    assert set(raw.y.unique()) == {0, 1}
    assert 0.3 < raw.y.mean() < 0.7
    assert raw.X["hours_studied"].between(0, 10).all()
    assert raw.X["hours_slept"].between(3, 10).all()

    again = load_raw(dataset="exam")
    assert raw.X.equals(again.X) and raw.y.equals(again.y)
    assert not raw.X.equals(load_raw(dataset="exam", seed=1).X)
    assert load_raw(dataset="exam", samples=250).X.shape == (250, 2)


def test_exam_is_learnable_but_not_separable():
    from sklearn.linear_model import LogisticRegression

    train = load_raw(dataset="exam", samples=4000, seed=0)
    test = load_raw(dataset="exam", samples=4000, seed=1)
    model = LogisticRegression().fit(train.X, train.y)
    accuracy = model.score(test.X, test.y)
    assert 0.8 < accuracy < 0.95
    # both features matter, and more of either helps
    assert (model.coef_ > 0).all()


# ------------------------------------------------------------------------------------------
# preprocessing: no leakage
# ------------------------------------------------------------------------------------------


def test_train_split_is_unaffected_by_val_and_test_rows():
    df = _frame(300)
    df.loc[df.index % 7 == 0, "b"] = np.nan  # some NaN in every split
    clean = prepare(_raw(df), seed=5)

    _, va, te = split_indices(df["label"], task="classification", seed=5)
    held_out = np.concatenate([va, te])
    poisoned = df.copy()
    poisoned.loc[held_out, "a"] = 1e9
    poisoned.loc[held_out, "b"] = np.nan
    poisoned.loc[held_out[:5], "color"] = "purple"  # unseen category
    dirty = prepare(_raw(poisoned), seed=5)

    assert np.array_equal(clean.train.X, dirty.train.X)  # bit-identical
    assert np.array_equal(clean.train.y, dirty.train.y)
    assert clean.feature_names == dirty.feature_names
    # the scaler was fitted on train: train numeric columns are standardised ...
    numeric = [clean.feature_names.index(c) for c in ("a", "b")]
    assert np.abs(dirty.train.X[:, numeric].mean(axis=0)).max() < 1e-5
    assert np.abs(dirty.train.X[:, numeric].std(axis=0) - 1).max() < 1e-3
    # ... and the poisoned validation values stay huge (not re-fitted on them)
    assert dirty.val.X[:, numeric[0]].min() > 1e6
    # the unseen category becomes an all-zero one-hot row
    one_hot = [i for i, name in enumerate(dirty.feature_names) if name.startswith("color_")]
    purple = np.isin(np.concatenate([va, te]), held_out[:5])
    stacked = np.vstack([dirty.val.X, dirty.test.X])
    assert np.all(stacked[purple][:, one_hot] == 0)


def test_imputed_value_is_the_train_median():
    df = _frame(300)
    rng = np.random.default_rng(1)
    df.loc[rng.random(300) < 0.2, "b"] = np.nan
    tr, va, te = split_indices(df["label"], task="classification", seed=0)
    p = prepare(_raw(df), seed=0)

    b_train = df["b"].to_numpy()[tr]
    median = np.nanmedian(b_train)
    filled = np.where(np.isnan(b_train), median, b_train)
    expected = (median - filled.mean()) / filled.std()

    col = p.feature_names.index("b")
    for split, idx in ((p.train, tr), (p.val, va), (p.test, te)):
        was_missing = df["b"].isna().to_numpy()[idx]
        assert was_missing.any()
        assert np.allclose(split.X[was_missing, col], expected, atol=1e-5)

    counts = p.report["missing_values_imputed"]
    assert counts == {
        "train": int(df["b"].isna().to_numpy()[tr].sum()),
        "val": int(df["b"].isna().to_numpy()[va].sum()),
        "test": int(df["b"].isna().to_numpy()[te].sum()),
    }


def test_missing_categorical_imputed_with_most_frequent_train_value():
    df = _frame(300)
    df.loc[[0, 1, 2], "color"] = None
    p = prepare(_raw(df), seed=0)
    tr, va, te = split_indices(df["label"], task="classification", seed=0)
    mode = df["color"].iloc[tr].mode().iloc[0]
    col = p.feature_names.index(f"color_{mode}")
    position = {int(i): (s, k) for s, idx in (("train", tr), ("val", va), ("test", te))
                for k, i in enumerate(idx)}
    for row in (0, 1, 2):
        split, k = position[row]
        assert getattr(p, split).X[k, col] == 1.0
    assert sum(p.report["missing_values_imputed"].values()) == 3


# ------------------------------------------------------------------------------------------
# preprocessing: encodings and report
# ------------------------------------------------------------------------------------------


def test_one_hot_and_label_encoding():
    df = _frame(200)
    raw = _raw(df)
    p = prepare(raw, seed=0)
    assert p.report["categorical_columns"] == ["color"]
    assert p.report["one_hot_features"] == 3
    assert p.report["scaled_columns"] == 2
    assert p.feature_names == ["a", "b", "color_blue", "color_green", "color_red"]
    assert p.n_features == 5 and p.train.X.shape[1] == 5

    tr, _, _ = split_indices(df["label"], task="classification", seed=0)
    colors = df["color"].to_numpy()[tr]
    one_hot = p.train.X[:, 2:]
    assert np.all(one_hot.sum(axis=1) == 1)
    assert np.array_equal(np.array(["blue", "green", "red"])[one_hot.argmax(axis=1)], colors)

    assert p.class_names == ["no", "yes"] and p.n_classes == 2
    assert p.report["labels_encoded"] is True
    labels = df["label"].to_numpy()[tr]
    assert np.array_equal(np.array(p.class_names)[p.train.y], labels)
    assert p.train.y.dtype == np.int64


def test_integer_labels_not_starting_at_zero_are_encoded():
    df = _frame(200)
    df["label"] = np.where(df["label"] == "yes", 2, 1)
    p = prepare(_raw(df), seed=0)
    assert p.class_names == ["1", "2"]
    assert set(np.unique(p.train.y)) == {0, 1}
    assert p.report["labels_encoded"] is True


def test_report_is_json_serialisable_and_complete():
    p = prepare(_raw(_frame()), seed=0)
    report = json.loads(json.dumps(p.report))
    for key in ("rows_total", "rows_dropped_missing_target", "rows_train", "rows_val",
                "rows_test", "missing_values_imputed", "categorical_columns",
                "one_hot_features", "n_features", "n_classes", "labels_encoded",
                "scaled_columns"):
        assert key in report
    assert report["rows_total"] == 200
    assert report["rows_train"] + report["rows_val"] + report["rows_test"] == 200
    assert sum(report["class_counts"]["train"].values()) == report["rows_train"]


def test_bool_and_category_columns_from_parquet(tmp_path):
    df = _frame(100)
    df["flag"] = df["a"] > 5
    df["size"] = pd.Categorical(np.where(df["b"] > -3, "big", "small"))
    path = tmp_path / "mixed.parquet"
    df.to_parquet(path, index=False)
    raw = load_raw(path=path, target="label", task="classification")
    p = prepare(raw, seed=0)
    assert sorted(p.report["categorical_columns"]) == ["color", "flag", "size"]
    assert {"flag_False", "flag_True", "size_big", "size_small"} <= set(p.feature_names)
    assert p.train.X.dtype == np.float32 and np.isfinite(p.train.X).all()


def test_column_empty_in_train_is_dropped_and_reported():
    df = _frame(100)
    df["empty"] = np.nan
    p = prepare(_raw(df), seed=0)
    assert "empty" not in p.feature_names
    assert p.report["empty_columns_dropped"] == ["empty"]


def test_without_test_has_zero_test_rows():
    p = prepare(load_raw(dataset="exam"), seed=0)
    q = p.without_test()
    assert isinstance(q, Prepared)
    assert len(p.test.y) > 0
    assert q.test.X.shape == (0, p.n_features) and q.test.y.shape == (0,)
    assert q.test.X.dtype == np.float32 and q.test.y.dtype == np.int64
    assert q.train is p.train and q.val is p.val
    assert q.report["test_withheld"] is True and "test_withheld" not in p.report


def test_zero_validation_or_test_fraction_gives_empty_split():
    raw = load_raw(dataset="exam", samples=200)
    p = prepare(raw, fractions=(0.8, 0.2, 0.0), seed=0)
    assert len(p.test.y) == 0 and p.test.X.shape == (0, 2)
    assert len(p.train.y) == 160 and len(p.val.y) == 40
    p = prepare(raw, fractions=(0.9, 0.0, 0.1), seed=0)
    assert len(p.val.y) == 0 and len(p.test.y) == 20
    tr, va, te = split_indices(raw.y, task="classification", fractions=(1.0, 0.0, 0.0))
    assert len(tr) == 200 and len(va) == len(te) == 0


# ------------------------------------------------------------------------------------------
# split errors
# ------------------------------------------------------------------------------------------


def test_bad_fractions():
    y = np.arange(100) % 2
    for fractions in ((0.7, 0.2, 0.2), (0.5, 0.5), (0.0, 0.5, 0.5), (1.2, -0.1, -0.1)):
        e = _error(split_indices, y, task="classification", fractions=fractions)
        assert e.key == "data.split"
    # within tolerance
    split_indices(y, task="classification", fractions=(0.7, 0.2, 0.1 + 1e-9))


def test_stratification_impossible_is_an_error_not_a_fallback():
    y = np.array(["a"] * 50 + ["b"] * 49 + ["rare"])
    e = _error(split_indices, y, task="classification", seed=0)
    assert e.key == "data.split"
    assert "'rare'" in e.message and "1 row" in e.message and "stratify: false" in e.message
    # without stratification it works
    tr, va, te = split_indices(y, task="classification", seed=0, stratify=False)
    assert len(tr) + len(va) + len(te) == 100
    # regression ignores stratify
    split_indices(np.linspace(0, 1, 100), task="regression", stratify=True)


def test_split_smaller_than_number_of_classes():
    y = np.repeat(np.arange(10), 3)  # 30 rows, 10 classes: test split has 3 rows
    e = _error(split_indices, y, task="classification")
    assert e.key == "data.split" and "10 classes" in e.message


def test_unseen_validation_class_is_an_error():
    y = np.array(["a"] * 50 + ["b"] * 49 + ["rare"])
    df = pd.DataFrame({"x": np.arange(100.0), "label": y})
    for seed in range(100):
        tr, _, _ = split_indices(y, task="classification", seed=seed, stratify=False)
        if 99 not in tr:
            break
    e = _error(prepare, _raw(df), seed=seed, stratify=False)
    assert e.key == "data.target" and "'rare'" in e.message


# ------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------


def test_csv_gz_and_parquet_load_like_csv(tmp_path):
    df = _frame(50)
    raws = []
    for name in ("t.csv", "t.csv.gz", "t.parquet", "t.pq"):
        path = tmp_path / name
        if name.endswith(("parquet", "pq")):
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
        raw = load_raw(path=str(path), target="label", task="classification")
        assert raw.name == name and raw.X.shape == (50, 3)
        raws.append(raw)
        check_source(dataset=None, path=path, target="label", task="classification")
    for raw in raws[1:]:
        assert np.allclose(raw.X["a"], raws[0].X["a"])
        assert list(raw.y) == list(raws[0].y)


def test_missing_target_rows_dropped_and_counted(tmp_path):
    df = _frame(60)
    df["label"] = df["label"].astype(object)
    df.loc[[3, 10, 20], "label"] = None
    df.loc[30, "label"] = "  "
    raw = load_raw(path=_csv(tmp_path, df), target="label", task="classification")
    assert raw.rows_dropped_missing_target == 4
    assert len(raw.y) == len(raw.X) == 56
    p = prepare(raw, seed=0)
    assert p.report["rows_dropped_missing_target"] == 4
    assert p.report["rows_total"] == 60
    assert p.report["rows_train"] + p.report["rows_val"] + p.report["rows_test"] == 56


def test_regression_file_with_missing_targets(tmp_path):
    df = pd.DataFrame({"x": np.arange(30.0), "y": np.arange(30.0) * 2})
    df.loc[[0, 5], "y"] = np.nan
    raw = load_raw(path=_csv(tmp_path, df), target="y", task="regression")
    assert raw.rows_dropped_missing_target == 2 and raw.y.dtype == np.float64


def test_file_errors(tmp_path):
    good = _csv(tmp_path, _frame(50), "good.csv")

    e = _error(load_raw, path=tmp_path / "nope.csv", target="label", task="classification")
    assert e.key == "data.path" and "nope.csv" in e.message

    folder = tmp_path / "folder.csv"
    folder.mkdir()
    e = _error(load_raw, path=folder, target="label", task="classification")
    assert e.key == "data.path" and "folder.csv" in e.message and "directory" in e.message

    txt = tmp_path / "data.txt"
    txt.write_text("a,b\n1,2\n")
    e = _error(load_raw, path=txt, target="b", task="regression")
    assert e.key == "data.path" and "data.txt" in e.message and ".parquet" in e.message

    empty = tmp_path / "empty.csv"
    empty.write_text("")
    e = _error(load_raw, path=empty, target="label", task="classification")
    assert e.key == "data.path" and "empty.csv" in e.message

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"this is not parquet")
    e = _error(load_raw, path=broken, target="label", task="classification")
    assert e.key == "data.path" and "broken.parquet" in e.message

    e = _error(load_raw, path=good, task="classification")
    assert e.key == "data.target" and "good.csv" in e.message
    e = _error(load_raw, path=good, target="label")
    assert e.key == "data.task" and "good.csv" in e.message


def test_target_not_found_lists_columns(tmp_path):
    path = _csv(tmp_path, _frame(20), "grades.csv")
    e = _error(load_raw, path=path, target="Label", task="classification")
    assert e.key == "data.target" and "grades.csv" in e.message
    assert "'a'" in e.message and "'color'" in e.message
    assert "did you mean 'label'" in e.message

    wide = pd.DataFrame(np.ones((12, 40)), columns=[f"c{i}" for i in range(40)])
    e = _error(load_raw, path=_csv(tmp_path, wide, "wide.csv"), target="y", task="regression")
    assert "c0" in e.message and "c39" not in e.message and "20 more" in e.message


def test_regression_target_not_numeric(tmp_path):
    prices = [str(v) for v in range(17)] + ["about 5", "?", "?"]
    df = pd.DataFrame({"x": np.arange(20.0), "price": prices})
    e = _error(load_raw, path=_csv(tmp_path, df, "prices.csv"), target="price", task="regression")
    assert e.key == "data.target" and "prices.csv" in e.message
    assert "3 of 20" in e.message and "'about 5'" in e.message


def test_too_few_rows_and_single_class(tmp_path):
    small = pd.DataFrame({"x": np.arange(12.0), "y": [0, 1] * 6})
    small.loc[[0, 1, 2], "y"] = np.nan
    e = _error(load_raw, path=_csv(tmp_path, small, "small.csv"), target="y",
               task="classification")
    assert e.key == "data.path" and "small.csv" in e.message and "9 usable rows" in e.message

    one = pd.DataFrame({"x": np.arange(20.0), "y": ["pass"] * 20})
    e = _error(load_raw, path=_csv(tmp_path, one, "one.csv"), target="y", task="classification")
    assert e.key == "data.target" and "one.csv" in e.message and "'pass'" in e.message


def test_continuous_target_for_classification(tmp_path):
    df = pd.DataFrame({"x": np.arange(20.0), "y": np.linspace(0, 1, 20)})
    e = _error(load_raw, path=_csv(tmp_path, df, "cont.csv"), target="y", task="classification")
    assert e.key == "data.target" and "regression" in e.message


def test_samples_ignored_for_files(tmp_path):
    raw = load_raw(path=_csv(tmp_path, _frame(50)), target="label", task="classification",
                   samples=10)
    assert len(raw.y) == 50


# ------------------------------------------------------------------------------------------
# check_source
# ------------------------------------------------------------------------------------------


def test_check_source_reads_only_the_header(tmp_path, monkeypatch):
    path = _csv(tmp_path, _frame(50), "big.csv")
    calls = []
    real = pd.read_csv

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", spy)  # the pandas module the data package reads with
    check_source(dataset=None, path=path, target="label", task="classification")
    assert calls and all(c.get("nrows") == 0 for c in calls)


def test_check_source_errors(tmp_path):
    path = _csv(tmp_path, _frame(20), "cols.csv")
    e = _error(check_source, dataset=None, path=path, target="nope", task="regression")
    assert e.key == "data.target" and "cols.csv" in e.message and "'color'" in e.message
    pq = tmp_path / "cols.parquet"
    _frame(20).to_parquet(pq, index=False)
    e = _error(check_source, dataset=None, path=pq, target="nope", task="regression")
    assert e.key == "data.target" and "cols.parquet" in e.message and "'color'" in e.message

    e = _error(check_source, dataset=None, path=tmp_path / "gone.csv", target="y",
               task="regression")
    assert e.key == "data.path" and "gone.csv" in e.message
    e = _error(check_source, dataset=None, path=tmp_path / "x.json", target="y",
               task="regression")
    assert e.key == "data.path"
    assert _error(check_source, dataset=None, path=path, target=None,
                  task="regression").key == "data.target"
    assert _error(check_source, dataset=None, path=path, target="label",
                  task=None).key == "data.task"
    assert _error(check_source, dataset="digits", path=None, target=None,
                  task="regression").key == "data.task"
    assert _error(check_source, dataset="imagenet", path=None, target=None,
                  task=None).key == "data.dataset"
    check_source(dataset="exam", path=None, target=None, task=None)


# ------------------------------------------------------------------------------------------
# import hygiene
# ------------------------------------------------------------------------------------------


def test_module_imports_neither_ray_nor_tensorflow():
    code = ("import sys, orchestrator.data; "
            "bad = [m for m in ('ray', 'tensorflow') if m in sys.modules]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
