"""Split row positions into train / validation / test (70/20/10 by default, stratified by class).

Only row positions are split here, before anything is learned from the data, so that the
preprocessing can then be fitted on the training rows alone.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ..errors import DataError, first_line
from .checks import require_task
from .messages import label

__all__ = ["split_indices"]

_FRACTION_TOLERANCE = 1e-6


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
    require_task(task)
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
    if n_val + n_test == 0:
        return positions, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)

    codes: np.ndarray | None = None
    uniques: Any = None
    if task == "classification" and stratify:
        codes, uniques = pd.factorize(pd.Series(labels), use_na_sentinel=False)
        _check_stratifiable(codes, uniques, {"train": n_train, "val": n_val, "test": n_test})

    try:
        train, val, test = _split_positions(positions, n_val, n_test, seed=seed, codes=codes, uniques=uniques)
    except DataError:  # already one line naming the class and the fix
        raise
    except ValueError as exc:  # anything sklearn still refuses
        raise DataError(
            "data.split",
            f"cannot split {n} rows with fractions {tuple(fractions)}"
            f"{' stratified by class' if codes is not None else ''}: {first_line(exc, limit=None)}; "
            "use stratify: false or more data",
        ) from exc
    return (
        np.sort(train).astype(np.int64),
        np.sort(val).astype(np.int64),
        np.sort(test).astype(np.int64),
    )


def _split_positions(
    positions: np.ndarray, n_val: int, n_test: int, *, seed: int, codes: np.ndarray | None, uniques: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two calls to ``train_test_split``: train against the rest, then the rest into val and test.

    Raises ``ValueError`` (a ``DataError`` included) when a split is impossible; the caller words it.
    """
    train, rest = train_test_split(
        positions, test_size=n_val + n_test, random_state=seed, shuffle=True, stratify=codes,
    )
    if n_val == 0 or n_test == 0:
        val, test = (rest, rest[:0]) if n_test == 0 else (rest[:0], rest)
        return train, val, test
    rest_codes = None if codes is None else codes[rest]
    if rest_codes is not None:
        _check_rest_stratifiable(codes, rest_codes, uniques)
    val, test = train_test_split(
        rest, test_size=n_test, random_state=seed, shuffle=True, stratify=rest_codes,
    )
    return train, val, test


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Three numbers in [0, 1] summing to 1, the training one positive."""
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
    """Rows of a held-out split: at least 1 when its fraction is positive, so it is never silently empty."""
    if fraction <= 0:
        return 0
    return max(1, int(round(n * fraction)))


def _check_stratifiable(codes: np.ndarray, uniques: Any, sizes: dict[str, int]) -> None:
    """Every class needs 2 rows, and every non-empty split one row per class, to be stratified."""
    counts = np.bincount(codes, minlength=len(uniques))
    rarest = int(np.argmin(counts))
    if counts[rarest] < 2:
        raise DataError(
            "data.split",
            f"cannot stratify: class {label(uniques[rarest])} has only {int(counts[rarest])} "
            f"row (every class needs at least 2); use stratify: false, more data, or drop that "
            "class",
        )
    n_classes = len(uniques)
    for split, size in sizes.items():
        if 0 < size < n_classes:
            raise DataError(
                "data.split",
                f"cannot stratify: the {split} split would have {size} rows but there are "
                f"{n_classes} classes (rarest: {label(uniques[rarest])} with "
                f"{int(counts[rarest])} rows); use stratify: false, more data, or larger fractions",
            )


def _check_rest_stratifiable(codes: np.ndarray, rest_codes: np.ndarray, uniques: Any) -> None:
    """The held-out rows are split again by class: a class with 1 held-out row cannot be."""
    total = np.bincount(codes, minlength=len(uniques))
    rest = np.bincount(rest_codes, minlength=len(uniques))
    bad = np.flatnonzero(rest == 1)
    if bad.size:
        c = int(bad[0])
        raise DataError(
            "data.split",
            f"cannot stratify: class {label(uniques[c])} has only {int(total[c])} rows, which "
            "leaves 1 for validation and test together (at least 2 are needed to stratify "
            "them); use stratify: false or more data",
        )

