"""The Ray Tune trainable: one trial = one ``model.fit`` with a per-epoch reporting callback.

Runs inside a Ray worker. TensorFlow is imported on the first trial a worker runs; actors are
reused, so later trials in the same worker pay no import. The test split never reaches this
module: the runner hands trials a :class:`~orchestrator.data.Prepared` without it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import zlib
from dataclasses import dataclass
from typing import Any

from ..data import Prepared
from ..space import resolve_config
from ..spec import SweepSpec
from ..scheduling import checkpoint_every
from .model import baseline_loss, build_model, learning_rate_at, task_metrics

__all__ = ["TrialContext", "train_trial", "configure_tensorflow", "WEIGHTS_FILE"]

WEIGHTS_FILE = "model.weights.h5"
STATE_FILE = "state.json"
OBJECTIVE = "objective"  # the finite copy of the spec's metric that Ray's schedulers/searchers read
_CONFIGURED_THREADS: int | None = None


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a run shares (sent once through Ray's object store)."""

    spec: SweepSpec
    run_started_at: float


def configure_tensorflow(cpus: float, gpu_share: float = 0.0) -> int:
    """Confine TensorFlow in this worker to the trial's CPU share (once per process).

    Returns:
        The number of intra-op threads in force.
    """
    global _CONFIGURED_THREADS
    threads = max(1, int(math.floor(cpus)))
    if _CONFIGURED_THREADS is not None:
        return _CONFIGURED_THREADS
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised in this process
        pass
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass
    _CONFIGURED_THREADS = tf.config.threading.get_intra_op_parallelism_threads() or threads
    return _CONFIGURED_THREADS


def _trial_seed(base: int, trial_id: str) -> int:
    suffix = trial_id.rsplit("_", 1)[-1]
    index = int(suffix) if suffix.isdigit() else zlib.crc32(trial_id.encode())
    return (base * 100_003 + index) % (2**31 - 1)


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def train_trial(config: dict[str, Any], data: Prepared, ctx: TrialContext) -> None:
    """Train one configuration and report every epoch to Ray Tune.

    Called by Ray Tune in a worker. Each epoch's report carries the losses and task metrics
    (training and validation), the learning rate, timings, and ``objective`` (the spec metric,
    made finite so schedulers can rank a diverged trial last). A checkpoint with the weights is
    attached whenever the validation metric improves, so the final evaluation uses the best epoch.
    """
    from ray import tune

    started = time.time()
    spec = ctx.spec
    hp = resolve_config(spec, config)
    trial_id = tune.get_context().get_trial_id() or "local"
    threads = configure_tensorflow(spec.resources.cpu, spec.resources.gpu)

    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(_trial_seed(spec.seed, trial_id))
    model = build_model(hp, data.n_features, data.task, data.n_classes)

    metric, mode = spec.metric_name, spec.mode
    worst = math.inf if mode == "min" else -math.inf
    # Resuming (a retry, a Hyperband pause, a PBT exploit, `sweep resume`): continue from the
    # checkpoint's weights and epoch; the config (and so the learning rate) may be new.
    state: dict[str, Any] = {"epoch": 0, "best": worst, "first_loss": None}
    restored = tune.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as d:
            model.load_weights(os.path.join(d, WEIGHTS_FILE))
            with open(os.path.join(d, STATE_FILE), encoding="utf-8") as f:
                state.update(json.load(f))
    every = checkpoint_every(spec)
    max_epochs = int(hp["epochs"])
    names = ["loss", *task_metrics(data.task)]
    placement = _placement(threads)
    base_loss = baseline_loss(data.task, data.n_classes, data.train.y)
    explode = spec.divergence.explode_factor

    class Reporter(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best = float(state["best"]) if state["best"] is not None else worst
            self.first_loss: float | None = state["first_loss"]
            self.epoch_started = started

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.epoch_started = time.time()
            self.model.optimizer.learning_rate.assign(learning_rate_at(hp, epoch))

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = dict(logs or {})
            now = time.time()
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "learning_rate": float(self.model.optimizer.learning_rate.numpy()),
                "elapsed_s": now - ctx.run_started_at,
                "trial_elapsed_s": now - started,
                "epoch_s": now - self.epoch_started,
                "baseline_loss": base_loss,
            }
            for n in names:
                row[f"train_{n}"] = float(logs.get(n, math.nan))
                row[f"val_{n}"] = float(logs.get(f"val_{n}", math.nan))
            train_loss = row["train_loss"]
            if self.first_loss is None and _finite(train_loss):
                self.first_loss = train_loss
            diverged = not (_finite(train_loss) and _finite(row["val_loss"])) or (
                self.first_loss is not None and train_loss > explode * max(self.first_loss, 1e-12)
            )
            value = row.get(metric, math.nan)
            row["diverged"] = bool(diverged)
            row[OBJECTIVE] = float(value) if (_finite(value) and not diverged) else _worst_finite(mode)
            stop_reason = ""
            if diverged:
                stop_reason = "diverged"
                self.model.stop_training = True
            elif self.model.stop_training:
                stop_reason = "patience"  # Keras EarlyStopping ran before this callback
            elif epoch + 1 >= max_epochs:
                stop_reason = "max_epochs"
            row["stop_reason"] = stop_reason
            if epoch == 0:
                row.update(placement)
                row["started_at"] = started
            improved = not diverged and (value < self.best if mode == "min" else value > self.best)
            if improved:
                self.best = float(value)
            regular = every > 0 and ((epoch + 1) % every == 0 or epoch + 1 >= max_epochs)
            if (improved or regular) and not diverged:
                tmp = tempfile.mkdtemp(prefix="sweep-ckpt-")
                try:
                    self.model.save_weights(os.path.join(tmp, WEIGHTS_FILE))
                    with open(os.path.join(tmp, STATE_FILE), "w", encoding="utf-8") as f:
                        json.dump({"epoch": epoch + 1, "best": _json_float(self.best),
                                   "first_loss": self.first_loss}, f)
                    tune.report(row, checkpoint=tune.Checkpoint.from_directory(tmp))
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
            else:
                tune.report(row)

    callbacks: list[Any] = []
    es = spec.early_stopping
    if es is not None:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=es.monitor, patience=es.patience, min_delta=es.min_delta,
            restore_best_weights=es.restore_best_weights,
            mode="max" if es.monitor.endswith("accuracy") else "min"))
    callbacks.append(Reporter())
    if int(state["epoch"]) >= max_epochs:
        return
    model.fit(
        data.train.X, data.train.y,
        validation_data=(data.val.X, data.val.y),
        initial_epoch=int(state["epoch"]),
        epochs=max_epochs,
        batch_size=int(hp["batch_size"]),
        verbose=0,
        shuffle=True,
        callbacks=callbacks,
    )


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _worst_finite(mode: str) -> float:
    return 1e30 if mode == "min" else -1e30


def _placement(threads: int) -> dict[str, Any]:
    import ray

    ctx = ray.get_runtime_context()
    try:
        gpu_ids = [str(g) for g in ctx.get_accelerator_ids().get("GPU", [])]
    except Exception:  # older Ray or no accelerator manager
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    return {
        "node_id": ctx.get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),
        "pid": os.getpid(),
        "gpu_ids": ",".join(gpu_ids),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "tf_intra_op_threads": threads,
    }


def evaluate_on_test(checkpoint_dir: str, hp: dict[str, Any], data: Prepared, cpus: float) -> dict[str, float]:
    """Evaluate the selected trial's best weights on the test split (the run's only look at it).

    Args:
        checkpoint_dir: directory holding :data:`WEIGHTS_FILE`.
        hp: the trial's resolved hyperparameters.
        data: prepared data; only ``data.test`` is read.
        cpus: CPU share for TensorFlow's threads.

    Returns:
        ``{"test_loss": ..., "test_accuracy": ...}`` (or ``test_mae``/``test_mse`` for regression).
    """
    configure_tensorflow(cpus)
    import keras

    keras.backend.clear_session()
    model = build_model(hp, data.n_features, data.task, data.n_classes)
    model.load_weights(os.path.join(checkpoint_dir, WEIGHTS_FILE))
    values = model.evaluate(data.test.X, data.test.y, batch_size=256, verbose=0, return_dict=True)
    return {f"test_{k}": float(v) for k, v in values.items()}
