"""A loaded YAML document turned into a :class:`SweepSpec`: structure, then meaning.

:func:`parse_spec` validates the sections (pydantic), resolves the hyperparameters
(:mod:`orchestrator.spec.params`) and what the sweep optimises (:mod:`orchestrator.spec.objectives`:
metric, objectives, constraints, select), then checks what the values mean together: the data
source, the metric for the task, the search and scheduler against the parameters and the
objectives, the strategy. A search the spec does not name is decided here
(:func:`~orchestrator.spec.sections.default_algorithm`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..usercode import parse_ref
from .distributions import GRAPH_KEEPING, WEIGHT_SHAPING, Choice, Constant, Grid, IntRange, LogUniform, Param, Uniform, pbt_mutable
from .objectives import Objective, metric_names, resolve_goals
from .params import parse_model, resolve_params
from .pydantic_errors import validate
from .sections import (CodeSpec, DataSpec, RawSpec, ResourcesSpec, SchedulerSpec, SearchSpec, SweepSpec, count_trials,
                       default_algorithm, resolve_data_path)

__all__ = ["MAX_GRID_TRIALS", "parse_spec", "metric_names"]

MAX_GRID_TRIALS = 10_000


def parse_spec(doc: Any, *, source: str | None = None, base_dir: str = ".",
               default_name: str = "sweep") -> SweepSpec:
    """Validate an already-loaded YAML document (a dict) and resolve defaults.

    Args:
        doc: the result of ``yaml.safe_load``.
        source: where it came from (for run.json).
        base_dir: directory that relative data paths are resolved against.
        default_name: the sweep's name when the spec has none (the file's stem).

    Returns:
        The resolved :class:`SweepSpec`.

    Raises:
        SpecError: with the key path (the caller adds the file name).
    """
    raw = _raw(doc)
    name = raw.name if raw.name is not None else default_name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise SpecError("name", f"use letters, digits, '_', '.', '-' (at most 64), got {name!r}")

    task = _check_data(raw.data, base_dir)
    model, fixed = parse_model(raw.model)
    params, _entries = resolve_params(fixed, raw.params, model.kind)
    goals = resolve_goals(objectives=raw.objectives, metric=raw.metric, metric_given="metric" in raw.model_fields_set,
                          constraints=raw.constraints, select=raw.select, task=task, kind=model.kind)
    search = raw.search
    if "algorithm" not in search.model_fields_set:
        search = search.model_copy(update={"algorithm": default_algorithm(params, raw.scheduler.type, raw.strategy)})
    if (search.num_samples is None and raw.strategy == "parallel" and raw.scheduler.type != "pbt"
            and all(isinstance(p, Constant) for p in params.values())):
        # nothing varies between trials: the default sample count would run one configuration 16
        # times; one trial is what such a spec asks for (an explicit num_samples repeats it, seeds apart)
        search = search.model_copy(update={"num_samples": 1})
    _check_search(search, params)
    _check_scheduler(raw.scheduler, search, params, model.kind)
    _check_resources(raw.resources)
    _check_strategy(raw)
    _check_objectives(goals.objectives, raw)
    _check_code(raw.code, base_dir)
    if raw.early_stopping is not None:
        allowed = metric_names(task)
        if raw.early_stopping.monitor not in allowed:
            raise SpecError("early_stopping.monitor",
                            f"must be one of {', '.join(allowed)} for {task}, got {raw.early_stopping.monitor!r}")

    spec = SweepSpec(
        name=name,
        description=raw.description,
        source=source,
        base_dir=base_dir,
        data=raw.data,
        task=task,
        model=model,
        params=params,
        metric=goals.metric,
        objectives=goals.objectives,
        constraints=goals.constraints,
        select=goals.select,
        search=search,
        scheduler=raw.scheduler,
        stoppers=raw.stoppers,
        early_stopping=raw.early_stopping,
        divergence=raw.divergence,
        resources=raw.resources,
        max_failures=raw.max_failures,
        seed=raw.seed,
        strategy=raw.strategy,
        babysit=raw.babysit,
        final=raw.final,
        tracking=raw.tracking,
        code=raw.code,
    )
    _check_counts(spec)
    return spec


def _raw(doc: Any) -> RawSpec:
    """The document's sections validated for their structure (a mapping with string keys first)."""
    if doc is None:
        raise SpecError("", "the file is empty; a spec needs at least a data section")
    if not isinstance(doc, dict):
        raise SpecError("", f"a spec is a mapping of keys (name, data, params, ...), got a {type(doc).__name__}")
    for k in doc:
        if not isinstance(k, str):
            raise SpecError(str(k), "keys must be strings")
    return validate(RawSpec, doc, "")


def _check_counts(spec: SweepSpec) -> None:
    """What follows from the epochs and the trial count: the first scheduler decision, the grid limit."""
    s = spec.scheduler
    if s.type in ("asha", "median") and s.grace_period > spec.max_epochs:
        raise SpecError("scheduler.grace_period", f"{s.grace_period} is more than the {spec.max_epochs} epochs a "
                        f"trial trains at most (model.epochs): no trial would reach the first {s.type} decision")
    n = count_trials(spec)
    if spec.search.algorithm in ("grid", "random") and n > MAX_GRID_TRIALS:
        raise SpecError("params", f"the grid expands to {n} trials; at most {MAX_GRID_TRIALS} — use "
                        "search.algorithm: random with choice instead of grid")


def _check_objectives(objectives: tuple[Objective, ...], raw: RawSpec) -> None:
    """Several objectives need a strategy and a scheduler that rank them: asha or none, not the
    babysitter, PBT, Hyperband or median stopping (each follows one metric)."""
    if len(objectives) < 2:
        return
    names = ", ".join(o.name for o in objectives)
    if raw.strategy == "babysit":
        raise SpecError("strategy", f"babysit follows one metric; with several objectives ({names}) use strategy "
                        "parallel")
    if raw.scheduler.type in ("pbt", "hyperband", "median"):
        raise SpecError("scheduler.type", f"{raw.scheduler.type} ranks trials by one metric; with several "
                        f"objectives ({names}) use asha (multi-objective) or none")


def _check_code(code: CodeSpec, base_dir: str) -> None:
    """Each ``code.include`` entry exists and lies inside the spec's directory (only what is there is
    sent to a cluster, at the same place relative to the spec)."""
    base = os.path.normpath(os.path.abspath(base_dir))
    for i, entry in enumerate(code.include):
        key = f"code.include[{i}]"
        if not entry.strip() or "://" in entry:
            raise SpecError(key, f"must be a file or folder relative to the spec's directory, got {entry!r}")
        path = os.path.normpath(os.path.join(base, os.path.expanduser(entry)))
        if path != base and not path.startswith(base.rstrip(os.sep) + os.sep):
            raise SpecError(key, f"{entry!r} lies outside the spec's directory ({base}); only files under it "
                            "can be sent to a cluster")
        if not os.path.exists(path):
            raise SpecError(key, f"{entry!r}: no such file or folder in {base}")


def _check_data(d: DataSpec, base_dir: str) -> str:
    """The data section's structure and source; returns the task (given, or implied by the source)."""
    if sum(x is not None for x in (d.dataset, d.path, d.loader)) != 1:
        raise SpecError("data", "give exactly one of data.dataset (digits, diabetes, exam), data.path (a table, "
                        "an .npz file or an image folder) or data.loader (file.py:function)")
    total = d.split.train + d.split.val + d.split.test
    if abs(total - 1.0) > 1e-6:
        raise SpecError("data.split", f"train + val + test must be 1, got {total:g}")
    _check_example_shapes(d)
    if d.args and d.loader is None:
        raise SpecError("data.args", "only with data.loader: the keyword arguments it is called with")
    if d.dataset is not None:
        implied = "regression" if d.dataset == "diabetes" else "classification"
        if d.task is not None and d.task != implied:
            raise SpecError("data.task", f"{d.dataset} is a {implied} data set, got {d.task!r}")
        if d.target is not None:
            raise SpecError("data.target", "only for data.path or data.loader; a built-in data set has its own target")
        return implied
    if d.loader is not None:
        parse_ref(d.loader, "data.loader")  # the format only: the loader is imported when the data loads
        if d.task is None:
            raise SpecError("data.task", "required with data.loader: classification or regression")
        return d.task
    path = resolve_data_path(str(d.path), base_dir)
    folder = "://" not in path and Path(path).is_dir()
    task = d.task or ("classification" if folder else None)  # one subfolder per class
    if folder and task != "classification":
        raise SpecError("data.task", f"an image folder (one subfolder per class) is classification, got {task!r}")
    if not folder:  # a path no source reads (data.npy) is said first, before the target a table needs
        from .. import data as data_mod

        data_mod.check_data_path(path)
    if d.target is None and not folder and not path.lower().endswith(".npz"):
        raise SpecError("data.target", "required with data.path: the name of the column to predict")
    if task is None:
        raise SpecError("data.task", "required with data.path: classification or regression")
    # pandas and scikit-learn (about 1 s of imports) load here only for a data file: for a built-in
    # data set `sweep run` imports them while Ray starts
    from .. import data as data_mod

    data_mod.check_source(dataset=None, path=path, target=d.target, task=task)
    return task


def _check_example_shapes(d: DataSpec) -> None:
    """``data.shape`` and ``data.image_size`` as structures (what they fit is the data's to say)."""
    if d.shape is not None and not (1 <= len(d.shape) <= 4 and all(n >= 1 for n in d.shape)):
        raise SpecError("data.shape", f"must be 1 to 4 positive whole numbers (one example's shape, e.g. "
                        f"[8, 8, 1]), got {d.shape}")
    if d.image_size is not None and not (len(d.image_size) == 2 and all(n >= 1 for n in d.image_size)):
        raise SpecError("data.image_size", f"must be two positive whole numbers [height, width], got {d.image_size}")


def _check_search(s: SearchSpec, params: dict[str, Param]) -> None:
    for name, p in params.items():
        if s.algorithm == "grid" and isinstance(p, (Choice, Uniform, LogUniform, IntRange)):
            raise SpecError(f"params.{name}.type", f"search.algorithm grid tries listed values only; "
                            f"use type: grid here or search.algorithm: random, got {p.type}")
        if s.algorithm == "tpe" and isinstance(p, Grid):
            raise SpecError(f"params.{name}.type", "a model-based search (tpe) samples; use type: choice instead of grid")


def _check_scheduler(s: SchedulerSpec, search: SearchSpec, params: dict[str, Param], kind: str) -> None:
    if s.type != "pbt":
        if s.mutations is not None:
            raise SpecError("scheduler.mutations", f"only for type: pbt, got type: {s.type}")
        return
    if search.algorithm == "tpe":
        raise SpecError("scheduler.type", "pbt evolves its own population; use search.algorithm random or grid")
    if s.mutations is not None:
        if not s.mutations:
            raise SpecError("scheduler.mutations", "is empty; name at least one searched hyperparameter")
        for i, name in enumerate(s.mutations):
            if name not in params:
                raise SpecError(f"scheduler.mutations[{i}]", f"unknown hyperparameter {name!r}")
            if isinstance(params[name], Constant):
                raise SpecError(f"scheduler.mutations[{i}]", f"{name} is a constant; PBT perturbs searched "
                                "hyperparameters (give it a distribution under params)")
            if name in WEIGHT_SHAPING.get(kind, ()):
                raise SpecError(f"scheduler.mutations[{i}]", f"{name} shapes the {kind}'s weights, and PBT "
                                "gives a trial a donor's weights, which fit the donor's layers only; perturb "
                                f"{', '.join(GRAPH_KEEPING[kind])}")
        return
    if not pbt_mutable(params, kind):
        what = "hyperparameter that keeps the model's graph"
        raise SpecError("scheduler.type", f"pbt needs at least one searched {what} "
                        "(e.g. learning_rate: {type: loguniform, ...}) to perturb")


def _check_strategy(raw: RawSpec) -> None:
    """The babysitter is its own scheduler: Ray Tune's schedulers and stoppers apply to parallel sweeps."""
    if raw.strategy != "babysit":
        return
    if raw.scheduler.type != "none":
        raise SpecError("scheduler.type", "strategy babysit adjusts and stops its models itself; a scheduler "
                        f"applies to parallel sweeps only (use type: none), got {raw.scheduler.type}")
    if raw.stoppers.plateau is not None or raw.stoppers.experiment_plateau is not None:
        raise SpecError("stoppers", "strategy babysit stops its models itself (babysit.patience, "
                        "babysit.max_decays); stoppers apply to parallel sweeps only")
    if raw.early_stopping is not None:
        raise SpecError("early_stopping", "strategy babysit stops an overfitting model itself (keeping its "
                        "best epoch); early_stopping applies to parallel sweeps only")


def _check_resources(r: ResourcesSpec) -> None:
    if r.gpu != "auto" and r.gpu > 1 and not float(r.gpu).is_integer():
        raise SpecError("resources.gpu", f"more than one GPU per trial must be a whole number, got {r.gpu:g}")
