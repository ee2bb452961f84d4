"""The user's model: a builder function named in the spec (``model: {builder: models.py:build_model}``).

The contract: ``build_model(hp: dict, data) -> keras.Model``, where ``data`` has ``input_shape``,
``n_classes`` and ``task`` (a :class:`~orchestrator.training.inputs.DataInfo`). The function is
imported through :func:`orchestrator.usercode.load_function` (the one module that imports user
code), once per process, and called with Keras' random state seeded from the trial's seed, so a
retried trial starts from the same weights.

What the product does with the model it returns (:func:`take_over`):

- not compiled: compiled with the configuration's optimizer
  (:func:`~orchestrator.training.optimizers.make_optimizer`: sgd, adam, rmsprop, adamw, nadam),
  the task's loss and metrics, as the built-in families are;
- compiled: the user's loss, metrics and optimizer stay, but the learning rate is the product's
  (``learning_rate``, ``lr_schedule``, PBT and the babysitter set it); an optimizer compiled with
  a learning-rate schedule has none to set, and :data:`~orchestrator.training.optimizers.SCHEDULE_NOTE`
  says so.

A builder's model is built fresh for every trial: the traced-model cache reuses a model only when
it knows which values of a configuration are graph variables, and a user's graph may bake in
anything (its ``cache_key`` is None).
"""

from __future__ import annotations

from typing import Any

from ..errors import first_line
from ..usercode import load_function
from .epoch import task_loss, task_metrics
from .inputs import DataInfo
from .optimizers import SCHEDULE_NOTE, make_optimizer, set_learning_rate

__all__ = ["BUILDER_KEY", "NO_CACHE_NOTE", "BuilderError", "BuilderFamily", "take_over"]

BUILDER_KEY = "model.builder"
NO_CACHE_NOTE = "a builder's model is built fresh for every trial (no traced-model cache)"


class BuilderError(RuntimeError):
    """The user's builder raised, or returned something that is not a Keras model.

    Its text is one line naming the spec key, the function and the error
    (``model.builder: models.py:build_model raised ValueError: ...``); inside a trial it fails
    that trial (retried per ``max_failures``), before one (``sweep validate``) it is a spec error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.key = BUILDER_KEY
        self.message = message

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class BuilderFamily:
    """The user's builder behind the model seam (see :class:`orchestrator.training.model.ModelFamily`).

    Args:
        ref: ``file.py:function`` (relative to ``base_dir``) or ``package.module:function``.
        base_dir: the spec file's directory.
    """

    name = "builder"

    def __init__(self, ref: str, base_dir: str) -> None:
        self.ref = ref
        self.base_dir = base_dir

    def __repr__(self) -> str:
        return f"BuilderFamily({self.ref!r}, {self.base_dir!r})"

    def function(self) -> Any:
        """The user's function (imported once per process; SpecError naming ``model.builder`` when it cannot be)."""
        return load_function(self.ref, base_dir=self.base_dir, key=BUILDER_KEY, arity=2)

    def build(self, hp: Any, info: DataInfo, *, steps_per_execution: int = 1, seed: int | None = None) -> Any:
        """The user's model for ``hp``, compiled (or its learning rate set): see the module.

        ``hp`` is handed to the function as a dict (a copy; a dict subclass is passed as it is).

        Raises:
            BuilderError: the function raised, or did not return a Keras model.
        """
        import keras

        fn = self.function()
        if seed is not None:
            keras.utils.set_random_seed(int(seed))
        plain = dict(dict.items(hp)) if isinstance(hp, dict) else dict(hp)  # dict.items: no subclass reads
        given = hp if isinstance(hp, dict) and type(hp) is not dict else plain
        try:
            model = fn(given, info)
        except Exception as e:  # the user's code: its failure, in one line, the traceback chained
            raise BuilderError(f"{self.ref} raised {type(e).__name__}: {first_line(e)}") from e
        if not isinstance(model, keras.Model):
            raise BuilderError(f"{self.ref} returned {type(model).__name__}, not a Keras model")
        if not model.built:  # a subclassed model makes its weights on its first call
            import numpy as np

            try:
                model(np.zeros((1, *info.input_shape), dtype="float32"))
            except Exception as e:  # the user's model cannot take these examples
                raise BuilderError(f"{self.ref}: its model cannot take examples shaped {tuple(info.input_shape)}: "
                                   f"{type(e).__name__}: {first_line(e)}") from e
        take_over(model, plain, info, steps_per_execution=steps_per_execution)
        return model

    def cache_key(self, hp: dict[str, Any], info: DataInfo) -> None:
        """None: a user's model is built fresh for every trial (see the module)."""
        return None

    def reset(self, model: Any, hp: dict[str, Any], seed: int) -> None:
        """A fresh model needs no reset beyond its learning rate (its weights were drawn from ``seed``)."""
        set_learning_rate(model, float(hp["learning_rate"]))
        model.stop_training = False


def take_over(model: Any, hp: dict[str, Any], info: DataInfo, *, steps_per_execution: int = 1) -> list[str]:
    """Make the user's ``model`` the product's to train; returns notes for the user (also ``model.sweep_notes``).

    Not compiled: compiled with the configuration's optimizer, the task's loss and metrics.
    Compiled: its learning rate set from ``hp``, or :data:`SCHEDULE_NOTE` when a schedule owns it.
    ``model.sweep_compiled`` says which (True: the product compiled it, with the task's loss).
    The optimizer's variables are made now (a checkpoint restored before training then loads
    them too); ``model`` must be built.
    """
    notes: list[str] = []
    model.sweep_compiled = not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None
    if model.sweep_compiled:
        model.compile(optimizer=make_optimizer(hp), loss=task_loss(info.task), metrics=task_metrics(info.task),
                      steps_per_execution=steps_per_execution)
    elif not set_learning_rate(model, float(hp["learning_rate"])):
        notes.append(SCHEDULE_NOTE)
    if not model.optimizer.built:  # now, so that a checkpoint's optimizer state loads before training
        model.optimizer.build(model.trainable_variables)
    model.sweep_notes = tuple(notes)
    return notes
