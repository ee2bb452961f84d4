"""The run's one look at the test split: the selected trial's model, evaluated once and exported.

The model scored is the selected trial's best checkpoint, or (``final: {refit: train+val}``) the
selected configuration trained again from scratch on the training and validation rows together,
for the epochs at which the trial was best: through the trials' own training skeleton
(:class:`~orchestrator.training.loop.EpochLoop`: its learning-rate schedule, divergence guard and
epoch rows, which come back as the refit's). Either way the test rows are read once, here, and the
model that was scored is the one handed back (:mod:`.export`): its ``.keras`` file and its
outputs on the test rows travel back to the driver in a :class:`TestOutcome`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .epoch import Divergence, Epoch
from .inputs import ArraySplit, DataInfo, TrialData, trial_seed
from .loop import EpochLoop
from .model import build, family_of
from .reporting import WEIGHTS_FILE
from .tf_errors import lift_informative_line
from .worker import configure_tensorflow, import_tensorflow, model_cache

if TYPE_CHECKING:
    from ..data import Prepared

__all__ = ["Evaluator", "TestOutcome", "evaluate_on_test", "refit"]


@dataclass(frozen=True)
class TestOutcome:
    """What the final evaluation sends back to the driver.

    Attributes:
        metrics: ``{"test_loss": ..., "test_accuracy": ...}`` (``test_mae``/``test_mse`` for regression).
        exported: the scored model for ``RUN_DIR/model/`` (None when exporting failed: ``export_error`` says why).
        refit_epochs: epochs the refit model trained on train+val (None: the trial's own weights).
        refit_rows: the refit's epoch rows (as a trial reports them; no validation: its ``val_*``
            are NaN), for ``RUN_DIR/refit_epochs.parquet``; empty without a refit.
    """

    metrics: dict[str, float]
    exported: Any = None
    export_error: str | None = None
    refit_epochs: int | None = None
    refit_rows: tuple[dict[str, Any], ...] = ()


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
                 gpus: float = 0.0, spec: Any = None, refit_epochs: int | None = None,
                 run_started_at: float | None = None) -> TestOutcome:
        """:func:`evaluate_on_test`."""
        return evaluate_on_test(checkpoint_dir, hp, data, cpus, gpus, spec=spec, refit_epochs=refit_epochs,
                                run_started_at=run_started_at)


def evaluate_on_test(checkpoint_dir: Any, hp: dict[str, Any], data: "TrialData | Prepared", cpus: float,
                     gpus: float = 0.0, spec: Any = None, refit_epochs: int | None = None,
                     run_started_at: float | None = None) -> TestOutcome:
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
            A refit needs it (its metric, divergence factor, seed).
        refit_epochs: train a fresh model of ``hp`` on train+val for this many epochs and score
            that one (None: the checkpoint's weights).
        run_started_at: when the run started, for the refit rows' ``elapsed_s`` (default: now).
    """
    if refit_epochs is None and hasattr(checkpoint_dir, "as_directory"):
        with checkpoint_dir.as_directory() as local_dir:
            return evaluate_on_test(local_dir, hp, data, cpus, gpus, spec=spec)
    threads = configure_tensorflow(cpus, gpus)
    import keras

    keras.backend.clear_session()
    rows: tuple[dict[str, Any], ...] = ()
    if refit_epochs is None:
        model = build(hp, DataInfo.of(data), family=family_of(spec))
        model.load_weights(os.path.join(checkpoint_dir, WEIGHTS_FILE))
    else:
        model, rows = refit(hp, data, spec, refit_epochs, threads=threads, run_started_at=run_started_at)
    metrics: dict[str, float] = {}
    if len(data.test.X):  # no test split (data.split.test: 0): nothing to score, the model is still exported
        try:
            values = model.evaluate(data.test.X, data.test.y, batch_size=256, verbose=0, return_dict=True)
        except Exception as e:  # a TensorFlow error: its line that says why first (see .tf_errors)
            lift_informative_line(e)
            raise
        metrics = {f"test_{k}": float(v) for k, v in values.items()}
    try:
        exported = export(model, data)
    except Exception as e:  # noqa: BLE001 - the score stands; the driver says why there is no model
        from ..errors import first_line

        return TestOutcome(metrics, None, f"{type(e).__name__}: {first_line(e)}", refit_epochs, rows)
    return TestOutcome(metrics, exported, None, refit_epochs, rows)


class _Refit(EpochLoop):
    """The selected configuration on train+val: the skeleton (schedule, divergence guard, rows),
    with no validation split, and each epoch's row kept for the driver. Its costs are not measured
    again (the trial's are in its table; the refit has no validation examples to time on)."""

    measures_costs = False

    def __init__(self, hp: dict[str, Any], data: TrialData, spec: Any, seed: int, *, threads: int,
                 run_started_at: float | None) -> None:
        started = time.time()
        super().__init__(hp, data, spec, seed, cache=model_cache(), started=started,
                         run_started_at=started if run_started_at is None else run_started_at, threads=threads)
        # no validation split: only the training loss can diverge
        self.epoch_path(Divergence.parallel(spec.divergence.explode_factor, validation=False))
        self.rows: list[dict[str, Any]] = []

    def after_epoch(self, model: Any, e: Epoch) -> None:
        if self.path.conclude(e, decided="diverged" if e.diverged else "") == "diverged":
            model.stop_training = True  # as a trial would; the rows say so
        self.rows.append(e.row)


def refit(hp: dict[str, Any], data: "TrialData | Prepared", spec: Any, epochs: int, *, threads: int = 1,
          run_started_at: float | None = None) -> tuple[Any, tuple[dict[str, Any], ...]]:
    """A fresh model of ``hp`` trained on the training and validation rows together for ``epochs``,
    and its epoch rows.

    The trial's batch size, optimizer and learning-rate schedule, from ``hp``'s learning rate (the
    trial's last configuration: PBT may have replaced it); the schedule runs from epoch 0 again.
    Seeded from the spec's search seed. The divergence guard stops it as it stops a trial.
    """
    import numpy as np

    both = ArraySplit(np.concatenate([data.train.X, data.val.X]), np.concatenate([data.train.y, data.val.y]))
    info = DataInfo.of(data)
    merged = TrialData(both, ArraySplit(both.X[:0], both.y[:0]), ArraySplit(data.test.X, data.test.y), info.task,
                       info.n_features, info.n_classes, info.input_shape)
    seed = trial_seed(int(getattr(getattr(spec, "search", None), "seed", 0) or 0), "refit_0")
    loop = _Refit({**hp, "epochs": int(epochs)}, merged, spec, seed, threads=threads, run_started_at=run_started_at)
    loop.fit()
    return loop.model, tuple(loop.rows)


def export(model: Any, data: Any) -> Any:
    """The scored model as :class:`orchestrator.serving.Exported` (a stock-Keras copy, its test outputs).

    Without test rows its outputs are an empty ``(0, k)`` array, and whether they are
    probabilities is judged on one example of zeros (Keras' ``predict`` fails on no rows).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from ..serving import Exported
    from .export import custom_objects, inference_copy, model_bytes, output_kind

    copy = inference_copy(model)
    x = data.test.X
    if len(x):
        outputs = copy.predict(x, batch_size=256, verbose=0)
        kind = output_kind(outputs, data.task)
    else:
        probe = np.asarray(copy(np.zeros((1, *x.shape[1:]), dtype=x.dtype), training=False))
        outputs, kind = probe[:0], output_kind(probe, data.task)
    return Exported(model_bytes(copy), outputs, kind, custom_objects(copy),
                    {"keras": keras.__version__, "tensorflow": tf.__version__})
