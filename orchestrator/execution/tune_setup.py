"""The Ray Tune experiment of a parallel sweep: search algorithm, scheduler, trainable, callbacks, Tuner.

Everything here is assembled from the :class:`~orchestrator.spec.SweepSpec`; the parallel strategy
(:mod:`orchestrator.execution.strategies`) runs the result. Imports Ray only inside its functions.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Iterator

from ..decisions.space import max_epochs, optuna_space, to_param_space

if TYPE_CHECKING:
    from .. import data as data_mod
    from ..spec import SweepSpec
    from .context import RunContext

__all__ = ["search_alg", "scheduler", "trainable", "warm_evaluator", "kept_evaluator", "forget_evaluator", "tensorboard_callback", "tune_environment",
           "tune_storage", "new_tuner", "tune_state", "can_restore", "restore_tuner", "TENSORBOARD_SCALARS",
           "TENSORBOARD_PREFIXES"]


def search_alg(spec: SweepSpec, warm_start: list[dict[str, Any]] | None = None) -> Any:
    """The search algorithm, capped at ``resources.max_concurrent`` trials at once; ``warm_start``
    configurations (partial ones allowed) are tried first.

    The cap is set here for every algorithm: Tune's own ``TuneConfig.max_concurrent_trials``
    applies only to a Searcher, and a BasicVariantGenerator passed in ignores it (with a warning
    in Ray's log).
    """
    points = [dict(p) for p in warm_start] if warm_start else None
    cap = spec.resources.max_concurrent
    if spec.search.algorithm == "tpe":
        import optuna
        from ray.tune.search import ConcurrencyLimiter

        from .optuna_search import SweepOptunaSearch, tpe_sampler

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        # one objective or several (Optuna's multi-objective TPE), constraints as Optuna's
        constraints = dict(spec.constraints)
        searcher = SweepOptunaSearch(optuna_space(spec), [o.mode for o in spec.objectives],
                                     tpe_sampler(spec.search.seed, bool(constraints)), constraints,
                                     points_to_evaluate=points)
        return searcher if not cap else ConcurrencyLimiter(searcher, max_concurrent=cap)
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(random_state=spec.search.seed, points_to_evaluate=points, max_concurrent=cap or 0)


def scheduler(spec: SweepSpec) -> Any:
    """The Ray Tune scheduler the spec names (FIFO when none): ASHA (:class:`~.moasha.MultiObjectiveASHA`
    with several objectives, or with one and a ``within`` select rule: ``spec.rung_criteria``),
    Hyperband, median stopping, PBT."""
    from ray.tune import schedulers

    s = spec.scheduler
    limit = s.max_t or max_epochs(spec)
    if s.type == "pbt":
        from ray import tune

        from ..decisions.stopping import KeepInSpace, pbt_mutation_table

        mutations = {n: list(args[0]) if fn == "list" else getattr(tune, fn)(*args)
                     for n, (fn, args) in pbt_mutation_table(spec).items()}
        return schedulers.PopulationBasedTraining(
            time_attr="training_iteration", perturbation_interval=s.perturbation_interval,
            hyperparam_mutations=mutations, quantile_fraction=s.quantile_fraction,
            resample_probability=s.resample_probability, custom_explore_fn=KeepInSpace.of(spec))
    criteria = spec.rung_criteria
    if s.type == "asha" and len(criteria) > 1:  # several objectives, or one with a `within` rule
        from .moasha import MultiObjectiveASHA

        return MultiObjectiveASHA([mode for _, _, mode in criteria], max_t=limit, grace_period=s.grace_period,
                                  reduction_factor=s.reduction_factor, brackets=s.brackets, seed=spec.search.seed,
                                  columns=[column for _, column, _ in criteria])
    if s.type == "asha":
        return schedulers.ASHAScheduler(time_attr="training_iteration", max_t=limit,
                                        grace_period=s.grace_period, reduction_factor=s.reduction_factor,
                                        brackets=s.brackets)
    if s.type == "hyperband":
        return schedulers.HyperBandScheduler(time_attr="training_iteration", max_t=limit,
                                             reduction_factor=s.reduction_factor)
    if s.type == "median":
        return schedulers.MedianStoppingRule(time_attr="training_iteration", grace_period=s.grace_period,
                                             min_samples_required=s.min_samples_required)
    return schedulers.FIFOScheduler()


def trainable_name(run_id: str) -> str:
    """The name a run's trainable is registered under in Ray Tune: its own, so that two sweeps of
    one driver (the warm runtime's host runs each in a thread) never share one. Ray Tune keeps a
    job's trainables, and ``with_parameters``' data, in registries keyed by the function's name and
    text: with one ``train_trial`` for both, a sweep started a second after another trained on the
    other's data (a digits sweep on a regression table, ``val_accuracy=nan``). Derived from the
    run id, it is the same again when the run is resumed (``Tuner.restore`` requires that)."""
    return "train_" + re.sub(r"[^A-Za-z0-9_]", "_", run_id)


def trainable(spec: SweepSpec, prepared: data_mod.Prepared, started: float, deadline: float | None = None,
              name: str = "train_trial") -> Any:
    """The trainable as Tune runs it: data (without the test split) and resources bound, a function
    of this sweep's own named ``name`` (see :func:`trainable_name`)."""
    from ray import tune

    from ..training import TrialContext, TrialData, load_plan, train_trial

    # $SWEEP_FAULT_INJECTION (tests only) is read here, on the driver, and travels with the context.
    ctx = TrialContext(spec=spec, run_started_at=started, faults=load_plan(), deadline=deadline)

    def run(config: dict[str, Any], data: Any, ctx: Any) -> Any:
        return train_trial(config, data=data, ctx=ctx)

    run.__name__ = run.__qualname__ = name
    # Train and validation arrays only (never the test split), in a class workers unpickle without
    # importing pandas or scikit-learn.
    bound = tune.with_parameters(run, data=TrialData.of(prepared.without_test()), ctx=ctx)
    return tune.with_resources(bound, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})


# The evaluator a run of this process started, kept for its later runs on the same Ray (a
# notebook's next orchestrator.run, a test session, the warm runtime's host): (Ray node, job) -> actor.
_KEPT_EVALUATOR: dict[tuple[str, str], Any] = {}
# Held from the look-up to the start of an evaluator: two sweeps of one process (the runtime's
# host runs each in a thread) that reach it in the same instant start one, not one each.
_EVALUATOR_LOCK = threading.Lock()


def _ray_key() -> tuple[str, str]:
    import ray

    context = ray.get_runtime_context()
    return context.get_node_id(), context.get_job_id()


def kept_evaluator() -> Any:
    """The warm evaluator an earlier run of this process left on this Ray (None: none)."""
    return _KEPT_EVALUATOR.get(_ray_key())


def forget_evaluator(actor: Any) -> None:
    """Stop reusing ``actor`` (it died: the next run starts another)."""
    for key, kept in list(_KEPT_EVALUATOR.items()):
        if kept is actor:
            del _KEPT_EVALUATOR[key]


def warm_evaluator(trials: int = 0, enabled: bool = True) -> Any:
    """A Tune callback that starts the test evaluation's process before the sweep ends.

    The selected trial is evaluated on the test split after the sweep, in a Ray worker that must
    first import TensorFlow (5-12 s at the end of every run on 2 cores). This starts that worker
    (a Ray actor asking for no CPU, so no trial waits for it) once the last of the ``trials`` has
    started and an epoch was reported (so it neither delays the first epoch nor competes with the
    sweep longer than its last trials); by the end it is warm (its ``actor``). The actor outlives
    the run, for the process's next runs on the same Ray (:func:`kept_evaluator`: it holds no CPU
    or GPU, and user code it builds is imported afresh when its file changed); it ends with the
    driver (the CLI's process, a notebook's kernel). A copy Tune restores from its experiment state
    (``sweep resume``) starts nothing.
    """
    import ray
    from ray import tune

    from ..training import Evaluator

    class WarmEvaluator(tune.Callback):
        def __init__(self) -> None:
            self.actor: Any = kept_evaluator() if enabled else None
            self.started = 0
            self.reported = False

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.started += 1
            self._maybe_start()

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            self.reported = True
            self._maybe_start()

        def _maybe_start(self) -> None:
            if enabled and self.actor is None and self.reported and self.started >= trials:
                with _EVALUATOR_LOCK:
                    self.actor = kept_evaluator()  # another run of this process (the runtime's host) may have started one
                    if self.actor is None:
                        self.actor = ray.remote(num_cpus=0, num_gpus=0)(Evaluator).remote()
                        self.actor.ready.remote()
                        _KEPT_EVALUATOR[_ray_key()] = self.actor

        def __reduce__(self) -> Any:
            return (warm_evaluator, (trials, False))

    return WarmEvaluator()


# Per-epoch scalars written for TensorBoard with ``--tensorboard``: the curves, not placement data.
TENSORBOARD_SCALARS = ("learning_rate", "epoch_s", "objective")
TENSORBOARD_PREFIXES = ("train_", "val_")


def tensorboard_callback() -> Any:
    """Ray Tune's TensorBoard logger limited to each epoch's curves (``sweep run --tensorboard``).

    Ray's ``TBXLoggerCallback`` writes one event file per trial into the trial's directory under
    ``RUN_DIR/tune`` (step = epoch) and the trial's hyperparameters for TensorBoard's HParams tab;
    this subclass passes it only the training and validation metrics, the learning rate and the
    epoch time, so TensorBoard's scalar list is the curves.
    """
    from ray.tune.logger import TBXLoggerCallback

    class EpochScalars(TBXLoggerCallback):
        def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
            keep = {k: v for k, v in result.items() if k in TENSORBOARD_SCALARS or k.startswith(TENSORBOARD_PREFIXES)
                    or k in ("training_iteration", "config")}
            super().log_trial_result(iteration, trial, keep)

    return EpochScalars()


@contextlib.contextmanager
def tune_environment(spec: SweepSpec, deadline: float | None) -> Iterator[None]:
    """The environment Ray Tune reads while it runs a sweep with a time budget; restored after.

    - ``TUNE_DISABLE_STRICT_METRIC_CHECKING``: a trial Tune started just before the deadline
      returns without a report.
    - ``TUNE_MAX_PENDING_TRIALS_PG``: the budget, not num_samples, ends the search: queue few
      trials ahead (Tune's default of 200 pending trials creates their directories up front,
      seconds of the budget).
    """
    values: dict[str, str] = {}
    if deadline is not None:
        values = {"TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
                  "TUNE_MAX_PENDING_TRIALS_PG": str(max(2, int(spec.resources.max_concurrent or 2)))}
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def tune_storage(ctx: RunContext) -> dict[str, Any]:
    """Where Ray Tune keeps checkpoints and its experiment state: ``RUN_DIR/tune``, or at the URI."""
    if ctx.mirror is None:
        return {"storage_path": str(ctx.run_dir)}
    return {"storage_path": ctx.mirror.remote.path, "storage_filesystem": ctx.mirror.remote.fs}


def new_tuner(ctx: RunContext, callbacks: list[Any], stopper: Any, warm_start: list[dict[str, Any]] | None,
              budget_s: float | None) -> Any:
    """The Tuner of a new parallel sweep (``budget_s``: Tune's ``time_budget_s``, counted from the
    run's start)."""
    from ray import tune

    spec = ctx.spec
    time_budget = None if budget_s is None else max(1.0, budget_s - (time.time() - ctx.started))
    return tune.Tuner(
        trainable(spec, ctx.prepared, ctx.started, ctx.deadline, name=trainable_name(ctx.info["run_id"])),
        param_space=to_param_space(spec) if spec.search.algorithm != "tpe" else {},
        tune_config=tune.TuneConfig(
            metric="objective", mode=spec.mode, search_alg=search_alg(spec, warm_start),
            scheduler=scheduler(spec), num_samples=spec.search.resolved_num_samples,
            reuse_actors=True,
            time_budget_s=time_budget,
        ),
        run_config=tune.RunConfig(
            name="tune", verbose=0,
            # Ray Tune writes checkpoints and its experiment state to the location itself
            **tune_storage(ctx),
            callbacks=callbacks,
            stop=stopper,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            # Every checkpoint is kept while the sweep runs (the older ones are pruned when it
            # ends, see strategies.prune_checkpoints): Ray Tune deletes a trial's older checkpoint
            # as soon as a newer one is saved but writes its experiment snapshot later, in the
            # background, so a driver killed in between would leave a snapshot naming a deleted
            # checkpoint and `sweep resume` could not restore that trial. PBT also copies a
            # donor's checkpoint after the donor has moved on.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None,
                                                    checkpoint_score_attribute="objective",
                                                    checkpoint_score_order=spec.mode),
        ),
    )


def tune_state(ctx: RunContext) -> dict[str, Any]:
    """Where a run's Ray Tune experiment state is: beside the journal, or at the URI itself."""
    if ctx.mirror is None:
        return {"path": str(ctx.run_dir / "tune")}
    return {"path": (ctx.mirror.remote / "tune").path, "storage_filesystem": ctx.mirror.remote.fs}


def can_restore(ctx: RunContext) -> bool:
    """True when the run holds a Ray Tune experiment state that :func:`restore_tuner` can read."""
    from ray import tune

    return bool(tune.Tuner.can_restore(**tune_state(ctx)))


def restore_tuner(ctx: RunContext) -> Any:
    """The Tuner of an interrupted sweep, restored from its experiment state (``sweep resume``):
    finished trials stay finished, unfinished and errored ones continue from their checkpoints."""
    from ray import tune

    try:
        return tune.Tuner.restore(**tune_state(ctx), resume_unfinished=True, resume_errored=True,
                                  trainable=trainable(ctx.spec, ctx.prepared, ctx.started, name=trainable_name(ctx.info["run_id"])))
    except ValueError as e:  # a run from before trainables had their run's name: its one name
        if "Invalid `trainable`" not in str(e):
            raise
        return tune.Tuner.restore(**tune_state(ctx), resume_unfinished=True, resume_errored=True,
                                  trainable=trainable(ctx.spec, ctx.prepared, ctx.started))
