"""Training: what runs inside a Ray worker (TensorFlow is imported only here).

The names the driver side uses are exported here, lazily (importing this package imports neither
TensorFlow nor Ray): the driver side (``execution/``, the babysitter's driver) imports them from
``orchestrator.training`` only, so the modules behind them can move. The babysitter's worker
(:mod:`orchestrator.babysit.worker`) runs in the worker too and builds on the modules themselves
(the training skeleton, :mod:`.loop`).
"""

from __future__ import annotations

from typing import Any

# public name -> module (relative to this package) that defines it
_EXPORTS = {
    "TrialData": "inputs",
    "TrialContext": "trainable",
    "train_trial": "trainable",
    "run_trial": "trainable",
    "Evaluator": "evaluate",
    "evaluate_on_test": "evaluate",
    "import_tensorflow": "worker",
    "configure_tensorflow": "worker",
    "baseline_loss": "epoch",
    "load_plan": "faults",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator.training' has no attribute {name!r}")
    return getattr(_module(module), name)


def _module(name: str) -> Any:
    """The submodule ``name``, imported now (static imports: the package imports nothing by a computed name)."""
    if name == "inputs":
        from . import inputs as m
    elif name == "trainable":
        from . import trainable as m
    elif name == "evaluate":
        from . import evaluate as m
    elif name == "worker":
        from . import worker as m
    elif name == "epoch":
        from . import epoch as m
    else:
        from . import faults as m
    return m
