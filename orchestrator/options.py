"""The options of a run beyond its spec, parsed in one place for ``sweep``, ``orchestrator.run`` and
``sweep compare``.

- :data:`OPTIONS`: the options ``sweep run`` and :func:`orchestrator.run` take, by their Python
  names; :func:`flag` is how the command line spells one (``num_samples`` -> ``--num-samples``);
- :func:`parse_budget`: a wall-clock budget (``300``, ``90s``, ``5m``, ``1.5h``, or seconds);
- :func:`parse_strategies`: ``sweep compare --strategies`` against the names a spec accepts;
- :func:`with_options`: a spec with ``--num-samples``, ``--max-concurrent``, ``--seed`` applied;
- :func:`at_least`, :func:`check_out_dir`, :func:`check_not_run_file`: the checks of a number and
  of an output path made before anything starts;
- :func:`usage_line`: a command line click could not parse, as the one line every error is.

Pure: imports neither Ray, TensorFlow nor pandas; every refusal is a one-line
:class:`~orchestrator.errors.UsageError` naming the option as the caller spelled it.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import UsageError, one_line
from .storage import RUN_FILES, is_uri, unfold_uri

if TYPE_CHECKING:
    from .spec import SweepSpec

__all__ = ["OPTIONS", "flag", "parse_budget", "parse_strategies", "with_options", "MAX_BUDGET_S", "as_flag", "at_least",
           "check_out_dir", "check_not_run_file", "RUN_OWN", "usage_line"]

OPTIONS = ("out", "address", "num_samples", "max_concurrent", "seed", "budget", "tensorboard", "dashboard",
           "mlflow", "no_runtime")
MAX_BUDGET_S = 7 * 24 * 3600.0  # a week: a longer budget is a typo (a unit missing), not a plan
_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
# What a run writes in its run directory (the tables, journal, run.json, the report; the exported
# model, Ray Tune's folder, a babysitter's checkpoints, a failure's traceback): never an output path.
RUN_OWN = (*RUN_FILES, "model", "tune", "checkpoints", "traceback.txt")


def flag(name: str) -> str:
    """The command-line spelling of an option of :data:`OPTIONS` (``max_concurrent`` ->
    ``--max-concurrent``); any other name as it is."""
    return "--" + name.replace("_", "-") if name in OPTIONS else name


def as_flag(e: UsageError) -> UsageError:
    """``e`` naming its option as the command line spells it: the API names a bad option by its
    keyword (``num_samples``), the CLI by its flag (``--num-samples``)."""
    return e if flag(e.argument) == e.argument else UsageError(flag(e.argument), e.message)


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
        num_samples = whole(num_samples, names.get("num_samples", "num_samples"))
        if num_samples < 1:
            raise UsageError(names.get("num_samples", "num_samples"), f"must be >= 1, got {num_samples}")
        changes["search"] = spec.search.model_copy(update={"num_samples": num_samples})
    if seed is not None:
        seed = whole(seed, names.get("seed", "seed"))
        changes["search"] = changes.get("search", spec.search).model_copy(update={"seed": seed})
        changes["seed"] = seed
    if max_concurrent is not None:
        max_concurrent = whole(max_concurrent, names.get("max_concurrent", "max_concurrent"))
        if max_concurrent < 1:
            raise UsageError(names.get("max_concurrent", "max_concurrent"), f"must be >= 1, got {max_concurrent}")
        changes["resources"] = spec.resources.model_copy(update={"max_concurrent": max_concurrent})
    return spec.with_overrides(**changes) if changes else spec


def whole(value: Any, option: str) -> int:
    """``value`` as an int (an int, or text of one: ``"8"``), else a UsageError naming ``option``
    (``orchestrator.run(num_samples="abc")`` is told as ``--num-samples abc`` is)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().lstrip("+-").isdigit():
        raise UsageError(option, f"input should be a valid integer, got {value!r}")
    return int(value)


def at_least(value: int, low: int, option: str) -> int:
    """``value`` when it is at least ``low``, else a UsageError naming ``option``."""
    if value < low:
        raise UsageError(option, f"must be at least {low}, got {value}")
    return value


def check_out_dir(out: Any, option: str = "--out") -> None:
    """Refuse a local ``out`` (a folder the command makes its directory in: ``run``'s run
    directories, ``compare``'s comparison) that is, or lies under, an existing file: found here,
    before anything starts, not once Ray is up. A URI other than ``file://`` is left to storage.

    Raises:
        UsageError: naming ``option`` and the file in the way.
    """
    if not isinstance(out, (str, os.PathLike)) and not hasattr(out, "fs"):  # a path, a URI or a Location
        raise UsageError(option, f"expected a folder's path or a storage URI, got {out!r} ({type(out).__name__})")
    text = unfold_uri(str(out))
    if is_uri(text) and not text.startswith("file:"):
        return
    path = Path(urlsplit(text).path if is_uri(text) else text).expanduser()
    for here in (path, *path.parents):
        if here.is_dir():
            return
        if here.exists():
            where = "is a file" if here == path else f"is under {here}, a file"
            raise UsageError(option, f"{out}: {where}, not a directory")


def _place(location: Any) -> tuple[str, PurePath]:
    """Where ``location`` (a path, a URI, a storage Location) is: its filesystem (``""`` for this
    machine's) and its absolute path there."""
    text = unfold_uri(str(location))
    if is_uri(text):
        parts = urlsplit(text)
        if parts.scheme != "file":
            return f"{parts.scheme}://{parts.netloc}", PurePosixPath("/" + parts.path.strip("/"))
        text = parts.path
    return "", Path(text).expanduser().resolve()


def check_not_run_file(out: Any, run_dir: Any, option: str = "--out", allowed: tuple[str, ...] = ()) -> None:
    """Refuse an output path that is the run directory's own: the directory itself, one of the
    names a run writes at its top (:data:`RUN_OWN`), or anything inside one of its folders. A new
    name at its top (``RUN_DIR/predictions.csv``) and the names in ``allowed`` are fine.

    Raises:
        UsageError: naming ``option``; nothing has been written.
    """
    (fs, path), (run_fs, run_path) = _place(out), _place(run_dir)
    if fs != run_fs or not path.is_relative_to(run_path):
        return
    rel = path.relative_to(run_path).parts
    if not rel:
        raise UsageError(option, f"{out}: is the run directory itself; name a file")
    own = rel[0] in RUN_OWN or (not fs and Path(run_path, rel[0]).is_dir())
    if len(rel) == 1 and (rel[0] in allowed or not own):
        return
    what = f"the run's own {rel[0]}" if len(rel) == 1 else f"inside the run's own {rel[0]}/"
    raise UsageError(option, f"{out}: is {what}; the run's files are never written over (write outside "
                             f"{run_dir}, or to a new name in it)")


def usage_line(e: Exception) -> str:
    """What click found wrong with a command line, as one line naming the argument or option:
    ``--num-samples: input should be a valid integer, ...; got 'abc' (see 'sweep run --help')``.

    Works with click's exceptions and with those of the click typer vendors (the same names and
    attributes): ``param`` (a bad or missing value), ``option_name`` (an unknown option).
    """
    param, kind = getattr(e, "param", None), type(e).__name__
    name = _param_name(param) if param is not None else getattr(e, "option_name", None) or ""
    message = str(getattr(e, "message", "") or "").strip().rstrip(".")
    if kind == "MissingParameter":
        what = "missing" + (f": {message}" if message else "")
    elif kind == "NoSuchOption":
        found = sorted(getattr(e, "possibilities", None) or ())
        what = "no such option" + (f"; did you mean {', '.join(found)}?" if found else "")
    elif param is not None:
        errors = getattr(e.__cause__, "errors", None)  # typer's pydantic check: the value it refused
        value = errors()[0].get("input") if callable(errors) and errors() else None
        what = message[:1].lower() + message[1:] + (f"; got {value!r}" if value is not None else "")
    else:  # "Option '--seed' requires an argument." (click names the option once, here)
        what = (e.format_message() if hasattr(e, "format_message") else str(e)).strip().rstrip(".")
        what = what.removeprefix(f"Option '{name}' ") if name else what[:1].lower() + what[1:]
    ctx = getattr(e, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if getattr(ctx, "command_path", None) else ""
    return one_line((f"{name}: {what}" if name else what) + hint)


def _param_name(param: Any) -> str:
    """An option as typed (its long flag), an argument as the help shows it (``RUN_DIR``)."""
    opts = list(getattr(param, "opts", None) or ())
    if getattr(param, "param_type_name", "") == "option" and opts:
        return next((o for o in opts if o.startswith("--")), opts[0])
    return (getattr(param, "metavar", None) or str(getattr(param, "name", "") or "")).upper().rstrip(".")
