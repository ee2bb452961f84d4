"""The built-in data sets: ``digits`` and ``diabetes`` (scikit-learn's) and ``exam`` (generated).

They need no file, so the examples and the tests run anywhere; each implies its task and target.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import DataError
from .checks import check_rows
from .containers import RawData
from .messages import did_you_mean

__all__ = ["BUILTIN_DATASETS", "check_builtin", "load_builtin"]

BUILTIN_DATASETS = ("digits", "diabetes", "exam")
_BUILTIN_TASK = {"digits": "classification", "diabetes": "regression", "exam": "classification"}
_BUILTIN_TARGET = {"digits": "target", "diabetes": "target", "exam": "passed"}
_EXAM_DEFAULT_SAMPLES = 1000


def check_builtin(dataset: str, target: str | None, task: str | None) -> str:
    """Check a built-in data set's name and the target and task given with it.

    Returns:
        The task it implies.

    Raises:
        DataError: key ``data.dataset`` for an unknown name, ``data.task`` or ``data.target`` when
            the one given is not the data set's.
    """
    if dataset not in BUILTIN_DATASETS:
        hint = did_you_mean(str(dataset), BUILTIN_DATASETS)
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


def load_builtin(
    dataset: str, *, target: str | None, task: str | None, samples: int | None, seed: int
) -> RawData:
    """Load (or, for ``exam``, generate) a built-in data set.

    Args:
        dataset: one of :data:`BUILTIN_DATASETS`.
        target: None, or the data set's own target name.
        task: None, or the data set's own task.
        samples: ``exam``: rows to generate (default 1000); ``digits``, ``diabetes``: a
            deterministic random subsample of that many rows (default: all).
        seed: seed for generating ``exam`` and for subsampling.

    Raises:
        DataError: as :func:`check_builtin`, and key ``data.samples`` for a bad ``samples``.
    """
    task = check_builtin(dataset, target, task)
    if samples is not None and (
        isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1
    ):
        raise DataError("data.samples", f"samples must be a positive integer, got {samples!r}")

    if dataset == "exam":
        n = _EXAM_DEFAULT_SAMPLES if samples is None else int(samples)
        check_rows(n, 0, n, where="built-in data set 'exam'", key="data.samples")
        X, y = _make_exam(n, seed)
    else:
        X, y = _load_sklearn(dataset, samples=samples, seed=seed)
        y = y.astype(np.int64) if task == "classification" else y.astype(np.float64)
    return RawData(X=X, y=y, task=task, name=dataset, rows_dropped_missing_target=0)


def _load_sklearn(dataset: str, *, samples: int | None, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """scikit-learn's ``digits`` or ``diabetes``, all rows or a seeded subsample of ``samples``."""
    from sklearn.datasets import load_diabetes, load_digits

    bunch = (load_digits if dataset == "digits" else load_diabetes)(as_frame=True)
    X = bunch.data.reset_index(drop=True)
    y = bunch.target.reset_index(drop=True).rename(_BUILTIN_TARGET[dataset])
    if samples is None:
        return X, y
    n_all = len(y)
    if samples > n_all:
        raise DataError(
            "data.samples",
            f"built-in data set {dataset!r} has only {n_all} rows, cannot take "
            f"samples={samples}; use at most {n_all} or leave samples out",
        )
    check_rows(int(samples), 0, int(samples),
               where=f"built-in data set {dataset!r}", key="data.samples")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(n_all, size=int(samples), replace=False))
    return X.iloc[keep].reset_index(drop=True), y.iloc[keep].reset_index(drop=True)


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
