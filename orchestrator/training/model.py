"""The model seam: ``build(hp, data_info) -> model``, and a per-worker cache of traced models.

Every model a trial trains, the babysitter adjusts or the final evaluation scores comes through
here: :func:`build` (a compiled model for a configuration and a description of the data,
:class:`~orchestrator.training.inputs.DataInfo`) and :class:`ModelCache` (a model reset for a
trial, reused when one with the same cache key was already built and traced in this worker).
Behind the seam is a :class:`ModelFamily`, chosen from the spec's ``model`` section by
:func:`family_of` (never from a configuration): the MLP (:mod:`orchestrator.training.mlp`), the
CNN (:mod:`orchestrator.training.cnn`) or the user's builder
(:mod:`orchestrator.training.builder`). A family whose models cannot be reused (a user's builder)
gives no cache key, and the cache then builds a fresh model for every trial.
Importing this module imports no TensorFlow.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Protocol

from .builder import BuilderFamily
from .cnn import CNN
from .inputs import DataInfo
from .mlp import MLP

__all__ = ["ModelFamily", "FAMILIES", "family_of", "build", "ModelCache", "DEFAULT_CACHE_SIZE"]

# Models kept per worker. A cached MLP with its traced train and validation functions costs about
# 15-18 MB of the worker's memory (benchmarks/placement.md: 4 models grew a worker by 53 MB), so 3
# keep a worker that runs trial after trial within 50 MB of its size after the first; the cache
# still pays whenever trials repeat an architecture and batch size (a search over rates, PBT).
DEFAULT_CACHE_SIZE = 3


class ModelFamily(Protocol):
    """A kind of model the sweep can train: how to build one, reuse it, and reset it for a trial."""

    name: str

    def build(self, hp: dict[str, Any], info: DataInfo, *, steps_per_execution: int = 1,
              seed: int | None = None) -> Any:
        """A compiled Keras model for the configuration ``hp`` and the data ``info`` describes.

        ``seed``: the trial's, for a family whose weights are drawn only when it builds (a builder).
        """
        ...

    def cache_key(self, hp: dict[str, Any], info: DataInfo) -> tuple | None:
        """Equal for configurations one built model serves (after :meth:`reset`); None: never reuse."""
        ...

    def reset(self, model: Any, hp: dict[str, Any], seed: int) -> None:
        """Put ``model`` in the state a trial of ``hp`` seeded ``seed`` starts from, fresh or reused alike."""
        ...


FAMILIES: dict[str, ModelFamily] = {MLP.name: MLP, CNN.name: CNN}


def family_of(spec: Any) -> ModelFamily:
    """The family of a sweep: its ``model`` section's kind (the MLP when the spec has none).

    ``mlp`` and ``cnn`` are the product's; ``builder`` is the user's function ``spec.model.builder``
    (imported from ``spec.base_dir`` when a model is first built).
    """
    model = getattr(spec, "model", None)
    kind = "mlp" if model is None else str(model.kind)
    if kind == "builder":
        return BuilderFamily(str(model.builder), str(spec.base_dir))
    try:
        return FAMILIES[kind]
    except KeyError:
        raise ValueError(f"unknown model family {kind!r}; known: {sorted(FAMILIES)} and builder") from None


def build(hp: dict[str, Any], info: DataInfo, *, family: ModelFamily = MLP, steps_per_execution: int = 1,
          seed: int | None = None) -> Any:
    """A freshly built, compiled model of ``family`` for ``hp`` on the data ``info`` describes (imports TensorFlow)."""
    return family.build(hp, info, steps_per_execution=steps_per_execution, seed=seed)


def _release_memory() -> None:
    """Free dropped models now and hand the freed heap back to the system.

    ``keras.backend.clear_session`` drops Keras' global state and TensorFlow's kernel cache, which
    otherwise keeps the instantiated functions of every model ever run (~0.6 MB each); the models
    still cached keep working (their next call instantiates its kernels again, ~0.1 s). Keras
    models hold reference cycles, so only the cyclic collector frees them; after
    :func:`~orchestrator.training.worker.freeze_imports` a full collection costs tens of
    milliseconds, not hundreds. glibc keeps freed memory otherwise, and the worker's resident
    memory would grow with every eviction.
    """
    import gc

    import keras

    keras.backend.clear_session(free_memory=False)
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class ModelCache:
    """Built, compiled and traced models of one worker, least recently used first out.

    ``get`` returns a model reset for the trial (its family's ``reset``), reusing one with the
    same cache key when there is one. A full cache drops its least recently used model; Keras'
    global state is cleared (``keras.backend.clear_session``) only when the whole cache is, so
    memory stays flat however many trials a worker runs.

    Args:
        size: models kept; 0 builds a fresh model for every trial (clearing the session first, as
            without a cache). Default: ``SWEEP_MODEL_CACHE`` from the environment, else
            :data:`DEFAULT_CACHE_SIZE`.
    """

    def __init__(self, size: int | None = None) -> None:
        if size is None:
            size = int(os.environ.get("SWEEP_MODEL_CACHE", DEFAULT_CACHE_SIZE))
        self.size = max(0, int(size))
        self._models: OrderedDict[tuple, Any] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._models)

    def get(self, hp: dict[str, Any], *data: Any, seed: int, steps_per_execution: int = 1,
            family: ModelFamily = MLP) -> tuple[Any, bool]:
        """A model of ``family`` for ``hp``, reset for a trial seeded ``seed``; True when it came from the cache.

        ``data`` describes the data: a :class:`DataInfo`, or its table fields
        ``n_features, task, n_classes``. A family without a cache key (a builder) gets a fresh
        model every time, built after the cache is emptied and Keras' state cleared, so a worker
        running such trials one after the other stays the same size.
        """
        info = DataInfo.coerce(*data)
        own = family.cache_key(hp, info)
        key = None if own is None else (family.name, own, int(steps_per_execution))
        model = None if key is None else self._models.pop(key, None)
        hit = model is not None
        if model is None:
            self.misses += 1
            if self.size == 0 or key is None:
                self.clear()
            if key is not None and self._models and len(self._models) >= self.size:
                while len(self._models) >= self.size:
                    self._models.popitem(last=False)
                _release_memory()
            model = family.build(hp, info, steps_per_execution=steps_per_execution, seed=seed)
        else:
            self.hits += 1
        if self.size > 0 and key is not None:
            self._models[key] = model
        family.reset(model, hp, seed)
        return model, hit

    def clear(self) -> None:
        """Drop every model and clear Keras' global state."""
        self._models.clear()
        _release_memory()
