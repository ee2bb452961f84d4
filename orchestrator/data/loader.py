"""A user's data loader named in the spec (``data.loader: file.py:function``, ``data.args``).

The function is imported only through :func:`orchestrator.usercode.load_function` and called as
``fn(**args)`` on the driver. It may return:

- a pandas DataFrame: a table, prepared as a data file's (``data.target`` names its target);
- arrays, as ``(x, y)`` or ``{"x": x, "y": y}``: split by the spec's fractions;
- parts already split, ``{"train": P, "val": P, "test": P}``, each P ``(x, y)``, ``{"x", "y"}``
  or a ``tf.data.Dataset`` of ``(x, y)`` (batched or not: a dataset whose label is a scalar is
  read as examples, one whose label has a first dimension as batches). Datasets are read into
  arrays on the driver, so the parts must fit in its memory. The spec's split fractions are not
  applied to parts; the test part reaches only the final evaluation, as a split's does.

:func:`check_loader` imports the function and checks ``args`` against its signature without
calling it (for ``sweep validate``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import pandas as pd

from ..errors import DataError, first_line
from ..usercode import load_function
from .arrays import clean_labels, example_arrays
from .checks import check_rows
from .containers import ArrayData, RawData
from .files import table_from_frame

__all__ = ["PARTS", "check_loader", "load_from_loader"]

PARTS = ("train", "val", "test")
_RETURNS = ("a pandas DataFrame, arrays (x, y) or {'x': x, 'y': y}, or parts "
            "{'train': ..., 'val': ..., 'test': ...}")


def check_loader(ref: str, args: Mapping[str, Any] | None, *, base_dir: str, task: str | None) -> Callable[..., Any]:
    """Import the loader and check that it accepts ``args`` as keyword arguments; call nothing.

    Returns:
        The function.

    Raises:
        SpecError: key ``data.loader`` when it cannot be imported (see
            :func:`~orchestrator.usercode.load_function`).
        DataError: key ``data.args`` for arguments it does not accept, ``data.task`` when no task
            is given.
    """
    fn = load_function(ref, base_dir=base_dir, key="data.loader")
    if args is not None and (not isinstance(args, Mapping) or not all(isinstance(k, str) for k in args)):
        raise DataError("data.args", f"must be a mapping of keyword arguments for {ref}, got {args!r}")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to check against: the call will tell
        signature = None
    if signature is not None:
        try:
            signature.bind(**dict(args or {}))
        except TypeError as e:
            shown = ", ".join(signature.parameters) or "no arguments"
            raise DataError("data.args", f"{ref} takes ({shown}) and cannot be called with "
                            f"{sorted(args or {})}: {first_line(e)}") from None
    if task is None:
        raise DataError("data.task", f"data.task is required with data.loader ({ref}): set it to "
                        "'classification' or 'regression'")
    return fn


def load_from_loader(ref: str, args: Mapping[str, Any] | None, *, base_dir: str, task: str | None,
                     target: str | None = None, missing: str = "error", test_fraction: float = 0.0
                     ) -> RawData | ArrayData:
    """Call the loader and turn what it returns into a table or arrays.

    Args:
        ref: ``data.loader``.
        args: ``data.args``, passed as keyword arguments.
        base_dir: the spec file's directory (a file reference is relative to it).
        task: ``"classification"`` or ``"regression"`` (required).
        target: the target column of a returned DataFrame.
        missing: what to do with a DataFrame's missing values (as for a data file).
        test_fraction: ``data.split.test``: with parts, a missing test part is an error when it
            is positive.

    Raises:
        DataError: key ``data.loader`` when it raises or returns something unusable (naming the
            function), ``data.target`` for a DataFrame without its target, and as
            :func:`check_loader`.
    """
    fn = check_loader(ref, args, base_dir=base_dir, task=task)
    task = str(task)  # check_loader refused None
    try:
        result = fn(**dict(args or {}))
    except Exception as e:  # the user's code: its failure is one line naming it
        raise DataError("data.loader", f"{ref} raised {type(e).__name__}: {first_line(e)}") from None
    if isinstance(result, pd.DataFrame):
        return _table(result, ref, target=target, task=task, missing=missing)
    if isinstance(result, Mapping) and any(k in result for k in PARTS):
        return _parts(result, ref, task=task, test_fraction=test_fraction)
    x, y = _pair(result, ref, f"{ref} returned {_what(result)}; return {_RETURNS}")
    x, y = example_arrays(x, y, where=f"what {ref} returned", key="data.loader")
    check_rows(len(y), 0, len(y), where=f"what {ref} returned", key="data.loader")
    y = clean_labels(y, task, where=f"what {ref} returned", key="data.loader")
    return ArrayData(x=x, y=y, task=task, name=ref, source="loader", key="data.loader")


def _table(frame: pd.DataFrame, ref: str, *, target: str | None, task: str, missing: str) -> RawData:
    """A returned DataFrame, as a data file's table; a problem with its columns is the loader's."""
    if target is None:
        raise DataError("data.target", f"{ref} returned a DataFrame: set data.target to the column to predict "
                        f"(its columns: {', '.join(repr(str(c)) for c in frame.columns[:20])})")
    try:
        return table_from_frame(frame, target=target, task=task, missing=missing,
                                where=f"the DataFrame {ref} returned", name=ref)
    except DataError as e:
        raise DataError("data.loader" if e.key == "data.path" else e.key, e.message) from None


def _pair(value: Any, ref: str, wrong: str) -> tuple[Any, Any]:
    """``(x, y)`` from a 2-tuple (or list) or a mapping with keys ``x`` and ``y``."""
    if isinstance(value, Mapping):
        if "x" in value and "y" in value and len(value) == 2:
            return value["x"], value["y"]
        raise DataError("data.loader", f"{wrong} (got a mapping with keys {sorted(map(str, value))})")
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    raise DataError("data.loader", wrong)


def _what(value: Any) -> str:
    """What was returned, in words: its type (and length, for a sequence)."""
    kind = type(value)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    return f"a {name} of {len(value)} items" if isinstance(value, (tuple, list)) else f"an object of type {name}"


def _parts(result: Mapping[str, Any], ref: str, *, task: str, test_fraction: float) -> ArrayData:
    """The loader's own train / val / test parts, one array set with each part's row positions."""
    extra = sorted(str(k) for k in result if k not in PARTS)
    if extra:
        raise DataError("data.loader", f"{ref} returned parts with unknown keys {extra}; use 'train', 'val', 'test'")
    for name in ("train", "val"):
        if name not in result:
            raise DataError("data.loader", f"{ref} returned parts without a {name!r} part; return one (the sweep "
                            f"{'trains on' if name == 'train' else 'selects by'} it)")
    if "test" not in result and test_fraction > 0:
        raise DataError("data.loader", f"{ref} returned no 'test' part but data.split.test is {test_fraction:g}; "
                        "return a 'test' part, or set data.split.test: 0")
    xs, ys = {}, {}
    for name in PARTS:
        if name not in result:
            continue
        where = f"the {name} part {ref} returned"
        x, y = _part_arrays(result[name], ref, name, where)
        xs[name], ys[name] = example_arrays(x, y, where=where, key="data.loader")
        if len(ys[name]) == 0:
            if name != "test":
                raise DataError("data.loader", f"{where} is empty; it needs at least 1 example")
            xs[name] = xs["train"][:0]
        if xs[name].shape[1:] != xs["train"].shape[1:]:
            raise DataError("data.loader", f"{where} has examples of shape {tuple(xs[name].shape[1:])} but the train "
                            f"part's have shape {tuple(xs['train'].shape[1:])}; every part needs the same shape")
    if "test" not in xs:
        xs["test"], ys["test"] = xs["train"][:0], ys["train"][:0]
    sizes = [len(ys[k]) for k in PARTS]
    bounds = np.cumsum([0, *sizes])
    parts = {k: np.arange(bounds[i], bounds[i + 1], dtype=np.int64) for i, k in enumerate(PARTS)}
    y = np.concatenate([ys[k] for k in PARTS])
    check_rows(len(y), 0, len(y), where=f"the parts {ref} returned", key="data.loader")
    y = clean_labels(y, task, where=f"the parts {ref} returned", key="data.loader")
    return ArrayData(x=np.concatenate([xs[k] for k in PARTS]), y=y, task=task, name=ref, source="loader",
                     key="data.loader", parts=parts)


def _part_arrays(part: Any, ref: str, name: str, where: str) -> tuple[Any, Any]:
    """A part's ``(x, y)``: given as arrays, or read from a ``tf.data.Dataset``."""
    if hasattr(part, "as_numpy_iterator") and hasattr(part, "element_spec"):
        return _read_dataset(part, where)
    return _pair(part, ref, f"{where} is {_what(part)}; give each part as (x, y), {{'x': x, 'y': y}} or a "
                 "tf.data.Dataset of (x, y)")


def _read_dataset(dataset: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a ``tf.data.Dataset`` of ``(x, y)`` into two arrays (it must fit in memory).

    A scalar label per element means unbatched examples (stacked); a label with a first
    dimension means batches (concatenated).
    """
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise DataError("data.loader", f"{where} is a tf.data.Dataset whose elements are {spec!r}; it must "
                        "yield (x, y) pairs")
    rank = spec[1].shape.rank
    batched = rank is not None and rank >= 1
    xs, ys = [], []
    try:
        for x, y in dataset.as_numpy_iterator():
            xs.append(np.asarray(x))
            ys.append(np.asarray(y))
    except Exception as e:  # the user's pipeline raised while it was read
        raise DataError("data.loader", f"reading {where} raised {type(e).__name__}: {first_line(e)}") from None
    if not xs:
        return np.empty((0,)), np.empty((0,))
    join = np.concatenate if batched else np.stack
    return join(xs), join(ys)
