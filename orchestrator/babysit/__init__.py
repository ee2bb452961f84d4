"""The babysitter ("panda"): one model at a time, adjusted after every epoch, in one home.

- :mod:`.driver` -- :class:`BabysitStrategy` (``strategy: babysit``): starts the actor and emits
  the trial events it streams back into the run's sink;
- :mod:`.worker` -- :class:`~orchestrator.babysit.worker.BabysitWorker`, the Ray actor: each model
  on the training skeleton (:class:`orchestrator.training.loop.EpochLoop`), the decisions applied
  after every epoch, the same trial events as a parallel sweep's
  (:mod:`orchestrator.trial_events`).

What it decides (pure functions of the curves, no Ray, no TensorFlow) lives with the other
deciders: :mod:`orchestrator.decisions.babysit_rules` (after every epoch) and
:mod:`orchestrator.decisions.babysit_moves` (the next model). Importing this package imports
neither Ray nor TensorFlow.
"""

from __future__ import annotations

from .driver import BabysitStrategy

__all__ = ["BabysitStrategy"]
