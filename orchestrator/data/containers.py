"""What the data steps hand each other: :class:`RawData` (a source's table, before any split),
:class:`ArrayData` (a source's arrays: a NumPy file, an image folder, a loader's arrays),
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

__all__ = ["RawData", "ArrayData", "Split", "Prepared"]


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
class ArrayData:
    """A data set of arrays, before splitting: one example per row of ``x``, any example shape.

    Attributes:
        x: numeric features, shape ``(n, *example_shape)`` (float32 for an image folder, scaled
            to [0, 1]; otherwise the user's values, as given).
        y: the target, shape ``(n,)``: int64 or str labels (classification), float64 targets
            (regression).
        task: ``"classification"`` or ``"regression"``.
        name: the file, folder or loader it came from.
        source: ``"npz"``, ``"image_folder"`` or ``"loader"``.
        key: the spec key its problems are reported under (``data.path`` or ``data.loader``).
        parts: the row positions of ``train``, ``val`` and ``test`` when the source split the data
            itself (a loader's parts); None when the spec's fractions split it.
        scaling: what was done to the values of ``x`` (for the report).
        paths: an image folder's file of each example (the exported model's test rows name them);
            None for other sources.
        read_as: how the examples were read (an image folder: ``image_size``, ``color_mode``), so
            that the exported model reads new inputs the same way; None for other sources.
    """

    x: np.ndarray
    y: np.ndarray
    task: str
    name: str
    source: str
    key: str = "data.path"
    parts: dict[str, np.ndarray] | None = None
    scaling: str = "none"
    paths: np.ndarray | None = None
    read_as: dict | None = None

    @property
    def rows_dropped_missing_target(self) -> int:
        """Arrays drop no rows (a missing label is an error); 0, as :class:`RawData` has it."""
        return 0


@dataclass(frozen=True, eq=False)
class Split:
    """One split of prepared data.

    Attributes:
        X: float32 features, shape ``(n, *input_shape)``.
        y: int64 class indices (classification) or float32 targets (regression), shape ``(n,)``.
    """

    X: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(self.X.shape[0])


# A regression target whose mean or standard deviation is beyond this is said to be large (see
# Prepared.warnings): the built-in data sets' targets (diabetes: mean 152, spread 77) stay under it.
LARGE_TARGET = 1_000.0


@dataclass(frozen=True, eq=False)
class Prepared:
    """Train / validation / test arrays with preprocessing fitted on the training rows only.

    Attributes:
        train: the training split.
        val: the validation split (may be empty when its fraction is 0).
        test: the test split (empty after :meth:`without_test`, or when its fraction is 0).
        task: ``"classification"`` or ``"regression"``.
        n_features: number of values in one example (a table's columns after one-hot encoding):
            the product of ``input_shape``.
        n_classes: number of classes seen in training; 0 for regression.
        class_names: class label of each class index, as strings; ``[]`` for regression.
        feature_names: a table's name of each value of an example (one-hot columns are
            ``<column>_<value>``); ``[]`` for arrays.
        input_shape: the shape of one example: ``(n_features,)`` for a table unless
            ``data.shape`` reshapes it; ``x``'s example shape for arrays. Defaults to
            ``(n_features,)``.
        report: JSON-serialisable counts describing what was done (see
            :func:`~orchestrator.data.prepare`).
        preprocessing: the fitted preprocessing as data (:mod:`orchestrator.data.schema`): what
            the exported model needs to take raw rows.
        test_rows: the test examples as a user gives them back to the exported model, for its
            ``test_predictions.parquet``: a table's rows as they were read (features and target);
            for arrays, each example's file (``path``, an image folder) or row of ``x``
            (``index``) and its ``target``. The driver keeps it:
            it is in no trial's data (:class:`~orchestrator.training.TrialData`) and
            :meth:`without_test` drops it.
        target: the target column's name (a table's), or None.
    """

    train: Split
    val: Split
    test: Split
    task: str
    n_features: int
    n_classes: int
    class_names: list[str]
    feature_names: list[str]
    input_shape: tuple[int, ...] = ()
    report: dict = field(default_factory=dict)
    preprocessing: dict = field(default_factory=dict)
    test_rows: "pd.DataFrame | None" = field(default=None, repr=False)
    target: str | None = None

    def __post_init__(self) -> None:
        shape = tuple(int(d) for d in self.input_shape) or (int(self.n_features),)
        object.__setattr__(self, "input_shape", shape)

    def warnings(self) -> list[str]:
        """What to tell the user of this data before a sweep trains on it (``warning:`` lines).

        A regression target far from unit scale (its mean or spread over
        :data:`LARGE_TARGET`): the features are standardised, the target is kept as it is (the
        predictions and the metrics are in its units), and a network whose output starts near 0
        learns almost nothing of a target of the order of 1e5 in a sweep's few epochs (every trial
        of a user's house prices ended with the same MAE, its diagnosis too_slow).
        """
        if self.task != "regression" or not len(self.train.y):
            return []
        y = np.asarray(self.train.y, dtype=np.float64)
        mean, spread = float(np.mean(y)), float(np.std(y))
        if max(abs(mean), spread) <= LARGE_TARGET:
            return []
        name = f" {self.target!r}" if self.target else ""
        return [f"data.target{name}: the regression target is large (mean {mean:.3g}, standard deviation "
                f"{spread:.3g}) and is learnt as it is: a network's output starts near 0 and moves little in "
                "a few epochs; express it in larger units (thousands, millions) in the data or the loader"]

    def without_test(self) -> "Prepared":
        """Return a copy whose test split is empty, so trials cannot touch the test rows.

        Returns:
            The same data with ``test`` replaced by a 0-row :class:`Split` (same ``input_shape``,
            same dtypes); ``report`` is copied and gains ``"test_withheld": True``.
        """
        empty = Split(
            X=np.empty((0, *self.input_shape), dtype=np.float32),
            y=np.empty((0,), dtype=self.test.y.dtype),
        )
        report = dict(self.report)
        report["test_withheld"] = True
        return dataclasses.replace(self, test=empty, report=report, test_rows=None)

