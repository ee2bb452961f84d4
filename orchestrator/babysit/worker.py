"""The babysitter's worker side: one model at a time in one Ray actor, adjusted after every epoch.

:class:`BabysitWorker` is a Ray actor (the driver, :class:`orchestrator.babysit.driver.BabysitStrategy`,
gives it the spec's per-trial resources: one slot). :meth:`BabysitWorker.run` trains models one
after the other until the deadline or ``babysit.max_models``. Each model is one
:class:`~orchestrator.training.loop.EpochLoop` (the training skeleton a parallel trial uses:
model from the worker's cache, one epoch path, one ``model.fit``); what the babysitter adds is
after every epoch: the curves so far go to the pure
:func:`orchestrator.decisions.babysit_rules.decide`, and its decision is applied (set the
optimizer's learning rate, restore kept weights and the optimizer's initial state, or stop). The
next model comes from :func:`orchestrator.decisions.babysit_rules.next_config`. A model that breaks
a cost constraint (``constraints: {params: {max: ...}}``) is never trained: its one row (epoch 0,
``infeasible``, its costs) is reported, it ends with status ``infeasible``, and the next model comes.

Progress goes back to the driver as the trial events every strategy reports
(:mod:`orchestrator.trial_events`), through a Ray streaming generator: :class:`TrialStarted` (a
model begins), :class:`EpochReported` (one row for epochs.parquet), :class:`Intervention` (a
decision, source ``babysitter``), :class:`TrialEnded` (how the model ended). The test split never
reaches :meth:`BabysitWorker.run`; :meth:`BabysitWorker.evaluate` scores the selected model's best
weights once, in the same (already warm) process.
"""

from __future__ import annotations

import math
import os
import queue
import random
import threading
import time
from typing import Any, Callable, Iterator

from ..decisions.babysit_rules import Applied, Decision, ModelOutcome, Rules, decide, next_config
from ..spec import SweepSpec
from ..training.epoch import Divergence, Epoch, baseline_loss
from ..training.evaluate import TestOutcome, evaluate_on_test
from ..training.inputs import TrialData, trial_seed
from ..training.loop import EpochLoop
from ..training.optimizers import set_learning_rate
from ..training.reporting import save_weights
from ..training.worker import configure_tensorflow, model_cache
from ..trial_events import EpochReported, Intervention, TrialEnded, TrialEvent, TrialStarted

__all__ = ["BabysitWorker", "babysit_models"]

_DONE = object()

Emit = Callable[[TrialEvent], None]


class _Sitter:
    """What stays from model to model of one babysitting run."""

    def __init__(self, spec: SweepSpec, data: TrialData, emit: Emit, *, run_started_at: float,
                 deadline: float | None, checkpoint_root: str, threads: int) -> None:
        self.spec, self.data, self.emit = spec, data, emit
        self.run_started_at, self.deadline = run_started_at, deadline
        self.checkpoint_root, self.threads = checkpoint_root, threads
        self.rules = Rules.of(spec)
        self.base = baseline_loss(data.task, data.n_classes, data.train.y)
        self.cache = model_cache()
        self.first_epoch_s = 0.0  # the longest first epoch of a model so far (it includes tracing)


class _SatModel(EpochLoop):
    """One babysat model: the skeleton's epochs, plus its kept weights and the decider's view of its curves."""

    follows_schedule = False  # the babysitter's decisions own the learning rate

    def __init__(self, sitter: _Sitter, trial_id: str, hp: dict[str, Any], started: float) -> None:
        import keras

        spec = sitter.spec
        super().__init__(hp, sitter.data, spec, trial_seed(spec.seed, trial_id), cache=sitter.cache,
                         started=started, run_started_at=sitter.run_started_at, deadline=sitter.deadline,
                         threads=sitter.threads)
        self.sitter, self.trial_id = sitter, trial_id
        self.epoch_path(Divergence.babysitter(sitter.rules.explode_factor, sitter.base))
        self.lr = float(hp["learning_rate"])
        set_learning_rate(self.model, self.lr)
        # what a revert goes back to: the weights kept below, and the optimizer as it started
        self.initial_weights = self.model.get_weights()
        self.optimizer_start = [keras.ops.convert_to_numpy(v) for v in self.model.optimizer.variables]
        # Kept: the initial weights (0), the best epoch's (what selection and the test use, as
        # tables.best ranks epochs) and the best before it (what a revert at this epoch goes back to).
        self.snapshots: dict[int, Any] = {0: self.initial_weights}
        self.best_before = 0
        self.metric: list[float] = []
        self.lr_at: dict[int, float] = {}
        self.applied: list[Applied] = []
        self.stop = ""

    def before_epoch(self, model: Any, epoch: int) -> None:
        self.best_before = self.path.best_epoch  # the epoch that ends next may become the best

    def learning_rate(self, model: Any) -> float:
        return self.lr  # what it set (the optimizer's own copy is float32)

    def after_epoch(self, model: Any, e: Epoch) -> None:
        if e.number == 1:
            self.sitter.first_epoch_s = max(self.sitter.first_epoch_s, e.at - self.started)
        self.metric.append(e.value)
        self.lr_at[e.number] = self.lr
        if e.improved:
            for old in [k for k in self.snapshots if k not in (0, self.best_before)]:
                del self.snapshots[old]
            self.snapshots[e.number] = model.get_weights()
        sitter = self.sitter
        d = decide(self.path.divergence.train, self.path.divergence.val, self.metric, self.lr,
                   mode=sitter.spec.mode, baseline_loss=sitter.base, rules=sitter.rules, applied=self.applied)
        stop = self._apply(model, e, d)
        if self.path.conclude(e, decided=stop):
            model.stop_training = True
            self.stop = e.row["stop_reason"]
        sitter.emit(EpochReported(self.trial_id, e.row))

    def _apply(self, model: Any, e: Epoch, d: Decision) -> str:
        """Apply the decider's decision to the model; returns the stop it decided ("" for none)."""
        if d.action == "continue":
            return ""
        self.applied.append(Applied(e.number, d.action))
        self.sitter.emit(Intervention(self.trial_id, e.number, "babysitter", d.action, d.reason, d.detail,
                                      at=e.at, old_value=d.old_lr, new_value=d.new_lr))
        if d.revert_to_epoch is not None and (d.action == "revert_and_cut_lr" or e.diverged):
            model.set_weights(self.snapshots.get(d.revert_to_epoch, self.initial_weights))
            for var, value in zip(model.optimizer.variables, self.optimizer_start):
                var.assign(value)  # the moments a divergence polluted
        if d.new_lr != d.old_lr:
            self.lr = d.new_lr
            set_learning_rate(model, d.new_lr)  # not when a compiled schedule owns it
        return d.action if d.stops else ""

    def train(self) -> ModelOutcome:
        """Fit the model under the babysitter, keep its best weights, report its end; how it went."""
        if self.broken:
            return self._infeasible()
        self.fit()
        best_epoch = self.path.best_epoch
        if best_epoch:  # keep the best epoch's weights (what selection and the test evaluation use)
            self.model.set_weights(self.snapshots[best_epoch])
            save_weights(self.model, os.path.join(self.sitter.checkpoint_root, self.trial_id))
        stop = self.stop or "max_epochs"
        status = ("diverged" if stop == "stop_diverged" and not best_epoch
                  else "completed" if stop == "max_epochs" else "stopped")
        # one model at a time: none runs once it ended; its stops are already Intervention rows
        self.sitter.emit(TrialEnded(self.trial_id, status, stop, running=0, at=time.time(), record_event=False))
        train, val = self.path.divergence.train, self.path.divergence.val
        self.snapshots.clear()
        return ModelOutcome(config=self.hp, action=stop, best_value=self.path.best,
                            lr_at_best=self.lr_at.get(best_epoch),
                            train_loss_at_best=train[best_epoch - 1] if best_epoch else None,
                            val_loss_at_best=val[best_epoch - 1] if best_epoch else None)

    def _infeasible(self) -> ModelOutcome:
        """The model broke a cost constraint: its row and its end reported, no epoch trained."""
        self.sitter.emit(EpochReported(self.trial_id, self.infeasible_row()))
        self.sitter.emit(TrialEnded(self.trial_id, "infeasible", "infeasible", running=0, at=time.time()))
        self.snapshots.clear()
        return ModelOutcome(config=self.hp, action="infeasible", best_value=math.nan)


def babysit_models(spec: SweepSpec, data: TrialData, emit: Emit, *, run_started_at: float, deadline: float | None,
                   checkpoint_root: str, threads: int = 1) -> None:
    """Babysit models one after the other; ``emit(event)`` is called for every trial event (see module).

    Callable without Ray (``emit`` is any function). Stops starting models when the next one's
    first epoch would not end before ``deadline``, and stops a model mid-epoch at the deadline.
    """
    sitter = _Sitter(spec, data, emit, run_started_at=run_started_at, deadline=deadline,
                     checkpoint_root=checkpoint_root, threads=threads)
    rng = random.Random(spec.seed)
    history: list[ModelOutcome] = []
    for k in range(spec.babysit.max_models):
        if deadline is not None and time.time() + sitter.first_epoch_s >= deadline:
            break  # a new model's first epoch would end past the deadline
        hp, why = next_config(history, spec, rng)
        trial_id = f"babysit_{k:05d}"
        started = time.time()
        emit(TrialStarted(trial_id, hp, running=1, at=started))
        if k:
            emit(Intervention(trial_id, 0, "babysitter", "next_config", history[-1].action, why, at=started))
        outcome = _SatModel(sitter, trial_id, hp, started).train()
        history.append(outcome)
        if outcome.action == "budget":
            break


class BabysitWorker:
    """The Ray actor of a babysitting run (one slot: the spec's per-trial CPUs and GPUs)."""

    def __init__(self, cpus: float = 1.0, gpus: float = 0.0) -> None:
        self.cpus, self.gpus = cpus, gpus
        self.checkpoint_root: str | None = None
        self.spec: SweepSpec | None = None

    def ready(self) -> int:
        """Import and confine TensorFlow now; returns this process' id."""
        configure_tensorflow(self.cpus, self.gpus)
        return os.getpid()

    def run(self, spec: SweepSpec, data: TrialData, run_started_at: float, deadline: float | None,
            checkpoint_root: str) -> Iterator[TrialEvent]:
        """Babysit (see :func:`babysit_models`), yielding its trial events as they come."""
        threads = configure_tensorflow(self.cpus, self.gpus)
        self.checkpoint_root, self.spec = checkpoint_root, spec
        events: queue.Queue = queue.Queue()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                babysit_models(spec, data, events.put, run_started_at=run_started_at, deadline=deadline,
                               checkpoint_root=checkpoint_root, threads=threads)
            except BaseException as e:  # noqa: BLE001 - re-raised in the generator
                failure.append(e)
            finally:
                events.put(_DONE)

        # Training runs on its own thread so that each event leaves for the driver as it happens,
        # not when the generator is next resumed.
        worker = threading.Thread(target=work, name="babysit", daemon=True)
        worker.start()
        while True:
            item = events.get()
            if item is _DONE:
                break
            yield item
        worker.join()
        if failure:
            raise failure[0]

    def evaluate(self, trial_id: str, hp: dict[str, Any], data: TrialData, refit_epochs: int | None = None,
                 run_started_at: float | None = None) -> TestOutcome:
        """The selected model on the test split (the run's only look at it), exported; see
        :func:`~orchestrator.training.evaluate.evaluate_on_test`."""
        assert self.checkpoint_root is not None
        return evaluate_on_test(os.path.join(self.checkpoint_root, trial_id), hp, data, self.cpus, self.gpus,
                                spec=self.spec, refit_epochs=refit_epochs, run_started_at=run_started_at)
