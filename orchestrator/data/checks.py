"""Checks every data set passes, whatever its source: the task, the row count, the feature columns.

The sources (:mod:`.builtin`, :mod:`.files`), the split and the preprocessing all call these, so a
problem is reported with the same words wherever it is found.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .messages import row

__all__ = ["TASKS", "MIN_ROWS", "check_task_value", "require_task", "check_rows", "check_features",
           "column_kind"]

TASKS = ("classification", "regression")
MIN_ROWS = 10
"""Fewest usable rows (after dropping rows with a missing target) a data set may have."""


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


def check_features(X: pd.DataFrame, *, where: str) -> None:
    """Refuse a table with no feature column, a column of an unusable type, or an infinite value.

    Missing values pass: they are imputed (from the training split) by the preprocessing.

    Raises:
        DataError: key ``data.path``, naming the column (and the row of an infinite value).
    """
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
                    f"{row(np.flatnonzero(inf)[0])}); remove or "
                    "replace them",
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
