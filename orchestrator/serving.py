"""The selected model, back in the user's hands: ``RUN_DIR/model/`` written, loaded and used.

When a run completes, :func:`write_model_dir` writes the selected trial's model (``model.keras``),
the fitted preprocessing its inputs went through (``preprocessing.json``, see
:mod:`orchestrator.data.schema`), ``model.json`` (the configuration, the metric, the data schema,
the versions) and the final evaluation's own predictions on the test rows
(``test_predictions.parquet``: the raw test rows as they were read, then the predictions), all
into a temporary directory renamed into place at the end, so ``model/`` is whole or absent.

:func:`load_model` reads it back (a local path or a storage URI) as a :class:`TrainedModel` whose
:meth:`~TrainedModel.predict` takes a DataFrame of raw rows (or, for array data, an array) and
returns the predictions as ``sweep predict`` writes them. Importing this module imports neither
TensorFlow nor Ray; loading a model imports Keras.
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

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["MODEL_DIR", "MODEL_FILES", "TrainedModel", "load_model", "write_model_dir", "prediction_frame",
           "read_rows", "predict_file"]

MODEL_DIR = "model"
MODEL_FILES = ("model.keras", "preprocessing.json", "test_predictions.parquet", "model.json")  # model.json last
MODEL_FORMAT = 1
PREDICTION = "prediction"
PROBABILITY = "probability_"


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
        return pd.DataFrame({PREDICTION: out.reshape(len(out), -1)[:, 0]})
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
        test_rows: the raw test rows as read (a table), or None (arrays).
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
        self.last_unseen: dict[str, int] = {}

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

    def predict(self, rows: Any, *, where: str = "the input") -> "pd.DataFrame":
        """Predictions for raw ``rows``: a DataFrame with the training columns (a table's model;
        the target and extra columns are passed through in front), or an array of examples
        (array data; an image folder's pixels are scaled as in the run).

        Raises:
            DataError: a missing column, a value of the wrong type, no rows (key names the column).
        """
        import numpy as np
        import pandas as pd

        from .data.schema import PIXELS_OVER_255, transform_rows

        if self.preprocessing.get("kind") == "table":
            if not isinstance(rows, pd.DataFrame):
                raise UsageError("rows", f"{self.where} takes a DataFrame of the training columns, not "
                                         f"{type(rows).__name__}")
            got = transform_rows(self.preprocessing, rows, self.input_shape, where=where)
            self.last_unseen = got.unseen
            outputs = self.keras_model.predict(got.X, batch_size=1024, verbose=0)
            return pd.concat([got.passthrough, prediction_frame(outputs, self.info)], axis=1)
        x = np.asarray(rows, dtype=np.float32)
        if x.shape[1:] != self.input_shape:
            raise DataError("rows", f"{where}: examples shaped {x.shape[1:]}; the model takes {self.input_shape}")
        if len(x) == 0:
            raise DataError("rows", f"{where} has no rows to predict")
        if self.preprocessing.get("scaling") == PIXELS_OVER_255:
            x = x / 255.0
        self.last_unseen = {}
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
    with quiet_native_stderr():
        import keras
    try:
        return keras.saving.load_model(str(path), compile=False)
    except Exception as e:  # noqa: BLE001 - Keras raises TypeError/ValueError for unknown classes
        custom = info.get("custom_objects") or []
        names = ", ".join(f"{c['class']} ({Path(c['defined_in']).name})" for c in custom)
        hint = (f"; it uses custom layers {names}: register them with @keras.saving.register_keras_serializable() "
                "and import their module before loading") if custom else ""
        from .errors import first_line

        raise UsageError("RUN_DIR", f"{where}: cannot load {MODEL_DIR}/model.keras: {first_line(e)}{hint}") from None


def read_rows(path: str) -> "pd.DataFrame":
    """A CSV or Parquet file of rows to predict (by its suffix).

    Raises:
        UsageError: key ``INPUT`` for a missing file, an unknown suffix or an unreadable file.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise UsageError("INPUT", f"{path}: no such file")
    suffix = p.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(p)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(p)
    except pd.errors.EmptyDataError:
        raise DataError("rows", f"{path} is empty") from None
    except Exception as e:  # noqa: BLE001 - pandas/pyarrow raise many kinds for a broken file
        from .errors import first_line

        raise UsageError("INPUT", f"{path}: cannot read: {first_line(e)}") from None
    raise UsageError("INPUT", f"{path}: unknown file type {suffix or '(none)'}; use .csv or .parquet")


def predict_file(run_dir: str, input_path: str, out: str | None) -> tuple[Any, int, dict[str, int]]:
    """``sweep predict``: predictions for the rows of ``input_path``, written to ``out`` (CSV or
    Parquet by suffix; None: ``<input>.predictions.csv`` next to the input). Nothing is written
    when the input does not match the model.

    Returns:
        The output path, the number of rows, and the unseen-category counts per column.
    """
    model = load_model(run_dir)
    target = Path(out) if out else Path(input_path).with_suffix(".predictions.csv")
    if target.resolve() == Path(input_path).resolve():
        raise UsageError("--out", f"{out}: is the input file; predictions never overwrite it")
    suffix = target.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise UsageError("--out", f"{out}: unknown file type {suffix or '(none)'}; use .csv or .parquet")
    rows = read_rows(input_path)
    frame = model.predict(rows, where=input_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    if suffix == ".csv":
        frame.to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    os.replace(tmp, target)
    return target, len(frame), model.last_unseen
