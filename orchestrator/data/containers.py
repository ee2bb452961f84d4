"""What the data steps hand each other: :class:`RawData` (a source's table, before any split),
:class:`Split` and :class:`Prepared` (float32 arrays ready for Keras, preprocessing fitted on the
training rows only).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RawData", "Split", "Prepared"]


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
        report: JSON-serialisable counts describing what was done (see
            :func:`~orchestrator.data.prepare`).
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

