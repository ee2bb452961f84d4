"""What a trial's model costs, measured in the trial's own worker as soon as the model is built.

:func:`costs` gives the costs every trial records (``orchestrator.spec.MODEL_COSTS``), before its
first epoch, so that a constraint on one ends the trial before it trains
(:func:`broken_constraints`) and every epoch row carries them (they are objectives like any metric):

- ``params``: trainable parameters; ``params_total``: all of them (``model.count_params()``:
  a batch normalisation's moving statistics count here, not in ``params``).
- ``model_bytes``: the size of the ``.weights.h5`` file ``model.save_weights`` writes for the
  model's own weights -- the optimizer's slots left out (an Adam model would otherwise weigh three
  times an SGD model with the same layers), as in the exported model, which carries no optimizer.
- ``latency_ms`` / ``latency_batch_ms``: the median time of one inference call (``training=False``)
  on a batch of 1 and on a batch of the configuration's ``batch_size`` validation examples, after
  warm-up calls, in this process (so on the trial's CPU threads or GPU share), in milliseconds.
  The model is called through one traced function whose batch dimension is unknown (traced once
  per model, whichever batch it gets): what a deployed TensorFlow model runs, not Python's eager
  per-layer dispatch, which would dominate a small model's time.

Cheap on purpose (every trial pays it): none of these figures depends on the weights, so they
are kept per worker under the caller's ``key`` (the model family's graph key, the one a model of
the worker's cache is kept under) and measured again only for a graph (and, for
``latency_batch_ms``, a batch size) not seen before. A user's builder has no graph key: its
model is measured every time (it is built fresh for every trial anyway).

Imports TensorFlow only inside the functions that time or write a model; the helpers
(:func:`broken_constraints`, :func:`median_ms`, :func:`batch_of`) are pure.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable, Hashable, Mapping

import numpy as np

__all__ = ["WARMUP_CALLS", "TIMED_CALLS", "TIMING_BUDGET_S", "costs", "weights_file_bytes", "latency_ms",
           "median_ms", "batch_of", "broken_constraints", "kept_figure", "clear_cost_cache"]

# Calls made before timing (the first call of a traced function runs its graph's kernels for the
# first time), and the timed calls whose median is the figure; timing stops early, after at least
# MIN_TIMED_CALLS, once TIMING_BUDGET_S is spent (a large model on one CPU), so that measuring never
# costs more than a fraction of a second.
WARMUP_CALLS = 2
TIMED_CALLS = 9
MIN_TIMED_CALLS = 3
TIMING_BUDGET_S = 0.08

_FIGURES: OrderedDict[Hashable, Any] = OrderedDict()  # (key, what) -> figure, for this worker
_MAX_FIGURES = 512
_PREDICTORS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # model -> its traced call


def clear_cost_cache() -> None:
    """Forget every figure kept in this process (a test measuring afresh)."""
    _FIGURES.clear()


def kept_figure(key: Hashable | None, what: Hashable, measure: Callable[[], Any]) -> Any:
    """``measure()``, or the figure kept for ``(key, what)`` (none is kept when ``key`` is None)."""
    if key is None:
        return measure()
    k = (key, what)
    if k in _FIGURES:
        _FIGURES.move_to_end(k)
        return _FIGURES[k]
    value = measure()
    _FIGURES[k] = value
    while len(_FIGURES) > _MAX_FIGURES:
        _FIGURES.popitem(last=False)
    return value


def costs(model: Any, hp: Mapping[str, Any], sample_X: Any, *, key: Hashable | None = None) -> dict[str, Any]:
    """The costs of ``model`` (see the module): ``params``, ``params_total``, ``model_bytes`` (ints),
    ``latency_ms``, ``latency_batch_ms`` (floats).

    Args:
        model: a built, compiled Keras model (its optimizer built: the weights file is written
            with the writer checkpoints use, recorded from the complete model).
        hp: the configuration (its ``batch_size`` is the batch ``latency_batch_ms`` times).
        sample_X: validation examples (training ones where there is no validation split) to time
            the model on; any number of rows (repeated up to the batch size).
        key: what the figures are kept under in this worker (the family's graph key); None: measured now.
    """
    trainable = int(sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights))
    batch = max(1, int(hp.get("batch_size") or 1))
    X = np.asarray(sample_X)
    return {
        "params": trainable,
        "params_total": int(model.count_params()),
        "model_bytes": int(kept_figure(key, "model_bytes", lambda: weights_file_bytes(model))),
        "latency_ms": kept_figure(key, ("latency", 1), lambda: latency_ms(model, batch_of(X, 1))),
        "latency_batch_ms": kept_figure(key, ("latency", batch), lambda: latency_ms(model, batch_of(X, batch))),
    }


def weights_file_bytes(model: Any) -> int:
    """The size of the file ``model.save_weights`` writes for ``model``'s own weights (no optimizer state).

    Written with :class:`orchestrator.internals.WeightsWriter` (the file layout Keras' saver
    records, the optimizer's entry left out) into a temporary directory. Where Keras' internals
    are not what that writer expects, ``model.save_weights`` itself writes the file, the
    optimizer's state included.
    """
    from ..internals import WeightsWriter

    writer = WeightsWriter.for_model(model)
    with tempfile.TemporaryDirectory(prefix="sweep-costs-") as tmp:
        path = os.path.join(tmp, "model.weights.h5")
        if writer is None:
            model.save_weights(path)
        else:
            own = WeightsWriter([e for e in writer.entries if e[0].split("/")[0] != "optimizer"])
            own.write(path, own.snapshot())
        return os.path.getsize(path)


def _predictor(model: Any, example: np.ndarray) -> Callable[[Any], Any]:
    """``model``'s inference call traced once with an unknown batch dimension (kept while the model lives)."""
    fn = _PREDICTORS.get(model)
    if fn is None:
        import tensorflow as tf

        ref = weakref.ref(model)  # the traced function must not keep the model (and the cache) alive
        signature = [tf.TensorSpec((None, *example.shape[1:]), tf.as_dtype(example.dtype))]
        fn = tf.function(lambda x: ref()(x, training=False), input_signature=signature, autograph=False)
        _PREDICTORS[model] = fn
    return fn


def latency_ms(model: Any, batch: np.ndarray) -> float:
    """The median time of one inference call of ``model`` on ``batch``, in ms (see :func:`median_ms`)."""
    import tensorflow as tf

    fn = _predictor(model, batch)
    x = tf.constant(batch)

    def call() -> None:
        out = fn(x)
        # .numpy() waits for the result (a GPU runs asynchronously): the time includes the copy back
        for t in tf.nest.flatten(out):
            t.numpy()

    return median_ms(call)


def median_ms(call: Callable[[], Any], *, warmup: int = WARMUP_CALLS, repeats: int = TIMED_CALLS,
              min_repeats: int = MIN_TIMED_CALLS, budget_s: float = TIMING_BUDGET_S,
              clock: Callable[[], float] = time.perf_counter) -> float:
    """The median duration of ``call()`` in milliseconds, over up to ``repeats`` timed calls after
    ``warmup`` untimed ones; timing stops once ``budget_s`` is spent and ``min_repeats`` were timed."""
    for _ in range(warmup):
        call()
    times: list[float] = []
    spent = 0.0
    while len(times) < max(1, repeats):
        t = clock()
        call()
        times.append(clock() - t)
        spent += times[-1]
        if spent >= budget_s and len(times) >= min_repeats:
            break
    return statistics.median(times) * 1000.0


def batch_of(X: np.ndarray, n: int) -> np.ndarray:
    """``n`` examples of ``X`` (its first rows, repeated when it has fewer), contiguous."""
    X = np.asarray(X)
    if len(X) == 0:
        raise ValueError("no examples to time the model on")
    if len(X) >= n:
        return np.ascontiguousarray(X[:n])
    return np.ascontiguousarray(np.resize(X, (n, *X.shape[1:])))


def broken_constraints(values: Mapping[str, Any], bounds: Mapping[str, Any]) -> list[str]:
    """The names of ``bounds`` (``name -> Bound``) that ``values`` breaks, in ``bounds``' order.

    A bound on a name ``values`` lacks is not judged here (a metric constraint is judged on the
    trial's best epoch, later); a value that is present but not finite breaks its bound.
    """
    return [name for name, bound in bounds.items() if name in values and not bound.allows(values[name])]
