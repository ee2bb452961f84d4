"""The fitted preprocessing as data: what an exported model needs to take the user's raw rows.

A run's preprocessing (:mod:`.preprocess`) is fitted with scikit-learn on the training rows. To
hand the selected model back usable on raw inputs, its fitted statistics are written next to the
model as a small versioned JSON sidecar (``preprocessing.json``): the feature columns in their
order with their kind, the medians, means and scales of the numeric columns, the filler and the
categories of the categorical ones, the example shape, the task and the class labels.

JSON rather than a pickled scikit-learn object because loading a model must not run code (a
pickle can), and because the arithmetic is short enough to apply exactly as scikit-learn did it
(:func:`transform_rows`, float64 then float32, the same column order), so a prediction on a raw
test row equals the one the run's final evaluation made. Imports neither TensorFlow nor Ray.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from .checks import column_kind

__all__ = ["SCHEMA_VERSION", "table_preprocessing", "array_preprocessing", "transform_rows", "RowsIn",
           "label_values"]

SCHEMA_VERSION = 1
PIXELS_OVER_255 = "[0, 1] (pixel values / 255)"  # an image folder's scaling: .images.SCALING is this


def label_values(classes: Any) -> list[Any]:
    """Class labels as JSON values (ints stay ints, everything else its text)."""
    out: list[Any] = []
    for c in np.asarray(classes).tolist():
        out.append(c if isinstance(c, (int, float, str)) and not isinstance(c, bool) else str(c))
    return out


def table_preprocessing(columns: Any, X: pd.DataFrame, numeric: list[str], categorical: list[str],
                        empty: list[str]) -> dict[str, Any]:
    """The fitted ``ColumnTransformer`` of :func:`~.preprocess.encode_features` as JSON data.

    Args:
        columns: the fitted transformer (numeric: median imputer then scaler; categorical:
            most-frequent imputer then one-hot).
        X: the feature columns as loaded (for their original dtypes).
        numeric: the numeric columns kept, in order.
        categorical: the categorical columns kept, in order.
        empty: the columns dropped because they are empty in training (accepted, ignored).
    """
    out: dict[str, Any] = {"format": SCHEMA_VERSION, "kind": "table", "columns": [], "dropped": list(empty)}
    if numeric:
        steps = columns.named_transformers_["numeric"].named_steps
        medians, means, scales = steps["impute"].statistics_, steps["scale"].mean_, steps["scale"].scale_
        for i, c in enumerate(numeric):
            out["columns"].append({"name": c, "kind": "numeric", "dtype": str(X[c].dtype),
                                   "fill": float(medians[i]), "mean": float(means[i]), "scale": float(scales[i])})
    if categorical:
        steps = columns.named_transformers_["categorical"].named_steps
        fills, cats = steps["impute"].statistics_, steps["one_hot"].categories_
        for i, c in enumerate(categorical):
            out["columns"].append({"name": c, "kind": "categorical", "dtype": str(X[c].dtype),
                                   "fill": str(fills[i]), "categories": [str(v) for v in cats[i]]})
    return out


def array_preprocessing(scaling: str, read_as: dict[str, Any] | None = None) -> dict[str, Any]:
    """Arrays (a NumPy file, an image folder, a loader) carry no fitted steps: their scaling, and
    for an image folder how its pictures were read (``images``: ``image_size``, ``color_mode``),
    which an exported model repeats on new pictures."""
    out: dict[str, Any] = {"format": SCHEMA_VERSION, "kind": "arrays", "scaling": scaling}
    if read_as:
        out["images"] = dict(read_as)
    return out


@dataclass(frozen=True)
class RowsIn:
    """Raw rows turned into the model's input.

    Attributes:
        X: float32 examples, shape ``(n, *input_shape)``.
        passthrough: the input's columns that are not features (ids, the target, extras).
        unseen: categorical column -> rows holding a category training never saw (encoded as
            all zeros, as in the run).
        filled: feature column -> its missing cells, filled with the training split's value
            (the median, the most frequent category), as the run's imputation does.
        blank: the rows with no feature value at all (every one filled).
    """

    X: np.ndarray
    passthrough: pd.DataFrame
    unseen: dict[str, int]
    filled: dict[str, int] = field(default_factory=dict)
    blank: int = 0


def transform_rows(pre: dict[str, Any], frame: pd.DataFrame, input_shape: tuple[int, ...], *,
                   where: str) -> RowsIn:
    """Apply a table's fitted preprocessing to raw rows, exactly as the run did.

    Args:
        pre: the sidecar (:func:`table_preprocessing`).
        frame: the raw rows: every training feature column, any other columns (passed through).
        input_shape: the model's example shape (``data.shape`` reshapes a row).
        where: the input file, as errors name it.

    Raises:
        DataError: key ``columns`` for a missing feature column, ``column <name>`` for a column
            whose values do not fit its training type, ``rows`` for an input with no rows.
    """
    if pre.get("format") != SCHEMA_VERSION or pre.get("kind") != "table":
        raise DataError("model", f"{where}: the model's preprocessing is format {pre.get('format')!r} "
                                 f"({pre.get('kind')!r}); this version reads table format {SCHEMA_VERSION}")
    if len(frame) == 0:
        raise DataError("rows", f"{where} has no rows to predict")
    features = [c["name"] for c in pre["columns"]]
    missing = [c for c in features if c not in frame.columns]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError("columns", f"{where} lacks the training column {missing[0]!r}{more}; "
                                   f"the model takes {len(features)} columns: {', '.join(features[:8])}"
                                   f"{', ...' if len(features) > 8 else ''}")
    parts: list[np.ndarray] = []
    unseen: dict[str, int] = {}
    for c in pre["columns"]:
        col = frame[c["name"]]
        if c["kind"] == "numeric":
            parts.append(_numeric(col, c, where=where)[:, None])
        else:
            block, n_unseen = _one_hot(col, c)
            parts.append(block)
            if n_unseen:
                unseen[c["name"]] = n_unseen
    X = np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)
    X = X.reshape((len(frame), *input_shape))
    used = set(features) | set(pre.get("dropped", []))
    passthrough = frame[[c for c in frame.columns if c not in used]].reset_index(drop=True)
    gaps = frame[features].isna()
    filled = {name: int(n) for name, n in gaps.sum().items() if n}
    return RowsIn(X, passthrough, unseen, filled, int(gaps.all(axis=1).sum()))


def _numeric(col: pd.Series, c: dict[str, Any], *, where: str) -> np.ndarray:
    """A numeric column imputed with its training median and scaled by its training mean and scale."""
    if column_kind(col) != "numeric" and not col.isna().all():
        values = pd.to_numeric(col, errors="coerce")
        bad = values.isna() & col.notna()
        if bad.any():
            example = col[bad].iloc[0]
            raise DataError(f"column {c['name']}",
                            f"{where}: column {c['name']!r} holds {example!r} ({int(bad.sum())} rows) where the "
                            f"model was trained on numbers ({c['dtype']})")
        col = values
    x = col.astype(np.float64).to_numpy(copy=True)
    x[np.isnan(x)] = c["fill"]
    return (x - c["mean"]) / c["scale"]


def _one_hot(col: pd.Series, c: dict[str, Any]) -> tuple[np.ndarray, int]:
    """A categorical column as text (as in training), imputed, one-hot over its training categories."""
    missing = col.isna().to_numpy()
    if pd.api.types.is_float_dtype(col.dtype) and not c["dtype"].startswith("float"):
        # a column of whole numbers read as float (say, a gap in a smaller file): 3.0 was "3" in training
        values = [str(int(v)) if float(v).is_integer() else str(v) for v in col.fillna(0).tolist()]
    else:
        values = [str(v) for v in col.astype(object).tolist()]
    text = np.array(values, dtype=object)
    text[missing] = c["fill"]
    index = {v: i for i, v in enumerate(c["categories"])}
    pos = np.array([index.get(v, -1) for v in text], dtype=np.int64)
    block = np.zeros((len(text), len(c["categories"])), dtype=np.float64)
    known = pos >= 0
    block[np.nonzero(known)[0], pos[known]] = 1.0
    return block, int((~known).sum())
