"""The babysitter at work: one model at a time in one Ray actor, adjusted after every epoch.

:class:`BabysitWorker` is a Ray actor (the runner gives it the spec's per-trial resources: one
slot). :meth:`BabysitWorker.run` trains models one after the other until the deadline or
``babysit.max_models``; each model is ONE ``model.fit`` whose epoch callback feeds the curves so
far to the pure :func:`orchestrator.decisions.babysit_rules.decide` and applies its decision: set the optimizer's
learning rate, restore saved weights (and the optimizer's initial state), or stop training. The
next model comes from :func:`orchestrator.decisions.babysit_rules.next_config`. What each epoch produces (row,
divergence, objective, stop reason) is :class:`~orchestrator.training.epoch.EpochPath`'s, shared
with the parallel trainable.

Progress goes back to the driver as a stream of records (a Ray streaming generator): ``start``
(a model begins), ``epoch`` (one row for epochs.parquet), ``event`` (an intervention), ``end``
(how the model ended). The test split never reaches :meth:`run`; :meth:`evaluate` scores the
selected model's best weights once, in the same (already warm) process.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from typing import Any, Callable, Iterator

from ..decisions.babysit_rules import Decision, Intervention, ModelOutcome, Rules, decide, next_config
from ..internals import keras_callback_list
from ..spec import SweepSpec
from .epoch import Divergence, Epoch, EpochPath, baseline_loss
from .evaluate import TestOutcome, evaluate_on_test
from .inputs import DataInfo, TrialData, fit, trial_seed
from .model import family_of
from .optimizers import set_learning_rate
from .reporting import save_weights
from .worker import configure_tensorflow, epoch_hooks, model_cache

__all__ = ["BabysitWorker", "babysit_models"]

_DONE = object()

Emit = Callable[[dict[str, Any]], None]


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


class _SatModel:
    """One babysat model: its epochs, its kept weights and the decider's view of its curves."""

    def __init__(self, sitter: _Sitter, trial_id: str, hp: dict[str, Any], started: float) -> None:
        import keras

        self.sitter, self.trial_id, self.hp, self.started = sitter, trial_id, hp, started
        spec = sitter.spec
        self.seed = trial_seed(spec.seed, trial_id)
        self.model, _hit = sitter.cache.get(hp, DataInfo.of(sitter.data), seed=self.seed, family=family_of(spec))
        self.max_epochs = int(hp["epochs"])
        self.lr = float(hp["learning_rate"])
        set_learning_rate(self.model, self.lr)
        # what a revert goes back to: the weights kept below, and the optimizer as it started
        self.initial_weights = self.model.get_weights()
        self.optimizer_start = [keras.ops.convert_to_numpy(v) for v in self.model.optimizer.variables]
        # Kept: the initial weights (0), the best epoch's (what selection and the test use, as
        # tables.best ranks epochs) and the best before it (what a revert at this epoch goes back to).
        self.snapshots: dict[int, Any] = {0: self.initial_weights}
        self.path = EpochPath(metric=spec.metric_name, mode=spec.mode, task=sitter.data.task,
                              max_epochs=self.max_epochs,
                              divergence=Divergence.babysitter(sitter.rules.explode_factor, sitter.base),
                              run_started_at=sitter.run_started_at, started=started, deadline=sitter.deadline)
        self.metric: list[float] = []
        self.lr_at: dict[int, float] = {}
        self.interventions: list[Intervention] = []
        self.stop = ""

    def on_epoch_begin(self, model: Any, epoch: int) -> None:
        self.path.begin(time.time())

    def on_epoch_end(self, model: Any, epoch: int, logs: Any) -> None:
        now = time.time()
        best_before = self.path.best_epoch
        e = self.path.end(epoch + 1, logs, self.lr, now)
        if e.number == 1:
            self.sitter.first_epoch_s = max(self.sitter.first_epoch_s, now - self.started)
        self.metric.append(e.value)
        self.lr_at[e.number] = self.lr
        if e.improved:
            for old in [k for k in self.snapshots if k not in (0, best_before)]:
                del self.snapshots[old]
            self.snapshots[e.number] = model.get_weights()
        d = decide(self.path.divergence.train, self.path.divergence.val, self.metric, self.lr,
                   mode=self.sitter.spec.mode, baseline_loss=self.sitter.base, rules=self.sitter.rules,
                   interventions=self.interventions)
        stop = self._apply(model, e, d, now)
        if self.path.conclude(e, decided=stop):
            model.stop_training = True
            self.stop = e.row["stop_reason"]
        self.sitter.emit({"kind": "epoch", "trial_id": self.trial_id, "row": e.row})

    def _apply(self, model: Any, e: Epoch, d: Decision, now: float) -> str:
        """Apply the decider's decision to the model; returns the stop it decided ("" for none)."""
        if d.action == "continue":
            return ""
        self.interventions.append(Intervention(e.number, d.action))
        self.sitter.emit({"kind": "event", "trial_id": self.trial_id, "epoch": e.number, "decision": d.action,
                          "reason": d.reason, "detail": d.detail, "old_value": d.old_lr, "new_value": d.new_lr,
                          "at": now})
        if d.revert_to_epoch is not None and (d.action == "revert_and_cut_lr" or e.diverged):
            model.set_weights(self.snapshots.get(d.revert_to_epoch, self.initial_weights))
            for var, value in zip(model.optimizer.variables, self.optimizer_start):
                var.assign(value)  # the moments a divergence polluted
        if d.new_lr != d.old_lr:
            self.lr = d.new_lr
            set_learning_rate(model, d.new_lr)  # not when a compiled schedule owns it
        return d.action if d.stops else ""

    def on_train_batch_end(self) -> None:
        if self.path.batch_past_deadline():
            self.model.stop_training = True

    def train(self) -> ModelOutcome:
        """Fit the model under the babysitter, keep its best weights, emit its end; how it went."""
        sitter = self.sitter
        callbacks = keras_callback_list([epoch_hooks(self.on_epoch_begin, self.on_epoch_end)], self.model,
                                        self.max_epochs, self.on_train_batch_end)
        fit(self.model, sitter.data, batch_size=int(self.hp["batch_size"]), seed=self.seed, threads=sitter.threads,
            epochs=self.max_epochs, callbacks=callbacks)
        best_epoch = self.path.best_epoch
        if best_epoch:  # keep the best epoch's weights (what selection and the test evaluation use)
            self.model.set_weights(self.snapshots[best_epoch])
            save_weights(self.model, os.path.join(sitter.checkpoint_root, self.trial_id))
        stop = self.stop or "max_epochs"
        status = ("diverged" if stop == "stop_diverged" and not best_epoch
                  else "completed" if stop == "max_epochs" else "stopped")
        sitter.emit({"kind": "end", "trial_id": self.trial_id, "status": status, "stop_reason": stop,
                     "at": time.time(), "best_epoch": best_epoch})
        train, val = self.path.divergence.train, self.path.divergence.val
        self.snapshots.clear()
        return ModelOutcome(config=self.hp, action=stop, best_value=self.path.best,
                            lr_at_best=self.lr_at.get(best_epoch),
                            train_loss_at_best=train[best_epoch - 1] if best_epoch else None,
                            val_loss_at_best=val[best_epoch - 1] if best_epoch else None)


def babysit_models(spec: SweepSpec, data: TrialData, emit: Emit, *, run_started_at: float, deadline: float | None,
                   checkpoint_root: str, threads: int = 1) -> None:
    """Babysit models one after the other; ``emit(record)`` is called for every record (see module).

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
        emit({"kind": "start", "trial_id": trial_id, "config": hp, "at": started})
        if k:
            emit({"kind": "event", "trial_id": trial_id, "epoch": 0, "decision": "next_config",
                  "reason": history[-1].action, "detail": why, "old_value": None, "new_value": None,
                  "at": started})
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
            checkpoint_root: str) -> Iterator[dict[str, Any]]:
        """Babysit (see :func:`babysit_models`), yielding its records as they come."""
        threads = configure_tensorflow(self.cpus, self.gpus)
        self.checkpoint_root, self.spec = checkpoint_root, spec
        records: queue.Queue = queue.Queue()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                babysit_models(spec, data, records.put, run_started_at=run_started_at, deadline=deadline,
                               checkpoint_root=checkpoint_root, threads=threads)
            except BaseException as e:  # noqa: BLE001 - re-raised in the generator
                failure.append(e)
            finally:
                records.put(_DONE)

        worker = threading.Thread(target=work, name="babysit", daemon=True)
        worker.start()
        while True:
            item = records.get()
            if item is _DONE:
                break
            yield item
        worker.join()
        if failure:
            raise failure[0]

    def evaluate(self, trial_id: str, hp: dict[str, Any], data: TrialData,
                 refit_epochs: int | None = None) -> TestOutcome:
        """The selected model on the test split (the run's only look at it), exported; see
        :func:`~orchestrator.training.evaluate.evaluate_on_test`."""
        assert self.checkpoint_root is not None
        return evaluate_on_test(os.path.join(self.checkpoint_root, trial_id), hp, data, self.cpus, self.gpus,
                                spec=self.spec, refit_epochs=refit_epochs)
