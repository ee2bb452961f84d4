"""The selected model, back in the user's hands: ``RUN_DIR/model/`` written, loaded and used.

When a run completes, :func:`write_model_dir` writes the selected trial's model (``model.keras``),
the fitted preprocessing its inputs went through (``preprocessing.json``, see
:mod:`orchestrator.data.schema`), ``model.json`` (the configuration, the metric, the data schema,
the versions) and the final evaluation's own predictions on the test rows
(``test_predictions.parquet``: the raw test rows as they were read, then the predictions), all
into a temporary directory renamed into place at the end, so ``model/`` is whole or absent.

:func:`load_model` reads it back (a local path or a storage URI) as a :class:`TrainedModel` whose
:meth:`~TrainedModel.predict` takes what the run was trained on -- a DataFrame of raw rows, an
array of examples, or a path to a table, an image folder, an image or a ``.npz``
(:mod:`orchestrator.predict_input`) -- and returns the predictions as ``sweep predict`` writes
them. Importing this module imports neither TensorFlow nor Ray; loading a model imports Keras.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import DataError, UsageError
from .predict_input import TAKES, read_input, read_rows, trained_on

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["MODEL_DIR", "MODEL_FILES", "TrainedModel", "load_model", "write_model_dir", "prediction_frame",
           "read_rows", "predict_file", "predict_hint"]

MODEL_DIR = "model"
MODEL_FILES = ("model.keras", "preprocessing.json", "test_predictions.parquet", "model.json")  # model.json last
MODEL_FORMAT = 1
PREDICTION = "prediction"
PROBABILITY = "probability_"
PATH = "path"  # a picture's file, in front of its prediction


@dataclass(frozen=True)
class Exported:
    """What the final evaluation hands the driver to export (built in the worker that evaluated).

    Attributes:
        model_bytes: the selected (or refit) model saved as a ``.keras`` file.
        outputs: the model's outputs on the test rows, shape ``(n_test, k)``.
        output_kind: ``"probabilities"``, ``"logits"`` (a builder's model without softmax) or
            ``"values"`` (regression).
        custom_objects: every layer class that is not Keras' own (``class``, ``registered_name``,
            ``defined_in``): the user registers and imports them to load the file.
        versions: keras and tensorflow versions of the worker.
    """

    model_bytes: bytes
    outputs: Any
    output_kind: str
    custom_objects: list[dict[str, str]]
    versions: dict[str, str]


def prediction_frame(outputs: "np.ndarray", info: dict[str, Any]) -> "pd.DataFrame":
    """The model's outputs as ``sweep predict`` writes them.

    Classification: ``prediction`` (the class label, as in the training data) and one
    ``probability_<label>`` column per class; regression: ``prediction``.
    """
    import numpy as np
    import pandas as pd

    out = np.asarray(outputs, dtype=np.float64)
    if info["task"] != "classification":
        # no rows (a run without a test split): numpy cannot reshape 0 values to (0, -1)
        return pd.DataFrame({PREDICTION: out.reshape(len(out), -1)[:, 0] if len(out) else out.reshape(0)})
    classes = info["classes"]
    if info.get("output_kind") == "logits":
        shifted = out - out.max(axis=1, keepdims=True)
        out = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    labels = [classes[i] for i in out.argmax(axis=1)]
    frame = pd.DataFrame({PREDICTION: labels})
    for i, c in enumerate(classes):
        frame[f"{PROBABILITY}{c}"] = out[:, i]
    return frame


def write_model_dir(run_dir: Path, info: dict[str, Any], preprocessing: dict[str, Any], exported: Exported,
                    test_rows: "pd.DataFrame | None") -> Path:
    """Write ``run_dir/model/`` whole (a temporary directory renamed into place).

    Args:
        run_dir: the local run directory (or a run on a URI's staging copy).
        info: model.json's contents (without the file names and versions, added here).
        preprocessing: the sidecar (:mod:`orchestrator.data.schema`).
        exported: what the evaluating worker sent back.
        test_rows: the test examples as a user gives them back (a table's raw rows; an image's
            ``path`` or an array's ``index``, then ``target``), or None.
    """
    import pandas as pd

    info = {"format": MODEL_FORMAT, **info, "output_kind": exported.output_kind,
            "files": {"model": "model.keras", "preprocessing": "preprocessing.json",
                      "test_predictions": "test_predictions.parquet"},
            "custom_objects": exported.custom_objects, "versions": {**info.get("versions", {}), **exported.versions}}
    final = run_dir / MODEL_DIR
    tmp = Path(tempfile.mkdtemp(prefix=f".{MODEL_DIR}.", dir=run_dir))
    try:
        (tmp / "model.keras").write_bytes(exported.model_bytes)
        (tmp / "preprocessing.json").write_text(json.dumps(preprocessing, indent=2) + "\n")
        predictions = prediction_frame(exported.outputs, info)
        frame = predictions if test_rows is None else pd.concat(
            [test_rows.reset_index(drop=True), predictions.add_prefix("predicted_" if _clash(test_rows) else "")],
            axis=1)
        frame.to_parquet(tmp / "test_predictions.parquet", index=False)
        (tmp / "model.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
        if final.exists():  # a resumed run that is finalized again
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _clash(rows: "pd.DataFrame") -> bool:
    return any(str(c) == PREDICTION or str(c).startswith(PROBABILITY) for c in rows.columns)


class TrainedModel:
    """A run's exported model: raw rows in, predictions out.

    Attributes:
        info: model.json (configuration, metric, data schema, versions).
        preprocessing: the fitted preprocessing (preprocessing.json).
        keras_model: the Keras model itself (takes preprocessed arrays).
    """

    def __init__(self, where: Any, info: dict[str, Any], preprocessing: dict[str, Any]) -> None:
        self.where, self.info, self.preprocessing = where, info, preprocessing
        self._keras_model: Any = None
        self.last_notes: list[str] = []  # what the last predict() should tell its user (see notes_of)

    @property
    def keras_model(self) -> Any:
        """The Keras model (loaded on first use: rows that do not fit are refused before Keras is imported)."""
        if self._keras_model is None:
            self._keras_model = _load_keras(self.where / MODEL_DIR / "model.keras", self.info, self.where)
        return self._keras_model

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.info["input_shape"])

    def __repr__(self) -> str:
        m = self.info.get("metric", {})
        return (f"TrainedModel({self.where}: trial {self.info.get('trial_id')}, {m.get('name')}={m.get('best')}, "
                f"test {self.info.get('test_metrics')})")

    @property
    def trained_on(self) -> str:
        """What the run was trained on: ``"table"``, ``"images"`` or ``"arrays"`` (what :meth:`predict` takes)."""
        return trained_on(self.info, self.preprocessing)

    def predict(self, rows: Any, *, where: str | None = None) -> "pd.DataFrame":
        """Predictions for what the run was trained on.

        Args:
            rows: a table's model: a DataFrame with the training columns (the target and extra
                columns are passed through in front). An array model: an array of examples of
                the run's example shape (an image folder's model: pixel values 0 to 255; the
                run's scaling is applied as in training). Any model: the path of a file or
                folder of such input (:func:`orchestrator.predict_input.read_input`); pictures
                get their ``path`` in front.
            where: the input as errors name it (default: the path, or "the input").

        Raises:
            DataError: a missing column, a value of the wrong type, examples of another shape,
                no rows (the key names what).
            UsageError: key ``INPUT`` for a path this model does not take; ``rows`` for a
                DataFrame given to an array model or the reverse.
        """
        import pandas as pd

        if isinstance(rows, (str, os.PathLike)):
            got = read_input(rows, self.trained_on, self.preprocessing, self.input_shape)
            frame = self.predict(got.rows, where=where or os.fspath(rows))
            return frame if got.paths is None else pd.concat([pd.DataFrame({PATH: got.paths}), frame], axis=1)
        where = where or "the input"
        if self.preprocessing.get("kind") == "table":
            return self._predict_table(rows, where)
        if isinstance(rows, pd.DataFrame):
            raise UsageError("rows", f"{self.where}'s model was trained on {self.trained_on}: it takes "
                                     f"{TAKES[self.trained_on]} or an array of examples, not a DataFrame")
        return self._predict_arrays(rows, where)

    def _predict_table(self, rows: Any, where: str) -> "pd.DataFrame":
        import pandas as pd

        from .data.schema import transform_rows

        if not isinstance(rows, pd.DataFrame):
            raise UsageError("rows", f"{self.where} takes a DataFrame of the training columns, not "
                                     f"{type(rows).__name__}")
        got = transform_rows(self.preprocessing, rows, self.input_shape, where=where)
        self.last_notes = notes_of(got, len(rows))
        outputs = self.keras_model.predict(got.X, batch_size=1024, verbose=0)
        return pd.concat([got.passthrough, prediction_frame(outputs, self.info)], axis=1)

    def _predict_arrays(self, rows: Any, where: str) -> "pd.DataFrame":
        import numpy as np

        from .data.schema import PIXELS_OVER_255

        x = np.asarray(rows, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise DataError("rows", f"{where}: examples shaped {x.shape[1:]}; the model takes {self.input_shape}")
        if len(x) == 0:
            raise DataError("rows", f"{where} has no rows to predict")
        if self.preprocessing.get("scaling") == PIXELS_OVER_255:
            x = x / np.float32(255.0)  # float32 arithmetic, as the run's images were scaled when read
        self.last_notes = []
        return prediction_frame(self.keras_model.predict(x, batch_size=1024, verbose=0), self.info)


def load_model(run_dir: Any) -> TrainedModel:
    """Load ``RUN_DIR/model/`` (a local path or a storage URI) as a :class:`TrainedModel` (its
    Keras model is loaded when first used).

    Raises:
        UsageError: key ``RUN_DIR`` when the run has no exported model (an older or failed run)
            or its model cannot be loaded (custom layers that are not registered: the message
            names them).
    """
    from .storage import resolve

    where = resolve(str(run_dir), "RUN_DIR")
    model_dir = where / MODEL_DIR
    if not (model_dir / "model.json").is_file():
        status = ""
        if (where / "run.json").is_file():
            status = f" (run status: {json.loads((where / 'run.json').read_text()).get('status', '?')})"
        raise UsageError("RUN_DIR", f"{where} has no exported model ({MODEL_DIR}/model.json){status}; a run "
                                    "exports its selected model when it completes (an older version's runs did not)")
    info = json.loads((model_dir / "model.json").read_text())
    preprocessing = json.loads((model_dir / "preprocessing.json").read_text())
    return TrainedModel(where, info, preprocessing)


def _load_keras(path: Any, info: dict[str, Any], where: Any) -> Any:
    """Load ``model.keras`` (from a local path, or downloaded from a storage Location first)."""
    from .quiet import quiet_native_stderr
    from .storage import Location

    if isinstance(path, Location):
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "model.keras"
            local.write_bytes(path.read_bytes())
            return _load_keras(local, info, where)
    failure: Exception | None = None
    # the first TensorFlow operation looks for a GPU (``failed call to cuInit`` where there is none):
    # its native lines are held back with those of the import
    with quiet_native_stderr():
        import keras

        try:
            return keras.saving.load_model(str(path), compile=False)
        except Exception as e:  # noqa: BLE001 - Keras raises TypeError/ValueError for unknown classes
            failure = e  # said in the one line below
    custom = info.get("custom_objects") or []
    names = ", ".join(f"{c['class']} ({Path(c['defined_in']).name})" for c in custom)
    hint = (f"; it uses custom layers {names}: register them with @keras.saving.register_keras_serializable() "
            "and import their module before loading") if custom else ""
    from .errors import first_line

    raise UsageError("RUN_DIR", f"{where}: cannot load {MODEL_DIR}/model.keras: {first_line(failure)}{hint}")


def notes_of(got: Any, n: int) -> list[str]:
    """What ``sweep predict`` tells of rows it had to complete: categories training never saw,
    cells filled from the training split, rows with no feature value at all."""
    notes = [f"column {column!r}: {rows} of {n} rows hold a category training never saw (encoded as none of "
             "the known ones, as in the run)" for column, rows in got.unseen.items()]
    notes += [f"column {column!r}: {cells} of {n} rows are missing it, filled with the training split's value"
              for column, cells in got.filled.items()]
    if got.blank:
        notes.append(f"{got.blank} of {n} rows have no feature value at all: their predictions are the model's "
                     "answer for a typical training row, not for them")
    return notes


def predict_file(run_dir: str, input_path: str, out: str | None) -> tuple[Any, int, list[str]]:
    """``sweep predict``: predictions for what ``input_path`` holds (a table's rows, an image folder
    or image, a ``.npz``'s ``x``: what the run was trained on), written to ``out`` (CSV or Parquet
    by suffix; None: ``<input>.predictions.csv`` next to the input; never one of the run directory's
    own files, :func:`~orchestrator.options.check_not_run_file`). Nothing is written when the
    input does not match the model.

    Returns:
        The output path, the number of rows, and the notes to print (:func:`notes_of`).
    """
    from .options import check_not_run_file

    given = Path(input_path)
    named = given if given.name not in ("", ".", "..") else given.resolve()  # "." has no name to suffix
    stem = named.name if named.is_dir() else named.stem  # a folder "pics.v2" keeps its whole name
    target = Path(out) if out else named.with_name(f"{stem}.predictions.csv")
    if target.resolve() == given.resolve():
        raise UsageError("--out", f"{out}: is the input file; predictions never overwrite it")
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise UsageError("--out", f"{out}: unknown file type {suffix or '(none)'}; use .csv or .parquet")
    check_not_run_file(target, run_dir)  # never over the run's tables, run.json, model/ (checked before loading)
    model = load_model(run_dir)
    frame = model.predict(input_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    if suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    os.replace(tmp, target)
    return target, len(frame), model.last_notes


def predict_hint(run_dir: Any) -> str:
    """How to predict with a run's exported model, for the line after a run: a ``sweep predict``
    command with an input of the kind the run was trained on (``ROWS.csv``, ``IMAGES/``,
    ``X.npz``), or for a loader's arrays the Python way.

    Args:
        run_dir: the run directory (a path or a URI), as printed; its ``model/model.json`` says
            what the run was trained on (unreadable: a table's hint).
    """
    try:
        source = (load_model(run_dir).info.get("data") or {}).get("source")
    except (OSError, ValueError):  # UsageError is a ValueError: no model.json to read
        source = None
    if source == "loader":
        return f"orchestrator.load_model({str(run_dir)!r}).predict(array)"
    example = {"image_folder": "IMAGES/", "npz": "X.npz"}.get(source or "table", "ROWS.csv")
    return f"sweep predict {run_dir} {example}"
