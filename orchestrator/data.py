"""Load a data set, split it 70/20/10 and preprocess it without leaking the held-out rows.

The data flow is one-directional:

1. :func:`load_raw` reads a built-in data set (``digits``, ``diabetes``, ``exam``) or a CSV /
   Parquet file into a :class:`RawData` (original columns, rows with a missing target dropped and
   counted). :func:`check_source` does the cheap part of the same checks (the file exists, the
   target column is in its header) without reading the rows; ``sweep validate`` uses it.
2. :func:`split_indices` splits the rows into train / validation / test (stratified for
   classification) with scikit-learn's ``train_test_split``.
3. :func:`prepare` splits FIRST and then fits every preprocessing step (imputation, one-hot
   encoding, scaling, label encoding) on the training rows only, and applies it to the validation
   and test rows. The result, :class:`Prepared`, holds float32 arrays ready for Keras, and a
   JSON-serialisable ``report`` of what was done.

Every problem with the data is raised as :class:`~orchestrator.errors.DataError` with the spec key
it concerns (``data.path``, ``data.target``, ``data.task``, ``data.split``, ...).

This module imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler

from orchestrator.errors import DataError

__all__ = [
    "BUILTIN_DATASETS",
    "TASKS",
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "MIN_ROWS",
    "RawData",
    "Split",
    "Prepared",
    "load_raw",
    "check_source",
    "load_for",
    "MISSING",
    "split_indices",
    "prepare",
]

BUILTIN_DATASETS = ("digits", "diabetes", "exam")
TASKS = ("classification", "regression")
CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
MISSING = ("error", "impute")
"""What to do with missing values in a data file: refuse them, or impute features and drop rows
without a target."""
MIN_ROWS = 10
"""Fewest usable rows (after dropping rows with a missing target) a data set may have."""

_BUILTIN_TASK = {"digits": "classification", "diabetes": "regression", "exam": "classification"}
_BUILTIN_TARGET = {"digits": "target", "diabetes": "target", "exam": "passed"}
_EXAM_DEFAULT_SAMPLES = 1000
_FRACTION_TOLERANCE = 1e-6
_MAX_COLUMNS_LISTED = 20


# --------------------------------------------------------------------------------------------
# Data classes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RawData:
    """A data set as loaded, before splitting and preprocessing.

    Attributes:
        X: feature columns with their original names and types (may contain NaN, strings,
            categoricals, booleans).
        y: the target; strings or integers for classification, float64 for regression. Rows with
            a missing target have already been dropped. Index is ``0..n-1``, aligned with ``X``.
        task: ``"classification"`` or ``"regression"``.
        name: the built-in data set's name, or the data file's name.
        rows_dropped_missing_target: how many rows were dropped because their target was missing.
    """

    X: pd.DataFrame
    y: pd.Series
    task: str
    name: str
    rows_dropped_missing_target: int = 0


@dataclass(frozen=True, eq=False)
class Split:
    """One split of prepared data.

    Attributes:
        X: float32 features, shape ``(n, n_features)``.
        y: int64 class indices (classification) or float32 targets (regression), shape ``(n,)``.
    """

    X: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True, eq=False)
class Prepared:
    """Train / validation / test arrays with preprocessing fitted on the training rows only.

    Attributes:
        train: the training split.
        val: the validation split (may be empty when its fraction is 0).
        test: the test split (empty after :meth:`without_test`, or when its fraction is 0).
        task: ``"classification"`` or ``"regression"``.
        n_features: number of columns of every ``X`` (after one-hot encoding).
        n_classes: number of classes seen in training; 0 for regression.
        class_names: class label of each class index, as strings; ``[]`` for regression.
        feature_names: name of each column of ``X`` (one-hot columns are ``<column>_<value>``).
        report: JSON-serialisable counts describing what was done (see :func:`prepare`).
    """

    train: Split
    val: Split
    test: Split
    task: str
    n_features: int
    n_classes: int
    class_names: list[str]
    feature_names: list[str]
    report: dict = field(default_factory=dict)

    def without_test(self) -> "Prepared":
        """Return a copy whose test split is empty, so trials cannot touch the test rows.

        Returns:
            The same data with ``test`` replaced by a 0-row :class:`Split` (same ``n_features``,
            same dtypes); ``report`` is copied and gains ``"test_withheld": True``.
        """
        empty = Split(
            X=np.empty((0, self.n_features), dtype=np.float32),
            y=np.empty((0,), dtype=self.test.y.dtype),
        )
        report = dict(self.report)
        report["test_withheld"] = True
        return dataclasses.replace(self, test=empty, report=report)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_raw(
    *,
    dataset: str | None = None,
    path: str | os.PathLike[str] | None = None,
    target: str | None = None,
    task: str | None = None,
    samples: int | None = None,
    seed: int = 0,
    missing: str = "impute",
) -> RawData:
    """Load a built-in data set or a CSV / Parquet file.

    With ``missing="impute"``, rows whose target is missing (NaN, empty or blank) are dropped and
    counted (missing feature values are imputed later, by :func:`prepare`); with
    ``missing="error"`` any missing value in a file is refused, naming the column and the row.

    Args:
        dataset: one of :data:`BUILTIN_DATASETS`; give exactly one of ``dataset`` and ``path``.
        path: a ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq`` file.
        target: name of the target column; required for files. For a built-in data set it may be
            left out, and if given must be the built-in's target name (``target`` for digits and
            diabetes, ``passed`` for exam).
        task: ``"classification"`` or ``"regression"``; required for files, implied by a built-in
            data set (giving a different one is an error).
        samples: for ``exam``, how many rows to generate (default 1000); for ``digits`` and
            ``diabetes``, a deterministic random subsample of that many rows. Ignored for files.
        seed: seed for generating ``exam`` and for subsampling.
        missing: ``"impute"`` or ``"error"`` (see above); the built-in data sets have none.

    Returns:
        The loaded :class:`RawData`.

    Raises:
        DataError: with key ``data``, ``data.dataset``, ``data.path``, ``data.target``,
            ``data.task`` or ``data.samples`` when the data cannot be used.
    """
    _check_exactly_one(dataset, path)
    _check_task_value(task)
    if missing not in MISSING:
        raise DataError("data.missing", f"unknown value {missing!r}; use one of: {', '.join(MISSING)}")
    if dataset is not None:
        return _load_builtin(dataset, target=target, task=task, samples=samples, seed=seed)

    file = _check_file(path)
    target, task = _check_file_target_task(file, target, task)
    frame = _read_table(file)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    _check_target_in_columns(target, columns, file)
    if missing == "error":
        _refuse_missing(frame, target, file)
    rows_total = len(frame)
    y, X, dropped, kept = _drop_missing_target(frame[target], frame.drop(columns=[target]))
    _check_rows(len(y), dropped, rows_total, where=str(file), key="data.path")
    y = _clean_target(y, task, where=f"target {target!r} in {file}", key="data.target", rows=kept)
    _check_features(X, where=str(file))
    return RawData(X=X, y=y, task=task, name=file.name, rows_dropped_missing_target=dropped)


def load_for(spec: Any) -> tuple[RawData, Prepared]:
    """Load and prepare the data a :class:`~orchestrator.spec.SweepSpec` names (its ``data`` section).

    What ``sweep run`` does before anything starts and ``sweep validate`` does to check the data.

    Returns:
        The loaded :class:`RawData` and the :class:`Prepared` splits.

    Raises:
        DataError: as :func:`load_raw` and :func:`prepare`.
    """
    d = spec.data
    raw = load_raw(dataset=d.dataset, path=spec.data_path(), target=d.target, task=spec.task,
                   samples=d.samples, seed=d.seed, missing=getattr(d, "missing", "impute"))
    prepared = prepare(raw, fractions=(d.split.train, d.split.val, d.split.test), seed=d.seed, stratify=d.stratify)
    return raw, prepared


def check_source(
    *,
    dataset: str | None = None,
    path: str | os.PathLike[str] | None = None,
    target: str | None = None,
    task: str | None = None,
) -> None:
    """Cheap checks of a data source, without loading its rows (for ``sweep validate``).

    Checks that exactly one of ``dataset`` / ``path`` is given, that a built-in name is known and
    its task and target agree, and for a file: that it exists, is a file, has a supported
    extension, that ``target`` and ``task`` are given, and that the target column is in its header
    (CSV: ``pandas.read_csv(nrows=0)``; Parquet: the pyarrow schema).

    Args:
        dataset: a built-in data set name, or None.
        path: a data file path, or None.
        target: the target column name.
        task: ``"classification"`` or ``"regression"``.

    Returns:
        None.

    Raises:
        DataError: as :func:`load_raw` would for the same problems.
    """
    _check_exactly_one(dataset, path)
    _check_task_value(task)
    if dataset is not None:
        _check_builtin(dataset, target, task)
        return
    file = _check_file(path)
    target, _ = _check_file_target_task(file, target, task)
    columns = _read_columns(file)
    _check_target_in_columns(target, columns, file)
    if len(columns) < 2:
        raise DataError(
            "data.path",
            f"{file} has no feature columns: its only column is the target {target!r}; "
            "add feature columns to the file",
        )


def _check_exactly_one(dataset: str | None, path: object) -> None:
    if (dataset is None) == (path is None):
        which = "both" if dataset is not None else "neither"
        raise DataError(
            "data",
            f"give exactly one of data.dataset (one of {', '.join(BUILTIN_DATASETS)}) or "
            f"data.path (a CSV or Parquet file); {which} was given",
        )


def _check_task_value(task: str | None) -> None:
    if task is not None and task not in TASKS:
        raise DataError("data.task", f"unknown task {task!r}; use one of: {', '.join(TASKS)}")


def _check_builtin(dataset: str, target: str | None, task: str | None) -> str:
    """Validate a built-in data set name with its target/task; return its task."""
    if dataset not in BUILTIN_DATASETS:
        hint = _did_you_mean(str(dataset), BUILTIN_DATASETS)
        raise DataError(
            "data.dataset",
            f"unknown built-in data set {dataset!r}{hint}; use one of: "
            f"{', '.join(BUILTIN_DATASETS)}, or give data.path to a CSV or Parquet file",
        )
    implied = _BUILTIN_TASK[dataset]
    if task is not None and task != implied:
        raise DataError(
            "data.task",
            f"built-in data set {dataset!r} is a {implied} task, but task {task!r} was given; "
            f"remove data.task or set it to {implied!r}",
        )
    expected_target = _BUILTIN_TARGET[dataset]
    if target is not None and target != expected_target:
        raise DataError(
            "data.target",
            f"built-in data set {dataset!r} has target {expected_target!r}, not {target!r}; "
            "remove data.target (it is implied for built-in data sets)",
        )
    return implied


def _load_builtin(
    dataset: str, *, target: str | None, task: str | None, samples: int | None, seed: int
) -> RawData:
    task = _check_builtin(dataset, target, task)
    if samples is not None and (
        isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1
    ):
        raise DataError("data.samples", f"samples must be a positive integer, got {samples!r}")

    if dataset == "exam":
        n = _EXAM_DEFAULT_SAMPLES if samples is None else int(samples)
        _check_rows(n, 0, n, where="built-in data set 'exam'", key="data.samples")
        X, y = _make_exam(n, seed)
    else:
        from sklearn.datasets import load_diabetes, load_digits

        bunch = (load_digits if dataset == "digits" else load_diabetes)(as_frame=True)
        X = bunch.data.reset_index(drop=True)
        y = bunch.target.reset_index(drop=True).rename(_BUILTIN_TARGET[dataset])
        if samples is not None:
            n_all = len(y)
            if samples > n_all:
                raise DataError(
                    "data.samples",
                    f"built-in data set {dataset!r} has only {n_all} rows, cannot take "
                    f"samples={samples}; use at most {n_all} or leave samples out",
                )
            _check_rows(int(samples), 0, int(samples),
                        where=f"built-in data set {dataset!r}", key="data.samples")
            rng = np.random.default_rng(seed)
            keep = np.sort(rng.choice(n_all, size=int(samples), replace=False))
            X = X.iloc[keep].reset_index(drop=True)
            y = y.iloc[keep].reset_index(drop=True)
        y = y.astype(np.int64) if task == "classification" else y.astype(np.float64)
    return RawData(X=X, y=y, task=task, name=dataset, rows_dropped_missing_target=0)


def _make_exam(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Generate the course's exam example: pass/fail from hours studied and hours slept.

    ``passed`` is drawn from a Bernoulli whose probability is a logistic function of both
    features, so the classes overlap: the best possible accuracy is about 88%.
    """
    rng = np.random.default_rng(seed)
    hours_studied = np.round(rng.uniform(0.0, 10.0, size=n), 2)
    hours_slept = np.round(rng.uniform(3.0, 10.0, size=n), 2)
    logit = 1.2 * (hours_studied - 5.0) + 0.72 * (hours_slept - 6.5)
    p_pass = 1.0 / (1.0 + np.exp(-logit))
    passed = (rng.uniform(size=n) < p_pass).astype(np.int64)
    X = pd.DataFrame({"hours_studied": hours_studied, "hours_slept": hours_slept})
    return X, pd.Series(passed, name="passed")


def _check_file(path: str | os.PathLike[str] | None) -> Path:
    """Check that ``path`` names an existing file with a supported extension."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).strip():
        raise DataError("data.path", f"data.path must be a file path, got {path!r}")
    file = Path(os.fspath(path))
    shown = str(file)
    where = shown if file.is_absolute() else f"{shown} (looked at {file.resolve()})"
    if not file.exists():
        raise DataError(
            "data.path",
            f"data file {where} does not exist; check the path (a relative path is relative to "
            "the directory the command runs in)",
        )
    if file.is_dir():
        raise DataError(
            "data.path",
            f"{shown} is a directory, not a data file; point data.path at one "
            f"{'/'.join(CSV_SUFFIXES + PARQUET_SUFFIXES)} file",
        )
    if _file_format(file) is None:
        raise DataError(
            "data.path",
            f"{shown} has an unsupported extension; data files must end in one of: "
            f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}",
        )
    return file


def _file_format(file: Path) -> str | None:
    name = file.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _check_file_target_task(file: Path, target: str | None, task: str | None) -> tuple[str, str]:
    if target is None or (isinstance(target, str) and not target.strip()):
        raise DataError(
            "data.target",
            f"data.target is required with data.path ({file}): name the column to predict",
        )
    if not isinstance(target, str):
        raise DataError("data.target", f"data.target must be a column name, got {target!r}")
    if task is None:
        raise DataError(
            "data.task",
            f"data.task is required with data.path ({file}): set it to 'classification' or "
            "'regression'",
        )
    return target, task


def _read_table(file: Path) -> pd.DataFrame:
    """Read the whole file into a DataFrame, turning read failures into DataError."""
    try:
        if _file_format(file) == "csv":
            frame = pd.read_csv(file)
        else:
            frame = pd.read_parquet(file, engine="pyarrow")
    except pd.errors.EmptyDataError:
        raise DataError(
            "data.path", f"{file} is empty; it needs a header row and data rows"
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError("data.path", _not_utf8(file, exc)) from None
    except Exception as exc:  # pandas/pyarrow raise many kinds (ParserError, ArrowInvalid, ...)
        raise DataError("data.path", f"cannot read {file}: {_first_line(exc)}") from exc
    if frame.shape[1] == 0:
        raise DataError("data.path", f"{file} has no columns; it needs a header row")
    return frame


def _not_utf8(file: Path, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 is: line and byte, found by decoding the file."""
    where = ""
    try:
        raw = file.read_bytes() if _file_format(file) == "csv" and not file.name.lower().endswith(".gz") else b""
        if raw:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                line = raw.count(b"\n", 0, e.start) + 1
                where = f" (byte 0x{raw[e.start]:02x} on line {line})"
    except OSError:
        pass
    return f"{file} is not UTF-8 text{where}; save it as UTF-8"


def _read_columns(file: Path) -> list[str]:
    """Read only the column names: the CSV header or the Parquet schema."""
    try:
        if _file_format(file) == "csv":
            columns = list(pd.read_csv(file, nrows=0).columns)
        else:
            import pyarrow.parquet as pq

            columns = list(pq.read_schema(file).names)
    except pd.errors.EmptyDataError:
        raise DataError(
            "data.path", f"{file} is empty; it needs a header row and data rows"
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError("data.path", _not_utf8(file, exc)) from None
    except Exception as exc:
        raise DataError("data.path", f"cannot read {file}: {_first_line(exc)}") from exc
    # pandas' Parquet index columns are stored in the schema but are not data columns.
    columns = [str(c) for c in columns if not str(c).startswith("__index_level_")]
    if not columns:
        raise DataError("data.path", f"{file} has no columns; it needs a header row")
    return columns


def _check_target_in_columns(target: str, columns: Sequence[str], file: Path) -> None:
    if target in columns:
        return
    hint = _did_you_mean(target, columns)
    if len(columns) == 1 and any(sep in columns[0] for sep in (";", "\t", "|")):
        hint += " (the file may use a separator other than ',': save it comma-separated)"
    raise DataError(
        "data.target",
        f"target column {target!r} is not in {file}{hint}; available columns: "
        f"{_preview(columns)}",
    )


def _drop_missing_target(y: pd.Series, X: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame, int, np.ndarray]:
    missing = y.isna()
    if not (pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y)):
        blank = y.astype(str).str.strip().eq("")
        missing = missing | (blank & ~missing)
    missing = missing.to_numpy(dtype=bool)
    dropped = int(missing.sum())
    keep = ~missing
    return (
        y[keep].reset_index(drop=True),
        X[keep].reset_index(drop=True),
        dropped,
        np.flatnonzero(keep),
    )


def _missing_mask(col: pd.Series) -> np.ndarray:
    """Missing cells: NaN/None/NA, and (text columns) empty or blank strings."""
    missing = col.isna()
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        missing = missing | col.astype(str).str.strip().eq("")
    return missing.to_numpy(dtype=bool)


def _refuse_missing(frame: pd.DataFrame, target: str, file: Path) -> None:
    """``missing: error``: the first column (the target first) with a missing value is an error."""
    for col in [target, *[c for c in frame.columns if c != target]]:
        bad = _missing_mask(frame[col])
        if bad.any():
            rows = np.flatnonzero(bad)
            what = "the target column" if col == target else "column"
            fix = ("set data.missing: impute to drop rows without a target" if col == target else
                   "set data.missing: impute to fill them from the training split (median / most frequent)")
            raise DataError(
                "data.target" if col == target else "data.path",
                f"{what} {col!r} in {file} has {int(bad.sum())} missing value"
                f"{'s' if bad.sum() > 1 else ''} (NaN or empty), first at {_row(rows[0])}; "
                f"fill them in, or {fix}",
            )


def _row(position: int) -> str:
    """A 0-based row position as a user finds it: data row N (line N+1 of a CSV with a header)."""
    return f"data row {int(position) + 1}"


def _clean_target(y: pd.Series, task: str, *, where: str, key: str,
                  rows: np.ndarray | None = None) -> pd.Series:
    """Give the target a uniform type: float64 (regression), int64 or str (classification).

    ``rows`` maps each value to its row in the file (to name the row of a bad value).
    """

    def at(mask: np.ndarray) -> str:
        first = int(np.flatnonzero(mask)[0])
        return f" at {_row(rows[first] if rows is not None else first)}"

    if task == "regression":
        if pd.api.types.is_bool_dtype(y):
            return y.astype(np.float64)
        parsed = pd.to_numeric(y, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            example = y[bad].iloc[0]
            raise DataError(
                key,
                f"{where} must be numeric for regression, but {int(bad.sum())} of {len(y)} "
                f"values could not be parsed as numbers (e.g. {example!r}{at(bad)}); clean those values "
                "or use task: classification",
            )
        parsed = parsed.astype(np.float64)
        inf = ~np.isfinite(parsed.to_numpy())
        if inf.any():
            raise DataError(
                key,
                f"{where} has {int(inf.sum())} infinite values (first{at(inf)}); remove or replace them",
            )
        return parsed

    # classification
    if pd.api.types.is_bool_dtype(y):
        out = y.astype(bool)
    elif pd.api.types.is_numeric_dtype(y):
        values = y.astype(np.float64).to_numpy()
        non_integer = ~np.isfinite(values) | (values != np.round(values))
        if non_integer.any():
            example = y[non_integer].iloc[0]
            raise DataError(
                key,
                f"{where} has non-integer numeric values such as {example!r}{at(non_integer)}; class labels "
                "must be integers or strings (use task: regression for a continuous target)",
            )
        out = y.astype(np.int64)
    else:
        out = y.astype(str).astype(object)
    n_classes = out.nunique()
    if n_classes < 2:
        only = out.iloc[0] if len(out) else None
        raise DataError(
            key,
            f"{where} has a single class ({only!r}) in the usable rows; classification needs at "
            "least 2 classes: check the target column, or use task: regression",
        )
    return out


def _check_rows(n: int, dropped: int, total: int, *, where: str, key: str) -> None:
    if n < MIN_ROWS:
        detail = f" ({dropped} of {total} rows were dropped for a missing target)" if dropped else ""
        raise DataError(
            key,
            f"{where} has only {n} usable rows{detail}; at least {MIN_ROWS} are needed",
        )


def _check_features(X: pd.DataFrame, *, where: str) -> None:
    if X.shape[1] == 0:
        raise DataError(
            "data.path",
            f"{where} has no feature columns besides the target; add feature columns",
        )
    for col in X.columns:
        kind = _column_kind(X[col])
        if kind is None:
            raise DataError(
                "data.path",
                f"column {col!r} in {where} has type {X[col].dtype}, which cannot be used as a "
                "feature; drop it or convert it to numbers or strings",
            )
        if kind == "numeric":
            values = X[col].astype(np.float64).to_numpy()
            inf = np.isinf(values)
            if inf.any():
                raise DataError(
                    "data.path",
                    f"column {col!r} in {where} has {int(inf.sum())} infinite values (first at "
                    f"{_row(np.flatnonzero(inf)[0])}); remove or "
                    "replace them",
                )


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


def split_indices(
    y: np.ndarray | pd.Series,
    *,
    task: str,
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
    seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split row positions into train / validation / test.

    Row counts: ``round(n * val)`` validation and ``round(n * test)`` test rows (at least 1 when
    the fraction is positive), the rest training. Implemented with two calls to scikit-learn's
    ``train_test_split`` (train vs. the rest, then the rest into validation vs. test).

    Args:
        y: the target, one value per row (labels of any type for classification).
        task: ``"classification"`` or ``"regression"``.
        fractions: train, validation and test fractions; must sum to 1. Validation and test may
            be 0 (that split is then empty); train must be positive.
        seed: random seed; the same seed gives the same split.
        stratify: keep class proportions in every split (classification only; ignored for
            regression).

    Returns:
        Three sorted int64 arrays of positional row indices (train, val, test), disjoint and
        together covering ``0..len(y)-1``.

    Raises:
        DataError: key ``data.split`` for bad fractions, too few rows, or when stratification is
            impossible (a class with fewer than 2 rows, or a split smaller than the number of
            classes); key ``data.task`` for an unknown task.
    """
    _check_task_value(task)
    if task is None:
        raise DataError("data.task", f"task is required; use one of: {', '.join(TASKS)}")
    f_train, f_val, f_test = _check_fractions(fractions)
    labels = np.asarray(y)
    n = len(labels)
    n_val = _count(n, f_val)
    n_test = _count(n, f_test)
    n_train = n - n_val - n_test
    if n_train < 1:
        raise DataError(
            "data.split",
            f"{n} rows are too few for fractions {tuple(fractions)}: the training split would be "
            "empty; use more data or a larger training fraction",
        )
    positions = np.arange(n)
    n_rest = n_val + n_test
    if n_rest == 0:
        return positions, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)

    codes: np.ndarray | None = None
    uniques: Any = None
    if task == "classification" and stratify:
        codes, uniques = pd.factorize(pd.Series(labels), use_na_sentinel=False)
        _check_stratifiable(codes, uniques, {"train": n_train, "val": n_val, "test": n_test})

    try:
        train, rest = train_test_split(
            positions, test_size=n_rest, random_state=seed, shuffle=True,
            stratify=None if codes is None else codes,
        )
        if n_val == 0 or n_test == 0:
            val, test = (rest, rest[:0]) if n_test == 0 else (rest[:0], rest)
        else:
            rest_codes = None if codes is None else codes[rest]
            if rest_codes is not None:
                _check_rest_stratifiable(codes, rest_codes, uniques)
            val, test = train_test_split(
                rest, test_size=n_test, random_state=seed, shuffle=True, stratify=rest_codes,
            )
    except ValueError as exc:  # anything sklearn still refuses
        raise DataError(
            "data.split",
            f"cannot split {n} rows with fractions {tuple(fractions)}"
            f"{' stratified by class' if codes is not None else ''}: {_first_line(exc)}; "
            "use stratify: false or more data",
        ) from exc
    return (
        np.sort(train).astype(np.int64),
        np.sort(val).astype(np.int64),
        np.sort(test).astype(np.int64),
    )


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise DataError(
            "data.split",
            f"split fractions must be three numbers (train, val, test), got {fractions!r}",
        ) from None
    if len(values) != 3:
        raise DataError(
            "data.split",
            f"split fractions must be three numbers (train, val, test), got {fractions!r}",
        )
    if any(not np.isfinite(v) or v < 0 or v > 1 for v in values):
        raise DataError(
            "data.split",
            f"split fractions must each be between 0 and 1, got {values}",
        )
    if values[0] <= 0:
        raise DataError("data.split", f"the training fraction must be positive, got {values}")
    if abs(sum(values) - 1.0) > _FRACTION_TOLERANCE:
        raise DataError(
            "data.split",
            f"split fractions {values} sum to {sum(values):g}; they must sum to 1 "
            "(e.g. 0.7, 0.2, 0.1)",
        )
    return values  # type: ignore[return-value]


def _count(n: int, fraction: float) -> int:
    if fraction <= 0:
        return 0
    return max(1, int(round(n * fraction)))


def _check_stratifiable(codes: np.ndarray, uniques: Any, sizes: dict[str, int]) -> None:
    counts = np.bincount(codes, minlength=len(uniques))
    rarest = int(np.argmin(counts))
    if counts[rarest] < 2:
        raise DataError(
            "data.split",
            f"cannot stratify: class {_label(uniques[rarest])} has only {int(counts[rarest])} "
            f"row (every class needs at least 2); use stratify: false, more data, or drop that "
            "class",
        )
    n_classes = len(uniques)
    for split, size in sizes.items():
        if 0 < size < n_classes:
            raise DataError(
                "data.split",
                f"cannot stratify: the {split} split would have {size} rows but there are "
                f"{n_classes} classes (rarest: {_label(uniques[rarest])} with "
                f"{int(counts[rarest])} rows); use stratify: false, more data, or larger fractions",
            )


def _check_rest_stratifiable(codes: np.ndarray, rest_codes: np.ndarray, uniques: Any) -> None:
    total = np.bincount(codes, minlength=len(uniques))
    rest = np.bincount(rest_codes, minlength=len(uniques))
    bad = np.flatnonzero(rest == 1)
    if bad.size:
        c = int(bad[0])
        raise DataError(
            "data.split",
            f"cannot stratify: class {_label(uniques[c])} has only {int(total[c])} rows, which "
            "leaves 1 for validation and test together (at least 2 are needed to stratify "
            "them); use stratify: false or more data",
        )


# --------------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------------


def prepare(
    raw: RawData,
    *,
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
    seed: int = 0,
    stratify: bool | None = None,
) -> Prepared:
    """Split ``raw`` and preprocess it, fitting every step on the training split only.

    Steps (all fitted on the training rows, then applied to validation and test):

    - numeric features: median imputation, then standard scaling;
    - categorical features (object, string, category, bool): most-frequent imputation, then
      one-hot encoding (categories unseen in training become all-zero rows);
    - classification labels: a ``LabelEncoder`` fitted on the training labels maps them to class
      indices ``0..n_classes-1``; regression targets are left unscaled.

    Feature columns that are entirely missing in the training split carry no information and are
    dropped (listed in ``report["empty_columns_dropped"]``).

    Args:
        raw: the loaded data.
        fractions: train, validation and test fractions (see :func:`split_indices`).
        seed: split seed.
        stratify: stratify the split by class; None means True for classification. Ignored for
            regression.

    Returns:
        The :class:`Prepared` data. Its ``report`` holds: ``name``, ``task``, ``seed``,
        ``fractions``, ``stratified``, ``rows_total`` (rows read, including dropped ones),
        ``rows_used``, ``rows_dropped_missing_target``, ``rows_train``, ``rows_val``,
        ``rows_test``, ``missing_values_imputed`` (``{"train", "val", "test"}`` counts of missing
        feature cells filled), ``numeric_columns``, ``categorical_columns``,
        ``empty_columns_dropped``, ``one_hot_features``, ``scaled_columns``, ``n_features``,
        ``n_classes``, ``labels_encoded`` (True when the labels were not already the integers
        ``0..n_classes-1``), ``class_counts`` (classification: per split, per class name).

    Raises:
        DataError: key ``data.split`` when the split is impossible, ``data.target`` when the
            validation or test split holds a class absent from training, ``data.task`` for an
            unknown task, ``data.path`` for an unusable feature column.
    """
    task = raw.task
    _check_task_value(task)
    if task is None:
        raise DataError("data.task", f"task is required; use one of: {', '.join(TASKS)}")
    classification = task == "classification"
    do_stratify = classification and (True if stratify is None else bool(stratify))
    _check_features(raw.X, where=raw.name)

    try:
        idx_train, idx_val, idx_test = split_indices(
            raw.y, task=task, fractions=fractions, seed=seed, stratify=do_stratify
        )
    except DataError as e:  # name the data and its target column (split_indices sees only labels)
        target = f"target {str(raw.y.name)!r} of " if raw.y.name is not None else ""
        raise DataError(e.key, f"{target}{raw.name}: {e.message}") from None
    parts = {"train": idx_train, "val": idx_val, "test": idx_test}

    # Fixed (not fitted) type normalisation: numeric -> float64, categorical -> str objects.
    X_all, numeric_cols, categorical_cols = _normalise_features(raw.X)
    X_parts = {k: X_all.iloc[v].reset_index(drop=True) for k, v in parts.items()}
    y_parts = {k: raw.y.iloc[v].reset_index(drop=True) for k, v in parts.items()}

    empty = [c for c in X_all.columns if X_parts["train"][c].isna().all()]
    numeric_cols = [c for c in numeric_cols if c not in empty]
    categorical_cols = [c for c in categorical_cols if c not in empty]
    kept = numeric_cols + categorical_cols
    if not kept:
        raise DataError(
            "data.path",
            f"every feature column of {raw.name} is empty in the training split; nothing to "
            "learn from",
        )
    imputed = {k: int(X_parts[k][kept].isna().to_numpy().sum()) for k in parts}

    transformers: list[tuple[str, Any, list[str]]] = []
    if numeric_cols:
        transformers.append((
            "numeric",
            Pipeline([
                ("impute", SimpleImputer(strategy="median")),
                ("scale", StandardScaler()),
            ]),
            numeric_cols,
        ))
    if categorical_cols:
        transformers.append((
            "categorical",
            Pipeline([
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("one_hot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]),
            categorical_cols,
        ))
    columns = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    columns.fit(X_parts["train"][kept])

    feature_names = list(numeric_cols)
    one_hot = 0
    if categorical_cols:
        encoder: OneHotEncoder = columns.named_transformers_["categorical"].named_steps["one_hot"]
        names = [str(s) for s in encoder.get_feature_names_out(categorical_cols)]
        one_hot = len(names)
        feature_names += names
    n_features = len(feature_names)

    def transform_X(frame: pd.DataFrame) -> np.ndarray:
        if len(frame) == 0:
            return np.empty((0, n_features), dtype=np.float32)
        return np.ascontiguousarray(columns.transform(frame[kept]), dtype=np.float32)

    Xs = {k: transform_X(X_parts[k]) for k in parts}

    class_names: list[str] = []
    n_classes = 0
    labels_encoded = False
    class_counts: dict[str, dict[str, int]] = {}
    if classification:
        encoder_y = LabelEncoder().fit(y_parts["train"].to_numpy())
        classes = encoder_y.classes_
        known = set(classes.tolist())
        for k in ("val", "test"):
            unseen = sorted({v for v in y_parts[k].tolist() if v not in known}, key=str)
            if unseen:
                raise DataError(
                    "data.target",
                    f"the {k} split of {raw.name} has class {_label(unseen[0])} "
                    f"({int((y_parts[k] == unseen[0]).sum())} rows), which is not in the training "
                    "split; use stratify: true, more data, or drop rare classes",
                )
        ys = {
            k: (encoder_y.transform(v.to_numpy()) if len(v) else np.empty(0)).astype(np.int64)
            for k, v in y_parts.items()
        }
        class_names = [str(c) for c in classes.tolist()]
        n_classes = len(class_names)
        labels_encoded = not (
            np.issubdtype(classes.dtype, np.integer)
            and not np.issubdtype(classes.dtype, np.bool_)
            and np.array_equal(classes, np.arange(n_classes))
        )
        class_counts = {
            k: {class_names[i]: int(c) for i, c in enumerate(np.bincount(v, minlength=n_classes))}
            for k, v in ys.items()
        }
    else:
        ys = {k: v.to_numpy(dtype=np.float32) for k, v in y_parts.items()}

    rows_used = len(raw.y)
    report: dict[str, Any] = {
        "name": raw.name,
        "task": task,
        "seed": int(seed),
        "fractions": [float(f) for f in fractions],
        "stratified": bool(do_stratify),
        "rows_total": int(rows_used + raw.rows_dropped_missing_target),
        "rows_used": int(rows_used),
        "rows_dropped_missing_target": int(raw.rows_dropped_missing_target),
        "rows_train": int(len(idx_train)),
        "rows_val": int(len(idx_val)),
        "rows_test": int(len(idx_test)),
        "missing_values_imputed": imputed,
        "numeric_columns": [str(c) for c in numeric_cols],
        "categorical_columns": [str(c) for c in categorical_cols],
        "empty_columns_dropped": [str(c) for c in empty],
        "one_hot_features": int(one_hot),
        "scaled_columns": int(len(numeric_cols)),
        "n_features": int(n_features),
        "n_classes": int(n_classes),
        "labels_encoded": bool(labels_encoded),
    }
    if classification:
        report["class_counts"] = class_counts

    return Prepared(
        train=Split(Xs["train"], ys["train"]),
        val=Split(Xs["val"], ys["val"]),
        test=Split(Xs["test"], ys["test"]),
        task=task,
        n_features=n_features,
        n_classes=n_classes,
        class_names=class_names,
        feature_names=feature_names,
        report=report,
    )


def _column_kind(col: pd.Series) -> str | None:
    """``"categorical"``, ``"numeric"``, or None for a type that cannot be a feature."""
    dtype = col.dtype
    if (
        pd.api.types.is_bool_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
    ):
        return "categorical"
    if pd.api.types.is_complex_dtype(dtype):
        return None
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return None


def _normalise_features(X: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Cast numeric columns to float64 and categorical ones to str objects with NaN for missing.

    This is a fixed, row-wise conversion (nothing is learned from the data), so doing it before
    the split leaks nothing; it gives scikit-learn uniform inputs (mixed-type object columns,
    nullable dtypes and ``pd.NA`` would otherwise trip the imputer or the encoder).
    """
    out: dict[str, pd.Series] = {}
    numeric: list[str] = []
    categorical: list[str] = []
    for col in X.columns:
        series = X[col]
        name = str(col)
        if _column_kind(series) == "numeric":
            out[name] = series.astype(np.float64)
            numeric.append(name)
        else:
            missing = series.isna().to_numpy()
            values = series.astype(object).to_numpy()
            text = np.array([str(v) for v in values], dtype=object) if len(values) else values
            text[missing] = np.nan
            out[name] = pd.Series(text, index=series.index, dtype=object)
            categorical.append(name)
    return pd.DataFrame(out, index=X.index), numeric, categorical


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _preview(columns: Sequence[str]) -> str:
    shown = ", ".join(repr(str(c)) for c in columns[:_MAX_COLUMNS_LISTED])
    more = len(columns) - _MAX_COLUMNS_LISTED
    return shown + (f", ... and {more} more" if more > 0 else "")


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    lowered = {str(c).lower(): str(c) for c in choices}
    if word.lower() in lowered:
        return f" (did you mean {lowered[word.lower()]!r}? names are case-sensitive)"
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _label(value: Any) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
