"""Arrays as a data set (a NumPy file, an image folder, a loader's arrays): checked, split and
labelled as a table is, but not preprocessed.

The values of ``x`` are the user's: they are cast to float32 and otherwise left as given (no
imputation, no scaling); an image folder's pixels are scaled to [0, 1] when they are read
(:mod:`.images`). The labels are encoded as a table's are (:func:`~.preprocess.encode_labels`,
fitted on the training rows), and the rows are split by :func:`~.split.split_indices` with the
same seed and stratification rules, unless the source split them itself (a loader's parts).
:func:`reshape_examples` applies ``data.shape`` to tables and arrays alike.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from .checks import require_task
from .containers import ArrayData, Prepared, Split
from .files import clean_target
from .messages import row
from .preprocess import EncodedLabels, encode_labels
from .schema import array_preprocessing
from .split import split_indices

__all__ = ["example_arrays", "clean_labels", "prepare_arrays", "reshape_examples"]


def example_arrays(x: Any, y: Any, *, where: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as float32 examples ``(n, ...)`` and ``y`` as one label per example ``(n,)``.

    Args:
        x: numbers (bool, integer or float), one example per row, any example shape.
        y: the labels or targets: 1-D, or ``(n, 1)``.
        where: the arrays as errors name them (``x in digits.npz``: ``where`` is ``digits.npz``).
        key: the spec key errors are reported under.

    Raises:
        DataError: with ``key``: x not numeric or not finite, y not 1-D, lengths that differ.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    if x.dtype.kind not in "biuf":
        raise DataError(key, f"x in {where} holds {_kind(x)}, not numbers; give x as a numeric array")
    if x.ndim == 0:
        raise DataError(key, f"x in {where} is a single value; it needs one row per example")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(key, f"y in {where} has shape {tuple(y.shape)}; it must be 1-D (one label per "
                        "example) or (n, 1)")
    if len(x) != len(y):
        raise DataError(key, f"x in {where} has {len(x)} examples but y has {len(y)} labels; they must "
                        "be the same length")
    x = x.astype(np.float32, copy=False)
    finite = np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if not finite.all():
        bad = int((~np.isfinite(x)).sum())
        raise DataError(key, f"x in {where} has {bad} NaN or infinite values (first in "
                        f"{row(np.flatnonzero(~finite)[0])}); remove or replace them")
    return x, y


def clean_labels(y: np.ndarray, task: str, *, where: str, key: str) -> np.ndarray:
    """The labels of every example with one type, as a table's target gets
    (:func:`~.files.clean_target`): int64, bool or str labels and at least 2 classes
    (classification), finite float64 targets (regression).

    Raises:
        DataError: with ``key``, naming ``y in <where>`` and the row of a bad value.
    """
    return clean_target(pd.Series(y), task, where=f"y in {where}", key=key).to_numpy()


def _kind(a: np.ndarray) -> str:
    """What a non-numeric array holds, in words."""
    if a.dtype.kind in "US":
        return f"text ({a.dtype})"
    if a.dtype.kind == "O":
        return "Python objects (rows of different lengths, or mixed types)"
    return f"values of type {a.dtype}"


def prepare_arrays(data: ArrayData, *, fractions: tuple[float, float, float] = (0.7, 0.2, 0.1), seed: int = 0,
                   stratify: bool | None = None, shape: Sequence[int] | None = None) -> Prepared:
    """Split ``data`` (or take its own parts), encode its labels on the training rows, reshape.

    Args:
        data: the arrays.
        fractions: train, validation and test fractions; not applied when ``data.parts`` is set.
        seed: split seed.
        stratify: stratify by class; None means True for classification.
        shape: ``data.shape``: each example is reshaped to it (see :func:`reshape_examples`).

    Returns:
        The :class:`Prepared` data (``feature_names`` empty); its report holds the keys of a
        table's (:func:`~orchestrator.data.prepare`; the table-only ones empty or 0) and
        ``source``, ``split_by`` (``"fractions"`` or ``"loader"``), ``scaling`` and ``input_shape``.

    Raises:
        DataError: ``data.split`` for an impossible split, ``data.shape``, or the data's key (a
            validation or test class absent from training).
    """
    task = require_task(data.task)
    do_stratify = data.parts is None and task == "classification" and (stratify is None or bool(stratify))
    parts = data.parts if data.parts is not None else _split(data, task, fractions, seed, do_stratify)
    try:
        labels = encode_labels(pd.Series(data.y), parts, task=task, name=data.name)
    except DataError as e:  # a class absent from training: the data's problem, not a target column's
        raise DataError(data.key, e.message) from None
    xs = {k: np.ascontiguousarray(data.x[v]) for k, v in parts.items()}
    per_example = f"each example of x has {math.prod(data.x.shape[1:])} values (shape {tuple(data.x.shape[1:])})"
    xs, input_shape = reshape_examples(xs, shape, per_example=per_example)
    if data.parts is not None:
        n = max(len(data.y), 1)
        fractions = tuple(len(parts[k]) / n for k in ("train", "val", "test"))  # type: ignore[assignment]
    return Prepared(
        train=Split(xs["train"], labels.y["train"]),
        val=Split(xs["val"], labels.y["val"]),
        test=Split(xs["test"], labels.y["test"]),
        task=task,
        n_features=math.prod(input_shape),
        n_classes=labels.n_classes,
        class_names=labels.class_names,
        feature_names=[],
        input_shape=input_shape,
        report=_report(data, task, seed=seed, fractions=fractions, stratified=do_stratify, parts=parts,
                       labels=labels, input_shape=input_shape),
        preprocessing={**array_preprocessing(data.scaling, data.read_as), "classes": labels.classes},
        test_rows=_rows(data, parts["test"]),
    )


def _rows(data: ArrayData, positions: np.ndarray) -> pd.DataFrame:
    """The test examples as a user finds them again: each one's file (an image folder) or its row
    of ``x`` (``index``; of the test part, for a loader's parts), then its label."""
    index = np.asarray(positions, dtype=np.int64)
    if data.parts is not None and len(index):  # the test part's rows follow train's and val's in x
        index = index - int(data.parts["test"][0])
    where = {"path": data.paths[positions]} if data.paths is not None else {"index": index}
    return pd.DataFrame({**where, "target": data.y[positions]})


def _split(data: ArrayData, task: str, fractions: tuple[float, float, float], seed: int,
           stratify: bool) -> dict[str, np.ndarray]:
    """Row positions of each split, an impossible split's error naming the data."""
    try:
        train, val, test = split_indices(data.y, task=task, fractions=fractions, seed=seed, stratify=stratify)
    except DataError as e:
        raise DataError(e.key, f"{data.name}: {e.message}") from None
    return {"train": train, "val": val, "test": test}


def reshape_examples(xs: dict[str, np.ndarray], shape: Sequence[int] | None, *,
                     per_example: str) -> tuple[dict[str, np.ndarray], tuple[int, ...]]:
    """Reshape every split's examples to ``shape`` (``data.shape``); None keeps them as they are.

    Args:
        xs: split name -> array ``(n, ...)``; must hold ``"train"``.
        shape: the shape of one example, e.g. ``[8, 8, 1]``; its product must be the number of
            values in one example.
        per_example: how many values one example has, in words, for the error.

    Returns:
        The reshaped arrays and the shape of one example.

    Raises:
        DataError: key ``data.shape`` for a shape that is not positive integers or does not hold
            the values of one example.
    """
    current = tuple(int(d) for d in xs["train"].shape[1:])
    if shape is None:
        return xs, current
    if (isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or not shape
            or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in shape)):
        raise DataError("data.shape", f"must be a list of positive integers (the shape of one example, "
                        f"e.g. [8, 8, 1]), got {shape!r}")
    target = tuple(int(d) for d in shape)
    if math.prod(target) != math.prod(current):
        raise DataError("data.shape", f"{list(target)} holds {math.prod(target)} values but {per_example}; "
                        f"give a shape whose sizes multiply to {math.prod(current)}")
    return {k: v.reshape((len(v), *target)) for k, v in xs.items()}, target


def _report(data: ArrayData, task: str, *, seed: int, fractions: Sequence[float], stratified: bool,
            parts: dict[str, np.ndarray], labels: EncodedLabels, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """What was done, JSON-serialisable: a table's keys (see :func:`prepare_arrays`) and the arrays' own."""
    rows = int(len(data.y))
    report: dict[str, Any] = {
        "name": data.name,
        "source": data.source,
        "task": task,
        "seed": int(seed),
        "fractions": [float(f) for f in fractions],
        "split_by": "fractions" if data.parts is None else "loader",
        "stratified": bool(stratified),
        "rows_total": rows,
        "rows_used": rows,
        "rows_dropped_missing_target": 0,
        "rows_train": int(len(parts["train"])),
        "rows_val": int(len(parts["val"])),
        "rows_test": int(len(parts["test"])),
        "missing_values_imputed": {k: 0 for k in parts},
        "numeric_columns": [],
        "categorical_columns": [],
        "empty_columns_dropped": [],
        "one_hot_features": 0,
        "scaled_columns": 0,
        "scaling": data.scaling,
        "input_shape": [int(d) for d in input_shape],
        "n_features": int(math.prod(input_shape)),
        "n_classes": int(labels.n_classes),
        "labels_encoded": bool(labels.labels_encoded),
    }
    if task == "classification":
        report["class_counts"] = labels.class_counts
    return report
