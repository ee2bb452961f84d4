"""The training side of a worker process: TensorFlow's import and confinement, and what the worker keeps.

TensorFlow is imported on the first trial a worker runs (or while it starts, with preloading);
actors are reused, so later trials in the same worker pay no import. :func:`configure_tensorflow`
confines it, once per process, to the trial's CPU share and GPU memory limit; :func:`model_cache`
is the worker's cache of traced models. Importing this module imports neither TensorFlow nor Ray.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
from typing import Any, Callable

from ..quiet import quiet_native_stderr
from .model import ModelCache

__all__ = ["GPU_RESERVE_MB", "gpu_memory_limit_mb", "import_tensorflow", "configure_tensorflow", "freeze_imports",
           "model_cache", "epoch_hooks", "visible_gpus", "reset_gpu_peak", "gpu_peak_mb"]

# CUDA context and allocator overhead a process needs outside TensorFlow's memory limit.
GPU_RESERVE_MB = int(os.environ.get("SWEEP_GPU_RESERVE_MB", "512"))
_CONFIGURED_THREADS: int | None = None
_GPU_SETUP: dict[str, Any] = {}
_GPUS: tuple[str, ...] = ()  # the GPUs TensorFlow uses in this process ("GPU:0", ...), set by configure_tensorflow
_MODELS: ModelCache | None = None


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


def import_tensorflow(*, quiet: bool = False) -> Any:
    """``import tensorflow`` (and Keras) without Keras' scikit-learn and matplotlib extras.

    The extras are hidden from the import system only while TensorFlow loads (and only those not
    loaded already); importing them afterwards works as usual. ``quiet``: TensorFlow's native
    start-up lines are held back (:func:`orchestrator.quiet.quiet_native_stderr`), for the driver,
    whose stderr is the user's terminal.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    hidden = [m for m in _KERAS_EXTRAS if m not in sys.modules]
    for m in hidden:
        sys.modules[m] = None  # type: ignore[assignment]  # "import m" raises ImportError
    try:
        with quiet_native_stderr() if quiet else contextlib.nullcontext():
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
    global _CONFIGURED_THREADS, _GPUS
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
    # One logical device per physical GPU (a memory limit makes one, memory growth keeps it), so
    # their names follow from the count: no call that would initialise TensorFlow's runtime here.
    _GPUS = tuple(f"GPU:{i}" for i in range(len(_GPU_SETUP)))
    _CONFIGURED_THREADS = tf.config.threading.get_intra_op_parallelism_threads() or threads
    freeze_imports()  # Keras is loaded by import_tensorflow, before freezing
    return _CONFIGURED_THREADS


def freeze_imports() -> None:
    """Move every object alive now (the imported modules: TensorFlow, Keras, Ray) out of the collector's sight.

    Called once per worker after the imports. A worker holds ~450k such objects, and every full
    collection, automatic or explicit, would scan them all (0.3-0.4 s each, during training too).
    """
    import gc

    gc.freeze()


def model_cache() -> ModelCache:
    """This worker's model cache (created on first use)."""
    global _MODELS
    if _MODELS is None:
        _MODELS = ModelCache()
    return _MODELS


def epoch_hooks(begin: Callable[[Any, int], None], end: Callable[[Any, int, Any], None]) -> Any:
    """A Keras callback calling ``begin(model, epoch)`` and ``end(model, epoch, logs)`` (0-based epochs)."""
    import keras

    class EpochHooks(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            begin(self.model, epoch)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            end(self.model, epoch, logs)

    return EpochHooks()


def visible_gpus() -> tuple[str, ...]:
    """The GPUs TensorFlow uses in this process (``("GPU:0", ...)``); empty on a CPU, or before
    :func:`configure_tensorflow` (asks TensorFlow nothing)."""
    return _GPUS


def reset_gpu_peak(gpus: tuple[str, ...]) -> None:
    """Start counting the peak GPU memory afresh on ``gpus`` (a new trial in a reused worker)."""
    if not gpus:
        return
    import tensorflow as tf

    for name in gpus:
        try:
            tf.config.experimental.reset_memory_stats(name)
        except (RuntimeError, ValueError):  # a device TensorFlow has not initialised yet: nothing counted
            pass


def gpu_peak_mb(gpus: tuple[str, ...]) -> float | None:
    """The peak memory TensorFlow allocated on ``gpus`` since :func:`reset_gpu_peak`, summed, in MB
    (None without a GPU: then TensorFlow is not asked)."""
    if not gpus:
        return None
    import tensorflow as tf

    total = 0
    for name in gpus:
        try:
            total += int(tf.config.experimental.get_memory_info(name)["peak"])
        except (RuntimeError, ValueError):  # not initialised (no allocation yet)
            pass
    return total / 2**20
