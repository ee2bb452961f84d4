"""One training skeleton: a model from the worker's cache, one epoch path, the Keras callbacks, one fit.

Every model the product trains goes through :class:`EpochLoop`: a parallel trial
(:mod:`orchestrator.training.trainable`), a babysat model (:mod:`orchestrator.babysit.worker`) and
the final refit on train+val (:mod:`orchestrator.training.evaluate`). The loop takes the model from
the worker's :class:`~orchestrator.training.model.ModelCache`, runs ONE ``model.fit`` whose epoch
hooks feed Keras' logs to an :class:`~orchestrator.training.epoch.EpochPath` (the row, divergence,
objective and stop reason of each epoch), sets the learning-rate schedule's rate as each epoch
begins, stops at a batch past the time budget's end, and adds the trial's peak GPU memory to each
row where a GPU is used.

As soon as the model is built, before its first epoch, the loop measures what it costs
(:func:`orchestrator.training.costs.costs`: parameters, weights file, latency) and which of the
spec's cost constraints it breaks (:attr:`EpochLoop.broken`); a side whose model broke one never
trains it and reports :meth:`EpochLoop.infeasible_row` instead. Every epoch's row carries the
costs and the objectives after the first (``objective_1``, ``objective_2``).

Each side adds only what is its own, by overriding the hooks: :meth:`EpochLoop.before_epoch`,
:meth:`EpochLoop.after_epoch` (the one it must write: what to do with an epoch's row),
:meth:`EpochLoop.after_batch`, :meth:`EpochLoop.learning_rate` and :meth:`EpochLoop.callbacks`.
Importing this module imports neither TensorFlow nor Ray.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from ..internals import keras_callback_list
from ..spec import SweepSpec
from .costs import broken_constraints, costs
from .epoch import Divergence, Epoch, EpochPath, learning_rate_at
from .inputs import DataInfo, TrialData, fit
from .model import ModelCache, family_of
from .optimizers import current_learning_rate, set_learning_rate
from .tf_errors import lift_informative_line
from .worker import epoch_hooks, gpu_peak_mb, reset_gpu_peak, visible_gpus

if TYPE_CHECKING:
    from ..data import Prepared

__all__ = ["EpochLoop"]


class EpochLoop:
    """One model trained for ``hp["epochs"]`` epochs on one epoch path (see the module).

    Args:
        hp: the resolved hyperparameters (``epochs``, ``batch_size``, ``learning_rate``, a schedule).
        data: the splits it trains on (``val`` may be empty: the refit has none).
        spec: the sweep (metric, mode, model family).
        seed: the seed of its weights, dropout and shuffling.
        cache: the worker's model cache the model comes from.
        started, run_started_at: clocks of this model and of the run (for the timing columns).
        deadline: the time budget's end, or None.
        threads: TensorFlow threads (for the input pipeline).
        steps_per_execution: training steps per call into the traced graph.

    Attributes:
        model: the compiled model, reset for ``seed``.
        cache_hit: whether the model came from the cache.
        path: the epoch path (built by the side with :meth:`epoch_path`, once it knows where the
            model starts: a restored trial's best value and first loss).
        initial_epoch: the 0-based epoch ``fit`` starts from (a restored trial's).
        setup_s: seconds from ``started`` to the first epoch's start (None before it).
        costs: what the model costs (empty where :attr:`measures_costs` is off).
        costs_s: seconds measuring them took.
        broken: the spec's cost constraints the model breaks (non-empty: it must not train).
    """

    # Set the schedule's rate (learning_rate_at) as each epoch begins. The babysitter owns its
    # learning rate (its decisions move it) and turns this off.
    follows_schedule: ClassVar[bool] = True
    # Measure the model's costs (and judge the cost constraints) before training. The refit of the
    # selected configuration turns this off: it was measured as a trial, and it has no validation split.
    measures_costs: ClassVar[bool] = True
    path: EpochPath  # set by epoch_path(), which each side calls once the model is where it starts

    def __init__(self, hp: dict[str, Any], data: "TrialData | Prepared", spec: SweepSpec, seed: int, *,
                 cache: ModelCache, started: float, run_started_at: float, deadline: float | None = None,
                 threads: int = 1, steps_per_execution: int = 1) -> None:
        self.hp, self.data, self.spec, self.seed, self.threads = hp, data, spec, seed, threads
        self.started, self.run_started_at, self.deadline = started, run_started_at, deadline
        self.max_epochs = int(hp["epochs"])
        info, family = DataInfo.of(data), family_of(spec)
        self.model, self.cache_hit = cache.get(hp, info, seed=seed, steps_per_execution=steps_per_execution,
                                               family=family)
        t_costs = time.time()
        self.costs: dict[str, Any] = {}
        if self.measures_costs:
            own = family.cache_key(hp, info)  # the figures do not depend on the weights: kept per graph
            sample = data.val.X if len(data.val.X) else data.train.X
            self.costs = costs(self.model, hp, sample, key=None if own is None else (family.name, own))
        self.costs_s = time.time() - t_costs
        self.broken = broken_constraints(self.costs, spec.build_constraints)
        # Peak GPU memory is this model's: reset where a GPU is used; no TensorFlow call on a CPU.
        self.gpus = visible_gpus()
        reset_gpu_peak(self.gpus)
        self.initial_epoch = 0
        self.setup_s: float | None = None

    def epoch_path(self, divergence: Divergence, **options: Any) -> EpochPath:
        """Set and return this model's epoch path with the side's ``divergence`` rule; ``options``
        are :class:`~orchestrator.training.epoch.EpochPath`'s (``best``, ``first_epoch``,
        ``first_row``, ``baseline_column``)."""
        others = tuple((o.name, str(o.mode or "min")) for o in self.spec.objectives[1:])
        self.path = EpochPath(metric=self.spec.metric_name, mode=self.spec.mode, task=self.data.task,
                              max_epochs=self.max_epochs, divergence=divergence, run_started_at=self.run_started_at,
                              started=self.started, deadline=self.deadline, costs=self.costs,
                              objectives=others, **options)
        return self.path

    def infeasible_row(self) -> dict[str, Any]:
        """The one row of a model that broke a cost constraint (:attr:`broken`): see
        :meth:`~orchestrator.training.epoch.EpochPath.infeasible_row`."""
        return self.path.infeasible_row(self.broken, time.time())

    # -- what each side adds ----------------------------------------------------------------
    def before_epoch(self, model: Any, epoch: int) -> None:
        """0-based ``epoch`` is about to begin (before its clock starts)."""

    def after_epoch(self, model: Any, e: Epoch) -> None:
        """``e`` ended (its row built, its stop reason not yet): conclude it and act on it."""
        raise NotImplementedError

    def after_batch(self) -> None:
        """A training batch ended (every ``steps_per_execution`` batches): a cheap check for a stop."""

    def learning_rate(self, model: Any) -> float:
        """The learning rate the epoch that just ended trained with (its row's ``learning_rate``)."""
        return current_learning_rate(model)

    def callbacks(self) -> list[Any]:
        """Keras callbacks that run before the epoch hooks (a trial's EarlyStopping)."""
        return []

    # -- the Keras hooks ----------------------------------------------------------------------
    def on_epoch_begin(self, model: Any, epoch: int) -> None:
        self.before_epoch(model, epoch)
        now = time.time()
        self.path.begin(now)
        if epoch == self.initial_epoch:
            self.setup_s = now - self.started
        if self.follows_schedule:
            set_learning_rate(model, learning_rate_at(self.hp, epoch))  # not when a compiled schedule owns it

    def on_epoch_end(self, model: Any, epoch: int, logs: Any) -> None:
        e = self.path.end(epoch + 1, logs, self.learning_rate(model), time.time())
        # the trial's seconds so far (trials.parquet's train_seconds is its last row's): a cost objective too
        e.row["train_seconds"] = e.row["trial_elapsed_s"]
        if self.gpus:
            e.row["gpu_peak_mb"] = gpu_peak_mb(self.gpus)
        self.after_epoch(model, e)

    def on_train_batch_end(self) -> None:
        self.after_batch()
        if self.path.batch_past_deadline():
            self.model.stop_training = True

    def fit(self) -> None:
        """ONE ``model.fit`` from :attr:`initial_epoch` to the last epoch (nothing when none is left).

        A TensorFlow error it raises says why on its first line (:mod:`.tf_errors`): that line is
        what a failed trial records."""
        if self.initial_epoch >= self.max_epochs:
            return
        hooks = epoch_hooks(self.on_epoch_begin, self.on_epoch_end)
        callbacks = keras_callback_list([*self.callbacks(), hooks], self.model, self.max_epochs,
                                        self.on_train_batch_end)
        try:
            fit(self.model, self.data, batch_size=int(self.hp["batch_size"]), seed=self.seed, threads=self.threads,
                epochs=self.max_epochs, initial_epoch=self.initial_epoch, callbacks=callbacks)
        except Exception as e:  # a TensorFlow error's first line is "Graph execution error:": say why instead
            lift_informative_line(e)
            raise
