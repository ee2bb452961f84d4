"""The entry point: load a spec's data, split it, and preprocess it without leaking held-out rows.

:func:`prepare` splits FIRST (:mod:`.split`) and only then fits the preprocessing
(:mod:`.preprocess`) on the training rows; :func:`load_for` is what ``sweep run`` and
``sweep validate`` call with a spec.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import DataError
from .arrays import prepare_arrays, reshape_examples
from .checks import check_features, require_task
from .containers import ArrayData, Prepared, RawData, Split
from .preprocess import EncodedFeatures, EncodedLabels, encode_features, encode_labels
from .sources import load_source
from .split import split_indices

__all__ = ["load_for", "prepare"]


def load_for(spec: Any) -> tuple[RawData | ArrayData, Prepared]:
    """Load and prepare the data a :class:`~orchestrator.spec.SweepSpec` names (its ``data`` section).

    What ``sweep run`` does before anything starts and ``sweep validate`` does to check the data.
    A loader (``data.loader``) is called here, on the driver.

    Returns:
        The loaded source (:class:`RawData` for a table, :class:`ArrayData` for arrays; both
        have ``name``, ``task`` and ``rows_dropped_missing_target``) and the :class:`Prepared`
        splits.

    Raises:
        DataError: as :func:`~orchestrator.data.load_source` and :func:`prepare`.
    """
    d = spec.data
    raw = load_source(dataset=d.dataset, path=spec.data_path(), loader=d.loader, args=d.args,
                      base_dir=spec.base_dir, target=d.target, task=spec.task, samples=d.samples, seed=d.seed,
                      missing=d.missing, image_size=d.image_size, color_mode=d.color_mode,
                      test_fraction=d.split.test)
    prepared = prepare(raw, fractions=(d.split.train, d.split.val, d.split.test), seed=d.seed,
                       stratify=d.stratify, shape=d.shape)
    return raw, prepared


def prepare(
    raw: RawData | ArrayData,
    *,
    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
    seed: int = 0,
    stratify: bool | None = None,
    shape: Sequence[int] | None = None,
) -> Prepared:
    """Split ``raw`` and preprocess it, fitting every step on the training split only.

    Arrays (:class:`ArrayData`) are split and their labels encoded the same way, but their values
    are not preprocessed (:func:`~orchestrator.data.arrays.prepare_arrays`).

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
        fractions: train, validation and test fractions (see :func:`~orchestrator.data.split_indices`).
        seed: split seed.
        stratify: stratify the split by class; None means True for classification. Ignored for
            regression.
        shape: ``data.shape``: each prepared row is reshaped to this example shape (its sizes
            must multiply to the number of features after encoding); None keeps ``(n_features,)``.

    Returns:
        The :class:`Prepared` data. Its ``report`` holds: ``name``, ``task``, ``seed``,
        ``fractions``, ``stratified``, ``rows_total`` (rows read, including dropped ones),
        ``rows_used``, ``rows_dropped_missing_target``, ``rows_train``, ``rows_val``,
        ``rows_test``, ``missing_values_imputed`` (``{"train", "val", "test"}`` counts of missing
        feature cells filled), ``numeric_columns``, ``categorical_columns``,
        ``empty_columns_dropped``, ``one_hot_features``, ``scaled_columns``, ``n_features``,
        ``n_classes``, ``labels_encoded`` (True when the labels were not already the integers
        ``0..n_classes-1``), ``class_counts`` (classification: per split, per class name),
        ``source`` (``"table"``), ``input_shape``.

    Raises:
        DataError: key ``data.split`` when the split is impossible, ``data.target`` when the
            validation or test split holds a class absent from training, ``data.task`` for an
            unknown task, ``data.path`` for an unusable feature column, ``data.shape`` for a shape
            that does not hold a row's features.
    """
    if isinstance(raw, ArrayData):
        return prepare_arrays(raw, fractions=fractions, seed=seed, stratify=stratify, shape=shape)
    task = require_task(raw.task)
    do_stratify = task == "classification" and (True if stratify is None else bool(stratify))
    check_features(raw.X, where=raw.name)
    parts = _split_rows(raw, task=task, fractions=fractions, seed=seed, stratify=do_stratify)
    features = encode_features(raw.X, parts, name=raw.name)
    labels = encode_labels(raw.y, parts, task=task, name=raw.name)
    xs, input_shape = reshape_examples(features.X, shape,
                                       per_example=f"each row has {len(features.names)} features after encoding")
    report = _report(raw, task, seed=seed, fractions=fractions, stratified=do_stratify, parts=parts,
                     features=features, labels=labels)
    report["input_shape"] = [int(d) for d in input_shape]
    return Prepared(
        train=Split(xs["train"], labels.y["train"]),
        val=Split(xs["val"], labels.y["val"]),
        test=Split(xs["test"], labels.y["test"]),
        task=task,
        n_features=len(features.names),
        n_classes=labels.n_classes,
        class_names=labels.class_names,
        feature_names=features.names,
        input_shape=input_shape,
        report=report,
        preprocessing={**features.preprocessing, "classes": labels.classes},
        test_rows=_rows(raw, parts["test"]),
        target=None if raw.y.name is None else str(raw.y.name),
    )


def _rows(raw: RawData, positions: np.ndarray) -> Any:
    """The rows at ``positions`` as they were read: the feature columns, then the target."""
    import pandas as pd

    rows = raw.X.iloc[positions].reset_index(drop=True)
    target = "target" if raw.y.name is None else str(raw.y.name)
    return pd.concat([rows, raw.y.iloc[positions].reset_index(drop=True).rename(target)], axis=1)


def _split_rows(raw: RawData, *, task: str, fractions: tuple[float, float, float], seed: int,
                stratify: bool) -> dict[str, np.ndarray]:
    """Row positions of each split, an impossible split's error naming the data and its target."""
    try:
        idx_train, idx_val, idx_test = split_indices(
            raw.y, task=task, fractions=fractions, seed=seed, stratify=stratify
        )
    except DataError as e:  # name the data and its target column (split_indices sees only labels)
        target = f"target {str(raw.y.name)!r} of " if raw.y.name is not None else ""
        raise DataError(e.key, f"{target}{raw.name}: {e.message}") from None
    return {"train": idx_train, "val": idx_val, "test": idx_test}


def _report(raw: RawData, task: str, *, seed: int, fractions: tuple[float, float, float], stratified: bool,
            parts: dict[str, np.ndarray], features: EncodedFeatures, labels: EncodedLabels) -> dict[str, Any]:
    """What was done, JSON-serialisable (its keys are listed in :func:`prepare`)."""
    rows_used = len(raw.y)
    report: dict[str, Any] = {
        "name": raw.name,
        "source": "table",
        "task": task,
        "seed": int(seed),
        "fractions": [float(f) for f in fractions],
        "stratified": bool(stratified),
        "rows_total": int(rows_used + raw.rows_dropped_missing_target),
        "rows_used": int(rows_used),
        "rows_dropped_missing_target": int(raw.rows_dropped_missing_target),
        "rows_train": int(len(parts["train"])),
        "rows_val": int(len(parts["val"])),
        "rows_test": int(len(parts["test"])),
        "missing_values_imputed": features.imputed,
        "numeric_columns": [str(c) for c in features.numeric],
        "categorical_columns": [str(c) for c in features.categorical],
        "empty_columns_dropped": [str(c) for c in features.empty],
        "one_hot_features": int(features.one_hot),
        "scaled_columns": int(len(features.numeric)),
        "n_features": int(len(features.names)),
        "n_classes": int(labels.n_classes),
        "labels_encoded": bool(labels.labels_encoded),
    }
    if task == "classification":
        report["class_counts"] = labels.class_counts
    return report
