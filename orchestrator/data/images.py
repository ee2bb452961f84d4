"""A folder of images, one subfolder per class, read through Keras' own loader.

:func:`check_image_folder` looks at the folder's structure only (no TensorFlow import), for
``sweep validate``; :func:`load_image_folder` reads the images with
``keras.utils.image_dataset_from_directory`` (resized to ``data.image_size``, in
``data.color_mode``) into one float32 array scaled to [0, 1] (pixel values / 255). The class
names are the subfolders' names; hidden subfolders and subfolders without images are ignored.

:func:`read_images` reads new pictures (a folder of any depth, or one image file) for an exported
model through the same loader, with the run's size and colour mode, so a picture the run tested on
becomes the very array the run's final evaluation saw. TensorFlow's native start-up and device
lines (``failed call to cuInit`` on a machine without a GPU) are held back while Keras reads.
"""

from __future__ import annotations

import inspect
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DataError, first_line
from .arrays import example_arrays
from .checks import check_rows
from .containers import ArrayData
from .schema import PIXELS_OVER_255

__all__ = ["IMAGE_SUFFIXES", "DEFAULT_IMAGE_SIZE", "COLOR_MODES", "check_image_folder", "load_image_folder",
           "image_files", "read_images"]

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
    x, labels, paths = _read(folder, size, color_mode, classes, key="data.path")
    x, labels = example_arrays(x / np.float32(255.0), labels, where=str(folder), key="data.path")
    check_rows(len(labels), 0, len(labels), where=str(folder), key="data.path")
    y = np.asarray(classes, dtype=object)[labels.astype(np.int64)]
    return ArrayData(x=x, y=y, task="classification", name=folder.name, source="image_folder",
                     key="data.path", scaling=SCALING, paths=np.asarray(paths, dtype=object),
                     read_as={"image_size": list(size), "color_mode": color_mode})


def image_files(path: str | os.PathLike[str], *, key: str = "INPUT") -> list[Path]:
    """The image files a path names: itself (one image), or every image in a folder and the
    folders below it, sorted. Imports no TensorFlow.

    Raises:
        DataError: with ``key``, for a folder holding no image, or a file that is not an image.
    """
    p = Path(os.fspath(path))
    if p.is_file():
        if not p.name.lower().endswith(IMAGE_SUFFIXES):
            raise DataError(key, f"{p} is not an image ({'/'.join(IMAGE_SUFFIXES)})")
        return [p]
    found = sorted(Path(root) / f for root, _, files in os.walk(p) for f in files
                   if f.lower().endswith(IMAGE_SUFFIXES))
    if not found:
        raise DataError(key, f"{p} holds no {'/'.join(IMAGE_SUFFIXES)} image (in it or in the folders below it)")
    return found


def read_images(path: str | os.PathLike[str], *, image_size: Sequence[int], color_mode: str,
                key: str = "INPUT") -> tuple[np.ndarray, list[str]]:
    """Read new pictures as a run's training images were read: the same Keras loader, size and
    colour mode; pixel values as read (0 to 255; the model's scaling is applied by its caller).

    Args:
        path: a folder (its images at any depth) or one image file.
        image_size: the run's ``[height, width]``.
        color_mode: the run's colour mode (one of :data:`COLOR_MODES`).
        key: what errors are reported under (the command's argument).

    Returns:
        float32 pixels ``(n, height, width, channels)`` and each image's path, in the loader's
        order (folder by folder, sorted; for one file, its path as given).

    Raises:
        DataError: with ``key``: no image (:func:`image_files`), an image Keras cannot decode.
    """
    files = image_files(path, key=key)
    size = (int(image_size[0]), int(image_size[1]))
    p = Path(os.fspath(path))
    if not p.is_file():
        x, _, paths = _read(p, size, color_mode, None, key=key)
        return x, paths
    # Keras' loader reads folders only: one file is read from a temporary folder linking to it
    with tempfile.TemporaryDirectory(prefix="sweep-image-") as tmp:
        link = Path(tmp) / files[0].name
        try:
            link.symlink_to(files[0].resolve())
        except OSError:  # a filesystem without symbolic links: a copy reads the same
            import shutil

            shutil.copyfile(files[0], link)
        try:
            x, _, _ = _read(Path(tmp), size, color_mode, None, key=key)
        except DataError as e:  # named by the file given, not by the temporary folder's link to it
            raise DataError(key, e.message.replace(str(link), str(p)).replace(tmp, str(p))) from None
    return x, [str(p)]


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


def _read(folder: Path, size: tuple[int, int], color_mode: str, classes: list[str] | None, *,
          key: str) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Keras' loader, in file order (no shuffle), read batch by batch: the pixels (as read), the
    class index of each image (None without ``classes``) and each image's path.

    Everything runs with TensorFlow's native lines held back: they come at import and again when
    the first operation looks for a GPU (``failed call to cuInit`` where there is none).
    """
    from ..quiet import quiet_native_stderr

    failure: Exception | None = None
    bad: tuple[Path, str] | None = None
    with quiet_native_stderr():  # in the driver: TensorFlow's native lines stay off the terminal
        try:
            return _read_batches(folder, size, color_mode, classes)
        except Exception as e:  # a file Keras cannot decode, ...: its reason is in the one line below,
            failure = e  # so the block ends normally and TensorFlow's own lines about it stay held back
            bad = _first_unreadable(_loader_files(folder, classes), color_mode)
    if bad is not None:
        raise DataError(key, f"{bad[0]} is not a readable image ({bad[1]}); remove it or replace it with a "
                        f"{'/'.join(IMAGE_SUFFIXES)} image")
    raise DataError(key, f"cannot read the images in {folder}: {type(failure).__name__}: {_tf_reason(failure)}")


_TF_OP_NAMES = re.compile(r"\{\{[^{}]*\}\}|\s*\[Op:[^\]]*\](\s*name:.*)?$")
"""The ops TensorFlow names around an error's reason: ``{{function_node __wrapped__IteratorGetNext...}}``
before it (in a pipeline), `` [Op:DecodeImage] name:`` after it (run eagerly)."""


def _tf_reason(e: BaseException) -> str:
    """An error's first line without TensorFlow's internal op names (``Unknown image file format...``)."""
    reason = _TF_OP_NAMES.sub("", first_line(e, limit=None)).strip() or type(e).__name__
    return reason if len(reason) <= 300 else reason[:297] + "..."


def _loader_files(folder: Path, classes: list[str] | None) -> list[Path]:
    """The files Keras' loader reads from ``folder``: those of the class subfolders (all of them
    without classes), at any depth, in its order."""
    roots = [folder / c for c in classes] if classes else [folder]
    return [f for r in roots for f in sorted(Path(d) / n for d, _, names in os.walk(r) for n in names
                                            if n.lower().endswith(IMAGE_SUFFIXES))]


def _first_unreadable(files: Sequence[Path], color_mode: str) -> tuple[Path, str] | None:
    """The first file Keras' decoder refuses, and why; None when each decodes (the reading failed
    for another reason). Decodes every file: called only after the loader has failed."""
    import tensorflow as tf

    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode]
    for f in files:
        try:  # what Keras' loader does to each file
            tf.image.decode_image(tf.io.read_file(str(f)), channels=channels, expand_animations=False)
        except Exception as e:  # tf.errors.InvalidArgumentError, ...
            return f, _tf_reason(e)
    return None


def _read_batches(folder: Path, size: tuple[int, int], color_mode: str,
                  classes: list[str] | None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    import keras

    loader = keras.utils.image_dataset_from_directory
    labelled: dict[str, Any] = (dict(labels="inferred", label_mode="int", class_names=classes) if classes
                                else dict(labels=None, label_mode=None))
    kwargs: dict[str, Any] = dict(**labelled, color_mode=color_mode, batch_size=64, image_size=size, shuffle=False)
    if "verbose" in inspect.signature(loader).parameters:  # Keras >= 3.5; older ones print a line
        kwargs["verbose"] = False
    dataset = loader(str(folder), **kwargs)
    xs, ys = [], []
    for batch in dataset.as_numpy_iterator():
        xb, yb = batch if classes else (batch, None)
        xs.append(np.asarray(xb, dtype=np.float32))
        if yb is not None:
            ys.append(np.asarray(yb))
    return np.concatenate(xs), (np.concatenate(ys) if classes else None), [str(f) for f in dataset.file_paths]
