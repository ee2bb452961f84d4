"""Where a data set comes from: a source yields a table (:class:`~.containers.RawData`) or arrays
(:class:`~.containers.ArrayData`), nothing more.

The kinds of source: a built-in data set (:mod:`.builtin`), a CSV / Parquet file (:mod:`.files`),
a NumPy ``.npz`` file (:mod:`.npz`), a folder of images (:mod:`.images`) and a user's loader
function (:mod:`.loader`). Each has a cheap check (:func:`check_source`, for ``sweep validate``)
and a full load (:func:`load_source`; :func:`load_raw` for the tables alone). A new kind of source
is one more branch here and one more module beside those.
"""

from __future__ import annotations

import os

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import DataError
from .builtin import BUILTIN_DATASETS, check_builtin, load_builtin
from .checks import check_task_value
from .containers import ArrayData, RawData
from .files import CSV_SUFFIXES, MISSING, PARQUET_SUFFIXES, check_file, extension, file_format, load_file
from .images import check_image_folder, load_image_folder
from .loader import check_loader, load_from_loader
from .npz import NPZ_SUFFIX, check_npz, is_npz, load_npz

__all__ = ["load_raw", "load_source", "check_source", "check_data_path"]

PATH_KINDS = (f"a {', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)} or {NPZ_SUFFIX} file, or a folder of images "
              "(one subfolder per class)")
"""What ``data.path`` may name, as an error lists it."""


def load_raw(
    *,
    dataset: str | None = None,
    path: str | os.PathLike[str] | None = None,
    target: str | None = None,
    task: str | None = None,
    samples: int | None = None,
    seed: int = 0,
    missing: str = "impute",
) -> RawData:
    """Load a built-in data set or a CSV / Parquet file.

    With ``missing="impute"``, rows whose target is missing (NaN, empty or blank) are dropped and
    counted (missing feature values are imputed later, by :func:`~orchestrator.data.prepare`);
    with ``missing="error"`` any missing value in a file is refused, naming the column and the row.

    Args:
        dataset: one of :data:`BUILTIN_DATASETS`; give exactly one of ``dataset`` and ``path``.
        path: a ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq`` file.
        target: name of the target column; required for files. For a built-in data set it may be
            left out, and if given must be the built-in's target name (``target`` for digits and
            diabetes, ``passed`` for exam).
        task: ``"classification"`` or ``"regression"``; required for files, implied by a built-in
            data set (giving a different one is an error).
        samples: for ``exam``, how many rows to generate (default 1000); for ``digits`` and
            ``diabetes``, a deterministic random subsample of that many rows. Ignored for files.
        seed: seed for generating ``exam`` and for subsampling.
        missing: ``"impute"`` or ``"error"`` (see above); the built-in data sets have none.

    Returns:
        The loaded :class:`RawData`.

    Raises:
        DataError: with key ``data``, ``data.dataset``, ``data.path``, ``data.target``,
            ``data.task`` or ``data.samples`` when the data cannot be used.
    """
    _check_exactly_one(dataset, path, None)
    check_task_value(task)
    if missing not in MISSING:
        raise DataError("data.missing", f"unknown value {missing!r}; use one of: {', '.join(MISSING)}")
    if dataset is not None:
        return load_builtin(dataset, target=target, task=task, samples=samples, seed=seed)
    return load_file(path, target=target, task=task, missing=missing)


def load_source(
    *,
    dataset: str | None = None,
    path: str | os.PathLike[str] | None = None,
    loader: str | None = None,
    args: Mapping[str, Any] | None = None,
    base_dir: str = ".",
    target: str | None = None,
    task: str | None = None,
    samples: int | None = None,
    seed: int = 0,
    missing: str = "impute",
    image_size: Sequence[int] | None = None,
    color_mode: str = "rgb",
    test_fraction: float = 0.0,
) -> RawData | ArrayData:
    """Load any source: a table (built-in data set, CSV / Parquet file, a loader's DataFrame) as
    :class:`RawData`, arrays (``.npz`` file, image folder, a loader's arrays or parts) as
    :class:`ArrayData`.

    Args:
        dataset, target, samples, seed, missing: as for :func:`load_raw`.
        path: a data file, a ``.npz`` file (arrays ``x`` and ``y``) or a folder of images (one
            subfolder per class).
        loader: ``data.loader``, ``file.py:function`` (relative to ``base_dir``) or
            ``package.module:function``; called with ``args`` as keyword arguments.
        args: ``data.args``.
        base_dir: the spec file's directory.
        task: ``"classification"`` or ``"regression"``; an image folder implies classification.
        image_size, color_mode: how an image folder's images are read (:mod:`.images`).
        test_fraction: ``data.split.test``; a loader's parts need a test part when it is positive.

    Raises:
        DataError: with the key of the problem (``data``, ``data.path``, ``data.loader``,
            ``data.args``, ``data.task``, ...); SpecError ``data.loader`` when the loader cannot be
            imported.
    """
    _check_exactly_one(dataset, path, loader)
    check_task_value(task)
    check_data_path(path)
    if loader is not None:
        return load_from_loader(loader, args, base_dir=base_dir, task=task, target=target, missing=missing,
                                test_fraction=test_fraction)
    if is_npz(path):
        return load_npz(path, task=task)  # type: ignore[arg-type]
    if _is_image_folder(path):
        return load_image_folder(path, task=task, image_size=image_size, color_mode=color_mode)
    return load_raw(dataset=dataset, path=path, target=target, task=task, samples=samples, seed=seed,
                    missing=missing)


def check_source(
    *,
    dataset: str | None = None,
    path: str | os.PathLike[str] | None = None,
    target: str | None = None,
    task: str | None = None,
    loader: str | None = None,
    args: Mapping[str, Any] | None = None,
    base_dir: str = ".",
) -> str | None:
    """Cheap checks of a data source, without loading its rows (for ``sweep validate``).

    Checks that exactly one of ``dataset`` / ``path`` / ``loader`` is given, and:

    - a built-in data set: its name is known, its task and target agree;
    - a CSV / Parquet file: it exists, has a supported extension, ``target`` and ``task`` are
      given, the target column is in its header (CSV: ``pandas.read_csv(nrows=0)``; Parquet: the
      pyarrow schema);
    - a ``.npz`` file: ``task`` is given, arrays ``x`` and ``y`` are in it with numeric ``x``,
      1-D ``y`` and equal lengths (from the arrays' headers);
    - an image folder: at least 2 class subfolders hold images; the task is classification
      (TensorFlow is not imported);
    - a loader: it imports, accepts ``args`` as keyword arguments, and ``task`` is given (it is
      not called).

    Returns:
        The task the source has: the one given, or the one implied (a built-in data set's, an
        image folder's ``"classification"``); None only when none is given for a file whose
        check does not need it.

    Raises:
        DataError: as :func:`load_source` would for the same problems (SpecError ``data.loader``
            for a loader that cannot be imported).
    """
    _check_exactly_one(dataset, path, loader)
    check_task_value(task)
    if dataset is not None:
        return check_builtin(dataset, target, task)
    if loader is not None:
        check_loader(loader, args, base_dir=base_dir, task=task)
        return task
    check_data_path(path)
    if is_npz(path):
        return check_npz(path, task)  # type: ignore[arg-type]
    if _is_image_folder(path):
        return check_image_folder(path, task)
    check_file(path, target, task)
    return task


def check_data_path(path: str | os.PathLike[str] | None) -> None:
    """Refuse a ``data.path`` that no source reads, by its extension alone (``data.npy``).

    Called before any other check of a path (the target a table needs, the task), so that the
    first thing said about such a path is that it cannot be read. A folder passes (an image
    folder), and so does a path without an extension that does not exist (its absence is what
    :func:`check_source` will say).

    Raises:
        DataError: key ``data.path``, naming the extension and the kinds of path that are read.
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).strip():
        return
    p = Path(os.fspath(path))
    if is_npz(path) or file_format(p) is not None or p.is_dir() or (not p.suffix and not p.exists()):
        return
    hint = (f"; NumPy arrays go in one {NPZ_SUFFIX} file: numpy.savez(path, x=..., y=...)"
            if p.suffix.lower() == ".npy" else "")
    raise DataError("data.path", f"{p} has {extension(p)}, which data.path cannot read; give {PATH_KINDS}{hint}")


def _is_image_folder(path: str | os.PathLike[str] | None) -> bool:
    """A directory is an image folder, unless its name says it was meant as a data file (``x.csv``)."""
    if path is None:
        return False
    p = Path(os.fspath(path))
    return p.is_dir() and not p.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)


def _check_exactly_one(dataset: str | None, path: object, loader: str | None) -> None:
    """A data section names one source: a built-in data set, a path or a loader."""
    given = [k for k, v in (("data.dataset", dataset), ("data.path", path), ("data.loader", loader))
             if v is not None]
    if len(given) != 1:
        which = " and ".join(given) + " were" if given else "none was"
        raise DataError(
            "data",
            f"give exactly one of data.dataset (one of {', '.join(BUILTIN_DATASETS)}), data.path (a CSV, "
            f"Parquet or .npz file, or a folder of images) or data.loader (file.py:function); {which} given",
        )
