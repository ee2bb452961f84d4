"""Strategies: how a run spends its compute, behind one interface, and the table of them.

A strategy (:class:`orchestrator.strategy.Strategy`) runs the search and reports what its trials
do as trial events into the run's sink (:mod:`orchestrator.execution.events`); then
:func:`~orchestrator.execution.finalize.finalize` selects on validation and asks the strategy to
evaluate the selected trial on the test split, once. Two strategies exist, in :data:`STRATEGIES`:

- :class:`ParallelStrategy` (``strategy: parallel``, here): many trials at once through Ray Tune;
  a Tune callback (:class:`~orchestrator.execution.tune_events.TuneEvents`) translates Tune's
  callbacks into events.
- :class:`~orchestrator.babysit.BabysitStrategy` (``strategy: babysit``, in the babysitter's own
  package): one Ray actor trains the models one at a time and streams back the same events.

A third is one class and one more entry in :data:`STRATEGIES`; the sink and finalize do not change.
Imports Ray only inside the methods that run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Any, Iterator

from ..babysit import BabysitStrategy
from ..internals import patched, tune_interrupt, tune_interrupt_in_force
from ..decisions.space import count_trials
from ..strategy import RunContext, RunOptions, Strategy
from ..stats_file import stamp
from .ray_start import embedded_here

__all__ = ["Strategy", "RunOptions", "STRATEGIES", "make_strategy", "ParallelStrategy", "BabysitStrategy",
           "prune_checkpoints", "best_checkpoint"]


@contextlib.contextmanager
def ctrl_c_sets(event: threading.Event | None) -> Iterator[None]:
    """While the search runs in the main thread: the first Ctrl-C sets ``event`` (the search ends,
    its trials left unfinished, and the run is marked incomplete), a second one interrupts at once.

    Tune's own handler sets an event of its own, which the run cannot see, and stays installed
    after the search, so that a Ctrl-C during the test evaluation did nothing: without this, an
    interrupted search went on to selection and the test split and was marked complete.
    """
    if event is None or threading.current_thread() is not threading.main_thread() or not tune_interrupt_in_force():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def first(signum: int, frame: Any) -> None:
        event.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ParallelStrategy(Strategy):
    """Many trials at once through Ray Tune (schedulers, stoppers, PBT, time budget)."""

    name = "parallel"
    cannot_resume = None

    def __init__(self, options: RunOptions) -> None:
        super().__init__(options)
        self.grid: Any = None
        self.evaluator: Any = None

    def run(self, ctx: RunContext) -> None:
        import ray

        from . import tune_setup as setup
        from .tune_events import attach

        # Ctrl-C, or a client gone from the warm runtime, interrupts the search through Tune's own
        # interrupt event (the reach tune_interrupt_event; the runtime's host holds it for its life):
        # Tune saves the experiment with its unfinished trials unfinished, for `sweep resume`.
        interrupt = () if tune_interrupt_in_force() else ("tune_interrupt_event",)
        with patched(*interrupt), attach(ctx.sink):  # a restored TuneEvents finds this run's sink here
            tuner = setup.restore_tuner(ctx) if self.options.restore else self._new_tuner(ctx)
            ctx.view.set_capacity(ctx.spec.resources.model_dump(), ray.cluster_resources())
            ctx.view.start()
            ctx.phase = "the search"
            # An embedded Ray started in this process (by this sweep, by `sweep compare` before its
            # runs, or by a test session): its prestarted workers can take Tune's trial actors.
            prestarted = ("tune_actors_without_runtime_env",) if embedded_here() else ()
            try:
                with setup.tune_environment(ctx.spec, ctx.deadline), patched(*prestarted), \
                        tune_interrupt(self.options.cancel), ctrl_c_sets(self.options.cancel):
                    stamp("search_start")
                    self.grid = tuner.fit()
            except Exception:
                if ctx.tables.search_ended_at is not None:  # Tune's reading of its results failed
                    ctx.phase = "the end of the search"
                raise
            finally:
                ctx.view.stop()
        ctx.phase = "the end of the search"
        self.after_search(ctx)

    def _new_tuner(self, ctx: RunContext) -> Any:
        from . import tune_setup as setup
        from .stoppers import SweepStopper
        from .tune_events import TuneEvents

        spec, budget_s = ctx.spec, self.options.budget_s
        stopper = None
        # A client gone from the warm runtime interrupts the search (tune_interrupt, in run); only
        # where that reach is not in force does the stopper end it, its trials then recorded as stopped.
        cancel = None if tune_interrupt_in_force() else self.options.cancel
        if (spec.stoppers.plateau or spec.stoppers.experiment_plateau or ctx.deadline is not None or cancel
                or spec.scheduler.type == "pbt"):  # PBT: a trial's last report is kept from the scheduler
            # Under a time budget it also ends the experiment at the deadline (from the run's
            # start, not from when Tune's own time_budget_s clock starts), so no trial starts after it.
            stopper = SweepStopper(spec, ctx.deadline, cancel)
        # Under a time budget the last trials may never start: warm the evaluator after the first report.
        self.evaluator = setup.warm_evaluator(count_trials(spec) if budget_s is None else 1)
        callbacks = [TuneEvents(ctx.sink, spec, stopper), self.evaluator]
        if self.options.tensorboard:
            callbacks.append(setup.tensorboard_callback())
        return setup.new_tuner(ctx, callbacks, stopper, self.options.warm_start, budget_s)

    def after_search(self, ctx: RunContext) -> None:
        """Right after ``tuner.fit``: when the search ended, and which node is which."""
        import ray

        # The search ended when Tune's experiment did; tuner.fit then builds its ResultGrid from every
        # trial's files (recorded apart as results_read_s).
        fit_returned = time.time()
        ctx.info["search_ended_at"] = ctx.tables.search_ended_at or fit_returned
        ctx.info["results_read_s"] = fit_returned - ctx.info["search_ended_at"]
        ctx.tables.node_ips = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}

    def evaluate(self, ctx: RunContext, selected: str, test_data: Any, refit_epochs: int | None = None) -> Any:
        import ray

        from ..training import evaluate_on_test

        r = ctx.spec.resources
        checkpoint = next((best_checkpoint(res, ctx.spec.mode) for res in self.grid
                           if res.metrics.get("trial_id") == selected), None)
        if checkpoint is None and refit_epochs is None:
            return None
        hp = ctx.tables.trials[selected].config
        # A checkpoint at a URI goes to the evaluating worker as it is (that worker, on any node,
        # downloads it); on a shared file system its directory is readable from every node.
        keep = checkpoint is None or ctx.mirror is not None
        at = contextlib.nullcontext(checkpoint) if keep else checkpoint.as_directory()
        with at as ckpt_dir:
            actor = getattr(self.evaluator, "actor", None)
            if actor is not None:  # warm since the sweep began (or an earlier run); no trial runs any more
                try:
                    return ray.get(actor.evaluate.remote(ckpt_dir, hp, test_data, r.cpu, 0.0, ctx.spec, refit_epochs,
                                                         ctx.started))
                except ray.exceptions.RayActorError:  # it died (out of memory, a killed process): a task instead
                    from .tune_setup import forget_evaluator

                    forget_evaluator(actor)
            evaluate = ray.remote(num_cpus=r.cpu, num_gpus=r.gpu)(evaluate_on_test)
            return ray.get(evaluate.remote(ckpt_dir, hp, test_data, r.cpu, r.gpu, ctx.spec, refit_epochs, ctx.started))

    def tidy(self, ctx: RunContext) -> None:
        prune_checkpoints(self.grid, ctx.spec.mode)


def best_checkpoint(result: Any, mode: str) -> Any:
    """A Tune result's checkpoint with the best objective (its latest when none is scored)."""
    try:
        best = result.get_best_checkpoint("objective", mode)
    except Exception:  # no scored checkpoints
        best = None
    return best or result.checkpoint


def prune_checkpoints(grid: Any, mode: str) -> int:
    """Once the sweep has ended, delete each trial's checkpoints but its best and its latest.

    While it runs, every checkpoint is kept (see the CheckpointConfig in
    :func:`~orchestrator.execution.tune_setup.new_tuner`); what a finished run keeps is what Ray's
    ``num_to_keep=1`` with a score would have kept. Works on any storage (the results' pyarrow
    filesystem); a checkpoint that cannot be deleted stays.

    Returns:
        The number of checkpoint directories deleted.
    """
    from pyarrow import fs as pafs

    deleted = 0
    for result in grid:
        if result.path is None or result.checkpoint is None:
            continue
        keep = {result.checkpoint.path}
        best = best_checkpoint(result, mode)
        if best is not None:
            keep.add(best.path)
        fs = result.filesystem
        try:
            entries = fs.get_file_info(pafs.FileSelector(result.path, allow_not_found=True))
        except Exception:
            continue
        for e in entries:
            if e.type == pafs.FileType.Directory and e.base_name.startswith("checkpoint_") and e.path not in keep:
                try:
                    fs.delete_dir(e.path)
                    deleted += 1
                except Exception:
                    pass
    return deleted


# The spec's ``strategy`` values and the class that runs each (``sweep resume`` reads a refusal here too).
STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (ParallelStrategy, BabysitStrategy)}


def make_strategy(name: str, options: RunOptions) -> Strategy:
    """The strategy ``name`` (a key of :data:`STRATEGIES`) for one run."""
    return STRATEGIES[name](options)
