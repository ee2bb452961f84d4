"""Load a data set, split it 70/20/10 and preprocess it without leaking the held-out rows.

The data flow is one-directional, one module per step:

1. :mod:`.sources` -- :func:`load_raw` reads a built-in data set (:mod:`.builtin`: ``digits``,
   ``diabetes``, ``exam``) or a CSV / Parquet file (:mod:`.files`) into a :class:`RawData`
   (original columns, rows with a missing target dropped and counted). :func:`check_source` does
   the cheap part of the same checks (the file exists, the target column is in its header)
   without reading the rows; ``sweep validate`` uses it. A new kind of source goes there.
2. :mod:`.split` -- :func:`split_indices` splits the rows into train / validation / test
   (stratified for classification) with scikit-learn's ``train_test_split``.
3. :mod:`.preprocess` -- imputation, one-hot encoding, scaling and label encoding of a table,
   fitted on the training rows only and applied to the validation and test rows.
4. :mod:`.pipeline` -- :func:`prepare` splits FIRST and then preprocesses; the result,
   :class:`Prepared` (:mod:`.containers`), holds float32 arrays ready for Keras and a
   JSON-serialisable ``report`` of what was done. :func:`load_for` does all of it for a spec.

:mod:`.checks` and :mod:`.messages` hold the checks and the wording every step shares. Every
problem with the data is raised as :class:`~orchestrator.errors.DataError` with the spec key it
concerns (``data.path``, ``data.target``, ``data.task``, ``data.split``, ...).

This package imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

from .builtin import BUILTIN_DATASETS
from .checks import MIN_ROWS, TASKS
from .containers import Prepared, RawData, Split
from .files import CSV_SUFFIXES, MISSING, PARQUET_SUFFIXES
from .pipeline import load_for, prepare
from .sources import check_source, load_raw
from .split import split_indices

__all__ = [
    "BUILTIN_DATASETS",
    "TASKS",
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "MIN_ROWS",
    "RawData",
    "Split",
    "Prepared",
    "load_raw",
    "check_source",
    "load_for",
    "MISSING",
    "split_indices",
    "prepare",
]
