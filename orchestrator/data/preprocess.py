"""Table preprocessing, fitted on the training rows only and then applied to every split.

- numeric features: median imputation, then standard scaling;
- categorical features (object, string, category, bool): most-frequent imputation, then one-hot
  encoding (categories unseen in training become all-zero rows);
- classification labels: a ``LabelEncoder`` fitted on the training labels maps them to class
  indices ``0..n_classes-1``; regression targets are left unscaled.

Nothing here sees which rows are which except through the split's row positions, and every
``fit`` is given the training rows alone: statistics of the validation and test rows never reach
the model's inputs. This is preprocessing of a *table*; a source that yields arrays (images, a
NumPy file) would bring its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, OneHotEncoder, StandardScaler

from ..errors import DataError
from .checks import column_kind
from .messages import label
from .schema import label_values, table_preprocessing

__all__ = ["EncodedFeatures", "EncodedLabels", "encode_features", "encode_labels",
           "normalise_features"]


@dataclass(frozen=True, eq=False)
class EncodedFeatures:
    """The feature matrix of every split, and what was done to make it (for the report).

    Attributes:
        X: split name -> float32 array ``(n, len(names))``.
        names: name of each column of ``X`` (one-hot columns are ``<column>_<value>``).
        numeric: the numeric columns kept (imputed and scaled).
        categorical: the categorical columns kept (imputed and one-hot encoded).
        empty: the columns dropped because they are entirely missing in the training split.
        one_hot: number of one-hot columns.
        imputed: split name -> number of missing feature cells filled.
        preprocessing: the fitted steps as data (:func:`~.schema.table_preprocessing`), for the
            exported model.
    """

    X: dict[str, np.ndarray]
    names: list[str]
    numeric: list[str]
    categorical: list[str]
    empty: list[str]
    one_hot: int
    imputed: dict[str, int]
    preprocessing: dict[str, Any]


@dataclass(frozen=True, eq=False)
class EncodedLabels:
    """The target of every split, ready for Keras, and the classes behind the indices.

    Attributes:
        y: split name -> int64 class indices (classification) or float32 targets (regression).
        class_names: class label of each index, as strings; ``[]`` for regression.
        labels_encoded: True when the labels were not already the integers ``0..n_classes-1``.
        class_counts: classification: split name -> class name -> rows; ``{}`` for regression.
        classes: the class labels as the data has them (ints stay ints), for predictions.
    """

    y: dict[str, np.ndarray]
    class_names: list[str]
    labels_encoded: bool
    class_counts: dict[str, dict[str, int]]
    classes: list[Any] = field(default_factory=list)

    @property
    def n_classes(self) -> int:
        """Number of classes seen in training; 0 for regression."""
        return len(self.class_names)


def encode_features(X: pd.DataFrame, parts: dict[str, np.ndarray], *, name: str) -> EncodedFeatures:
    """Impute, scale and one-hot encode the features, fitted on the ``"train"`` rows only.

    Feature columns that are entirely missing in the training split carry no information and are
    dropped.

    Args:
        X: the feature columns of every row (as loaded).
        parts: split name -> row positions; must hold ``"train"``.
        name: the data set, as errors name it.

    Raises:
        DataError: key ``data.path`` when every feature column is empty in the training split.
    """
    # Fixed (not fitted) type normalisation: numeric -> float64, categorical -> str objects.
    X_all, numeric_cols, categorical_cols = normalise_features(X)
    X_parts = {k: X_all.iloc[v].reset_index(drop=True) for k, v in parts.items()}

    empty = [c for c in X_all.columns if X_parts["train"][c].isna().all()]
    numeric_cols = [c for c in numeric_cols if c not in empty]
    categorical_cols = [c for c in categorical_cols if c not in empty]
    kept = numeric_cols + categorical_cols
    if not kept:
        raise DataError(
            "data.path",
            f"every feature column of {name} is empty in the training split; nothing to "
            "learn from",
        )
    imputed = {k: int(X_parts[k][kept].isna().to_numpy().sum()) for k in parts}

    columns = _column_transformer(numeric_cols, categorical_cols)
    columns.fit(X_parts["train"][kept])  # the training rows only: no statistic of val/test leaks
    names = list(numeric_cols)
    one_hot = 0
    if categorical_cols:
        encoder: OneHotEncoder = columns.named_transformers_["categorical"].named_steps["one_hot"]
        one_hot_names = [str(s) for s in encoder.get_feature_names_out(categorical_cols)]
        one_hot = len(one_hot_names)
        names += one_hot_names

    def transform(frame: pd.DataFrame) -> np.ndarray:
        if len(frame) == 0:
            return np.empty((0, len(names)), dtype=np.float32)
        return np.ascontiguousarray(columns.transform(frame[kept]), dtype=np.float32)

    return EncodedFeatures(
        X={k: transform(X_parts[k]) for k in parts},
        names=names,
        numeric=numeric_cols,
        categorical=categorical_cols,
        empty=empty,
        one_hot=one_hot,
        imputed=imputed,
        preprocessing=table_preprocessing(columns, X_all, numeric_cols, categorical_cols, empty),
    )


def _column_transformer(numeric_cols: list[str], categorical_cols: list[str]) -> ColumnTransformer:
    """The unfitted per-column steps: numeric imputed then scaled, categorical imputed then one-hot."""
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
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)


def encode_labels(y: pd.Series, parts: dict[str, np.ndarray], *, task: str, name: str) -> EncodedLabels:
    """Class indices fitted on the ``"train"`` labels (classification), or float32 targets.

    Args:
        y: the target of every row (as loaded).
        parts: split name -> row positions; must hold ``"train"``, ``"val"`` and ``"test"``.
        task: ``"classification"`` or ``"regression"``.
        name: the data set, as errors name it.

    Raises:
        DataError: key ``data.target`` when the validation or test split holds a class absent
            from training.
    """
    y_parts = {k: y.iloc[v].reset_index(drop=True) for k, v in parts.items()}
    if task != "classification":
        return EncodedLabels({k: v.to_numpy(dtype=np.float32) for k, v in y_parts.items()}, [], False, {})

    encoder = LabelEncoder().fit(y_parts["train"].to_numpy())
    classes = encoder.classes_
    _check_no_unseen_class(y_parts, set(classes.tolist()), name=name)
    ys = {
        k: (encoder.transform(v.to_numpy()) if len(v) else np.empty(0)).astype(np.int64)
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
    return EncodedLabels(ys, class_names, labels_encoded, class_counts, label_values(classes))


def _check_no_unseen_class(y_parts: dict[str, pd.Series], known: set[Any], *, name: str) -> None:
    """A validation or test label the training split lacks has no class index: refuse it."""
    for k in ("val", "test"):
        unseen = sorted({v for v in y_parts[k].tolist() if v not in known}, key=str)
        if unseen:
            raise DataError(
                "data.target",
                f"the {k} split of {name} has class {label(unseen[0])} "
                f"({int((y_parts[k] == unseen[0]).sum())} rows), which is not in the training "
                "split; use stratify: true, more data, or drop rare classes",
            )


def normalise_features(X: pd.DataFrame) -> tuple[pd.DataFrame, list[str], list[str]]:
    """Cast numeric columns to float64 and categorical ones to str objects with NaN for missing.

    This is a fixed, row-wise conversion (nothing is learned from the data), so doing it before
    the split leaks nothing; it gives scikit-learn uniform inputs (mixed-type object columns,
    nullable dtypes and ``pd.NA`` would otherwise trip the imputer or the encoder).

    Returns:
        The converted table, the numeric column names and the categorical column names.
    """
    out: dict[str, pd.Series] = {}
    numeric: list[str] = []
    categorical: list[str] = []
    for col in X.columns:
        series = X[col]
        name = str(col)
        if column_kind(series) == "numeric":
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
