"""The babysitter's driver side: the ``babysit`` strategy, one Ray actor streaming trial events.

:class:`BabysitStrategy` starts the actor (:class:`orchestrator.babysit.worker.BabysitWorker`) on
one slot, and emits each trial event it streams back (a Ray streaming generator) straight into the
run's sink, as Tune's callbacks do for a parallel sweep. The selected model's best epoch is
evaluated on the test split in the same actor, already warm. Imports Ray only inside its methods.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..strategy import RunContext, RunOptions, Strategy

if TYPE_CHECKING:
    from ..spec import SweepSpec

__all__ = ["BabysitStrategy"]


class BabysitStrategy(Strategy):
    """One Ray actor on one slot trains the models one at a time, adjusting each after every epoch."""

    name = "babysit"
    cannot_resume = "is a babysitting run; it cannot be resumed (run it again)"

    def __init__(self, options: RunOptions) -> None:
        super().__init__(options)
        self.actor: Any = None

    def planned_trials(self, spec: SweepSpec) -> int:
        return spec.babysit.max_models

    def run(self, ctx: RunContext) -> None:
        import ray

        from ..training import TrialData
        from .worker import BabysitWorker

        spec, r = ctx.spec, ctx.spec.resources
        self.actor = ray.remote(num_cpus=r.cpu, num_gpus=r.gpu)(BabysitWorker).remote(r.cpu, r.gpu)
        ctx.view.total = self.planned_trials(spec)
        ctx.view.set_capacity(r.model_dump(), ray.cluster_resources())
        ctx.view.start()
        ctx.phase = "the search"
        try:
            stream = self.actor.run.options(num_returns="streaming").remote(
                spec, TrialData.of(ctx.prepared.without_test()), ctx.started, ctx.deadline,
                str(ctx.run_dir / "checkpoints"))
            cancel = self.options.cancel
            for ref in stream:
                ctx.sink.emit(ray.get(ref))  # the worker's events are the sink's own (trial_events)
                if cancel is not None and cancel.is_set():  # the client went away: close() ends the actor
                    raise KeyboardInterrupt
        finally:
            ctx.view.stop()
        ctx.info["search_ended_at"] = time.time()

    def evaluate(self, ctx: RunContext, selected: str, test_data: Any, refit_epochs: int | None = None) -> Any:
        import ray

        return ray.get(self.actor.evaluate.remote(selected, ctx.tables.trials[selected].config, test_data,
                                                  refit_epochs, ctx.started))

    def close(self) -> None:
        if self.actor is not None:
            import ray

            actor, self.actor = self.actor, None
            ray.kill(actor)
