"""The options of a run beyond its spec, parsed in one place for ``sweep``, ``orchestrator.run`` and
``sweep compare``.

- :data:`OPTIONS`: the options ``sweep run`` and :func:`orchestrator.run` take, by their Python
  names; :func:`flag` is how the command line spells one (``num_samples`` -> ``--num-samples``);
- :func:`parse_budget`: a wall-clock budget (``300``, ``90s``, ``5m``, ``1.5h``, or seconds);
- :func:`parse_strategies`: ``sweep compare --strategies`` against the names a spec accepts;
- :func:`with_options`: a spec with ``--num-samples``, ``--max-concurrent``, ``--seed`` applied.

Pure: imports neither Ray, TensorFlow nor pandas; every refusal is a one-line
:class:`~orchestrator.errors.UsageError` naming the option as the caller spelled it.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .spec import SweepSpec

__all__ = ["OPTIONS", "flag", "parse_budget", "parse_strategies", "with_options", "MAX_BUDGET_S"]

OPTIONS = ("out", "address", "num_samples", "max_concurrent", "seed", "budget", "tensorboard", "dashboard",
           "mlflow", "no_runtime")
MAX_BUDGET_S = 7 * 24 * 3600.0  # a week: a longer budget is a typo (a unit missing), not a plan
_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def flag(name: str) -> str:
    """The command-line spelling of an option of :data:`OPTIONS` (``max_concurrent`` ->
    ``--max-concurrent``); any other name as it is."""
    return "--" + name.replace("_", "-") if name in OPTIONS else name


def parse_budget(value: str | float, option: str = "--budget") -> float:
    """Seconds from ``300``, ``90s``, ``5m``, ``1.5h`` (text, as typed after ``--budget``) or from a
    number of seconds (``orchestrator.run(..., budget=90)``).

    Raises:
        UsageError: anything else, a budget that is not positive or one over a week, naming ``option``.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*", str(value))
        if not m:
            raise UsageError(option, f"expected seconds or a duration such as 300, 90s, 5m, 1.5h; got {value!r}")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or ""]
    if not seconds > 0 or not math.isfinite(seconds):
        raise UsageError(option, f"must be more than 0 seconds, got {value!r}")
    if seconds > MAX_BUDGET_S:
        raise UsageError(option, f"at most a week ({MAX_BUDGET_S:.0f} s), got {value!r}")
    return seconds


def parse_strategies(text: str, option: str = "--strategies") -> list[str]:
    """``parallel,babysit`` -> ``["parallel", "babysit"]``: names a spec's ``strategy`` accepts, each once.

    Raises:
        UsageError: no name, an unknown one or one listed twice, naming ``option``.
    """
    from .spec import STRATEGIES

    names = [s.strip() for s in str(text).split(",") if s.strip()]
    if not names:
        raise UsageError(option, f"name at least one of {', '.join(STRATEGIES)}")
    for n in names:
        if n not in STRATEGIES:
            raise UsageError(option, f"unknown strategy {n!r}; known: {', '.join(STRATEGIES)}")
    if len(set(names)) != len(names):
        raise UsageError(option, f"a strategy is listed twice: {text!r}")
    return names


def with_options(spec: SweepSpec, *, num_samples: int | None = None, max_concurrent: int | None = None,
                 seed: int | None = None, names: dict[str, str] | None = None) -> SweepSpec:
    """``spec`` with the overrides ``sweep run`` and :func:`orchestrator.run` accept.

    ``names``: how the user spelled each option (``--num-samples`` on the command line), for errors.

    Raises:
        UsageError: an override out of range, naming the option.
    """
    names = names or {}
    changes: dict[str, Any] = {}
    if num_samples is not None:
        if int(num_samples) < 1:
            raise UsageError(names.get("num_samples", "num_samples"), f"must be >= 1, got {num_samples}")
        changes["search"] = spec.search.model_copy(update={"num_samples": int(num_samples)})
    if seed is not None:
        changes["search"] = changes.get("search", spec.search).model_copy(update={"seed": int(seed)})
        changes["seed"] = int(seed)
    if max_concurrent is not None:
        if int(max_concurrent) < 1:
            raise UsageError(names.get("max_concurrent", "max_concurrent"), f"must be >= 1, got {max_concurrent}")
        changes["resources"] = spec.resources.model_copy(update={"max_concurrent": int(max_concurrent)})
    return spec.with_overrides(**changes) if changes else spec
