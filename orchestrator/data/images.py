"""A folder of images, one subfolder per class, read through Keras' own loader.

:func:`check_image_folder` looks at the folder's structure only (no TensorFlow import), for
``sweep validate``; :func:`load_image_folder` reads the images with
``keras.utils.image_dataset_from_directory`` (resized to ``data.image_size``, in
``data.color_mode``) into one float32 array scaled to [0, 1] (pixel values / 255). The class
names are the subfolders' names; hidden subfolders and subfolders without images are ignored.
"""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DataError, first_line
from .arrays import example_arrays
from .checks import check_rows
from .containers import ArrayData
from .schema import PIXELS_OVER_255

__all__ = ["IMAGE_SUFFIXES", "DEFAULT_IMAGE_SIZE", "COLOR_MODES", "check_image_folder", "load_image_folder"]

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
"""The image files Keras' loader reads."""
DEFAULT_IMAGE_SIZE = (64, 64)
COLOR_MODES = ("rgb", "grayscale", "rgba")
SCALING = PIXELS_OVER_255  # what an exported model's predict applies to raw pixels too


def check_image_folder(path: str | os.PathLike[str], task: str | None) -> str:
    """Cheap checks of an image folder: at least 2 class subfolders holding images.

    Returns:
        The task: ``"classification"`` (implied when not given).

    Raises:
        DataError: key ``data.task`` for a regression task; ``data.path`` for a folder with
            fewer than 2 classes.
    """
    _class_folders(Path(os.fspath(path)), task)
    return "classification"


def load_image_folder(path: str | os.PathLike[str], *, task: str | None,
                      image_size: Sequence[int] | None = None, color_mode: str = "rgb") -> ArrayData:
    """Read every image of the folder into ``x`` (float32, ``(n, height, width, channels)``, in
    [0, 1]) and its subfolder's name into ``y``. Imports TensorFlow.

    Args:
        path: the folder; one subfolder per class.
        task: ``"classification"`` or None.
        image_size: ``[height, width]`` every image is resized to; None: :data:`DEFAULT_IMAGE_SIZE`.
        color_mode: one of :data:`COLOR_MODES` (1, 3 or 4 channels).

    Raises:
        DataError: as :func:`check_image_folder`; ``data.image_size`` / ``data.color_mode`` for
            bad values; ``data.path`` for an image Keras cannot read.
    """
    folder = Path(os.fspath(path))
    classes = _class_folders(folder, task)
    size = _image_size(image_size)
    if color_mode not in COLOR_MODES:
        raise DataError("data.color_mode", f"unknown color mode {color_mode!r}; use one of: {', '.join(COLOR_MODES)}")
    try:
        x, labels = _read(folder, classes, size, color_mode)
    except DataError:
        raise
    except Exception as e:  # a file Keras cannot decode, ...
        raise DataError("data.path", f"cannot read the images in {folder}: {type(e).__name__}: "
                        f"{first_line(e)}") from None
    x, labels = example_arrays(x / np.float32(255.0), labels, where=str(folder), key="data.path")
    check_rows(len(labels), 0, len(labels), where=str(folder), key="data.path")
    y = np.asarray(classes, dtype=object)[labels.astype(np.int64)]
    return ArrayData(x=x, y=y, task="classification", name=folder.name, source="image_folder",
                     key="data.path", scaling=SCALING)


def _class_folders(folder: Path, task: str | None) -> list[str]:
    """The sorted names of the subfolders holding at least one image; at least 2 of them."""
    if task not in (None, "classification"):
        raise DataError("data.task", f"{folder} is an image folder, whose labels are its subfolders' names: "
                        "a classification task; set data.task: classification or leave it out")
    if not folder.exists():
        where = str(folder) if folder.is_absolute() else f"{folder} (looked at {folder.resolve()})"
        raise DataError("data.path", f"image folder {where} does not exist; check the path (a relative path "
                        "is relative to the spec file's directory)")
    classes = sorted(d.name for d in folder.iterdir()
                     if d.is_dir() and not d.name.startswith(".") and _has_image(d))
    if len(classes) < 2:
        found = f"only 1 class subfolder with images ({classes[0]!r})" if classes else "no subfolder with images"
        raise DataError("data.path", f"image folder {folder} has {found}; it needs one subfolder per class, at "
                        f"least 2, each holding {'/'.join(IMAGE_SUFFIXES)} images")
    return classes


def _has_image(folder: Path) -> bool:
    """Whether ``folder`` (or a folder below it: Keras looks there too) holds an image file."""
    for _, _, files in os.walk(folder):
        if any(f.lower().endswith(IMAGE_SUFFIXES) for f in files):
            return True
    return False


def _image_size(image_size: Sequence[int] | None) -> tuple[int, int]:
    if image_size is None:
        return DEFAULT_IMAGE_SIZE
    if (isinstance(image_size, (str, bytes)) or not isinstance(image_size, Sequence) or len(image_size) != 2
            or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1 for d in image_size)):
        raise DataError("data.image_size", f"must be [height, width], two positive integers, got {image_size!r}")
    return int(image_size[0]), int(image_size[1])


def _read(folder: Path, classes: list[str], size: tuple[int, int], color_mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Keras' loader, in file order (no shuffle), read batch by batch into two arrays."""
    from ..quiet import quiet_native_stderr

    with quiet_native_stderr():  # in the driver: TensorFlow's start-up lines stay off the terminal
        import keras

    loader = keras.utils.image_dataset_from_directory
    kwargs: dict[str, Any] = dict(labels="inferred", label_mode="int", class_names=classes, color_mode=color_mode,
                                  batch_size=64, image_size=size, shuffle=False)
    if "verbose" in inspect.signature(loader).parameters:  # Keras >= 3.5; older ones print a line
        kwargs["verbose"] = False
    dataset = loader(str(folder), **kwargs)
    xs, ys = [], []
    for xb, yb in dataset.as_numpy_iterator():
        xs.append(np.asarray(xb, dtype=np.float32))
        ys.append(np.asarray(yb))
    return np.concatenate(xs), np.concatenate(ys)
