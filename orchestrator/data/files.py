"""A user's data file (CSV or Parquet): check it, read it, and give its target a uniform type.

:func:`check_file` reads only the header (``sweep validate`` stays fast on a large file);
:func:`load_file` reads the rows. Whatever pandas or pyarrow raise while reading becomes one
:class:`~orchestrator.errors.DataError` line naming the file, and a bad value is named by its row.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError, first_line
from .checks import check_features, check_rows
from .containers import RawData
from .messages import did_you_mean, preview, row

__all__ = ["CSV_SUFFIXES", "PARQUET_SUFFIXES", "MISSING", "check_file", "load_file", "table_from_frame",
           "clean_target", "extension", "file_format"]

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
MISSING = ("error", "impute")
"""What to do with missing values in a data file: refuse them, or impute features and drop rows
without a target."""


def check_file(path: str | os.PathLike[str] | None, target: str | None, task: str | None) -> None:
    """Cheap checks of a data file, reading only its header (CSV) or schema (Parquet).

    Checks that it exists, is a file with a supported extension, that ``target`` and ``task`` are
    given, that no column is named twice, and that the target column is in the header beside at
    least one feature column.

    Raises:
        DataError: key ``data.path``, ``data.target`` or ``data.task``, as :func:`load_file`
            would for the same problems.
    """
    file = _existing_file(path)
    target, _ = _target_and_task(file, target, task)
    columns = _read_columns(file)
    _check_target_in_columns(target, columns, file)
    if len(columns) < 2:
        raise DataError(
            "data.path",
            f"{file} has no feature columns: its only column is the target {target!r}; "
            "add feature columns to the file",
        )


def load_file(
    path: str | os.PathLike[str] | None, *, target: str | None, task: str | None, missing: str
) -> RawData:
    """Read a data file's rows into a :class:`RawData`.

    Args:
        path: a ``.csv``, ``.csv.gz``, ``.parquet`` or ``.pq`` file.
        target: the column to predict (required).
        task: ``"classification"`` or ``"regression"`` (required).
        missing: ``"impute"``: rows whose target is missing (NaN, empty or blank) are dropped and
            counted, missing features are left for the preprocessing to impute; ``"error"``: any
            missing value is refused, naming its column and row.

    Raises:
        DataError: key ``data.path``, ``data.target`` or ``data.task`` when the file cannot be
            used.
    """
    file = _existing_file(path)
    target, task = _target_and_task(file, target, task)
    frame = _read_table(file)
    return table_from_frame(frame, target=target, task=task, missing=missing, where=str(file), name=file.name)


def table_from_frame(frame: pd.DataFrame, *, target: str, task: str, missing: str, where: str,
                     name: str) -> RawData:
    """A table's rows (a file's, or a loader's DataFrame) as :class:`RawData`: the target column
    found, missing values refused or their rows dropped (as ``missing`` says), the target given
    its uniform type (:func:`clean_target`) and the feature columns checked.

    Args:
        frame: the table, target column included.
        target: the column to predict.
        task: ``"classification"`` or ``"regression"``.
        missing: ``"impute"`` or ``"error"`` (see :func:`load_file`).
        where: the table as errors name it (a file path, a loader reference).
        name: the data set's name in :class:`RawData`.

    Raises:
        DataError: key ``data.path`` or ``data.target``.
    """
    frame = frame.copy(deep=False)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    _refuse_duplicates(columns, where)
    _check_target_in_columns(target, columns, where)
    if missing == "error":
        _refuse_missing(frame, target, where)
    rows_total = len(frame)
    y, X, dropped, kept = _drop_missing_target(frame[target], frame.drop(columns=[target]))
    check_rows(len(y), dropped, rows_total, where=where, key="data.path")
    y = clean_target(y, task, where=f"target {target!r} in {where}", key="data.target", rows=kept)
    check_features(X, where=where, rows=kept)
    return RawData(X=X, y=y, task=task, name=name, rows_dropped_missing_target=dropped)


# --------------------------------------------------------------------------------------------
# The file and its header
# --------------------------------------------------------------------------------------------


def _existing_file(path: str | os.PathLike[str] | None) -> Path:
    """Check that ``path`` names an existing file with a supported extension."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path).strip():
        raise DataError("data.path", f"data.path must be a file path, got {path!r}")
    file = Path(os.fspath(path))
    shown = str(file)
    where = shown if file.is_absolute() else f"{shown} (looked at {file.resolve()})"
    if not file.exists():
        raise DataError(
            "data.path",
            f"data file {where} does not exist; check the path (a relative path is relative to "
            "the spec file's directory)",
        )
    if file.is_dir():
        raise DataError(
            "data.path",
            f"{shown} is a directory, not a data file; point data.path at one "
            f"{'/'.join(CSV_SUFFIXES + PARQUET_SUFFIXES)} file",
        )
    if file_format(file) is None:
        raise DataError(
            "data.path",
            f"{shown} has {extension(file)}; data files must end in one of: "
            f"{', '.join(CSV_SUFFIXES + PARQUET_SUFFIXES)}",
        )
    return file


def extension(file: Path) -> str:
    """A file's extension as an error names it: ``the extension '.npy'`` (``'.csv.gz'`` whole), or
    ``no extension``."""
    suffixes = [s.lower() for s in file.suffixes]
    if not suffixes:
        return "no extension"
    return f"the extension {''.join(suffixes[-2:]) if suffixes[-1] == '.gz' else suffixes[-1]!r}"


def file_format(file: Path) -> str | None:
    """``"csv"`` or ``"parquet"`` from the file's extension; None for any other."""
    name = file.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _target_and_task(file: Path, target: str | None, task: str | None) -> tuple[str, str]:
    """A file has no implied target or task: both must be given."""
    if target is None or (isinstance(target, str) and not target.strip()):
        raise DataError(
            "data.target",
            f"data.target is required with data.path ({file}): name the column to predict",
        )
    if not isinstance(target, str):
        raise DataError("data.target", f"data.target must be a column name, got {target!r}")
    if task is None:
        raise DataError(
            "data.task",
            f"data.task is required with data.path ({file}): set it to 'classification' or "
            "'regression'",
        )
    return target, task


@contextmanager
def _read_errors(file: Path) -> Iterator[None]:
    """Turn what pandas or pyarrow raise while reading ``file`` into a one-line DataError."""
    try:
        yield
    except DataError:  # a check made while reading (a column named twice): already one line
        raise
    except pd.errors.EmptyDataError:
        raise DataError(
            "data.path", f"{file} is empty; it needs a header row and data rows"
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError("data.path", _not_utf8(file, exc)) from None
    except Exception as exc:  # pandas/pyarrow raise many kinds (ParserError, ArrowInvalid, ...)
        raise DataError("data.path", f"cannot read {file}: {first_line(exc, limit=None)}") from exc


def _read_table(file: Path) -> pd.DataFrame:
    """Read the whole file into a DataFrame, turning read failures into DataError."""
    with _read_errors(file):
        if file_format(file) == "csv":
            frame = pd.read_csv(file)
            _refuse_renamed_duplicates(file, list(frame.columns))
        else:
            import pyarrow.parquet as pq

            _refuse_duplicates(pq.read_schema(file).names, file)  # pyarrow cannot read them into a frame
            frame = pd.read_parquet(file, engine="pyarrow")
    if frame.shape[1] == 0:
        raise DataError("data.path", f"{file} has no columns; it needs a header row")
    return frame


def _read_columns(file: Path) -> list[str]:
    """Read only the column names: the CSV header or the Parquet schema."""
    with _read_errors(file):
        if file_format(file) == "csv":
            columns = list(pd.read_csv(file, nrows=0).columns)
            _refuse_renamed_duplicates(file, columns)
        else:
            import pyarrow.parquet as pq

            columns = list(pq.read_schema(file).names)
            _refuse_duplicates(columns, file)
    # pandas' Parquet index columns are stored in the schema but are not data columns.
    columns = [str(c) for c in columns if not str(c).startswith("__index_level_")]
    if not columns:
        raise DataError("data.path", f"{file} has no columns; it needs a header row")
    return columns


_RENAMED = re.compile(r"(.*)\.[0-9]+")
"""How pandas renames a column named twice in a CSV header: ``age``, ``age.1``, ``age.2``..."""


def _refuse_renamed_duplicates(file: Path, columns: Sequence[str]) -> None:
    """Refuse a CSV header that names a column twice.

    pandas renames the second ``age`` to ``age.1`` as it reads, so the header row itself is read
    again (that row alone), and only when a column looks renamed so: ``<another column>.<n>``.
    """
    names = {str(c) for c in columns}
    if any(m is not None and m.group(1) in names for m in (_RENAMED.fullmatch(str(c)) for c in columns)):
        header = pd.read_csv(file, header=None, nrows=1, dtype=str, keep_default_na=False)
        _refuse_duplicates([str(v) for v in header.iloc[0]] if len(header) else [], file)


def _refuse_duplicates(names: Sequence[str], file: Path | str) -> None:
    """Refuse column names given more than once (empty ones aside: pandas names those itself)."""
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        if str(name).strip():
            seen.setdefault(str(name), []).append(i + 1)
    twice = {name: at for name, at in seen.items() if len(at) > 1}
    if twice:
        shown = "; ".join(f"{name!r} (columns {', '.join(map(str, at))})" for name, at in list(twice.items())[:5])
        more = f"; and {len(twice) - 5} more" if len(twice) > 5 else ""
        raise DataError(
            "data.path",
            f"{file} names {'a column' if len(twice) == 1 else 'columns'} more than once: {shown}{more}; "
            "give every column a name of its own",
        )


def _not_utf8(file: Path, exc: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 is: line and byte, found by decoding the file."""
    where = ""
    try:
        raw = file.read_bytes() if file_format(file) == "csv" and not file.name.lower().endswith(".gz") else b""
        if raw:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                line = raw.count(b"\n", 0, e.start) + 1
                where = f" (byte 0x{raw[e.start]:02x} on line {line})"
    except OSError:
        pass
    return f"{file} is not UTF-8 text{where}; save it as UTF-8"


def _check_target_in_columns(target: str, columns: Sequence[str], file: Path | str) -> None:
    """Refuse a target that is not a column, suggesting the nearest name and listing the columns."""
    if target in columns:
        return
    hint = did_you_mean(target, columns)
    if len(columns) == 1 and any(sep in columns[0] for sep in (";", "\t", "|")):
        hint += " (the file may use a separator other than ',': save it comma-separated)"
    raise DataError(
        "data.target",
        f"target column {target!r} is not in {file}{hint}; available columns: "
        f"{preview(columns)}",
    )


# --------------------------------------------------------------------------------------------
# Missing values and the target
# --------------------------------------------------------------------------------------------


def _missing_mask(col: pd.Series) -> np.ndarray:
    """Missing cells: NaN/None/NA, and (text columns) empty or blank strings."""
    missing = col.isna()
    if not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col)):
        missing = missing | col.astype(str).str.strip().eq("")
    return missing.to_numpy(dtype=bool)


def _drop_missing_target(y: pd.Series, X: pd.DataFrame) -> tuple[pd.Series, pd.DataFrame, int, np.ndarray]:
    """Drop the rows whose target is missing; return what is kept, how many went, and the kept
    rows' positions in the file (to name a bad value's row later)."""
    keep = ~_missing_mask(y)
    return (
        y[keep].reset_index(drop=True),
        X[keep].reset_index(drop=True),
        int((~keep).sum()),
        np.flatnonzero(keep),
    )


def _refuse_missing(frame: pd.DataFrame, target: str, file: Path | str) -> None:
    """``missing: error``: the first column (the target first) with a missing value is an error."""
    for col in [target, *[c for c in frame.columns if c != target]]:
        bad = _missing_mask(frame[col])
        if bad.any():
            rows = np.flatnonzero(bad)
            what = "the target column" if col == target else "column"
            fix = ("set data.missing: impute to drop rows without a target" if col == target else
                   "set data.missing: impute to fill them from the training split (median / most frequent)")
            raise DataError(
                "data.target" if col == target else "data.path",
                f"{what} {col!r} in {file} has {int(bad.sum())} missing value"
                f"{'s' if bad.sum() > 1 else ''} (NaN or empty), first at {row(rows[0])}; "
                f"fill them in, or {fix}",
            )


def clean_target(y: pd.Series, task: str, *, where: str, key: str,
                 rows: np.ndarray | None = None) -> pd.Series:
    """Give the target a uniform type: float64 (regression), int64 or str (classification).

    ``rows`` maps each value to its row in the file (to name the row of a bad value).
    """

    def at(mask: np.ndarray) -> str:
        first = int(np.flatnonzero(mask)[0])
        return f" at {row(rows[first] if rows is not None else first)}"

    if task == "regression":
        return _regression_target(y, where=where, key=key, at=at)
    return _class_target(y, where=where, key=key, at=at)


def _regression_target(y: pd.Series, *, where: str, key: str, at: Callable[[np.ndarray], str]) -> pd.Series:
    """float64 values, every one a finite number."""
    if pd.api.types.is_bool_dtype(y):
        return y.astype(np.float64)
    parsed = pd.to_numeric(y, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        example = y[bad].iloc[0]
        raise DataError(
            key,
            f"{where} must be numeric for regression, but {int(bad.sum())} of {len(y)} "
            f"values could not be parsed as numbers (e.g. {example!r}{at(bad)}); clean those values "
            "or use task: classification",
        )
    parsed = parsed.astype(np.float64)
    inf = ~np.isfinite(parsed.to_numpy())
    if inf.any():
        raise DataError(
            key,
            f"{where} has {int(inf.sum())} infinite values (first{at(inf)}); remove or replace them",
        )
    return parsed


def _class_target(y: pd.Series, *, where: str, key: str, at: Callable[[np.ndarray], str]) -> pd.Series:
    """Class labels as bools, int64 or str objects, with at least two classes."""
    if pd.api.types.is_bool_dtype(y):
        out = y.astype(bool)
    elif pd.api.types.is_numeric_dtype(y):
        values = y.astype(np.float64).to_numpy()
        non_integer = ~np.isfinite(values) | (values != np.round(values))
        if non_integer.any():
            example = y[non_integer].iloc[0]
            raise DataError(
                key,
                f"{where} has non-integer numeric values such as {example!r}{at(non_integer)}; class labels "
                "must be integers or strings (use task: regression for a continuous target)",
            )
        out = y.astype(np.int64)
    else:
        out = y.astype(str).astype(object)
    n_classes = out.nunique()
    if n_classes < 2:
        only = out.iloc[0] if len(out) else None
        raise DataError(
            key,
            f"{where} has a single class ({only!r}) in the usable rows; classification needs at "
            "least 2 classes: check the target column, or use task: regression",
        )
    return out
