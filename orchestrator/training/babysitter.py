"""The babysitter at work: one model at a time in one Ray actor, adjusted after every epoch.

:class:`BabysitWorker` is a Ray actor (the runner gives it the spec's per-trial resources: one
slot). :meth:`BabysitWorker.run` trains models one after the other until the deadline or
``babysit.max_models``; each model is ONE ``model.fit`` whose epoch callback feeds the curves so
far to the pure :func:`orchestrator.babysit.decide` and applies its decision: set the optimizer's
learning rate, restore saved weights (and the optimizer's initial state), or stop training. The
next model comes from :func:`orchestrator.babysit.next_config`.

Progress goes back to the driver as a stream of records (a Ray streaming generator): ``start``
(a model begins), ``epoch`` (one row for epochs.parquet), ``event`` (an intervention), ``end``
(how the model ended). The test split never reaches :meth:`run`; :meth:`evaluate` scores the
selected model's best weights once, in the same (already warm) process.
"""

from __future__ import annotations

import math
import os
import queue
import random
import threading
import time
from typing import Any, Iterator

from ..babysit import Decision, Intervention, ModelOutcome, Rules, blown_up, decide, next_config
from ..spec import SweepSpec
from .model import baseline_loss, task_metrics
from .trainable import (WEIGHTS_FILE, TrialData, _datasets, _finite, _trial_seed, configure_tensorflow,
                        evaluate_on_test, model_cache)

__all__ = ["BabysitWorker", "babysit_models"]

_DONE = object()


def _reset_optimizer(model: Any) -> None:
    """The optimizer's variables back to their initial values (moments polluted by a divergence)."""
    initial = getattr(getattr(model, "sweep_tunables", None), "optimizer_initial", None)
    if initial is None:
        return
    for var, value in zip(model.optimizer.variables, initial):
        var.assign(value)


def babysit_models(spec: SweepSpec, data: TrialData, emit: Any, *, run_started_at: float, deadline: float | None,
                   checkpoint_root: str, threads: int = 1) -> None:
    """Babysit models one after the other; ``emit(record)`` is called for every record (see module).

    Callable without Ray (``emit`` is any function). Stops starting models when the next one's
    first epoch would not end before ``deadline``, and stops a model mid-epoch at the deadline.
    """
    import keras

    rules = Rules.of(spec)
    metric, mode = spec.metric_name, spec.mode
    base = baseline_loss(data.task, data.n_classes, data.train.y)
    names = ["loss", *task_metrics(data.task)]
    rng = random.Random(spec.seed)
    history: list[ModelOutcome] = []
    cache = model_cache()
    first_epoch_s = 0.0  # the longest first epoch of a model so far (it includes tracing)
    for k in range(spec.babysit.max_models):
        if deadline is not None and time.time() + first_epoch_s >= deadline:
            break  # a new model's first epoch would end past the deadline
        hp, why = next_config(history, spec, rng)
        trial_id = f"babysit_{k:05d}"
        started = time.time()
        seed = _trial_seed(spec.seed, trial_id)
        emit({"kind": "start", "trial_id": trial_id, "config": hp, "at": started})
        if k:
            emit({"kind": "event", "trial_id": trial_id, "epoch": 0, "decision": "next_config",
                  "reason": history[-1].action, "detail": why, "old_value": None, "new_value": None,
                  "at": started})
        model, _hit = cache.get(hp, data.n_features, data.task, data.n_classes, seed)
        max_epochs = int(hp["epochs"])
        lr0 = float(hp["learning_rate"])
        model.optimizer.learning_rate.assign(lr0)
        initial_weights = model.get_weights()
        state: dict[str, Any] = {"lr": lr0, "best": math.nan, "best_epoch": 0, "snapshots": {0: initial_weights},
                                 "lr_at": {}, "stop": "", "budget": False, "curves": {"train": [], "val": [], "m": []},
                                 "interventions": []}

        class Sitter(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self.t0 = time.time()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                nonlocal first_epoch_s
                logs = dict(logs or {})
                now = time.time()
                n = epoch + 1
                row: dict[str, Any] = {"epoch": n, "learning_rate": state["lr"], "elapsed_s": now - run_started_at,
                                       "trial_elapsed_s": now - started, "epoch_s": now - self.t0}
                if n == 1:
                    first_epoch_s = max(first_epoch_s, now - started)
                for nm in names:
                    row[f"train_{nm}"] = float(logs.get(nm, math.nan))
                    row[f"val_{nm}"] = float(logs.get(f"val_{nm}", math.nan))
                c = state["curves"]
                c["train"].append(row["train_loss"])
                c["val"].append(row["val_loss"])
                value = row.get(metric, math.nan)
                c["m"].append(value)
                state["lr_at"][n] = state["lr"]
                diverged = blown_up(c["train"], c["val"], base, rules.explode_factor)[-1]
                if not diverged and _finite(value) and (math.isnan(state["best"]) or (
                        value < state["best"] if mode == "min" else value > state["best"])):
                    # Kept: the initial weights (0), the best epoch's (what selection and the test use,
                    # as tables.best ranks epochs) and the best before it (what a revert at this
                    # epoch goes back to).
                    snaps = state["snapshots"]
                    for old in [e for e in snaps if e not in (0, state["best_epoch"])]:
                        del snaps[old]
                    state["best"], state["best_epoch"] = float(value), n
                    snaps[n] = self.model.get_weights()
                row["diverged"] = bool(diverged)
                d: Decision = decide(c["train"], c["val"], c["m"], state["lr"], mode=mode, baseline_loss=base,
                                     rules=rules, interventions=state["interventions"])
                stop = ""
                if d.action != "continue":
                    state["interventions"].append(Intervention(n, d.action))
                    emit({"kind": "event", "trial_id": trial_id, "epoch": n, "decision": d.action,
                          "reason": d.reason, "detail": d.detail, "old_value": d.old_lr, "new_value": d.new_lr,
                          "at": now})
                    if d.revert_to_epoch is not None and (d.action == "revert_and_cut_lr" or diverged):
                        self.model.set_weights(state["snapshots"].get(d.revert_to_epoch, initial_weights))
                        _reset_optimizer(self.model)
                    if d.new_lr != d.old_lr:
                        state["lr"] = d.new_lr
                        self.model.optimizer.learning_rate.assign(d.new_lr)
                    if d.stops:
                        stop = d.action
                if not stop and state["budget"]:
                    stop = "budget"
                if not stop and n >= max_epochs:
                    stop = "max_epochs"
                if not stop and deadline is not None and now + row["epoch_s"] > deadline:
                    stop = "budget"  # the next epoch would end past the deadline
                if stop:
                    self.model.stop_training = True
                    state["stop"] = stop
                row["stop_reason"] = stop
                row["objective"] = float(value) if _finite(value) and not diverged else (
                    1e30 if mode == "min" else -1e30)
                if n == 1:
                    row["started_at"] = started
                emit({"kind": "epoch", "trial_id": trial_id, "row": row})

        callbacks = _callback_list([Sitter()], model, max_epochs, deadline, state)
        pipes = _datasets(data, int(hp["batch_size"]), seed, threads)
        if pipes is not None:
            model.fit(pipes[0], validation_data=pipes[1], epochs=max_epochs, verbose=0, shuffle=False,
                      callbacks=callbacks)
        else:
            keras.utils.set_random_seed(seed)
            model.fit(data.train.X, data.train.y, validation_data=(data.val.X, data.val.y), epochs=max_epochs,
                      batch_size=int(hp["batch_size"]), verbose=0, shuffle=True, callbacks=callbacks)
        # Keep the best epoch's weights (what selection and the test evaluation use).
        best_epoch = state["best_epoch"]
        if best_epoch:
            path = os.path.join(checkpoint_root, trial_id)
            os.makedirs(path, exist_ok=True)
            model.set_weights(state["snapshots"][best_epoch])
            model.save_weights(os.path.join(path, WEIGHTS_FILE))
        stop = state["stop"] or "max_epochs"
        c = state["curves"]
        status = ("diverged" if stop == "stop_diverged" and not best_epoch
                  else "completed" if stop == "max_epochs" else "stopped")
        emit({"kind": "end", "trial_id": trial_id, "status": status, "stop_reason": stop, "at": time.time(),
              "best_epoch": best_epoch})
        history.append(ModelOutcome(
            config=hp, action=stop, best_value=state["best"],
            lr_at_best=state["lr_at"].get(best_epoch),
            train_loss_at_best=c["train"][best_epoch - 1] if best_epoch else None,
            val_loss_at_best=c["val"][best_epoch - 1] if best_epoch else None))
        state["snapshots"].clear()
        if stop == "budget":
            break


def _callback_list(callbacks: list[Any], model: Any, epochs: int, deadline: float | None,
                   state: dict[str, Any]) -> Any:
    """A CallbackList whose batch hooks only check the deadline (no per-batch logs conversion)."""
    import keras

    class _List(keras.callbacks.CallbackList):
        def _configure_async_dispatch(self, callbacks: Any) -> None:
            self._async_train = self._async_test = self._async_predict = False

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            pass

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if deadline is not None and time.time() >= deadline:
                state["budget"] = True
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


class BabysitWorker:
    """The Ray actor of a babysitting run (one slot: the spec's per-trial CPUs and GPUs)."""

    def __init__(self, cpus: float = 1.0, gpus: float = 0.0) -> None:
        self.cpus, self.gpus = cpus, gpus
        self.checkpoint_root: str | None = None

    def ready(self) -> int:
        configure_tensorflow(self.cpus, self.gpus)
        return os.getpid()

    def run(self, spec: SweepSpec, data: TrialData, run_started_at: float, deadline: float | None,
            checkpoint_root: str) -> Iterator[dict[str, Any]]:
        """Babysit (see :func:`babysit_models`), yielding its records as they come."""
        threads = configure_tensorflow(self.cpus, self.gpus)
        self.checkpoint_root = checkpoint_root
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

    def evaluate(self, trial_id: str, hp: dict[str, Any], data: TrialData) -> dict[str, float]:
        """The selected model's best weights on the test split (the run's only look at it)."""
        assert self.checkpoint_root is not None
        return evaluate_on_test(os.path.join(self.checkpoint_root, trial_id), hp, data, self.cpus, self.gpus)
