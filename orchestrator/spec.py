"""Sweep spec: a YAML file in ``search_spaces/`` turned into a typed, immutable :class:`SweepSpec`.

Loading is ``yaml.safe_load`` only. Structure is checked by pydantic (unknown keys, wrong types);
the meaning (ranges, log bounds, conditions, metric vs task) by the checks below. Every problem is
a :class:`~orchestrator.errors.SpecError` whose text is one line naming the file and key path, e.g.
``quickstart.yaml: params.learning_rate.low: must be > 0 for a log scale, got 0``.

This module imports neither Ray nor TensorFlow.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal, Union, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .errors import DataError, SpecError

__all__ = [
    "HYPERPARAMETERS",
    "Constant",
    "Grid",
    "Choice",
    "Uniform",
    "LogUniform",
    "IntRange",
    "Param",
    "SweepSpec",
    "BabysitSpec",
    "load_spec",
    "parse_spec",
]

MAX_SPEC_BYTES = 1_000_000
MAX_YAML_NODES = 20_000
MAX_GRID_TRIALS = 10_000

# --------------------------------------------------------------------------------------------
# The model's hyperparameters: name -> (kind, default, rule). Every one of them can be searched.
# kind is "int", "float" or "cat"; rule checks one value and returns an error text or None.
# --------------------------------------------------------------------------------------------

OPTIMIZERS = ("sgd", "adam", "rmsprop")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "elu", "selu", "gelu", "swish", "linear")
LR_SCHEDULES = ("constant", "step", "exponential")


def _range(lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False):
    def rule(v: float) -> str | None:
        if lo is not None and (v <= lo if lo_open else v < lo):
            return f"must be {'>' if lo_open else '>='} {lo:g}, got {v:g}"
        if hi is not None and (v >= hi if hi_open else v > hi):
            return f"must be {'<' if hi_open else '<='} {hi:g}, got {v:g}"
        return None

    return rule


def _one_of(options: tuple[str, ...]):
    def rule(v: str) -> str | None:
        if v not in options:
            return f"must be one of {', '.join(options)}; got {v!r}"
        return None

    return rule


HYPERPARAMETERS: dict[str, tuple[str, Any, Any]] = {
    "hidden_layers": ("int", 1, _range(0, 16)),
    "units": ("int", 64, _range(1, 65536)),
    "activation": ("cat", "relu", _one_of(ACTIVATIONS)),
    "dropout": ("float", 0.0, _range(0.0, 1.0, hi_open=True)),
    "l2": ("float", 0.0, _range(0.0, None)),
    "optimizer": ("cat", "adam", _one_of(OPTIMIZERS)),
    "learning_rate": ("float", 1e-3, _range(0.0, None, lo_open=True)),
    "momentum": ("float", 0.0, _range(0.0, 1.0, hi_open=True)),
    "batch_size": ("int", 32, _range(1, 1_000_000)),
    "epochs": ("int", 20, _range(1, 100_000)),
    "lr_schedule": ("cat", "constant", _one_of(LR_SCHEDULES)),
    # step: lr * decay_rate every decay_epochs; exponential: lr * decay_rate ** (epoch / decay_epochs)
    "lr_decay_rate": ("float", 0.5, _range(0.0, 1.0, lo_open=True)),
    "lr_decay_epochs": ("int", 10, _range(1, 100_000)),
}

# --------------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------------

Scalar = Union[bool, int, float, str]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Dist(_Frozen):
    when: dict[str, Union[Scalar, list[Scalar]]] | None = None

    @property
    def is_grid(self) -> bool:
        return False


class Constant(_Frozen):
    """A fixed value (what a plain scalar in the spec becomes)."""

    type: Literal["constant"] = "constant"
    value: Scalar
    when: dict[str, Union[Scalar, list[Scalar]]] | None = None

    @property
    def is_grid(self) -> bool:
        return False


class Grid(_Dist):
    """Every value is tried: grids multiply into a full cross product."""

    type: Literal["grid"]
    values: list[Scalar]

    @property
    def is_grid(self) -> bool:
        return True


class Choice(_Dist):
    """One value drawn uniformly from a list."""

    type: Literal["choice"]
    values: list[Scalar]


class Uniform(_Dist):
    """A float drawn uniformly from [low, high]."""

    type: Literal["uniform"]
    low: float
    high: float


class LogUniform(_Dist):
    """A float drawn uniformly on a log scale from [low, high] (both > 0)."""

    type: Literal["loguniform"]
    low: float
    high: float


class IntRange(_Dist):
    """An integer from low to high, both included; ``log: true`` samples on a log scale."""

    type: Literal["int", "randint"]
    low: int
    high: int
    log: bool = False


Param = Union[Constant, Grid, Choice, Uniform, LogUniform, IntRange]
_DIST_TYPES: dict[str, type[BaseModel]] = {
    "grid": Grid,
    "choice": Choice,
    "uniform": Uniform,
    "loguniform": LogUniform,
    "int": IntRange,
    "randint": IntRange,
}

# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


class SplitSpec(_Frozen):
    train: float = Field(0.7, gt=0, lt=1)
    val: float = Field(0.2, gt=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)


class DataSpec(_Frozen):
    dataset: Literal["digits", "diabetes", "exam"] | None = None
    path: str | None = None
    target: str | None = None
    task: Literal["classification", "regression"] | None = None
    samples: int | None = Field(None, ge=10)
    split: SplitSpec = SplitSpec()
    stratify: bool | None = None
    seed: int = 0
    missing: Literal["error", "impute"] = "error"


class MetricSpec(_Frozen):
    name: str = "val_loss"
    mode: Literal["min", "max"] | None = None


class SearchSpec(_Frozen):
    algorithm: Literal["grid", "random", "tpe"] = "random"
    num_samples: int | None = Field(None, ge=1, le=1_000_000)
    seed: int | None = 0


class SchedulerSpec(_Frozen):
    """Ray Tune's trial scheduler. ``max_t`` defaults to the most epochs a trial may train."""

    type: Literal["none", "asha", "hyperband", "median", "pbt"] = "none"
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(3, gt=1)
    brackets: int = Field(1, ge=1)
    max_t: int | None = Field(None, ge=1)
    min_samples_required: int = Field(3, ge=1)
    perturbation_interval: int = Field(2, ge=1)
    quantile_fraction: float = Field(0.25, gt=0, le=0.5)
    resample_probability: float = Field(0.25, ge=0, le=1)
    mutations: list[str] | None = None


class TrialPlateauSpec(_Frozen):
    """Stop a trial whose metric has not improved by ``min_delta`` for ``patience`` epochs."""

    patience: int = Field(3, ge=1)
    min_delta: float = Field(0.0, ge=0)
    grace_period: int = Field(3, ge=0)


class ExperimentPlateauSpec(_Frozen):
    """Stop the whole sweep when the best result has not improved for ``patience`` reports."""

    patience: int = Field(20, ge=1)
    min_delta: float = Field(0.0, ge=0)


class StoppersSpec(_Frozen):
    plateau: TrialPlateauSpec | None = None
    experiment_plateau: ExperimentPlateauSpec | None = None


class EarlyStoppingSpec(_Frozen):
    """Keras' in-trial EarlyStopping, as in the course."""

    monitor: str = "val_loss"
    patience: int = Field(5, ge=0)
    min_delta: float = Field(0.0, ge=0)
    restore_best_weights: bool = True


class DivergenceSpec(_Frozen):
    explode_factor: float = Field(10.0, gt=1)


class ResourcesSpec(_Frozen):
    """Per-trial resources: numbers (fractions allowed), or ``auto`` to fill what Ray reports.

    ``auto`` is resolved when the sweep starts, from the CPUs and GPUs of the Ray instance or
    cluster (:meth:`resolve`); a resolved spec holds numbers only.
    """

    cpu: Union[float, Literal["auto"]] = 1.0
    gpu: Union[float, Literal["auto"]] = 0.0
    max_concurrent: Union[int, Literal["auto"], None] = None

    @field_validator("cpu", "gpu", "max_concurrent", mode="before")
    @classmethod
    def _number_or_auto(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name
        if value is None and name == "max_concurrent":
            return None
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        what = {"cpu": "a number greater than 0", "gpu": "a number greater than or equal to 0",
                "max_concurrent": "a whole number greater than or equal to 1"}[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PydanticCustomError("resources", f"must be auto or {what}")
        ok = {"cpu": value > 0, "gpu": value >= 0,
              "max_concurrent": value >= 1 and float(value).is_integer()}[name]
        if not ok:
            raise PydanticCustomError("resources", f"must be auto or {what}")
        return int(value) if name == "max_concurrent" else float(value)

    @property
    def is_auto(self) -> bool:
        """Whether anything is ``auto`` (to be resolved against a Ray instance)."""
        return "auto" in (self.cpu, self.gpu, self.max_concurrent)

    def resolve(self, cluster_cpus: float, cluster_gpus: float = 0.0, *, node_cpus: float | None = None,
                node_gpus: float | None = None, trials: int | None = None) -> "ResourcesSpec":
        """Numbers for every ``auto``, from what Ray reports (pure arithmetic: no Ray).

        - ``cpu: auto``: the CPUs are shared evenly by the trials that can run at once: one CPU per
          trial when there are at least as many trials as CPUs, more when there are fewer trials
          (never more than ``node_cpus``, since a trial runs on one node).
        - ``gpu: auto``: no GPU when there is none; otherwise every concurrent trial (as many as
          the CPUs allow) gets an equal share: ``1/k`` of a GPU when ``k`` trials share one, so
          every CPU slot is used and each GPU is shared evenly, or whole GPUs when there are more
          GPUs than trials at once.
        - ``max_concurrent: auto``: as many trials at once as the CPUs and GPUs hold.

        Args:
            cluster_cpus, cluster_gpus: totals Ray reports (``ray.cluster_resources()``).
            node_cpus, node_gpus: the largest node's (default: the totals; one node).
            trials: how many trials the sweep has (None: unknown, as many as fit).

        Returns:
            A spec with numbers only (unchanged when nothing is ``auto``).
        """
        if not self.is_auto:
            return self
        node_cpus = cluster_cpus if node_cpus is None else node_cpus
        node_gpus = cluster_gpus if node_gpus is None else node_gpus
        cap = [int(self.max_concurrent)] if isinstance(self.max_concurrent, int) else []
        if trials:
            cap.append(int(trials))
        cpu = self.cpu
        if cpu == "auto":
            wanted = max(1, min([int(math.floor(cluster_cpus)), *cap]) if cluster_cpus >= 1 else 1)
            cpu = max(1.0, float(math.floor(cluster_cpus / wanted))) if cluster_cpus >= 1 else float(cluster_cpus)
            cpu = min(cpu, max(float(math.floor(node_cpus)), 1.0)) if node_cpus >= 1 else cpu
        slots = max(1, int(math.floor(cluster_cpus / cpu + 1e-9)))
        if cap:
            slots = min(slots, *cap)
        gpu = self.gpu
        if gpu == "auto":
            if cluster_gpus <= 0:
                gpu = 0.0
            elif cluster_gpus / slots >= 1:
                gpu = float(max(1, min(math.floor(cluster_gpus / slots), math.floor(node_gpus) or 1)))
            else:
                per_gpu = math.ceil(slots / cluster_gpus)  # trials sharing one GPU
                gpu = math.floor(10_000 / per_gpu) / 10_000  # Ray counts fractions to 1e-4
        max_concurrent = self.max_concurrent
        if max_concurrent == "auto":
            fit = int(math.floor(cluster_cpus / cpu + 1e-9))
            if gpu > 0:
                fit = min(fit, int(math.floor(cluster_gpus / gpu + 1e-9)))
            max_concurrent = max(1, fit)
        return ResourcesSpec(cpu=float(cpu), gpu=float(gpu), max_concurrent=max_concurrent)


class BabysitSpec(_Frozen):
    """The babysitter's rules (``strategy: babysit``; see :mod:`orchestrator.babysit`).

    Learning-rate changes stay inside the spec's ``learning_rate`` range (when it is searched) or
    within ``[lr / 1000, lr * 10]`` of a fixed one.
    """

    patience: int = Field(3, ge=1, le=1000)          # epochs without improvement before a step decay
    min_delta: float = Field(0.0, ge=0)              # the least change of the metric that counts
    lr_cut: float = Field(0.3, gt=0, lt=1)           # divergence/oscillation: revert, lr *= lr_cut
    lr_decay: float = Field(0.5, gt=0, lt=1)         # plateau: lr *= lr_decay (a step)
    lr_raise: float = Field(3.0, gt=1, le=100)       # too slow: lr *= lr_raise
    max_decays: int = Field(2, ge=0, le=100)         # decays without improvement before the model is done
    max_reverts: int = Field(5, ge=0, le=100)        # reverts before a diverging model is given up
    cooldown: int = Field(2, ge=0, le=1000)          # epochs after a change before the next (not divergence)
    max_models: int = Field(50, ge=1, le=100_000)    # models trained one after the other (a budget ends sooner)


class _RawSpec(_Frozen):
    name: str | None = None
    description: str | None = None
    data: DataSpec
    model: dict[str, Any] = {}
    params: dict[str, Any] = {}
    metric: Union[str, MetricSpec] = MetricSpec()
    search: SearchSpec = SearchSpec()
    scheduler: SchedulerSpec = SchedulerSpec()
    stoppers: StoppersSpec = StoppersSpec()
    early_stopping: EarlyStoppingSpec | None = None
    divergence: DivergenceSpec = DivergenceSpec()
    resources: ResourcesSpec = ResourcesSpec()
    max_failures: int = Field(0, ge=0, le=100)
    seed: int = 0
    strategy: Literal["parallel", "babysit"] = "parallel"
    babysit: BabysitSpec = BabysitSpec()


class SweepSpec(_Frozen):
    """A validated sweep with every default resolved. Immutable.

    ``params`` holds one entry per hyperparameter of the model (constants included), so the
    trainable never needs to know defaults.
    """

    name: str
    description: str | None
    source: str | None
    base_dir: str
    data: DataSpec
    task: Literal["classification", "regression"]
    params: dict[str, Param]
    metric: MetricSpec
    search: SearchSpec
    scheduler: SchedulerSpec
    stoppers: StoppersSpec
    early_stopping: EarlyStoppingSpec | None
    divergence: DivergenceSpec
    resources: ResourcesSpec
    max_failures: int
    seed: int
    strategy: Literal["parallel", "babysit"] = "parallel"
    babysit: BabysitSpec = BabysitSpec()

    @property
    def searched(self) -> dict[str, Param]:
        """The hyperparameters that vary between trials."""
        return {k: p for k, p in self.params.items() if not isinstance(p, Constant)}

    @property
    def metric_name(self) -> str:
        return self.metric.name

    @property
    def mode(self) -> str:
        assert self.metric.mode is not None  # resolved by parse_spec
        return self.metric.mode

    def data_path(self) -> str | None:
        """The data file's path, resolved against the spec file's directory."""
        if self.data.path is None:
            return None
        if "://" in self.data.path or Path(self.data.path).is_absolute():
            return self.data.path
        return str(Path(self.base_dir, self.data.path))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what run.json stores)."""
        return self.model_dump(mode="json")

    def with_overrides(self, **changes: Any) -> "SweepSpec":
        """A copy with top-level sections replaced (CLI overrides such as --num-samples)."""
        return self.model_copy(update=changes)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_spec(path: str | Path) -> SweepSpec:
    """Read, validate and resolve a spec file.

    Args:
        path: the YAML file.

    Returns:
        The resolved :class:`SweepSpec`.

    Raises:
        SpecError: one line naming the file and key path.
    """
    p = Path(path)
    fname = p.name or str(p)
    try:
        if not p.exists():
            raise SpecError("", f"no such file: {path}")
        if p.is_dir():
            raise SpecError("", f"{path} is a directory, not a spec file")
        size = p.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError("", f"file is {size} bytes; a spec may be at most {MAX_SPEC_BYTES}")
        raw = p.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError("", f"not UTF-8 text (byte {e.start}); save the file as UTF-8") from None
        doc = _safe_yaml(text)
        return parse_spec(doc, source=str(p), base_dir=str(p.resolve().parent), default_name=p.stem)
    except SpecError as e:
        raise e.with_file(fname) from None
    except OSError as e:
        raise SpecError("", f"cannot read: {e.strerror or e}", fname) from None


def _safe_yaml(text: str) -> Any:
    try:
        # Count aliases on the event stream first: anchors that reference each other can
        # expand to billions of nodes ("billion laughs") once anything walks the tree.
        aliases = sum(isinstance(ev, yaml.AliasEvent) for ev in yaml.parse(text, Loader=yaml.SafeLoader))
        if aliases > 100:
            raise SpecError("", f"{aliases} YAML aliases; at most 100 are allowed in a spec")
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "could not determine a constructor" in str(e):
            problem = "YAML tags such as !!python/... are not allowed; a spec is plain data"
        raise SpecError("", f"not valid YAML{where}: {problem}") from None
    if _count_nodes(doc) > MAX_YAML_NODES:
        raise SpecError("", f"spec has more than {MAX_YAML_NODES} values once aliases are expanded")
    return doc


def _count_nodes(doc: Any, budget: int = MAX_YAML_NODES + 1) -> int:
    stack, n = [doc], 0
    while stack and n <= budget:
        x = stack.pop()
        n += 1
        if isinstance(x, dict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif isinstance(x, list):
            stack.extend(x)
    return n


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _from_validation(err: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> SpecError:
    errors = err.errors()
    # A union (metric: name or mapping) reports one error per branch; the deepest one is the
    # branch the user meant (metric.foo: unknown key, not metric: should be a string).
    e = max((x for x in errors if x["loc"][:1] == errors[0]["loc"][:1]), key=lambda x: len(x["loc"]))
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p in _TAGS)))
    key = ".".join(x for x in (prefix, _loc(loc)) if x)
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
        parent = _model_at(model, e["loc"][:-1]) if model is not None else None
        if parent is not None:
            msg += f"; expected one of: {', '.join(parent.model_fields)}"
    elif e["type"] == "missing":
        msg = "required key is missing"
    else:
        inp = e.get("input")
        if not isinstance(inp, (dict, list)):
            msg = f"{msg}, got {inp!r}"
    return SpecError(key, msg)


_TAGS = {"str", "int", "float", "bool", "MetricSpec", "list[...]"}


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section model that a validation error's location points into (for the key hint)."""
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in _TAGS):
            continue
        field = model.model_fields.get(part) if isinstance(part, str) else None
        found = _model_of(field.annotation) if field is not None else None
        if found is None:
            return None
        model = found
    return model


def _validate(model: type[BaseModel], value: Any, prefix: str) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as err:
        raise _from_validation(err, prefix, model) from None


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
    if doc is None:
        raise SpecError("", "the file is empty; a spec needs at least a data section")
    if not isinstance(doc, dict):
        raise SpecError("", f"a spec is a mapping of keys (name, data, params, ...), got a {type(doc).__name__}")
    for k in doc:
        if not isinstance(k, str):
            raise SpecError(str(k), "keys must be strings")
    raw: _RawSpec = _validate(_RawSpec, doc, "")

    name = raw.name if raw.name is not None else default_name
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise SpecError("name", f"use letters, digits, '_', '.', '-' (at most 64), got {name!r}")

    task = _check_data(raw.data, base_dir)
    params = _resolve_params(raw.model, raw.params)
    metric = _resolve_metric(raw.metric, task)
    _check_search(raw.search, params)
    _check_scheduler(raw.scheduler, raw.search, params)
    _check_resources(raw.resources)
    _check_strategy(raw)
    if raw.early_stopping is not None:
        allowed = _metric_names(task)
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
        params=params,
        metric=metric,
        search=raw.search,
        scheduler=raw.scheduler,
        stoppers=raw.stoppers,
        early_stopping=raw.early_stopping,
        divergence=raw.divergence,
        resources=raw.resources,
        max_failures=raw.max_failures,
        seed=raw.seed,
        strategy=raw.strategy,
        babysit=raw.babysit,
    )
    from .space import count_trials  # local: space imports spec

    n = count_trials(spec)
    if spec.search.algorithm in ("grid", "random") and n > MAX_GRID_TRIALS:
        raise SpecError("params", f"the grid expands to {n} trials; at most {MAX_GRID_TRIALS} — use "
                        "search.algorithm: random with choice instead of grid")
    return spec


def _check_data(d: DataSpec, base_dir: str) -> str:
    if (d.dataset is None) == (d.path is None):
        raise SpecError("data", "give exactly one of data.dataset (digits, diabetes, exam) or data.path")
    total = d.split.train + d.split.val + d.split.test
    if abs(total - 1.0) > 1e-6:
        raise SpecError("data.split", f"train + val + test must be 1, got {total:g}")
    if d.dataset is not None:
        implied = "regression" if d.dataset == "diabetes" else "classification"
        if d.task is not None and d.task != implied:
            raise SpecError("data.task", f"{d.dataset} is a {implied} data set, got {d.task!r}")
        if d.target is not None:
            raise SpecError("data.target", "only for data.path; a built-in data set has its own target")
        return implied
    if d.target is None:
        raise SpecError("data.target", "required with data.path: the name of the column to predict")
    if d.task is None:
        raise SpecError("data.task", "required with data.path: classification or regression")
    # pandas and scikit-learn (about 1 s of imports) load here only for a data file: for a built-in
    # data set `sweep run` imports them while Ray starts
    from . import data as data_mod

    path = d.path if ("://" in d.path or Path(d.path).is_absolute()) else str(Path(base_dir, d.path))
    try:
        data_mod.check_source(dataset=None, path=path, target=d.target, task=d.task)
    except DataError:
        raise
    return d.task


def _metric_names(task: str) -> list[str]:
    if task == "classification":
        return ["val_loss", "val_accuracy"]
    return ["val_loss", "val_mae", "val_mse"]


def _resolve_metric(m: Union[str, MetricSpec], task: str) -> MetricSpec:
    if isinstance(m, str):
        m = MetricSpec(name=m)
    allowed = _metric_names(task)
    if m.name not in allowed:
        hint = " (the test split is never used for selection)" if m.name.startswith("test") else ""
        raise SpecError("metric.name", f"must be one of {', '.join(allowed)} for {task}, got {m.name!r}{hint}")
    natural = "max" if m.name.endswith("accuracy") else "min"
    if m.mode is not None and m.mode != natural:
        raise SpecError("metric.mode", f"{m.name} is better when it is {'higher' if natural == 'max' else 'lower'}: "
                        f"mode must be {natural!r}, got {m.mode!r}")
    return MetricSpec(name=m.name, mode=natural)


def _check_value(name: str, value: Any, key: str) -> Scalar:
    kind, _default, rule = HYPERPARAMETERS[name]
    if kind == "cat":
        if not isinstance(value, str):
            raise SpecError(key, f"must be a string, got {value!r}")
    elif kind == "int":
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise SpecError(key, f"must be an integer, got {value!r}")
        value = int(value)
    else:
        if isinstance(value, str):
            try:
                value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
            except ValueError:
                raise SpecError(key, f"must be a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SpecError(key, f"must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise SpecError(key, f"must be finite, got {value!r}")
    problem = rule(value)
    if problem:
        raise SpecError(key, problem)
    return value


def _parse_param(name: str, value: Any, key: str) -> Param:
    if name not in HYPERPARAMETERS:
        raise SpecError(key, f"unknown hyperparameter; known: {', '.join(HYPERPARAMETERS)}")
    kind = HYPERPARAMETERS[name][0]
    if isinstance(value, list):
        raise SpecError(key, "a list is ambiguous: write {type: grid, values: [...]} to try every value "
                        "or {type: choice, values: [...]} to sample one")
    if not isinstance(value, dict):
        return Constant(value=_check_value(name, value, key))
    if "type" not in value:
        raise SpecError(f"{key}.type", f"required; one of {', '.join(_DIST_TYPES)} (or give a plain value)")
    t = value["type"]
    if t == "constant":
        c = _validate(Constant, value, key)
        return Constant(value=_check_value(name, c.value, f"{key}.value"), when=c.when)
    if not isinstance(t, str) or t not in _DIST_TYPES:
        raise SpecError(f"{key}.type", f"must be one of {', '.join(_DIST_TYPES)}, got {t!r}")
    dist = _validate(_DIST_TYPES[t], value, key)
    if isinstance(dist, (Grid, Choice)):
        if not dist.values:
            raise SpecError(f"{key}.values", "is empty; give at least one value")
        vals = [_check_value(name, v, f"{key}.values[{i}]") for i, v in enumerate(dist.values)]
        if len(set(map(repr, vals))) != len(vals):
            raise SpecError(f"{key}.values", f"has duplicates: {vals}")
        return type(dist)(type=dist.type, values=vals, when=dist.when)
    if kind == "cat":
        raise SpecError(f"{key}.type", f"{name} is categorical: use choice or grid, not {t}")
    if isinstance(dist, IntRange) and kind != "int":
        raise SpecError(f"{key}.type", f"{name} is a float: use uniform or loguniform, not {t}")
    if isinstance(dist, (Uniform, LogUniform)) and kind != "float":
        raise SpecError(f"{key}.type", f"{name} is an integer: use int (with log: true for a log scale), not {t}")
    # The log-scale bound first: learning_rate's own rule (> 0) would hide why 0 is refused here.
    if (isinstance(dist, LogUniform) or (isinstance(dist, IntRange) and dist.log)) and dist.low <= 0:
        raise SpecError(f"{key}.low", f"must be > 0 for a log scale, got {dist.low:g}")
    lo = _check_value(name, dist.low, f"{key}.low")
    hi = _check_value(name, dist.high, f"{key}.high")
    if lo > hi or (lo == hi and not isinstance(dist, IntRange)):
        raise SpecError(f"{key}.low", f"must be below high ({hi:g}), got {lo:g}")
    return dist


def _resolve_params(model: dict[str, Any], params: dict[str, Any]) -> dict[str, Param]:
    out: dict[str, Param] = {}
    for name, value in model.items():
        key = f"model.{name}"
        if name in params:
            raise SpecError(key, f"also set in params.{name}; set it in one place")
        if isinstance(value, dict) and "type" in value:
            raise SpecError(key, "model holds fixed values; put distributions under params")
        out[name] = _parse_param(name, value, key)
    for name, value in params.items():
        out[name] = _parse_param(name, value, f"params.{name}")
    for name, (_kind, default, _rule) in HYPERPARAMETERS.items():
        out.setdefault(name, Constant(value=default))
    # Conditions: `when: {optimizer: sgd}` means the parameter only exists when the condition holds.
    for name, p in out.items():
        if not p.when:
            continue
        where = "params" if name in params else "model"
        if isinstance(p, Grid):
            raise SpecError(f"{where}.{name}.when", "a grid parameter cannot be conditional; use choice")
        for other, wanted in p.when.items():
            ck = f"{where}.{name}.when.{other}"
            if other not in HYPERPARAMETERS:
                raise SpecError(ck, f"unknown hyperparameter; known: {', '.join(HYPERPARAMETERS)}")
            if other == name:
                raise SpecError(ck, "a parameter cannot depend on itself")
            q = out[other]
            if q.when:
                raise SpecError(ck, f"{other} is itself conditional; conditions may only name unconditional parameters")
            if not isinstance(q, (Constant, Grid, Choice)):
                raise SpecError(ck, f"{other} is a continuous range; conditions need a constant, choice or grid")
            wanted_list = wanted if isinstance(wanted, list) else [wanted]
            possible = [q.value] if isinstance(q, Constant) else list(q.values)
            for w in wanted_list:
                w = _check_value(other, w, ck)
                if w not in possible:
                    raise SpecError(ck, f"{w!r} is not a value {other} can take ({', '.join(map(str, possible))})")
    return out


def _check_search(s: SearchSpec, params: dict[str, Param]) -> None:
    for name, p in params.items():
        if s.algorithm == "grid" and isinstance(p, (Choice, Uniform, LogUniform, IntRange)):
            raise SpecError(f"params.{name}.type", f"search.algorithm grid tries listed values only; "
                            f"use type: grid here or search.algorithm: random, got {p.type}")
        if s.algorithm == "tpe" and isinstance(p, Grid):
            raise SpecError(f"params.{name}.type", "a model-based search (tpe) samples; use type: choice instead of grid")


def _check_scheduler(s: SchedulerSpec, search: SearchSpec, params: dict[str, Param]) -> None:
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
        return
    numeric = [n for n, p in params.items() if isinstance(p, (Uniform, LogUniform, IntRange))
               or (isinstance(p, (Choice, Grid)) and all(isinstance(v, (int, float)) for v in p.values))]
    if not numeric:
        raise SpecError("scheduler.type", "pbt needs at least one searched numeric hyperparameter "
                        "(e.g. learning_rate: {type: loguniform, ...}) to perturb")


def _check_strategy(raw: _RawSpec) -> None:
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


def active(params: dict[str, Param], name: str, config: dict[str, Any]) -> bool:
    """Whether hyperparameter ``name`` is active under ``config`` (its ``when`` holds)."""
    p = params[name]
    if not p.when:
        return True
    for other, wanted in p.when.items():
        wanted_list = wanted if isinstance(wanted, list) else [wanted]
        if config.get(other) not in wanted_list:
            return False
    return True
