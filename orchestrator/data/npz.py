"""A NumPy ``.npz`` file of two arrays: ``x`` (one example per row, any example shape) and ``y``.

:func:`check_npz` reads only the arrays' headers (names, shapes, dtypes) from the file's zip
directory, for ``sweep validate``; :func:`load_npz` reads the arrays with
``numpy.load(allow_pickle=False)``: a file holding pickled objects is refused, never unpickled.
:func:`read_x` reads ``x`` alone (new examples for an exported model; ``y`` may be absent).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError, first_line
from .arrays import clean_labels, example_arrays
from .checks import check_rows
from .containers import ArrayData

__all__ = ["NPZ_SUFFIX", "is_npz", "check_npz", "load_npz", "read_x"]

NPZ_SUFFIX = ".npz"
_SAVE_HINT = "save it with numpy.savez(path, x=..., y=...)"


def is_npz(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``data.path`` names a NumPy file (by its extension)."""
    return path is not None and os.fspath(path).lower().endswith(NPZ_SUFFIX)


def check_npz(path: str | os.PathLike[str], task: str | None) -> str:
    """Cheap checks of a ``.npz`` file: its arrays ``x`` and ``y`` from their headers alone.

    Returns:
        The task (which must be given).

    Raises:
        DataError: key ``data.task`` when no task is given; ``data.path`` for a missing file, a
            file that is not an ``.npz``, a missing ``x`` or ``y``, non-numeric ``x``, ``y`` not
            1-D, or lengths that differ.
    """
    file = _existing(path)
    task = _task(task, file)
    headers = _headers(file, ("x", "y"), key="data.path")
    (x_shape, x_dtype), (y_shape, y_dtype) = headers["x"], headers["y"]
    _numeric_x(file, x_dtype, key="data.path")
    if y_dtype.kind == "O":
        raise DataError("data.path", f"y in {file} holds Python objects, which are never unpickled; "
                        f"{_SAVE_HINT} with numbers or strings as y")
    if not x_shape:
        raise DataError("data.path", f"x in {file} is a single value; it needs one row per example")
    if len(y_shape) != 1 and not (len(y_shape) == 2 and y_shape[1] == 1):
        raise DataError("data.path", f"y in {file} has shape {tuple(y_shape)}; it must be 1-D (one label per "
                        "example) or (n, 1)")
    if x_shape[0] != y_shape[0]:
        raise DataError("data.path", f"x in {file} has {x_shape[0]} examples but y has {y_shape[0]} labels; "
                        "they must be the same length")
    return task


def load_npz(path: str | os.PathLike[str], *, task: str | None) -> ArrayData:
    """Read ``x`` and ``y`` from a ``.npz`` file (``x`` as float32, unscaled).

    Raises:
        DataError: as :func:`check_npz`, and for NaN or infinite values in ``x``, bad labels
            (:func:`~.arrays.clean_labels`) or too few rows.
    """
    file = _existing(path)
    task = check_npz(file, task)
    try:
        with np.load(file, allow_pickle=False) as npz:
            x, y = npz["x"], npz["y"]
    except Exception as e:  # a truncated member, a bad CRC, ...
        raise DataError("data.path", f"cannot read {file}: {type(e).__name__}: {first_line(e)}") from None
    x, y = example_arrays(x, y, where=str(file), key="data.path")
    check_rows(len(y), 0, len(y), where=str(file), key="data.path")
    y = clean_labels(y, task, where=str(file), key="data.path")
    return ArrayData(x=x, y=y, task=task, name=file.name, source="npz", key="data.path")


def read_x(path: str | os.PathLike[str], *, key: str = "INPUT") -> np.ndarray:
    """The examples ``x`` of an existing ``.npz`` file (as float32, unscaled); other arrays are ignored.

    Raises:
        DataError: with ``key``: not an ``.npz``, no ``x``, ``x`` not numbers, a single value or
            holding NaN or infinite values.
    """
    file = Path(os.fspath(path))
    (shape, dtype), = _headers(file, ("x",), key=key).values()
    _numeric_x(file, dtype, key=key)
    try:
        with np.load(file, allow_pickle=False) as npz:
            x = npz["x"]
    except Exception as e:  # a truncated member, a bad CRC, ...
        raise DataError(key, f"cannot read {file}: {type(e).__name__}: {first_line(e)}") from None
    x, _ = example_arrays(x, np.zeros(len(x) if shape else 0), where=str(file), key=key)
    return x


def _numeric_x(file: Path, dtype: np.dtype, *, key: str) -> None:
    if dtype.kind not in "biuf":
        raise DataError(key, f"x in {file} holds values of type {dtype}, not numbers; {_SAVE_HINT} with a numeric x")


def _existing(path: str | os.PathLike[str]) -> Path:
    file = Path(os.fspath(path))
    if not file.exists():
        where = str(file) if file.is_absolute() else f"{file} (looked at {file.resolve()})"
        raise DataError("data.path", f"data file {where} does not exist; check the path (a relative path is "
                        "relative to the spec file's directory)")
    if not file.is_file():
        raise DataError("data.path", f"{file} is not a file; a NumPy data file is one .npz file")
    return file


def _task(task: str | None, file: Path) -> str:
    if task is None:
        raise DataError("data.task", f"data.task is required with a NumPy file ({file}): set it to "
                        "'classification' or 'regression'")
    return task


def _headers(file: Path, names: tuple[str, ...], *, key: str) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of the arrays ``names``, read from the .npy headers inside the zip (errors under ``key``)."""
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    try:
        with zipfile.ZipFile(file) as z:
            held = [n[: -len(".npy")] for n in z.namelist() if n.endswith(".npy")]
            for name in names:
                if name not in held:
                    listed = ", ".join(repr(n) for n in held) or "none"
                    saving = ", ".join(f"{n}=..." for n in names)
                    raise DataError(key, f"{file} has no array {name!r} (its arrays: {listed}); save it with "
                                         f"numpy.savez(path, {saving})")
                with z.open(f"{name}.npy") as f:
                    version = np.lib.format.read_magic(f)
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(f)
                out[name] = (tuple(int(d) for d in shape), dtype)
    except DataError:
        raise
    except Exception as e:  # not a zip, not .npy members, a damaged header
        raise DataError(key, f"{file} is not a valid NumPy .npz file ({type(e).__name__}: "
                        f"{first_line(e)}); {_SAVE_HINT}") from None
    return out
