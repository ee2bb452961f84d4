"""What a trial gets of the data, what the model is told about it, and how it is fed to ``model.fit``.

:class:`TrialData` (plain NumPy arrays) crosses to the workers; :class:`DataInfo` is what a model
builder needs to know of the data (no arrays); :func:`trial_seed` gives a trial the seed of its
every random draw; :func:`fit` trains a model for a trial's epochs through a seeded ``tf.data``
pipeline (:func:`datasets`). Importing this module imports neither TensorFlow nor pandas.
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..data import Prepared

__all__ = ["ArraySplit", "TrialData", "DataInfo", "trial_index", "trial_seed", "datasets", "fit",
           "SMALL_DATA_ROWS"]

# Above this many training rows the input pipeline is Keras' own (vectorised shuffling).
SMALL_DATA_ROWS = 200_000


@dataclass(frozen=True)
class ArraySplit:
    """One split's arrays (``X`` float32 ``(n, *input_shape)``, ``y`` ``(n,)``)."""

    X: Any
    y: Any

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class DataInfo:
    """What a model builder is told about the data: the shape of one example and the task.

    Attributes:
        input_shape: the shape of one example (``(n_features,)`` for a table).
        task: ``classification`` or ``regression``.
        n_classes: number of classes (0 for regression).
    """

    input_shape: tuple[int, ...]
    task: str
    n_classes: int

    @property
    def n_features(self) -> int:
        """The number of values in one example (a table's columns)."""
        return int(math.prod(self.input_shape))

    @classmethod
    def of(cls, data: "TrialData | Prepared") -> "DataInfo":
        """The description of prepared data: its ``input_shape`` (a table's: ``(n_features,)``)."""
        shape = getattr(data, "input_shape", None) or (data.n_features,)
        return cls(tuple(int(d) for d in shape), str(data.task), int(data.n_classes))

    @classmethod
    def coerce(cls, *description: Any) -> "DataInfo":
        """A :class:`DataInfo` given as itself or as its table fields ``(n_features, task, n_classes)``."""
        if len(description) == 1 and isinstance(description[0], DataInfo):
            return description[0]
        n_features, task, n_classes = description
        return cls((int(n_features),), str(task), int(n_classes))


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
    input_shape: tuple[int, ...] = ()  # one example's shape; () for (n_features,)

    @classmethod
    def of(cls, prepared: "Prepared", *, splits: tuple[str, ...] = ("train", "val")) -> "TrialData":
        """The arrays of ``splits`` (the others empty): trials get train and val, never test."""
        def split(name: str) -> ArraySplit:
            s = getattr(prepared, name)
            return ArraySplit(s.X, s.y) if name in splits else ArraySplit(s.X[:0], s.y[:0])

        shape = tuple(int(d) for d in getattr(prepared, "input_shape", None) or (prepared.n_features,))
        return cls(split("train"), split("val"), split("test"), prepared.task, int(prepared.n_features),
                   int(prepared.n_classes), shape)


def trial_index(trial_id: str) -> int:
    """The number ending a trial id (``..._00003`` -> 3); a hash of the id for other ids."""
    suffix = trial_id.rsplit("_", 1)[-1]
    return int(suffix) if suffix.isdigit() else zlib.crc32(trial_id.encode())


def trial_seed(base: int, trial_id: str, config: dict[str, Any] | None = None) -> int:
    """The seed of a trial's weights, dropout and shuffling: the run's seed and the trial's index.

    The same run seed and trial id always give the same seed, so a retried or resumed trial
    draws what it drew the first time. A searcher's trial ids (tpe's) are random hex, another
    each run: for those the trial's ``config`` stands for its index, so that a seeded tpe run
    trains what it trained before (its sampler draws the same configurations in the same order).
    """
    suffix = trial_id.rsplit("_", 1)[-1]
    if config is not None and not suffix.isdigit():
        index = zlib.crc32(json.dumps(config, sort_keys=True, default=repr).encode())
    else:
        index = trial_index(trial_id)
    return (base * 100_003 + index) % (2**31 - 1)


def datasets(data: "TrialData | Prepared", batch_size: int, seed: int, threads: int) -> tuple[Any, Any] | None:
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


def fit(model: Any, data: "TrialData | Prepared", *, batch_size: int, seed: int, threads: int, epochs: int,
        callbacks: Any, initial_epoch: int = 0) -> None:
    """One ``model.fit`` over a trial's epochs, its batches drawn from ``seed`` only.

    Every random draw of a trial is seeded explicitly from ``seed`` (weights and dropout when the
    model is reset, shuffling here), so TensorFlow's global seed is left alone: setting it clears
    TensorFlow's kernel cache, which costs a cached model ~0.15 s on its first epoch. Only Keras'
    own pipeline (for large data) shuffles from the global seed, so it is set then.
    """
    pipes = datasets(data, batch_size, seed, threads)
    if pipes is not None:
        model.fit(pipes[0], validation_data=pipes[1], initial_epoch=initial_epoch, epochs=epochs, verbose=0,
                  shuffle=False, callbacks=callbacks)
        return
    import keras

    keras.utils.set_random_seed(seed)
    model.fit(data.train.X, data.train.y, validation_data=(data.val.X, data.val.y) if len(data.val) else None,
              initial_epoch=initial_epoch, epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True,
              callbacks=callbacks)
