"""The run's one look at the test split: the selected trial's model, evaluated once and exported.

The model scored is the selected trial's best checkpoint, or (``final: {refit: train+val}``) the
selected configuration trained again from scratch on the training and validation rows together,
for the epochs at which the trial was best. Either way the test rows are read once, here, and the
model that was scored is the one handed back (:mod:`.export`): its ``.keras`` file and its
outputs on the test rows travel back to the driver in a :class:`TestOutcome`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .inputs import DataInfo, TrialData, trial_seed
from .model import build, family_of
from .reporting import WEIGHTS_FILE
from .worker import configure_tensorflow, import_tensorflow

if TYPE_CHECKING:
    from ..data import Prepared

__all__ = ["Evaluator", "TestOutcome", "evaluate_on_test"]


@dataclass(frozen=True)
class TestOutcome:
    """What the final evaluation sends back to the driver.

    Attributes:
        metrics: ``{"test_loss": ..., "test_accuracy": ...}`` (``test_mae``/``test_mse`` for regression).
        exported: the scored model for ``RUN_DIR/model/`` (None when exporting failed: ``export_error`` says why).
        refit_epochs: epochs the refit model trained on train+val (None: the trial's own weights).
    """

    metrics: dict[str, float]
    exported: Any = None
    export_error: str | None = None
    refit_epochs: int | None = None


class Evaluator:
    """The final test evaluation in a process that is already warm (the runner's Ray actor).

    Started while the sweep runs, so TensorFlow's import is not on the sweep's critical path at
    the end; :meth:`evaluate` is :func:`evaluate_on_test`.
    """

    def ready(self) -> int:
        """Import TensorFlow now (the point: not when the sweep is over); returns this process' id."""
        import_tensorflow()
        return os.getpid()

    def evaluate(self, checkpoint_dir: Any, hp: dict[str, Any], data: "TrialData | Prepared", cpus: float,
                 gpus: float = 0.0, spec: Any = None, refit_epochs: int | None = None) -> TestOutcome:
        """:func:`evaluate_on_test`."""
        return evaluate_on_test(checkpoint_dir, hp, data, cpus, gpus, spec=spec, refit_epochs=refit_epochs)


def evaluate_on_test(checkpoint_dir: Any, hp: dict[str, Any], data: "TrialData | Prepared", cpus: float,
                     gpus: float = 0.0, spec: Any = None, refit_epochs: int | None = None) -> TestOutcome:
    """Score the selected model on the test split (the run's only look at it) and export it.

    Args:
        checkpoint_dir: directory holding :data:`~orchestrator.training.reporting.WEIGHTS_FILE`,
            or a Ray Tune ``Checkpoint`` on a storage URI (downloaded here, in the worker);
            unused when refitting.
        hp: the trial's resolved hyperparameters.
        data: prepared data; ``data.test`` is scored, ``data.train`` and ``data.val`` are read
            only to refit.
        cpus: CPU share for TensorFlow's threads.
        gpus: GPU share (for its memory limit).
        spec: the sweep, for its model family (:func:`~orchestrator.training.model.family_of`; None: the MLP).
        refit_epochs: train a fresh model of ``hp`` on train+val for this many epochs and score
            that one (None: the checkpoint's weights).
    """
    if refit_epochs is None and hasattr(checkpoint_dir, "as_directory"):
        with checkpoint_dir.as_directory() as local_dir:
            return evaluate_on_test(local_dir, hp, data, cpus, gpus, spec=spec)
    configure_tensorflow(cpus, gpus)
    import keras

    keras.backend.clear_session()
    info = DataInfo.of(data)
    if refit_epochs is None:
        model = build(hp, info, family=family_of(spec))
        model.load_weights(os.path.join(checkpoint_dir, WEIGHTS_FILE))
    else:
        model = refit(hp, data, info, spec, refit_epochs)
    values = model.evaluate(data.test.X, data.test.y, batch_size=256, verbose=0, return_dict=True)
    metrics = {f"test_{k}": float(v) for k, v in values.items()}
    try:
        exported = export(model, data)
    except Exception as e:  # noqa: BLE001 - the score stands; the driver says why there is no model
        from ..errors import first_line

        return TestOutcome(metrics, None, f"{type(e).__name__}: {first_line(e)}", refit_epochs)
    return TestOutcome(metrics, exported, None, refit_epochs)


def refit(hp: dict[str, Any], data: Any, info: DataInfo, spec: Any, epochs: int) -> Any:
    """A fresh model of ``hp`` trained on the training and validation rows together for ``epochs``.

    The trial's batch size and optimizer; the learning rate it ended with (a schedule, PBT or the
    babysitter may have moved it: ``hp`` holds the trial's last configuration). Seeded as the trial.
    """
    import numpy as np
    import keras

    search = getattr(spec, "search", None)
    seed = trial_seed(int(getattr(search, "seed", 0) or 0), "refit_0")
    keras.utils.set_random_seed(seed)
    model = build(hp, info, family=family_of(spec), seed=seed)
    X = np.concatenate([data.train.X, data.val.X])
    y = np.concatenate([data.train.y, data.val.y])
    model.fit(X, y, batch_size=int(hp.get("batch_size", 32)), epochs=int(epochs), shuffle=True, verbose=0)
    return model


def export(model: Any, data: Any) -> Any:
    """The scored model as :class:`orchestrator.serving.Exported` (a stock-Keras copy, its test outputs)."""
    import keras
    import tensorflow as tf

    from ..serving import Exported
    from .export import custom_objects, inference_copy, model_bytes, output_kind

    copy = inference_copy(model)
    outputs = copy.predict(data.test.X, batch_size=256, verbose=0)
    return Exported(model_bytes(copy), outputs, output_kind(outputs, data.task), custom_objects(copy),
                    {"keras": keras.__version__, "tensorflow": tf.__version__})
