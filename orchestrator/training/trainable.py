"""The Ray Tune trainable: one trial = one ``model.fit`` with a per-epoch reporting callback.

Runs inside a Ray worker. TensorFlow is imported on the first trial a worker runs; actors are
reused, so later trials in the same worker pay no import. The test split never reaches this
module: the runner hands trials a :class:`TrialData` without it (plain arrays: a worker unpickles
them without importing pandas or scikit-learn).

What a trial costs besides its epochs is kept small:

- Models come from a per-worker :class:`~orchestrator.training.model.ModelCache`: a trial whose
  graph (layers, optimizer) a previous trial in the worker already traced reuses that model, reset
  from its own seed, and skips tracing. Fresh and cached models go through the same seeded reset,
  so a trial trains identically either way.
- The input pipeline is a plain ``tf.data`` shuffle-and-batch built per trial (cheap to build, no
  per-fit function tracing), seeded from the trial seed, confined to the trial's threads.
- Reporting does not block training: each epoch's row (and checkpoint, written from a snapshot of
  the weights) goes to Ray Tune from a helper thread while the next epoch trains. Training runs at
  most one epoch ahead of the driver's decision, and a stop (a scheduler, a stopper) interrupts it
  at the next batch, so a stopped trial wastes at most the driver's round trip, never an epoch.
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..scheduling import checkpoint_every
from ..space import resolve_config
from ..spec import SweepSpec
from .model import ModelCache, baseline_loss, build_model, learning_rate_at, task_metrics

if TYPE_CHECKING:
    from ..data import Prepared

__all__ = ["TrialContext", "TrialData", "Evaluator", "evaluate_on_test", "train_trial", "run_trial",
           "configure_tensorflow", "gpu_memory_limit_mb",
           "model_cache", "WEIGHTS_FILE"]

WEIGHTS_FILE = "model.weights.h5"
STATE_FILE = "state.json"
OBJECTIVE = "objective"  # the finite copy of the spec's metric that Ray's schedulers/searchers read
# Training steps per call into the traced graph. 1 is Keras' default; more calls Python less often.
STEPS_PER_EXECUTION = int(os.environ.get("SWEEP_STEPS_PER_EXECUTION", "8"))
# Above this many training rows the input pipeline is Keras' own (vectorised shuffling).
SMALL_DATA_ROWS = 200_000
# CUDA context and allocator overhead a process needs outside TensorFlow's memory limit.
GPU_RESERVE_MB = int(os.environ.get("SWEEP_GPU_RESERVE_MB", "512"))
_CONFIGURED_THREADS: int | None = None
_GPU_SETUP: dict[str, Any] = {}
_MODELS: ModelCache | None = None


@dataclass(frozen=True)
class ArraySplit:
    """One split's arrays (``X`` float32 ``(n, n_features)``, ``y`` ``(n,)``)."""

    X: Any
    y: Any

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class TrialData:
    """What a trial (or the final evaluation) needs of the prepared data: arrays and their shape.

    Plain NumPy arrays in a class of this module, so a worker unpickles it without importing
    :mod:`orchestrator.data` (pandas, scikit-learn): a worker starts about a second sooner.
    """

    train: ArraySplit
    val: ArraySplit
    test: ArraySplit
    task: str
    n_features: int
    n_classes: int

    @classmethod
    def of(cls, prepared: "Prepared", *, splits: tuple[str, ...] = ("train", "val")) -> "TrialData":
        """The arrays of ``splits`` (the others empty): trials get train and val, never test."""
        def split(name: str) -> ArraySplit:
            s = getattr(prepared, name)
            return ArraySplit(s.X, s.y) if name in splits else ArraySplit(s.X[:0], s.y[:0])

        return cls(split("train"), split("val"), split("test"), prepared.task, int(prepared.n_features),
                   int(prepared.n_classes))


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a run shares (sent once through Ray's object store)."""

    spec: SweepSpec
    run_started_at: float
    faults: list[dict[str, Any]] | None = None  # test-only fault plan (see training/faults.py)
    deadline: float | None = None  # a time budget's end (``sweep compare``): trials stop training there


# --------------------------------------------------------------------------------------------
# Confinement
# --------------------------------------------------------------------------------------------


def gpu_memory_limit_mb(total_mb: float, share: float, reserve_mb: float = GPU_RESERVE_MB) -> int | None:
    """TensorFlow's memory limit on a GPU for a trial holding ``share`` of it (pure).

    A fractional share gets its proportion of the GPU's memory less ``reserve_mb`` (the CUDA
    context and allocator overhead every process has outside TensorFlow's limit), so that
    ``1/share`` trials placed on one GPU by Ray fit in it together. A whole GPU (or more) gets no
    limit (memory growth instead).

    Returns:
        Megabytes, at least 256; None for no limit.
    """
    if share <= 0 or share >= 1 or total_mb <= 0:
        return None
    return max(256, int(total_mb * share - reserve_mb))


def _gpu_total_mb(index: int = 0) -> float | None:
    """Total memory of the ``index``-th GPU this process sees, from nvidia-smi (None if unknown)."""
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    target = visible[index] if index < len(visible) else str(index)
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index,uuid,memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and target in (parts[0], parts[1]):
            try:
                return float(parts[2])
            except ValueError:
                return None
    return None


def _configure_gpus(tf: Any, gpu_share: float) -> None:
    """Memory growth on every visible GPU; a memory limit instead for a fractional share."""
    for i, gpu in enumerate(tf.config.list_physical_devices("GPU")):
        limit = None
        if 0 < gpu_share < 1:
            total = _gpu_total_mb(i)
            limit = gpu_memory_limit_mb(total, gpu_share) if total else None
        try:
            if limit is not None:
                tf.config.set_logical_device_configuration(
                    gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=limit)])
                _GPU_SETUP[gpu.name] = {"memory_limit_mb": limit}
            else:
                tf.config.experimental.set_memory_growth(gpu, True)
                _GPU_SETUP[gpu.name] = {"memory_growth": True}
        except (RuntimeError, ValueError) as e:  # already initialised, or not supported
            _GPU_SETUP[gpu.name] = {"error": str(e).splitlines()[0][:200]}


# Keras imports scikit-learn (for its estimator wrappers) and matplotlib.pyplot (for an image
# gallery) while TensorFlow loads, whenever they are installed: 0.7 s of a worker's 2.6 s import
# here, on the path to every sweep's first epoch, for features a trial never uses. Keras guards both
# imports and leaves those features off without them.
_KERAS_EXTRAS = ("sklearn", "matplotlib", "matplotlib.pyplot")


def import_tensorflow() -> Any:
    """``import tensorflow`` (and Keras) without Keras' scikit-learn and matplotlib extras.

    The extras are hidden from the import system only while TensorFlow loads (and only those not
    loaded already); importing them afterwards works as usual.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    hidden = [m for m in _KERAS_EXTRAS if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # type: ignore[assignment]  # "import m" raises ImportError
    try:
        import tensorflow as tf
        import keras  # noqa: F401
    finally:
        for m in hidden:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]
    return tf


def configure_tensorflow(cpus: float, gpu_share: float = 0.0) -> int:
    """Confine TensorFlow in this worker to the trial's CPU and GPU share (once per process).

    Intra-op threads follow the CPU share (at least one), inter-op threads are one, and OpenMP
    gets the same thread count; on a GPU, memory growth is on, and a fractional share gets a
    memory limit proportional to it (:func:`gpu_memory_limit_mb`).

    Returns:
        The number of intra-op threads in force.
    """
    global _CONFIGURED_THREADS
    threads = max(1, int(math.floor(cpus)))
    if _CONFIGURED_THREADS is not None:
        return _CONFIGURED_THREADS
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    tf = import_tensorflow()

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already initialised in this process
        pass
    _configure_gpus(tf, gpu_share)
    _CONFIGURED_THREADS = tf.config.threading.get_intra_op_parallelism_threads() or threads
    from .model import freeze_imports  # Keras is loaded by import_tensorflow, before freezing

    freeze_imports()
    return _CONFIGURED_THREADS


def model_cache() -> ModelCache:
    """This worker's model cache (created on first use)."""
    global _MODELS
    if _MODELS is None:
        _MODELS = ModelCache()
    return _MODELS


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _trial_seed(base: int, trial_id: str) -> int:
    suffix = trial_id.rsplit("_", 1)[-1]
    index = int(suffix) if suffix.isdigit() else zlib.crc32(trial_id.encode())
    return (base * 100_003 + index) % (2**31 - 1)


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _worst_finite(mode: str) -> float:
    return 1e30 if mode == "min" else -1e30


def _datasets(data: "TrialData | Prepared", batch_size: int, seed: int, threads: int) -> tuple[Any, Any] | None:
    """Training (shuffled every epoch, seeded) and validation ``tf.data`` pipelines, or None for Keras' own.

    Built per trial: a new dataset restarts its shuffling sequence, so a trial's batches depend on
    its seed only. Its threads are the trial's.
    """
    if len(data.train) > SMALL_DATA_ROWS:
        return None
    import tensorflow as tf

    options = tf.data.Options()
    options.threading.private_threadpool_size = max(1, threads)
    options.threading.max_intra_op_parallelism = 1
    options.experimental_optimization.apply_default_optimizations = False
    train = (tf.data.Dataset.from_tensor_slices((data.train.X, data.train.y))
             .shuffle(len(data.train), seed=seed, reshuffle_each_iteration=True)
             .batch(batch_size).with_options(options))
    val = None
    if len(data.val):
        val = tf.data.Dataset.from_tensor_slices((data.val.X, data.val.y)).batch(batch_size).with_options(options)
    return train, val


class _WeightsWriter:
    """Writes what ``model.save_weights`` writes, from a snapshot of the values, off the training thread.

    The file layout (groups, names, order) is recorded once per model by walking it the way Keras'
    saver does, with a recording store; writing replays it into Keras' own HDF5 store. When Keras'
    saving internals are not what this expects, :meth:`for_model` returns None and the caller uses
    ``model.save_weights``.
    """

    def __init__(self, entries: list[tuple[str, dict[str, Any] | None, list[tuple[str, Any]]]]) -> None:
        self.entries = entries

    @classmethod
    def for_model(cls, model: Any) -> "_WeightsWriter | None":
        cached = getattr(model, "sweep_weights_writer", False)
        if cached is not False:
            return cached
        writer = None
        try:
            from keras.src.saving import saving_lib

            entries: list[tuple[str, dict[str, Any] | None, list[tuple[str, Any]]]] = []

            class _Entry(dict):
                def __init__(self, items: list[tuple[str, Any]]) -> None:
                    super().__init__()
                    self.items_ = items

                def __setitem__(self, key: str, value: Any) -> None:
                    self.items_.append((str(key), value))

            class _Recorder(saving_lib.H5IOStore):
                def __init__(self) -> None:  # no file
                    self.mode = "w"

                def __bool__(self) -> bool:
                    return True

                def make(self, path: str, metadata: dict[str, Any] | None = None) -> Any:
                    items: list[tuple[str, Any]] = []
                    entries.append((path, dict(metadata) if metadata else None, items))
                    return _Entry(items)

            saving_lib._save_state(model, weights_store=_Recorder(), assets_store=None, inner_path="",
                                   visited_saveables=set())
            writer = cls(entries)
        except Exception:  # Keras internals changed: fall back to model.save_weights
            writer = None
        model.sweep_weights_writer = writer
        return writer

    def snapshot(self) -> list[list[Any]]:
        import keras

        return [[keras.ops.convert_to_numpy(v) for _, v in items] for _, _, items in self.entries]

    def write(self, path: str, values: list[list[Any]]) -> None:
        from keras.src.saving import saving_lib

        store = saving_lib.H5IOStore(path, mode="w")
        try:
            for (inner, metadata, items), vals in zip(self.entries, values):
                entry = store.make(inner, metadata=metadata)
                for (key, _), value in zip(items, vals):
                    entry[key] = value
        finally:
            store.close()


# --------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------


class TrialStopped(Exception):
    """The driver ended the trial (a scheduler or stopper decision) while it trained ahead."""


class AsyncReporter:
    """Sends epoch rows (and checkpoints) to Ray Tune from a helper thread.

    ``report(row, checkpoint_dir)`` is Ray Tune's blocking report: it returns when the driver lets
    the trial go on, and raises ``SystemExit`` when the driver ends it. Here it runs on a helper
    thread, so the next epoch trains during that round trip; :meth:`submit` waits for the previous
    report first (training is at most one epoch ahead), and :attr:`stopped` tells the training
    thread the driver ended the trial.
    """

    def __init__(self, report: Callable[[dict[str, Any], str | None], None]) -> None:
        self._report = report
        self._jobs: queue.Queue = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self.stopped = False
        self.error: BaseException | None = None
        self.blocked_s = 0.0  # time the training thread waited for the driver
        self.deadline: float | None = None  # the time budget's end; training stops at a batch past it
        self.past_deadline = False
        self._thread = threading.Thread(target=self._run, name="sweep-report", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            row, save = job
            tmp = None
            try:
                if save is not None:
                    tmp = tempfile.mkdtemp(prefix="sweep-ckpt-")
                    save(tmp)
                self._report(row, tmp)
            except SystemExit:  # Ray Tune ends the trial this way
                self.stopped = True
            except BaseException as e:  # noqa: BLE001 - handed to the training thread
                self.error = e
            finally:
                if tmp is not None:
                    shutil.rmtree(tmp, ignore_errors=True)
                self._idle.set()
            if self.stopped or self.error is not None:
                return

    def wait(self) -> None:
        """Wait until the last row was taken by the driver; raise if it ended the trial or failed."""
        if not self._idle.is_set():
            t = time.perf_counter()
            self._idle.wait()
            self.blocked_s += time.perf_counter() - t
        self.check()

    def check(self) -> None:
        if self.error is not None:
            raise self.error
        if self.stopped:
            raise TrialStopped()

    def submit(self, row: dict[str, Any], save: Callable[[str], None] | None = None) -> None:
        """Report one epoch (``save(dir)`` writes its checkpoint) once the previous one was taken."""
        self.wait()
        self._idle.clear()
        self._jobs.put((row, save))

    def close(self) -> None:
        """Wait for the last report, then end the helper thread."""
        try:
            self.wait()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """End the helper thread after the report in progress, if any (does not wait)."""
        self._jobs.put(None)


class _Callbacks:
    """Builds a ``keras.callbacks.CallbackList`` whose batch hooks only check for a stop.

    Keras would otherwise hand every batch's logs to a thread pool (or convert them on the
    training thread) for callbacks that ignore them; the trial's callbacks use epoch hooks only.
    """

    @staticmethod
    def make(callbacks: list[Any], model: Any, epochs: int, reporter: AsyncReporter) -> Any:
        import keras

        class _List(keras.callbacks.CallbackList):
            def _configure_async_dispatch(self, callbacks: Any) -> None:
                self._async_train = self._async_test = self._async_predict = False

            def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
                pass

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if reporter.stopped or reporter.error is not None:
                    reporter.check()
                if reporter.deadline is not None and time.time() >= reporter.deadline:
                    reporter.past_deadline = True
                    model.stop_training = True

            def on_test_batch_begin(self, batch: int, logs: Any = None) -> None:
                pass

            def on_test_batch_end(self, batch: int, logs: Any = None) -> None:
                pass

            def on_batch_begin(self, batch: int, logs: Any = None) -> None:
                pass

            def on_batch_end(self, batch: int, logs: Any = None) -> None:
                pass

        return _List(callbacks, add_history=True, add_progbar=False, model=model, verbose=0, epochs=epochs)


# --------------------------------------------------------------------------------------------
# The trial
# --------------------------------------------------------------------------------------------


def run_trial(hp: dict[str, Any], data: "TrialData | Prepared", spec: SweepSpec, seed: int, *,
              report: Callable[[dict[str, Any], str | None], None], threads: int = 1,
              restore_dir: str | None = None, started: float | None = None,
              run_started_at: float | None = None, placement: dict[str, Any] | None = None,
              cache: ModelCache | None = None, faults: list[Any] | None = None,
              deadline: float | None = None) -> dict[str, Any]:
    """Train one configuration, reporting every epoch through ``report(row, checkpoint_dir)``.

    The body of :func:`train_trial`, callable without Ray (``report`` is then any function; it may
    raise ``SystemExit`` to end the trial, as Ray Tune's does). Each row carries the losses and task
    metrics (training and validation), the learning rate, timings and ``objective`` (the spec
    metric, made finite so schedulers can rank a diverged trial last); ``checkpoint_dir`` holds the
    weights whenever the validation metric improved (or a regular checkpoint is due), so the final
    evaluation uses the best epoch.

    Args:
        hp: resolved hyperparameters.
        data: train and validation splits.
        spec: the sweep.
        seed: the trial's seed (weights, dropout, shuffling).
        report: called once per epoch, on a helper thread.
        threads: TensorFlow threads of the trial (for the input pipeline).
        restore_dir: a checkpoint directory to resume from.
        started, run_started_at: clocks for the timing columns (default: now).
        placement: columns added to the first epoch's row.
        cache: the model cache (default: this worker's).
        faults: injected faults (tests only; :mod:`orchestrator.training.faults`), fired as their
            epoch begins, after the previous epoch's report (and checkpoint) reached the driver.
        deadline: the end of the sweep's time budget: training stops at the first batch past it,
            or after an epoch when the next one would end past it (stop reason ``budget``).

    Returns:
        ``{"cache_hit", "setup_s", "report_wait_s", "epochs"}`` for benchmarks.
    """
    started = time.time() if started is None else started
    run_started_at = started if run_started_at is None else run_started_at
    cache = model_cache() if cache is None else cache
    import keras

    t_model = time.time()
    model, hit = cache.get(hp, data.n_features, data.task, data.n_classes, seed,
                           steps_per_execution=STEPS_PER_EXECUTION)
    metric, mode = spec.metric_name, spec.mode
    worst = math.inf if mode == "min" else -math.inf
    # Resuming (a retry, a Hyperband pause, a PBT exploit, `sweep resume`): continue from the
    # checkpoint's weights and epoch; the config (and so the learning rate) may be new.
    state: dict[str, Any] = {"epoch": 0, "best": worst, "first_loss": None}
    if restore_dir is not None:
        model.load_weights(os.path.join(restore_dir, WEIGHTS_FILE))
        with open(os.path.join(restore_dir, STATE_FILE), encoding="utf-8") as f:
            state.update(json.load(f))
    every = checkpoint_every(spec)
    max_epochs = int(hp["epochs"])
    names = ["loss", *task_metrics(data.task)]
    base_loss = baseline_loss(data.task, data.n_classes, data.train.y)
    explode = spec.divergence.explode_factor
    batch_size = int(hp["batch_size"])
    writer = _WeightsWriter.for_model(model)
    reporter = AsyncReporter(report)
    reporter.deadline = deadline
    info: dict[str, Any] = {"cache_hit": hit, "epochs": 0, "started": started, "model_s": time.time() - t_model}

    class Reporter(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.best = float(state["best"]) if state["best"] is not None else worst
            self.first_loss: float | None = state["first_loss"]
            self.epoch_started = started

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            for fault in faults or ():
                reporter.wait()
                fault.at_epoch_begin(epoch + 1)
            self.epoch_started = time.time()
            if epoch == int(state["epoch"]):
                info["setup_s"] = self.epoch_started - started
            self.model.optimizer.learning_rate.assign(learning_rate_at(hp, epoch))

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            logs = dict(logs or {})
            now = time.time()
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "learning_rate": float(self.model.optimizer.learning_rate.numpy()),
                "elapsed_s": now - run_started_at,
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
            elif reporter.past_deadline:
                stop_reason = "budget"  # stopped at a batch past the deadline
            elif self.model.stop_training:
                stop_reason = "patience"  # Keras EarlyStopping ran before this callback
            elif epoch + 1 >= max_epochs:
                stop_reason = "max_epochs"
            elif deadline is not None and now + row["epoch_s"] > deadline:
                stop_reason = "budget"  # the next epoch would end past the deadline
                self.model.stop_training = True
            row["stop_reason"] = stop_reason
            if epoch == int(state["epoch"]):
                row.update(placement or {})
                row["started_at"] = started
                info["first_epoch_end"] = now
                info["first_epoch_s"] = row["epoch_s"]
            improved = not diverged and (value < self.best if mode == "min" else value > self.best)
            if improved:
                self.best = float(value)
            regular = every > 0 and ((epoch + 1) % every == 0 or epoch + 1 >= max_epochs)
            save = None
            if (improved or regular) and not diverged:
                save = self._saver(epoch + 1)
            reporter.submit(row, save)
            info["epochs"] += 1

        def _saver(self, epoch: int) -> Callable[[str], None]:
            """Snapshot now (the weights move on); write on the reporting thread."""
            progress = {"epoch": epoch, "best": _json_float(self.best), "first_loss": self.first_loss}
            if writer is not None:
                values = writer.snapshot()

                def write_weights(d: str) -> None:
                    writer.write(os.path.join(d, WEIGHTS_FILE), values)
            else:
                tmp = tempfile.mkdtemp(prefix="sweep-weights-")
                self.model.save_weights(os.path.join(tmp, WEIGHTS_FILE))

                def write_weights(d: str) -> None:
                    shutil.move(os.path.join(tmp, WEIGHTS_FILE), os.path.join(d, WEIGHTS_FILE))
                    shutil.rmtree(tmp, ignore_errors=True)

            def save(d: str) -> None:
                write_weights(d)
                with open(os.path.join(d, STATE_FILE), "w", encoding="utf-8") as f:
                    json.dump(progress, f)

            return save

    keras_callbacks: list[Any] = []
    es = spec.early_stopping
    if es is not None:
        keras_callbacks.append(keras.callbacks.EarlyStopping(
            monitor=es.monitor, patience=es.patience, min_delta=es.min_delta,
            restore_best_weights=es.restore_best_weights,
            mode="max" if es.monitor.endswith("accuracy") else "min"))
    keras_callbacks.append(Reporter())
    try:
        if int(state["epoch"]) < max_epochs:
            # Every random draw of a trial is seeded explicitly from `seed` (weights and dropout in
            # reset_model, shuffling here), so TensorFlow's global seed is left alone: setting it
            # clears TensorFlow's kernel cache, which costs a cached model ~0.15 s on its first epoch.
            pipes = _datasets(data, batch_size, seed, threads)
            callbacks = _Callbacks.make(keras_callbacks, model, max_epochs, reporter)
            if pipes is not None:
                model.fit(pipes[0], validation_data=pipes[1], initial_epoch=int(state["epoch"]),
                          epochs=max_epochs, verbose=0, shuffle=False, callbacks=callbacks)
            else:  # Keras' own pipeline shuffles from TensorFlow's global seed: set it
                keras.utils.set_random_seed(seed)
                model.fit(data.train.X, data.train.y, validation_data=(data.val.X, data.val.y) if len(data.val) else None,
                          initial_epoch=int(state["epoch"]), epochs=max_epochs, batch_size=batch_size,
                          verbose=0, shuffle=True, callbacks=callbacks)
        reporter.close()
    finally:
        reporter.shutdown()
        info["report_wait_s"] = reporter.blocked_s
        _trial_stats(info)
    return info


_STATS: dict[str, Any] = {}


def _trial_stats(info: dict[str, Any]) -> None:
    """Append the trial's overhead figures to ``$SWEEP_TRIAL_STATS`` (a JSON-lines file), if set.

    A benchmarking aid (``benchmarks/placement_bench.py``): per trial, whether its model came from
    the cache, the seconds from the trial's start to its first epoch, the time the training thread
    waited for the driver, and the like.
    """
    path = os.environ.get("SWEEP_TRIAL_STATS")
    stats = {**_STATS, **info, "pid": os.getpid(), "at": time.time()}
    _STATS.clear()
    if not path:
        return
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            stats["rss_mb"] = next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration, ValueError):
        pass
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(stats) + "\n")
    except (OSError, TypeError, ValueError):
        pass


def train_trial(config: dict[str, Any], data: "TrialData | Prepared", ctx: TrialContext) -> None:
    """Train one configuration and report every epoch to Ray Tune (see :func:`run_trial`)."""
    from ray import tune

    started = time.time()
    spec = ctx.spec
    if ctx.deadline is not None and started >= ctx.deadline:
        return  # Tune started it as the time budget ran out: nothing to train
    hp = resolve_config(spec, config)
    trial_id = tune.get_context().get_trial_id() or "local"
    tf_imported = "tensorflow" in sys.modules
    threads = configure_tensorflow(spec.resources.cpu, spec.resources.gpu)
    _STATS.update(trial_id=trial_id, tf_preloaded=tf_imported, tf_ready_s=time.time() - started)

    def report(row: dict[str, Any], checkpoint_dir: str | None) -> None:
        if checkpoint_dir is None:
            tune.report(row)
        else:
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir))

    restored = tune.get_checkpoint()
    placement = _placement(threads)
    faults = None
    if ctx.faults:
        from .faults import faults_for

        faults = faults_for(ctx.faults, trial_id, int(hp["epochs"]))
    try:
        if restored is not None:
            with restored.as_directory() as d:
                run_trial(hp, data, spec, _trial_seed(spec.seed, trial_id), report=report, threads=threads,
                          restore_dir=d, started=started, run_started_at=ctx.run_started_at, placement=placement,
                          faults=faults, deadline=ctx.deadline)
        else:
            run_trial(hp, data, spec, _trial_seed(spec.seed, trial_id), report=report, threads=threads,
                      started=started, run_started_at=ctx.run_started_at, placement=placement, faults=faults,
                      deadline=ctx.deadline)
    except TrialStopped:
        # Ray Tune ended the trial while it trained ahead: end the training thread the way its
        # own report does (SystemExit(0) is a clean end for Ray's runner thread).
        raise SystemExit(0) from None


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


class Evaluator:
    """The final test evaluation in a process that is already warm (the runner's Ray actor).

    Started while the sweep runs, so TensorFlow's import is not on the sweep's critical path at
    the end; :meth:`evaluate` is :func:`evaluate_on_test`.
    """

    def ready(self) -> int:
        import_tensorflow()  # the point: import it now, not when the sweep is over
        return os.getpid()

    def evaluate(self, checkpoint_dir: Any, hp: dict[str, Any], data: "TrialData | Prepared", cpus: float,
                 gpus: float = 0.0) -> dict[str, float]:
        return evaluate_on_test(checkpoint_dir, hp, data, cpus, gpus)


def evaluate_on_test(checkpoint_dir: Any, hp: dict[str, Any], data: "TrialData | Prepared", cpus: float,
                     gpus: float = 0.0) -> dict[str, float]:
    """Evaluate the selected trial's best weights on the test split (the run's only look at it).

    Args:
        checkpoint_dir: directory holding :data:`WEIGHTS_FILE`, or a Ray Tune ``Checkpoint`` on a
            storage URI (downloaded here, in the worker).
        hp: the trial's resolved hyperparameters.
        data: prepared data; only ``data.test`` is read.
        cpus: CPU share for TensorFlow's threads.
        gpus: GPU share (for its memory limit).

    Returns:
        ``{"test_loss": ..., "test_accuracy": ...}`` (or ``test_mae``/``test_mse`` for regression).
    """
    if hasattr(checkpoint_dir, "as_directory"):
        with checkpoint_dir.as_directory() as local_dir:
            return evaluate_on_test(local_dir, hp, data, cpus, gpus)
    configure_tensorflow(cpus, gpus)
    import keras

    keras.backend.clear_session()
    model = build_model(hp, data.n_features, data.task, data.n_classes)
    model.load_weights(os.path.join(checkpoint_dir, WEIGHTS_FILE))
    values = model.evaluate(data.test.X, data.test.y, batch_size=256, verbose=0, return_dict=True)
    return {f"test_{k}": float(v) for k, v in values.items()}
