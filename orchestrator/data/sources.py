"""Where a data set comes from: a source yields a :class:`~.containers.RawData`, nothing more.

Today there are two kinds of source, a built-in data set (:mod:`.builtin`) and a CSV / Parquet file
(:mod:`.files`); each has a cheap check (for ``sweep validate``) and a full load. A new kind of
source (a user's loader function, a NumPy ``.npz`` file, a folder of images) is one more branch
here and one more module beside those two; splitting and preprocessing do not change.
"""

from __future__ import annotations

import os

from ..errors import DataError
from .builtin import BUILTIN_DATASETS, check_builtin, load_builtin
from .checks import check_task_value
from .containers import RawData
from .files import MISSING, check_file, load_file

__all__ = ["load_raw", "check_source"]


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
    _check_exactly_one(dataset, path)
    check_task_value(task)
    if missing not in MISSING:
        raise DataError("data.missing", f"unknown value {missing!r}; use one of: {', '.join(MISSING)}")
    if dataset is not None:
        return load_builtin(dataset, target=target, task=task, samples=samples, seed=seed)
    return load_file(path, target=target, task=task, missing=missing)


def check_source(
    *,
    dataset: str | None = None,
    path: str | os.PathLike[str] | None = None,
    target: str | None = None,
    task: str | None = None,
) -> None:
    """Cheap checks of a data source, without loading its rows (for ``sweep validate``).

    Checks that exactly one of ``dataset`` / ``path`` is given, that a built-in name is known and
    its task and target agree, and for a file: that it exists, is a file, has a supported
    extension, that ``target`` and ``task`` are given, and that the target column is in its header
    (CSV: ``pandas.read_csv(nrows=0)``; Parquet: the pyarrow schema).

    Args:
        dataset: a built-in data set name, or None.
        path: a data file path, or None.
        target: the target column name.
        task: ``"classification"`` or ``"regression"``.

    Returns:
        None.

    Raises:
        DataError: as :func:`load_raw` would for the same problems.
    """
    _check_exactly_one(dataset, path)
    check_task_value(task)
    if dataset is not None:
        check_builtin(dataset, target, task)
        return
    check_file(path, target, task)


def _check_exactly_one(dataset: str | None, path: object) -> None:
    """A data section names one source: a built-in data set or a file, not both, not neither."""
    if (dataset is None) == (path is None):
        which = "both" if dataset is not None else "neither"
        raise DataError(
            "data",
            f"give exactly one of data.dataset (one of {', '.join(BUILTIN_DATASETS)}) or "
            f"data.path (a CSV or Parquet file); {which} was given",
        )

