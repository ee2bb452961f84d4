"""Decisions: what to try and when to stop, as pure values (no Ray, no TensorFlow).

Everything here is a function of the spec and of learning curves or tables handed in; the adapters
that apply a decision to running trials live in :mod:`orchestrator.execution` (Ray Tune) and in the
babysitter's worker (:mod:`orchestrator.babysit`). Each can be tested on scripted curves.

- :mod:`.space` -- the search space: trial counts, sampling, conditions, Ray Tune's ``param_space``
  and Optuna's define-by-run space;
- :mod:`.stopping` -- the plateau criteria (per trial and per sweep), the PBT mutation table and
  how often a trial checkpoints (Ray's own ASHA, Hyperband, median stopping and PBT do the rest);
- :mod:`.curves` -- the figures of a learning curve (improvement, oscillation, slopes, explosion)
  and the thresholds they are judged by;
- :mod:`.diagnosis` -- a learning curve's label (diverged, oscillating, too slow, underfit,
  overfit, good), from those figures;
- :mod:`.babysit_rules` -- the babysitter's decision after each epoch (revert, decay, raise, stop);
- :mod:`.babysit_moves` -- the babysitter's next model, inside the space;
- :mod:`.pareto` -- several objectives: non-dominated ranks, the spread order inside a front,
  the promotion order, exact hypervolume (2-3 objectives) and the knee of a front;
- :mod:`.select` -- the one trial a run keeps: feasibility under the constraints, Pareto ranks,
  the select rules (best, within, knee) and why nothing was feasible;
- :mod:`.moasha` -- the multi-objective ASHA's rung decision (Ray's ASHA cut rule on the promotion
  order) and its rungs;
- :mod:`.importance` -- which hyperparameters mattered, per objective, from Optuna's evaluators.
"""
