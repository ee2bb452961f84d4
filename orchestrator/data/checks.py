"""Checks every data set passes, whatever its source: the task, the row count, the feature columns.

The sources (:mod:`.builtin`, :mod:`.files`), the split and the preprocessing all call these, so a
problem is reported with the same words wherever it is found.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ..errors import DataError
from .messages import label, row

__all__ = ["TASKS", "MIN_ROWS", "STRAY_TEXT_FRACTION", "check_task_value", "require_task", "check_rows",
           "check_features", "column_kind"]

TASKS = ("classification", "regression")
MIN_ROWS = 10
"""Fewest usable rows (after dropping rows with a missing target) a data set may have."""
STRAY_TEXT_FRACTION = 0.05
"""A text column whose non-empty values are all numbers but for at most this fraction of them (or
but for one, among at least :data:`MIN_ROWS` values) is a numeric column with stray text ('lots' in
an income column): refused, rather than one-hot encoded as one category per number."""


def check_task_value(task: str | None) -> None:
    """Refuse a task that is neither of :data:`TASKS`; None (not given) passes.

    Raises:
        DataError: key ``data.task``.
    """
    if task is not None and task not in TASKS:
        raise DataError("data.task", f"unknown task {task!r}; use one of: {', '.join(TASKS)}")


def require_task(task: str | None) -> str:
    """The task, which must be given here (splitting and preprocessing depend on it).

    Raises:
        DataError: key ``data.task`` when it is unknown or None.
    """
    check_task_value(task)
    if task is None:
        raise DataError("data.task", f"task is required; use one of: {', '.join(TASKS)}")
    return task


def check_rows(n: int, dropped: int, total: int, *, where: str, key: str) -> None:
    """Refuse fewer than :data:`MIN_ROWS` usable rows, saying how many were dropped and why.

    Args:
        n: usable rows.
        dropped: rows dropped for a missing target.
        total: rows read.
        where: the data set, as the error names it.
        key: the spec key the error concerns.

    Raises:
        DataError: with ``key``.
    """
    if n < MIN_ROWS:
        detail = f" ({dropped} of {total} rows were dropped for a missing target)" if dropped else ""
        raise DataError(
            key,
            f"{where} has only {n} usable rows{detail}; at least {MIN_ROWS} are needed",
        )


def check_features(X: pd.DataFrame, *, where: str, rows: np.ndarray | None = None) -> None:
    """Refuse a table with no feature column, a column of an unusable type, a numeric column with
    stray text (see :data:`STRAY_TEXT_FRACTION`), or an infinite value.

    Missing values pass: they are imputed (from the training split) by the preprocessing.

    Args:
        rows: each row's position in the file (rows with a missing target may have been dropped),
            to name a bad value's row; None: the rows are the file's.

    Raises:
        DataError: key ``data.path``, naming the column (and the row and value of a bad one).
    """

    def at(position: int) -> str:
        return row(rows[position] if rows is not None else position)

    if X.shape[1] == 0:
        raise DataError(
            "data.path",
            f"{where} has no feature columns besides the target; add feature columns",
        )
    for col in X.columns:
        kind = column_kind(X[col])
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
                    f"{at(np.flatnonzero(inf)[0])}); remove or "
                    "replace them",
                )
        elif kind == "categorical":
            _refuse_stray_text(X[col], col, where=where, at=at)


def _refuse_stray_text(col: pd.Series, name: str, *, where: str, at: Callable[[int], str]) -> None:
    """Refuse a text column that holds numbers but for a few values (:data:`STRAY_TEXT_FRACTION`).

    Read as text, every number would become a category of its own. A pandas ``category`` or
    boolean column was made categorical on purpose and passes, as does one with no stray at all
    (numeric codes stored as text) or with more strays than a few (a column of categories).
    """
    if isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(col.dtype):
        return
    text = col.astype(object)
    try:  # each distinct value parsed once: a column of categories has few
        codes, distinct = pd.factorize(text)
    except TypeError:  # unhashable values (lists): not a column of numbers
        return
    distinct = pd.Series(distinct, dtype=object)
    blank = distinct.astype(str).str.strip().eq("").to_numpy()
    number = pd.to_numeric(distinct, errors="coerce").notna().to_numpy()
    present = (codes >= 0) & ~blank[codes]  # missing values (code -1) are not counted
    n = int(present.sum())
    if n == 0:
        return
    stray = present & ~number[codes]
    k = int(stray.sum())
    if not (k <= STRAY_TEXT_FRACTION * n or (k == 1 and n >= MIN_ROWS)) or k == 0:
        return
    first = int(np.flatnonzero(stray)[0])
    one = k == 1
    raise DataError(
        "data.path",
        f"column {name!r} in {where} holds numbers but {k} of its {n} values {'is' if one else 'are'} "
        f"not a number (first {label(text.iloc[first])} at {at(first)}); replace {'it' if one else 'them'} "
        f"with {'a number' if one else 'numbers'}, or empty {'that cell' if one else 'those cells'} and set "
        "data.missing: impute (as text, every number would be a category of its own)",
    )


def column_kind(col: pd.Series) -> str | None:
    """``"categorical"``, ``"numeric"``, or None for a type that cannot be a feature.

    The check and the preprocessing both use it, so a column is encoded the way it was checked.
    """
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
