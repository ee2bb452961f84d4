"""``$SWEEP_TRIAL_STATS``: a JSON-lines file of start-up and per-trial figures, for the benchmarks.

Unset (the default), nothing is written. Set, the driver appends a line per moment it reaches
(:func:`stamp`: Ray ready, data ready, the search's start) and each trial's worker a line of its
overhead figures (training/trainable.py); ``benchmarks/startup.py`` and
``benchmarks/placement_bench.py`` read them. Neither side imports Ray or TensorFlow for it.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

__all__ = ["ENV", "append", "stamp"]

ENV = "SWEEP_TRIAL_STATS"


def append(record: dict[str, Any]) -> None:
    """Append ``record`` as one JSON line to ``$SWEEP_TRIAL_STATS`` (nothing when it is unset or
    cannot be written: a benchmark's aid never fails a sweep)."""
    path = os.environ.get(ENV)
    if path:
        try:
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        except (OSError, TypeError, ValueError):
            pass


def stamp(name: str, **extra: Any) -> None:
    """``{"stamp": name, "at": now, "pid": ...}``: a moment a start-up benchmark splits its phases by."""
    append({"stamp": name, "at": time.time(), "pid": os.getpid(), **extra})
