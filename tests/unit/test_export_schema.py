"""The exported model's preprocessing (``preprocessing.json``): raw rows in, the run's own inputs out.

No TensorFlow, no Ray: the sidecar is applied with NumPy and pandas, and must give the exact
arrays the run's scikit-learn preprocessing gave the test split.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from orchestrator.data import RawData, prepare
from orchestrator.data.schema import transform_rows
from orchestrator.errors import DataError


def table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numeric columns with gaps, text and boolean categories with gaps, an id, string labels."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.normal(40, 12, n).round(1),
        "income": rng.lognormal(10, 1, n),
        "city": rng.choice(["paris", "lyon", "nice", "lille"], n),
        "member": rng.choice([True, False], n),
        "visits": rng.integers(0, 20, n),
    })
    df.loc[rng.choice(n, 30, replace=False), "age"] = np.nan
    df.loc[rng.choice(n, 25, replace=False), "city"] = np.nan
    df["label"] = np.where(df["income"] > np.median(df["income"]), "rich", "poor")
    return df


def prepared_of(df: pd.DataFrame, shape=None):
    raw = RawData(X=df.drop(columns=["label"]), y=df["label"], task="classification", name="people.csv")
    return prepare(raw, fractions=(0.6, 0.2, 0.2), seed=3, shape=shape)


def test_the_sidecar_turns_the_raw_test_rows_into_the_runs_own_test_inputs() -> None:
    p = prepared_of(table())
    pre = json.loads(json.dumps(p.preprocessing))  # it is written as JSON and read back
    got = transform_rows(pre, p.test_rows, p.input_shape, where="test.csv")
    np.testing.assert_array_equal(got.X, p.test.X)
    assert got.X.dtype == np.float32 and got.unseen == {}
    assert list(got.passthrough.columns) == ["label"]  # the target is passed through, not a feature
    assert pre["classes"] == ["poor", "rich"]
    assert [c["name"] for c in pre["columns"]] == ["age", "income", "visits", "city", "member"]


def test_a_reshaped_row_and_integer_labels_come_back_as_the_run_had_them() -> None:
    df = table().drop(columns=["city", "member"])
    df["label"] = (df["income"] > df["income"].median()).astype(int)
    p = prepared_of(df, shape=[3, 1])
    got = transform_rows(p.preprocessing, p.test_rows, p.input_shape, where="t.csv")
    assert got.X.shape[1:] == (3, 1)
    np.testing.assert_array_equal(got.X, p.test.X)
    assert p.preprocessing["classes"] == [0, 1]


def test_extra_columns_pass_through_and_column_order_does_not_matter() -> None:
    p = prepared_of(table())
    rows = p.test_rows.drop(columns=["label"])
    rows.insert(0, "customer_id", range(len(rows)))
    rows = rows[list(reversed(rows.columns))]
    got = transform_rows(p.preprocessing, rows, p.input_shape, where="new.csv")
    np.testing.assert_array_equal(got.X, p.test.X)
    assert list(got.passthrough.columns) == ["customer_id"]


def test_an_unseen_category_is_encoded_as_in_the_run_and_counted() -> None:
    p = prepared_of(table())
    rows = p.test_rows.copy()
    rows.loc[rows.index[:4], "city"] = "marseille"
    got = transform_rows(p.preprocessing, rows, p.input_shape, where="new.csv")
    assert got.unseen == {"city": 4}
    city = [i for i, n in enumerate(p.feature_names) if n.startswith("city_")]
    assert (got.X[:4][:, city] == 0).all()


def test_missing_cells_are_filled_and_counted_and_a_blank_row_is_named() -> None:
    """`sweep predict` filled gaps silently, a row with every cell empty included; it now says so."""
    from orchestrator.serving import notes_of

    p = prepared_of(table())
    rows = p.test_rows.drop(columns=["label"]).reset_index(drop=True).astype(object)  # a bool column takes a gap
    features = [c["name"] for c in p.preprocessing["columns"]]
    before = rows[features].isna().sum()  # the fabricated table's own gaps
    rows.loc[0, "income"] = np.nan if pd.notna(rows.loc[0, "income"]) else rows.loc[0, "income"]
    rows.loc[1, :] = np.nan  # every feature of row 1 missing
    got = transform_rows(p.preprocessing, rows, p.input_shape, where="new.csv")
    assert got.filled == {k: int(v) for k, v in rows[features].isna().sum().items() if v} and got.blank == 1
    assert got.filled["income"] >= before["income"] + 1
    np.testing.assert_array_equal(got.X[2:], p.test.X[2:])
    notes = notes_of(got, len(rows))
    assert (f"column 'income': {got.filled['income']} of {len(rows)} rows are missing it, filled with the "
            "training split's value") in notes
    assert notes[-1].startswith(f"1 of {len(rows)} rows have no feature value at all")


def test_whole_numbers_read_as_floats_still_match_their_training_category() -> None:
    df = table()
    df["floor"] = np.random.default_rng(1).integers(0, 3, len(df)).astype(str)  # a categorical of digits
    p = prepared_of(df)
    rows = p.test_rows.copy()
    rows["floor"] = rows["floor"].astype(float)  # a smaller file with a gap would read them so
    rows.loc[rows.index[0], "floor"] = np.nan
    got = transform_rows(p.preprocessing, rows, p.input_shape, where="new.csv")
    np.testing.assert_array_equal(got.X[1:], p.test.X[1:])
    assert got.unseen == {}


@pytest.mark.parametrize("change, key, words", [
    (lambda r: r.drop(columns=["income"]), "columns", "lacks the training column 'income'"),
    (lambda r: r.assign(age=["old"] + list(r["age"].iloc[1:])), "column age", "holds 'old' (1 rows)"),
    (lambda r: r.iloc[:0], "rows", "has no rows to predict"),
], ids=["missing-column", "text-in-a-numeric-column", "no-rows"])
def test_rows_that_do_not_fit_the_model_are_one_error_naming_the_column(change, key: str, words: str) -> None:
    p = prepared_of(table())
    with pytest.raises(DataError) as e:
        transform_rows(p.preprocessing, change(p.test_rows), p.input_shape, where="new.csv")
    assert e.value.key == key and words in str(e.value) and "new.csv" in str(e.value)
    assert len(str(e.value).splitlines()) == 1


def test_the_test_rows_never_reach_a_trial() -> None:
    p = prepared_of(table())
    assert p.test_rows is not None and len(p.test_rows) == len(p.test)
    assert p.without_test().test_rows is None
