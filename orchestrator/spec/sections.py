"""The spec's sections as pydantic models, and :class:`SweepSpec`, the validated whole.

Structure only (types, bounds, unknown keys); what the values mean together is checked by
:mod:`orchestrator.spec.checks`. Also the one place the default number of samples is decided
(:attr:`SearchSpec.resolved_num_samples`) and the trial count follows from it (:func:`count_trials`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Union, get_args

from pydantic import Field, StrictInt, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .distributions import Choice, Constant, Frozen, Grid, Param
from .objectives import Bound, MetricSpec, Objective, SelectSpec, describe_goals, is_cost, known_mode, objective_column

__all__ = ["SplitSpec", "DataSpec", "ModelSpec", "MetricSpec", "SearchSpec", "SchedulerSpec", "TrialPlateauSpec",
           "ExperimentPlateauSpec", "StoppersSpec", "EarlyStoppingSpec", "DivergenceSpec", "ResourcesSpec",
           "BabysitSpec", "FinalSpec", "TrackingSpec", "CodeSpec", "RawSpec", "SweepSpec", "DEFAULT_NUM_SAMPLES",
           "count_trials", "resolve_data_path", "StrategyName", "STRATEGIES", "DEFAULT_ALGORITHM_IS_TPE",
           "default_algorithm"]

# The names a spec's `strategy` accepts, defined once: `sweep compare --strategies` takes these, and
# execution.strategies registers one strategy under each (a unit test holds the two equal).
StrategyName = Literal["parallel", "babysit"]
STRATEGIES: tuple[str, ...] = get_args(StrategyName)

# Samples a random or tpe search draws when search.num_samples is not given (a grid: 1 per point).
DEFAULT_NUM_SAMPLES = 16
# The search a spec gets when it names no search.algorithm (see default_algorithm): False keeps
# random search, True gives tpe (and grid to a grid space). Switched on only once the benchmark
# (benchmarks/RESULTS.md) shows tpe at least as good as random on our sets.
DEFAULT_ALGORITHM_IS_TPE = False


class SplitSpec(Frozen):
    """The fractions of the rows for training, validation and the one final test."""

    train: float = Field(0.7, gt=0, lt=1)
    val: float = Field(0.2, gt=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)


class DataSpec(Frozen):
    """Where the data comes from and how it is split.

    One source: a built-in ``dataset``; a ``path`` (a CSV or Parquet table, a NumPy ``.npz`` file
    with arrays ``x`` and ``y``, or a folder of images with one subfolder per class); or a
    ``loader`` (``file.py:function``, called with ``args``). ``shape`` reshapes each prepared
    table row into one example (``[8, 8, 1]``: an 8x8 one-channel image); ``image_size`` and
    ``color_mode`` say how an image folder is read (None: 64x64).
    """

    dataset: Literal["digits", "diabetes", "exam"] | None = None
    path: str | None = None
    target: str | None = None
    task: Literal["classification", "regression"] | None = None
    samples: int | None = Field(None, ge=10)
    split: SplitSpec = SplitSpec()
    stratify: bool | None = None
    seed: int = 0
    missing: Literal["error", "impute"] = "error"
    loader: str | None = None
    args: dict[str, Any] = {}
    shape: list[StrictInt] | None = None
    image_size: list[StrictInt] | None = None
    color_mode: Literal["rgb", "grayscale", "rgba"] = "rgb"


class ModelSpec(Frozen):
    """Which model a trial trains: a built-in ``family`` (``mlp``, ``cnn``) or the user's
    ``builder`` (``file.py:function`` or ``package.module:function``, imported when run)."""

    family: Literal["mlp", "cnn"] = "mlp"
    builder: str | None = None

    @property
    def kind(self) -> Literal["mlp", "cnn", "builder"]:
        """``builder`` when there is one, else the family: what decides the hyperparameters."""
        return "builder" if self.builder is not None else self.family


class SearchSpec(Frozen):
    """How configurations are drawn; ``num_samples`` None: see :attr:`resolved_num_samples`.

    ``algorithm`` not written: :func:`default_algorithm` decides it when the spec is parsed, so a
    resolved spec (and run.json) always names the search it ran.
    """

    algorithm: Literal["grid", "random", "tpe"] = "random"
    num_samples: int | None = Field(None, ge=1, le=1_000_000)
    seed: int | None = 0

    @property
    def resolved_num_samples(self) -> int:
        """The samples Ray Tune is asked for (per grid point): ``num_samples``, else 1 for a grid
        search (each point once) and :data:`DEFAULT_NUM_SAMPLES` for a random or tpe search.

        The one place this default is decided: the trial count, the Tune experiment and the
        nightly warm start all read it here.
        """
        if self.num_samples is not None:
            return self.num_samples
        return 1 if self.algorithm == "grid" else DEFAULT_NUM_SAMPLES


def default_algorithm(params: dict[str, Param], scheduler: str = "none", strategy: str = "parallel") -> str:
    """The search a spec gets when it names no ``search.algorithm``.

    With :data:`DEFAULT_ALGORITHM_IS_TPE` off: ``random`` (as it always was). On: ``tpe`` for a
    space without a grid parameter (multi-objective TPE with several objectives), ``grid`` for a
    space of grid parameters (and constants) only, and ``random`` where neither can run: a grid
    mixed with sampled parameters (each grid point gets random samples of the rest), ``scheduler:
    pbt`` (it evolves its own population) and ``strategy: babysit`` (it draws its own models).
    """
    if not DEFAULT_ALGORITHM_IS_TPE or scheduler == "pbt" or strategy == "babysit":
        return "random"
    grids = [p for p in params.values() if isinstance(p, Grid)]
    if not grids:
        return "tpe"
    sampled = [p for p in params.values() if not isinstance(p, (Grid, Constant))]
    return "random" if sampled else "grid"


class SchedulerSpec(Frozen):
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


class TrialPlateauSpec(Frozen):
    """Stop a trial whose metric has not improved by ``min_delta`` for ``patience`` epochs."""

    patience: int = Field(3, ge=1)
    min_delta: float = Field(0.0, ge=0)
    grace_period: int = Field(3, ge=0)


class ExperimentPlateauSpec(Frozen):
    """Stop the whole sweep when the best result has not improved for ``patience`` reports."""

    patience: int = Field(20, ge=1)
    min_delta: float = Field(0.0, ge=0)


class StoppersSpec(Frozen):
    """Our plateau stoppers (parallel sweeps only)."""

    plateau: TrialPlateauSpec | None = None
    experiment_plateau: ExperimentPlateauSpec | None = None


class EarlyStoppingSpec(Frozen):
    """Keras' in-trial EarlyStopping, as in the course."""

    monitor: str = "val_loss"
    patience: int = Field(5, ge=0)
    min_delta: float = Field(0.0, ge=0)
    restore_best_weights: bool = True


class DivergenceSpec(Frozen):
    """A training loss above ``explode_factor`` times its reference loss counts as diverged."""

    explode_factor: float = Field(10.0, gt=1)


class ResourcesSpec(Frozen):
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


class BabysitSpec(Frozen):
    """The babysitter's rules (``strategy: babysit``; see :mod:`orchestrator.decisions.babysit_rules`).

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


class FinalSpec(Frozen):
    """What happens to the selected configuration before its one test.

    ``refit: none`` scores the selected trial's best checkpoint; ``train+val`` trains the selected
    configuration again, from scratch, on the training and validation rows together for the
    epochs at which it was best, and scores (and exports) that model.
    """

    refit: Literal["none", "train+val"] = "none"


class TrackingSpec(Frozen):
    """Where else the sweep is recorded: ``mlflow`` is an MLflow tracking URI (``file:./mlruns``,
    ``http://host:5000``); the driver logs the sweep as a parent run and each trial as a child."""

    mlflow: str | None = None


class CodeSpec(Frozen):
    """What a run on a cluster sends besides the code the spec names (the ``model.builder`` and
    ``data.loader`` files, the local modules they import, their package): ``include`` lists files
    and folders the code reads (``[helpers/, lookup.json]``), relative to the spec file's directory
    and inside it."""

    include: list[str] = []


class RawSpec(Frozen):
    """The spec as written (sections validated, hyperparameters still raw); see :func:`parse_spec`."""

    name: str | None = None
    description: str | None = None
    data: DataSpec
    model: dict[str, Any] = {}
    params: dict[str, Any] = {}
    metric: Union[str, MetricSpec] = MetricSpec()
    objectives: list[Any] | None = None  # each checked by objectives.resolve_goals (names its index)
    constraints: dict[str, Any] = {}
    select: SelectSpec = SelectSpec()
    search: SearchSpec = SearchSpec()
    scheduler: SchedulerSpec = SchedulerSpec()
    stoppers: StoppersSpec = StoppersSpec()
    early_stopping: EarlyStoppingSpec | None = None
    divergence: DivergenceSpec = DivergenceSpec()
    resources: ResourcesSpec = ResourcesSpec()
    max_failures: int = Field(0, ge=0, le=100)
    seed: int = 0
    strategy: StrategyName = "parallel"
    babysit: BabysitSpec = BabysitSpec()
    final: FinalSpec = FinalSpec()
    tracking: TrackingSpec = TrackingSpec()
    code: CodeSpec = CodeSpec()


class SweepSpec(Frozen):
    """A validated sweep with every default resolved. Immutable.

    ``params`` holds one entry per hyperparameter of the model (constants included), so the
    trainable never needs to know defaults: for a family its own and the training ones, for a
    builder the training ones and exactly the names the spec writes.
    """

    name: str
    description: str | None
    source: str | None
    base_dir: str
    data: DataSpec
    task: Literal["classification", "regression"]
    model: ModelSpec = ModelSpec()  # a run.json written before builders and families: the MLP
    params: dict[str, Param]
    metric: MetricSpec
    # objectives[0] is the metric (a run.json written before objectives: filled from it);
    # constraints and select: none and the best first objective in one written before them.
    objectives: tuple[Objective, ...] = ()
    constraints: dict[str, Bound] = {}
    select: SelectSpec = SelectSpec()
    search: SearchSpec
    scheduler: SchedulerSpec
    stoppers: StoppersSpec
    early_stopping: EarlyStoppingSpec | None
    divergence: DivergenceSpec
    resources: ResourcesSpec
    max_failures: int
    seed: int
    strategy: StrategyName = "parallel"
    babysit: BabysitSpec = BabysitSpec()
    final: FinalSpec = FinalSpec()
    tracking: TrackingSpec = TrackingSpec()
    code: CodeSpec = CodeSpec()  # a run.json written before code.include: nothing listed

    @model_validator(mode="before")
    @classmethod
    def _objectives_from_metric(cls, data: Any) -> Any:
        """No objectives given (a run.json from before them): the metric is the one objective."""
        if not isinstance(data, dict) or data.get("objectives"):
            return data
        metric = data.get("metric")
        if isinstance(metric, MetricSpec):
            metric = metric.model_dump()
        if not isinstance(metric, dict) or metric.get("name") is None:
            return data
        return {**data, "objectives": [{"name": metric["name"], "mode": metric.get("mode")}]}

    @property
    def searched(self) -> dict[str, Param]:
        """The hyperparameters that vary between trials."""
        return {k: p for k, p in self.params.items() if not isinstance(p, Constant)}

    def repeats_note(self) -> str | None:
        """What to tell the user when the trials would all train one configuration (nothing is
        searched, several samples asked for): they differ only in their seeds."""
        n = count_trials(self)
        if self.searched or n < 2 or self.strategy != "parallel":
            return None
        return (f"nothing is searched (every hyperparameter is fixed): the {n} trials train one "
                "configuration, differing only in their seeds")

    @property
    def max_epochs(self) -> int:
        """The most epochs any trial may train (the schedulers' ``max_t``)."""
        p = self.params["epochs"]
        if isinstance(p, Constant):
            return int(p.value)
        if isinstance(p, (Grid, Choice)):
            return int(max(p.values))
        return int(p.high)  # an int range

    @property
    def metric_name(self) -> str:
        return self.metric.name

    @property
    def mode(self) -> str:
        assert self.metric.mode is not None  # resolved by parse_spec
        return self.metric.mode

    @property
    def objective_names(self) -> tuple[str, ...]:
        """The objectives' names, the metric first."""
        return tuple(o.name for o in self.objectives)

    @property
    def objective_modes(self) -> tuple[str, ...]:
        """Each objective's ``min`` or ``max``, in :attr:`objective_names`' order."""
        return tuple(str(o.mode or "min") for o in self.objectives)

    @property
    def objective_columns(self) -> tuple[str, ...]:
        """The row columns holding the objectives as finite numbers: ``objective``, ``objective_1``, ..."""
        return tuple(objective_column(i) for i in range(len(self.objectives)))

    @property
    def multi_objective(self) -> bool:
        """Whether the sweep has more than one objective."""
        return len(self.objectives) > 1

    @property
    def build_constraints(self) -> dict[str, Bound]:
        """The constraints a trial's model breaks as soon as it is built (on a cost known then:
        ``params``, ``latency_ms``...): such a trial ends before its first epoch."""
        return {n: b for n, b in self.constraints.items() if is_cost(n) and n != "train_seconds"}

    @property
    def record_constraints(self) -> dict[str, Bound]:
        """The other constraints, judged on the trial's record: a metric on its best epoch (best by
        the first objective), ``train_seconds`` on the time it trained."""
        return {n: b for n, b in self.constraints.items() if n not in self.build_constraints}

    def mode_of(self, name: str) -> str:
        """Whether ``name`` (a metric or cost) is better ``min`` or ``max``: its objective's mode
        when it is one, else what its name says (every cost: min)."""
        for o in self.objectives:
            if o.name == name and o.mode is not None:
                return str(o.mode)
        return known_mode(name) or "min"

    @property
    def rung_criteria(self) -> tuple[tuple[str, str, str], ...]:
        """What ASHA's rungs rank, as ``(name, row column, mode)``: the objectives (several are
        ranked by non-dominated sorting); with one objective and ``select: {rule: within}``, the
        rule's ``of`` and ``then`` instead. The rule keeps the best ``then`` among the trials near
        the best ``of``: ranked on ``of`` alone, a rung would stop exactly those (a small model
        learns more slowly and is behind at the first rung, though it would end within the
        tolerance), so the rung keeps the front of the two, as it does for two objectives."""
        if len(self.objectives) == 1 and self.select.rule == "within" and self.select.then \
                and self.select.then != self.select.of:
            of, then = str(self.select.of), str(self.select.then)
            of_column = self.objective_columns[0] if of == self.objectives[0].name else of
            return (of, of_column, self.mode_of(of)), (then, then, self.mode_of(then))
        return tuple(zip(self.objective_names, self.objective_columns, self.objective_modes))

    def describe_scheduler(self) -> str:
        """The scheduler's type, and for an ASHA that ranks several things, what (``sweep validate``)."""
        if self.scheduler.type == "asha" and len(self.rung_criteria) > 1:
            return "asha ranking " + " and ".join(name for name, _, _ in self.rung_criteria)
        return self.scheduler.type

    def metric_keys(self) -> list[tuple[str, str]]:
        """``(spec key, metric name)`` of each metric (not cost) the objectives after the first,
        the constraints and the select rule read: what a user's model must report."""
        keys = [(f"objectives[{i}].name", o.name) for i, o in enumerate(self.objectives) if i > 0]
        keys += [(f"constraints.{n}", n) for n in self.constraints]
        keys += [(f"select.{f}", getattr(self.select, f)) for f in ("of", "then") if getattr(self.select, f)]
        return [(k, n) for k, n in keys if not is_cost(n)]

    def describe_goals(self) -> str:
        """The objectives, constraints and select rule in a few words (``sweep validate``'s line)."""
        return describe_goals(self.objectives, self.constraints, self.select)

    def data_path(self) -> str | None:
        """The data file's path, resolved against the spec file's directory."""
        return None if self.data.path is None else resolve_data_path(self.data.path, self.base_dir)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (what run.json stores)."""
        return self.model_dump(mode="json")

    def with_overrides(self, **changes: Any) -> "SweepSpec":
        """A copy with top-level sections replaced (CLI overrides such as --num-samples)."""
        return self.model_copy(update=changes)


def resolve_data_path(path: str, base_dir: str) -> str:
    """A spec's ``data.path`` as a path to open: a URI or an absolute path as written, a relative
    path against ``base_dir`` (the spec file's directory)."""
    if "://" in path or Path(path).is_absolute():
        return path
    return str(Path(base_dir, path))


def count_trials(spec: SweepSpec) -> int:
    """How many trials the sweep will start: grid points × :attr:`SearchSpec.resolved_num_samples`."""
    if spec.search.algorithm == "tpe":  # tpe samples every parameter; it has no grid
        return spec.search.resolved_num_samples
    grid = 1
    for p in spec.params.values():
        if isinstance(p, Grid):
            grid *= len(p.values)
    return grid * spec.search.resolved_num_samples
