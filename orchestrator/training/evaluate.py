"""The run's one look at the test split: the selected trial's best weights, evaluated once."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .inputs import DataInfo, TrialData
from .model import build, family_of
from .reporting import WEIGHTS_FILE
from .worker import configure_tensorflow, import_tensorflow

if TYPE_CHECKING:
    from ..data import Prepared

__all__ = ["Evaluator", "evaluate_on_test"]


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
                 gpus: float = 0.0, spec: Any = None) -> dict[str, float]:
        """:func:`evaluate_on_test`."""
        return evaluate_on_test(checkpoint_dir, hp, data, cpus, gpus, spec=spec)


def evaluate_on_test(checkpoint_dir: Any, hp: dict[str, Any], data: "TrialData | Prepared", cpus: float,
                     gpus: float = 0.0, spec: Any = None) -> dict[str, float]:
    """Evaluate the selected trial's best weights on the test split (the run's only look at it).

    Args:
        checkpoint_dir: directory holding :data:`~orchestrator.training.reporting.WEIGHTS_FILE`,
            or a Ray Tune ``Checkpoint`` on a storage URI (downloaded here, in the worker).
        hp: the trial's resolved hyperparameters.
        data: prepared data; only ``data.test`` is read.
        cpus: CPU share for TensorFlow's threads.
        gpus: GPU share (for its memory limit).
        spec: the sweep, for its model family (:func:`~orchestrator.training.model.family_of`; None: the MLP).

    Returns:
        ``{"test_loss": ..., "test_accuracy": ...}`` (or ``test_mae``/``test_mse`` for regression).
    """
    if hasattr(checkpoint_dir, "as_directory"):
        with checkpoint_dir.as_directory() as local_dir:
            return evaluate_on_test(local_dir, hp, data, cpus, gpus, spec=spec)
    configure_tensorflow(cpus, gpus)
    import keras

    keras.backend.clear_session()
    model = build(hp, DataInfo.of(data), family=family_of(spec))
    model.load_weights(os.path.join(checkpoint_dir, WEIGHTS_FILE))
    values = model.evaluate(data.test.X, data.test.y, batch_size=256, verbose=0, return_dict=True)
    return {f"test_{k}": float(v) for k, v in values.items()}
