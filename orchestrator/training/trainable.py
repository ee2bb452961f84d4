"""The Ray Tune trainable: one trial = one ``model.fit`` on the training skeleton, reporting every epoch.

Runs inside a Ray worker (:mod:`orchestrator.training.worker` imports and confines TensorFlow
there). The test split never reaches this module: the runner hands trials a
:class:`~orchestrator.training.inputs.TrialData` without it.

What a trial costs besides its epochs is kept small:

- Models come from the worker's :class:`~orchestrator.training.model.ModelCache`: a trial whose
  graph (layers, optimizer) a previous trial in the worker already traced reuses that model, reset
  from its own seed, and skips tracing. Fresh and cached models go through the same seeded reset,
  so a trial trains identically either way.
- The input pipeline is a plain ``tf.data`` shuffle-and-batch built per trial (cheap to build, no
  per-fit function tracing), seeded from the trial seed, confined to the trial's threads.
- Reporting does not block training: each epoch's row (and checkpoint, written from a snapshot of
  the weights) goes to Ray Tune from a helper thread while the next epoch trains
  (:class:`~orchestrator.training.reporting.AsyncReporter`). Training runs at most one epoch ahead
  of the driver's decision, and a stop (a scheduler, a stopper) interrupts it at the next batch,
  so a stopped trial wastes at most the driver's round trip, never an epoch.

The model, its epochs (row, divergence, objective, stop reason), the learning-rate schedule and
the fit are the skeleton's (:class:`~orchestrator.training.loop.EpochLoop`), shared with the
babysitter and the refit; a trial adds its resume, reporting, checkpoints, faults and EarlyStopping.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from ..decisions.stopping import checkpoint_every
from .. import stats_file
from ..processes import rss_mb, started_at
from ..decisions.space import resolve_config
from ..spec import SweepSpec
from .epoch import Divergence, Epoch, baseline_loss, json_float
from .inputs import TrialData, trial_seed
from .loop import EpochLoop
from .model import ModelCache
from .reporting import AsyncReporter, TrialStopped, checkpoint_due, checkpoint_saver, restore_checkpoint
from .worker import configure_tensorflow, model_cache

if TYPE_CHECKING:
    from ..data import Prepared

__all__ = ["TrialContext", "train_trial", "run_trial", "STEPS_PER_EXECUTION"]

# Training steps per call into the traced graph. 1 is Keras' default; more calls Python less often.
STEPS_PER_EXECUTION = int(os.environ.get("SWEEP_STEPS_PER_EXECUTION", "8"))


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a run shares (sent once through Ray's object store)."""

    spec: SweepSpec
    run_started_at: float
    faults: list[dict[str, Any]] | None = None  # test-only fault plan (see training/faults.py)
    deadline: float | None = None  # a time budget's end (``sweep compare``): trials stop training there


class _Trial(EpochLoop):
    """One call of :func:`run_trial`: the skeleton's model and epochs, plus what a parallel trial
    adds: a resume from its checkpoint, reporting (and checkpoints), injected faults, EarlyStopping."""

    def __init__(self, hp: dict[str, Any], data: "TrialData | Prepared", spec: SweepSpec, seed: int, *,
                 report: Callable[[dict[str, Any], str | None], None], threads: int, restore_dir: str | None,
                 started: float, run_started_at: float, placement: dict[str, Any] | None, cache: ModelCache,
                 faults: list[Any] | None, deadline: float | None) -> None:
        t_model = time.time()
        super().__init__(hp, data, spec, seed, cache=cache, started=started, run_started_at=run_started_at,
                         deadline=deadline, threads=threads, steps_per_execution=STEPS_PER_EXECUTION)
        self.faults = faults
        # Resuming (a retry, a Hyperband pause, a PBT exploit, `sweep resume`): continue from the
        # checkpoint's weights and epoch; the config (and so the learning rate) may be new.
        state: dict[str, Any] = {"epoch": 0, "best": None, "first_loss": None}
        if restore_dir is not None:
            state.update(restore_checkpoint(self.model, restore_dir))
        self.initial_epoch = int(state["epoch"])
        self.every = checkpoint_every(spec)
        self.epoch_path(Divergence.parallel(spec.divergence.explode_factor, state["first_loss"]),
                        baseline_column=baseline_loss(data.task, data.n_classes, data.train.y),
                        best=math.nan if state["best"] is None else float(state["best"]),
                        first_epoch=self.initial_epoch + 1, first_row=placement)
        self.reporter = AsyncReporter(report)
        self.info: dict[str, Any] = {"cache_hit": self.cache_hit, "epochs": 0, "started": started,
                                     "model_s": time.time() - t_model, "costs_s": self.costs_s}

    def before_epoch(self, model: Any, epoch: int) -> None:
        for fault in self.faults or ():
            self.reporter.wait()  # the previous epoch's report (and checkpoint) reached the driver
            fault.at_epoch_begin(epoch + 1)

    def after_epoch(self, model: Any, e: Epoch) -> None:
        # EarlyStopping runs before this callback: a stop it asked for is "patience"
        reason = self.path.conclude(e, decided="diverged" if e.diverged else "", callback_stopped=model.stop_training)
        if reason in ("diverged", "budget"):
            model.stop_training = True
        if e.number == self.path.first_epoch:
            self.info["first_epoch_end"] = e.at
            self.info["first_epoch_s"] = e.row["epoch_s"]
        save = None
        if checkpoint_due(e.number, self.max_epochs, self.every, improved=e.improved, diverged=e.diverged):
            progress = {"epoch": e.number, "best": json_float(self.path.best),
                        "first_loss": self.path.divergence.first_loss}
            save = checkpoint_saver(model, progress)
        self.reporter.submit(e.row, save)
        self.info["epochs"] += 1

    def after_batch(self) -> None:
        reporter = self.reporter
        if reporter.stopped or reporter.error is not None:
            reporter.check()

    def callbacks(self) -> list[Any]:
        es = self.spec.early_stopping
        if es is None:
            return []
        import keras

        return [keras.callbacks.EarlyStopping(
            monitor=es.monitor, patience=es.patience, min_delta=es.min_delta,
            restore_best_weights=es.restore_best_weights, mode="max" if es.monitor.endswith("accuracy") else "min")]

    def train(self) -> dict[str, Any]:
        """Fit the remaining epochs, report the last one, and return the trial's overhead figures.

        A model that broke a cost constraint is not trained: its one row (epoch 0, ``infeasible``)
        is reported instead, so that the searcher learns from it and the tables record its costs.
        """
        try:
            if self.broken:
                self.info["infeasible"] = True
                self.reporter.submit(self.infeasible_row())
            else:
                self.fit()
            self.reporter.close()
        finally:
            self.reporter.shutdown()
            self.info["report_wait_s"] = self.reporter.blocked_s
            if self.setup_s is not None:
                self.info["setup_s"] = self.setup_s
            _trial_stats(self.info)
        return self.info


def run_trial(hp: dict[str, Any], data: "TrialData | Prepared", spec: SweepSpec, seed: int, *,
              report: Callable[[dict[str, Any], str | None], None], threads: int = 1,
              restore_dir: str | None = None, started: float | None = None,
              run_started_at: float | None = None, placement: dict[str, Any] | None = None,
              cache: ModelCache | None = None, faults: list[Any] | None = None,
              deadline: float | None = None) -> dict[str, Any]:
    """Train one configuration, reporting every epoch through ``report(row, checkpoint_dir)``.

    The body of :func:`train_trial`, callable without Ray (``report`` is then any function; it may
    raise ``SystemExit`` to end the trial, as Ray Tune's does). Each row carries the losses and task
    metrics (training and validation, and any other metric the model logs), the learning rate,
    timings, ``train_seconds``, the model's costs (measured before the first epoch:
    :mod:`orchestrator.training.costs`) and ``objective`` (the spec metric, made finite so
    schedulers can rank a diverged trial last), ``objective_1``/``objective_2`` for further
    objectives; ``checkpoint_dir`` holds the weights whenever the validation metric improved (or a
    regular checkpoint is due), so the final evaluation uses the best epoch. A model that breaks a
    cost constraint is never trained: one row, epoch 0, ``infeasible`` True, is all it reports.

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

    Raises:
        TrialStopped: the driver ended the trial while it trained ahead.
    """
    started = time.time() if started is None else started
    return _Trial(hp, data, spec, seed, report=report, threads=threads, restore_dir=restore_dir, started=started,
                  run_started_at=started if run_started_at is None else run_started_at, placement=placement,
                  cache=model_cache() if cache is None else cache, faults=faults, deadline=deadline).train()


_STATS: dict[str, Any] = {}
_IMPORTED_AT = time.time()  # in a worker: when its trial actor had imported this module


def _trial_stats(info: dict[str, Any]) -> None:
    """Append the trial's overhead figures to ``$SWEEP_TRIAL_STATS`` (a JSON-lines file), if set.

    A benchmarking aid (``benchmarks/placement_bench.py``): per trial, whether its model came from
    the cache, the seconds from the trial's start to its first epoch, the time the training thread
    waited for the driver, and the like.
    """
    stats = {**_STATS, **info, "pid": os.getpid(), "at": time.time()}
    _STATS.clear()
    if not os.environ.get(stats_file.ENV):
        return
    rss = rss_mb()
    if rss is not None:
        stats["rss_mb"] = round(rss, 1)
    stats_file.append(stats)


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
    _STATS.update(trial_id=trial_id, tf_preloaded=tf_imported, tf_ready_s=time.time() - started,
                  worker_born_at=started_at(), worker_imported_at=_IMPORTED_AT, train_called_at=started)

    def report(row: dict[str, Any], checkpoint_dir: str | None) -> None:
        if checkpoint_dir is None:
            tune.report(row)
        else:
            tune.report(row, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir))

    faults = None
    if ctx.faults:
        from .faults import faults_for

        faults = faults_for(ctx.faults, trial_id, int(hp["epochs"]))
    options: dict[str, Any] = dict(report=report, threads=threads, started=started, run_started_at=ctx.run_started_at,
                                   placement=_placement(threads), faults=faults, deadline=ctx.deadline)
    restored = tune.get_checkpoint()
    try:
        if restored is not None:
            with restored.as_directory() as d:
                run_trial(hp, data, spec, trial_seed(spec.seed, trial_id, hp), restore_dir=d, **options)
        else:
            run_trial(hp, data, spec, trial_seed(spec.seed, trial_id, hp), **options)
    except TrialStopped:
        # Ray Tune ended the trial while it trained ahead: end the training thread the way its
        # own report does (SystemExit(0) is a clean end for Ray's runner thread).
        raise SystemExit(0) from None


def _placement(threads: int) -> dict[str, Any]:
    """Where the trial runs (node, process, GPUs, threads): columns of its first epoch's row."""
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
