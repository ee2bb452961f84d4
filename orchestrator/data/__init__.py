"""Load a data set, split it 70/20/10 and preprocess it without leaking the held-out rows.

The data flow is one-directional, one module per step:

1. :mod:`.sources` -- :func:`load_source` reads a table into a :class:`RawData` (original
   columns, rows with a missing target dropped and counted): a built-in data set
   (:mod:`.builtin`: ``digits``, ``diabetes``, ``exam``), a CSV / Parquet file (:mod:`.files`) or
   a loader's DataFrame; or arrays into an :class:`ArrayData`: a NumPy ``.npz`` file
   (:mod:`.npz`), a folder of images (:mod:`.images`, through Keras' loader) or a loader's arrays
   or already-split parts (:mod:`.loader`, the user's function). :func:`load_raw` is the tables
   alone. :func:`check_source` does the cheap part of the same checks (the file exists, the
   target column is in its header, the .npz holds ``x`` and ``y``, the folder has 2 classes, the
   loader imports and takes its arguments) without reading the rows; ``sweep validate`` uses it.
   :func:`check_data_path` refuses a path no source reads (``data.npy``) by its extension alone.
2. :mod:`.split` -- :func:`split_indices` splits the rows into train / validation / test
   (stratified for classification) with scikit-learn's ``train_test_split``.
3. :mod:`.preprocess` -- imputation, one-hot encoding, scaling and label encoding of a table,
   fitted on the training rows only and applied to the validation and test rows.
4. :mod:`.pipeline` -- :func:`prepare` splits FIRST and then preprocesses; the result,
   :class:`Prepared` (:mod:`.containers`), holds float32 arrays ready for Keras (one example of
   shape ``input_shape``; ``data.shape`` reshapes a table's rows) and a JSON-serialisable
   ``report`` of what was done. :func:`load_for` does all of it for a spec. Arrays are split and
   their labels encoded the same way but their values are not preprocessed (:mod:`.arrays`).

:mod:`.checks` and :mod:`.messages` hold the checks and the wording every step shares. Every
problem with the data is raised as :class:`~orchestrator.errors.DataError` with the spec key it
concerns (``data.path``, ``data.target``, ``data.task``, ``data.split``, ...).

This package imports neither Ray nor TensorFlow (reading an image folder imports Keras then).
"""

from __future__ import annotations

from .builtin import BUILTIN_DATASETS
from .checks import MIN_ROWS, TASKS
from .containers import ArrayData, Prepared, RawData, Split
from .files import CSV_SUFFIXES, MISSING, PARQUET_SUFFIXES
from .pipeline import load_for, prepare
from .sources import check_data_path, check_source, load_raw, load_source
from .split import split_indices

__all__ = [
    "BUILTIN_DATASETS",
    "TASKS",
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "MIN_ROWS",
    "RawData",
    "ArrayData",
    "Split",
    "Prepared",
    "load_raw",
    "load_source",
    "check_source",
    "check_data_path",
    "load_for",
    "MISSING",
    "split_indices",
    "prepare",
]
