"""What ``sweep predict`` (and :meth:`~orchestrator.serving.TrainedModel.predict` given a path)
reads, checked against what the model was trained on before Keras is loaded.

A model takes what its run was trained on:

- a table's model: a ``.csv`` or ``.parquet`` file of rows with the training columns;
- an image folder's model: a folder of pictures (at any depth; every image file in it, sorted),
  one picture, or a ``.npz`` whose ``x`` holds examples of the run's example shape;
- a model of other arrays (a ``.npz``, a loader's): a ``.npz`` whose ``x`` holds examples.

Pictures are read as the run read its training images (:func:`orchestrator.data.images.read_images`:
Keras' loader, the run's size and colour mode); the model's scaling is applied by the caller to
pictures and arrays alike. Giving a model the other kind of input (a CSV to an image model, a
folder to a table's) is one line naming ``INPUT``. Imports neither TensorFlow nor Ray; reading
pictures imports Keras.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DataError, UsageError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["TABLE", "IMAGES", "ARRAYS", "TAKES", "trained_on", "read_rows", "read_input", "Input"]

TABLE, IMAGES, ARRAYS = "table", "images", "arrays"
TAKES = {
    TABLE: "a .csv or .parquet file of rows with the training columns",
    IMAGES: "a folder of images, one image file, or a .npz file with an array x",
    ARRAYS: "a .npz file with an array x (one example per row)",
}
"""What a model trained on each kind of data takes, in words (errors and the hint after a run)."""
_TRAINED = {TABLE: "a table", IMAGES: "an image folder", ARRAYS: "arrays"}
_TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
_NPZ = ".npz"


def trained_on(info: dict[str, Any], preprocessing: dict[str, Any]) -> str:
    """:data:`TABLE`, :data:`IMAGES` or :data:`ARRAYS`: the kind of data a model was trained on,
    from its ``model.json`` and ``preprocessing.json``."""
    if preprocessing.get("kind") == "table":
        return TABLE
    if "images" in preprocessing or (info.get("data") or {}).get("source") == "image_folder":
        return IMAGES
    return ARRAYS


@dataclass(frozen=True)
class Input:
    """What was read: ``rows`` (a DataFrame of a table's rows, or float32 examples as given:
    pictures' pixel values as read, 0 to 255) and, for pictures, each one's ``paths``."""

    rows: "pd.DataFrame | np.ndarray"
    paths: list[str] | None = None


def read_input(path: str | os.PathLike[str], kind: str, preprocessing: dict[str, Any],
               input_shape: tuple[int, ...]) -> Input:
    """Read ``path`` for a model trained on ``kind`` (see the module's description).

    Args:
        path: a file or a folder.
        kind: what the model was trained on (:func:`trained_on`).
        preprocessing: the model's sidecar (an image model's ``images``: size and colour mode).
        input_shape: the model's example shape (pictures are reshaped to it, as the run's were).

    Raises:
        UsageError: key ``INPUT``: no such file or folder, a kind of input this model does not
            take, an unknown file type.
        DataError: key ``INPUT``: a folder with no image, an unreadable picture, an ``.npz``
            without a numeric ``x``, an unreadable table.
    """
    p = Path(os.fspath(path))
    if not p.exists():
        raise UsageError("INPUT", f"{path}: no such file or folder")
    suffix = "" if p.is_dir() else p.suffix.lower()
    given = _given(p, suffix)
    if given is None:
        raise UsageError("INPUT", f"{path}: unknown file type {suffix or '(none)'}; this model takes {TAKES[kind]}")
    if given not in _ACCEPTS[kind]:
        raise UsageError("INPUT", f"{path} is {given}, but the model was trained on {_TRAINED[kind]}: "
                                  f"give it {TAKES[kind]}")
    if given in ("a folder", "an image file"):
        return _pictures(p, preprocessing, input_shape)
    if given == "a .npz file":
        from .data.npz import read_x

        return Input(read_x(p, key="INPUT"))
    return Input(read_rows(str(path)))


_ACCEPTS = {TABLE: ("a table",), IMAGES: ("a folder", "an image file", "a .npz file"), ARRAYS: ("a .npz file",)}


def _given(p: Path, suffix: str) -> str | None:
    """What kind of input ``p`` is, in the words of :data:`_ACCEPTS`; None: an unknown file type."""
    from .data.images import IMAGE_SUFFIXES

    if p.is_dir():
        return "a folder"
    if suffix in IMAGE_SUFFIXES:
        return "an image file"
    if suffix == _NPZ:
        return "a .npz file"
    return "a table" if suffix in _TABLE_SUFFIXES else None


def _pictures(p: Path, preprocessing: dict[str, Any], input_shape: tuple[int, ...]) -> Input:
    """Pictures read at the run's size and colour mode, shaped as the run's examples."""
    from .data.images import image_files, read_images

    image_files(p, key="INPUT")  # a folder without pictures is refused before Keras is imported
    reading = preprocessing.get("images") or _reading_of(input_shape)
    x, paths = read_images(p, image_size=reading["image_size"], color_mode=reading["color_mode"], key="INPUT")
    if math.prod(x.shape[1:]) == math.prod(input_shape):  # data.shape reshaped the run's pictures so
        x = x.reshape((len(x), *input_shape))
    return Input(x, paths)


def _reading_of(input_shape: tuple[int, ...]) -> dict[str, Any]:
    """How a run exported before the sidecar recorded it read its pictures: (height, width,
    channels) is its example shape, the channels its colour mode."""
    modes = {1: "grayscale", 3: "rgb", 4: "rgba"}
    if len(input_shape) != 3 or input_shape[2] not in modes:
        raise DataError("INPUT", f"the model's preprocessing.json does not say how its images were read and its "
                                 f"example shape {input_shape} is not (height, width, channels)")
    return {"image_size": list(input_shape[:2]), "color_mode": modes[input_shape[2]]}


def read_rows(path: str) -> "pd.DataFrame":
    """A CSV or Parquet file of rows to predict (by its suffix).

    Raises:
        UsageError: key ``INPUT`` for a missing file, an unknown suffix or an unreadable file.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise UsageError("INPUT", f"{path}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(p)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
    except pd.errors.EmptyDataError:
        raise DataError("rows", f"{path} is empty") from None
    except Exception as e:  # noqa: BLE001 - pandas/pyarrow raise many kinds for a broken file
        from .errors import first_line

        raise UsageError("INPUT", f"{path}: cannot read: {first_line(e)}") from None
    raise UsageError("INPUT", f"{path}: unknown file type {suffix or '(none)'}; use .csv or .parquet")
