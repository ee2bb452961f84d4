"""Runner: a :class:`SweepSpec` becomes a Ray Tune experiment, and its results a run directory.

The only driver-side module that imports Ray (lazily, when a sweep starts). Ray starts embedded in
the process when no address is given, without a dashboard and with its logs
kept out of the user's terminal; ``--address`` / ``RAY_ADDRESS`` connects to a cluster instead.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import socket
import sys
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import SpecError
from .progress import ProgressView
from .space import count_trials, max_epochs, optuna_space, to_param_space
from .spec import SweepSpec

if TYPE_CHECKING:  # imported where used: a sweep starts Ray before pandas and scikit-learn load
    from . import data as data_mod
    from .results import RunTables

__all__ = ["RunResult", "run_sweep", "resume_sweep", "connect_ray", "resolve_resources", "JOURNAL"]

log = logging.getLogger(__name__)

JOURNAL = "journal.jsonl"  # every recorded report, appended at once: what a resume starts from

# Environment for Ray workers: TensorFlow's C++ logs off, no Tune logger files per trial.
WORKER_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONWARNINGS": "ignore",
    "KERAS_BACKEND": "tensorflow",
    # What Ray Tune sets for its trial actors (ray.tune.execution.class_cache.DEFAULT_ENV_VARS):
    # here already, so Tune's trial actors can do without their runtime_env (_tune_actors_without_runtime_env).
    "PL_DISABLE_FORK": "1",
}
DRIVER_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "100000",
    "RAY_DEDUP_LOGS": "1",
    "RAY_USAGE_STATS_ENABLED": "0",
    # A failed trial's traceback goes to its error.txt under tune/; the terminal gets one line and
    # trials.parquet / events.parquet keep the message.
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
}


@dataclass(frozen=True)
class RunResult:
    """What a finished run left behind."""

    run_dir: Path  # or, for a run on a URI, its Location (str() is the URI)
    run_id: str
    status: str
    selected: str | None
    best_value: float | None
    test_metrics: dict[str, float]
    counts: dict[str, int]
    metric: str = ""


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("orchestrator", "ray", "tensorflow", "tensorflow-cpu", "keras", "numpy", "pandas", "pyarrow",
                "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


# Trials are the foreground work of `sweep run`: their workers run at the driver's priority, not at
# Ray's default niceness of 15 (which makes any other process on the machine starve them).
WORKER_NICENESS = int(os.environ.get("SWEEP_WORKER_NICENESS", "0"))
# Modules every worker of an embedded Ray imports as it starts (Ray's ``preload_python_modules``),
# with SWEEP_PRELOAD=1: TensorFlow (trimmed, training/preload.py) is then imported in the workers Ray
# prestarts (one per CPU), which run the first trials, while the driver sets up the sweep. Off by
# default: on 2 cores the first epoch came no sooner (the driver, Ray's agents and both imports
# share the two cores, see benchmarks/placement.md); it may on machines with more cores than trials.
PRELOAD_MODULES = ["orchestrator.training.preload"]


# The node id of the Ray that connect_ray started in this process (None: none, or a cluster's):
# its workers inherit this process's environment (see _embedded_here).
_STARTED_NODE: str | None = None


def _embedded_here() -> bool:
    """True while the Ray this process uses is the embedded one :func:`connect_ray` started here."""
    import ray

    return (_STARTED_NODE is not None and ray.is_initialized()
            and ray.get_runtime_context().get_node_id() == _STARTED_NODE)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def _swap(owner: Any, name: str, value: Any) -> Any:
    """Set ``owner.name`` to ``value``; returns the function that puts the original back."""
    original = getattr(owner, name)
    setattr(owner, name, value)
    return lambda: setattr(owner, name, original)


def _node_params_patch() -> Any:
    """Defaults for the node an embedded Ray starts that ``ray.init`` has no argument for.

    - No log monitor: it streams workers' output to the driver, which ``log_to_driver=False``
      turns off anyway (the workers still write their log files).
    - No autoscaler monitor: one machine, nothing to scale.
    - When Ray's dashboard agent port is taken (another Ray on this machine), a free one:
      otherwise the agent retries the taken port for about 3.5 s and the raylet waits for it
      before ``ray.init`` returns.

    The two monitors are Python processes that took 0.7 CPU-seconds while the first trials
    started on 2 cores. This sets defaults of Ray's node parameters for the duration of the call;
    returns an undo function (or None when Ray's internals moved: Ray then starts as it is).
    """
    try:
        from ray._private import parameter, ray_constants

        defaults: dict[str, Any] = {"include_log_monitor": False, "no_monitor": True}
        if not _port_free(ray_constants.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT):
            defaults["dashboard_agent_listen_port"] = _free_port()
        original = parameter.RayParams.__init__

        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            for k, v in defaults.items():
                if kwargs.get(k) is None:
                    kwargs[k] = v
            original(self, *args, **kwargs)

        return _swap(parameter.RayParams, "__init__", init)
    except Exception:  # Ray internals moved: start Ray as it is
        return None


def _loopback_patch() -> Any:
    """Make an embedded Ray bind its servers to 127.0.0.1 instead of every interface.

    Ray (2.60) turns ``_node_ip_address="127.0.0.1"`` into the machine's address unless it runs
    in its single-machine mode (the default on macOS and Windows, ``ENABLE_RAY_CLUSTER`` false);
    on Linux its GCS, raylet and workers then listen on all interfaces. This switches that mode on
    for the duration of ``ray.init``: the node's address is then 127.0.0.1, which every process
    of the instance is started with. Returns an undo function (or None when Ray's internals moved).
    """
    try:
        from ray._private import ray_constants

        return _swap(ray_constants, "ENABLE_RAY_CLUSTER", False)
    except Exception:
        return None


def _no_api_server_patch() -> Any:
    """Start an embedded Ray without its API server process when no dashboard is wanted.

    Ray (2.60) starts its dashboard head even with ``include_dashboard=False``: then it loads only
    its usage-statistics module (off here, ``RAY_USAGE_STATS_ENABLED=0``), and ``ray.init`` polls
    until that process has come up, 0.5-1 s on 2 cores while it competes with the raylet for
    them. Nothing a sweep uses needs it: Tune talks to the GCS and the raylet. This makes
    ``Node.start_api_server`` a no-op for the duration of ``ray.init``. Returns an undo function
    (or None when Ray's internals moved).
    """
    try:
        from ray._private import node

        return _swap(node.Node, "start_api_server", lambda self, **kwargs: None)
    except Exception:
        return None


def _tune_actors_without_runtime_env() -> Any:
    """Let Ray Tune's trial actors start in the workers an embedded Ray has prestarted.

    Tune registers its trainable with a runtime_env of a few environment variables
    (``PL_DISABLE_FORK=1`` and those of a list it copies from the driver's environment, Ray 2.60).
    Ray hands an actor only an idle worker of the same runtime_env, so it started two new workers
    for the first trials while the two it prestarted during ``ray.init`` (one per CPU) sat idle,
    until it killed them: 1.7 s later to the first trial on 2 cores, and two Python start-ups
    competing for the cores. An embedded Ray's workers inherit this process's environment, which
    holds those variables already (``PL_DISABLE_FORK`` is in :data:`WORKER_ENV`, the copied ones
    come from the same environment): this registers the trainable without the runtime_env. It
    does so only when every variable Tune would set has that value here; returns an undo function,
    or None when it did not patch (a variable differs, or Tune's internals moved).
    """
    try:
        import ray
        from ray.tune.execution import class_cache

        wanted = dict(class_cache.DEFAULT_ENV_VARS)
        wanted.update({k: os.environ[k] for k in class_cache.ENV_VARS_TO_PROPAGATE if k in os.environ})
        if any(os.environ.get(k) != v for k, v in wanted.items()):
            return None

        def get(self: Any, trainable_cls: Any) -> Any:
            if trainable_cls not in self._cache:
                self._cache[trainable_cls] = ray.remote(trainable_cls)
            return self._cache[trainable_cls]

        return _swap(class_cache._ActorClassCache, "get", get)
    except Exception:
        return None


def connect_ray(address: str | None, resources: dict[str, float] | None = None, *,
                preload: bool | None = None, dashboard: bool | None = None) -> bool:
    """Start an embedded Ray or connect to ``address``; True when this call started it.

    A Ray already initialised in this process (a notebook, the test session) is reused as is.
    An embedded Ray's workers inherit :data:`WORKER_ENV` from this process (no runtime_env, so
    trials can use the workers Ray prestarts as it starts), run at :data:`WORKER_NICENESS`, and
    import :data:`PRELOAD_MODULES` as they start when ``preload`` (default: only with
    ``SWEEP_PRELOAD=1``). It listens on 127.0.0.1 only and starts Ray's dashboard (on
    127.0.0.1) only when ``dashboard`` (default: only with ``SWEEP_DASHBOARD=1``, ``--dashboard``);
    without it, no dashboard process, log monitor or autoscaler monitor (:func:`_no_api_server_patch`,
    :func:`_node_params_patch`). A cluster gets the environment as a runtime_env.
    """
    import ray

    for k, v in DRIVER_ENV.items():
        os.environ.setdefault(k, v)
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    common: dict[str, Any] = dict(
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    logging.getLogger("ray").setLevel(logging.ERROR)
    if address:
        ray.init(address=address, runtime_env={"env_vars": dict(WORKER_ENV)}, **common)
    else:
        for k, v in WORKER_ENV.items():
            os.environ.setdefault(k, v)
        if preload is None:
            preload = os.environ.get("SWEEP_PRELOAD", "0") == "1"
        extra: dict[str, Any] = {}
        if preload:
            extra["_system_config"] = {"preload_python_modules": list(PRELOAD_MODULES)}
        extra.setdefault("_system_config", {})["worker_niceness"] = WORKER_NICENESS
        if dashboard is None:
            dashboard = os.environ.get("SWEEP_DASHBOARD", "0") == "1"
        undo = _node_params_patch()
        loopback = _loopback_patch()
        no_api = None if dashboard else _no_api_server_patch()
        try:
            context = ray.init(include_dashboard=dashboard, dashboard_host="127.0.0.1",
                     _node_ip_address="127.0.0.1" if loopback is not None else None,
                     **(resources or {}), **common, **extra)
        finally:
            for u in (no_api, loopback, undo):
                if u is not None:
                    u()
        global _STARTED_NODE
        _STARTED_NODE = ray.get_runtime_context().get_node_id()
        if dashboard and getattr(context, "dashboard_url", None):
            print(f"ray dashboard: http://{context.dashboard_url}", file=sys.stderr, flush=True)
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("ray.tune").setLevel(logging.ERROR)
    return True


class _RayStart:
    """:func:`connect_ray` on a helper thread (an embedded Ray only; a cluster is joined in place).

    Starting an embedded Ray is mostly waiting for its processes; meanwhile the driver prepares
    the data (and imports pandas and scikit-learn when nothing did before).
    """

    def __init__(self, address: str | None, resources: dict[str, float] | None) -> None:
        self.started: bool | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if address or os.environ.get("RAY_ADDRESS"):
            self.started = connect_ray(address, resources)
            return
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(resources,), name="sweep-ray-init", daemon=True)
        self._thread.start()

    def _run(self, resources: dict[str, float] | None) -> None:
        try:
            self.started = connect_ray(None, resources)
        except BaseException as e:  # noqa: BLE001 - raised by join()
            self.error = e
        finally:
            self._ready.set()
        if self.started:
            # Ray's processes are bound to the life of the thread that started them (Linux's
            # parent-death signal is per thread): this thread stays until the process ends.
            threading.Event().wait()

    def join(self) -> bool:
        """Wait for Ray; True when this started it (as :func:`connect_ray`)."""
        if self._thread is not None:
            self._ready.wait()
            self._thread = None
            if self.started and threading.current_thread() is threading.main_thread():
                import signal

                # What ray.init does on the main thread: a SIGTERM ends the driver cleanly.
                if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(signum))
        if self.error is not None:
            raise self.error
        return bool(self.started)

    def abandon(self) -> None:
        """The sweep stops before it started: shut down the Ray this started, if it did."""
        try:
            started = self.join()
        except BaseException:  # noqa: BLE001 - the caller's error is the one to report
            return
        if started:
            import ray

            ray.shutdown()


def warm_workers() -> None:
    """Import TensorFlow in as many Ray worker processes as there are CPUs, before a strategy's
    clock starts, so that neither strategy's budget pays for it.

    On a loaded 2-core machine importing TensorFlow in two fresh workers at once took longer than a
    30 s budget; it is set-up, not tuning. Ray keeps idle workers in its pool for later tasks and
    actors, which may then start warm (it is not guaranteed: under heavy load a parallel sweep's
    first trials still started 15-20 s into a 30 s budget).
    """
    import ray

    n = max(1, int(ray.cluster_resources().get("CPU", 1)))

    @ray.remote(num_cpus=1)
    def warm() -> int:
        import os

        from orchestrator.training.trainable import import_tensorflow

        import_tensorflow()

        return os.getpid()

    ray.get([warm.remote() for _ in range(n)])


def shutdown_ray() -> None:
    """Shut down the Ray this process started (:func:`connect_ray` returned True)."""
    import ray

    ray.shutdown()


def resolve_resources(spec: SweepSpec) -> SweepSpec:
    """The spec with ``auto`` resources resolved from what the connected Ray reports."""
    if not spec.resources.is_auto:
        return spec
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    total = ray.cluster_resources()
    resolved = spec.resources.resolve(
        float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0)),
        node_cpus=max((float(n.get("CPU", 0.0)) for n in nodes), default=None),
        node_gpus=max((float(n.get("GPU", 0.0)) for n in nodes), default=None),
        trials=count_trials(spec))
    return spec.with_overrides(resources=resolved)


def _check_fits(spec: SweepSpec) -> None:
    """Fail fast when one trial asks for more than any node has (Ray would wait forever)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    max_cpu = max((n["Resources"].get("CPU", 0.0) for n in nodes), default=0.0)
    max_gpu = max((n["Resources"].get("GPU", 0.0) for n in nodes), default=0.0)
    r = spec.resources
    if r.cpu > max_cpu:
        raise SpecError("resources.cpu", f"a trial asks for {r.cpu:g} CPUs but the largest node has {max_cpu:g}")
    if r.gpu > max_gpu:
        raise SpecError("resources.gpu", f"a trial asks for {r.gpu:g} GPUs but the largest node has {max_gpu:g}")


def _search_alg(spec: SweepSpec, warm_start: list[dict[str, Any]] | None = None) -> Any:
    """The search algorithm, capped at ``resources.max_concurrent`` trials at once; ``warm_start``
    configurations (partial ones allowed) are tried first.

    The cap is set here for every algorithm: Tune's own ``TuneConfig.max_concurrent_trials``
    applies only to a Searcher, and a BasicVariantGenerator passed in ignores it (with a warning
    in Ray's log).
    """
    points = [dict(p) for p in warm_start] if warm_start else None
    cap = spec.resources.max_concurrent
    if spec.search.algorithm == "tpe":
        import optuna
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=spec.search.seed)
        searcher = OptunaSearch(space=optuna_space(spec), metric="objective", mode=spec.mode, sampler=sampler,
                                points_to_evaluate=points)
        return searcher if not cap else ConcurrencyLimiter(searcher, max_concurrent=cap)
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(random_state=spec.search.seed, points_to_evaluate=points, max_concurrent=cap or 0)


def _scheduler(spec: SweepSpec) -> Any:
    from ray.tune import schedulers

    s = spec.scheduler
    limit = max_epochs(spec)
    limit = s.max_t or limit
    if s.type == "pbt":
        from ray import tune

        from .scheduling import pbt_mutation_table

        mutations = {n: getattr(tune, fn)(*args) for n, (fn, args) in pbt_mutation_table(spec).items()}
        return schedulers.PopulationBasedTraining(
            time_attr="training_iteration", perturbation_interval=s.perturbation_interval,
            hyperparam_mutations=mutations, quantile_fraction=s.quantile_fraction,
            resample_probability=s.resample_probability)
    if s.type == "asha":
        return schedulers.ASHAScheduler(time_attr="training_iteration", max_t=limit,
                                        grace_period=s.grace_period, reduction_factor=s.reduction_factor,
                                        brackets=s.brackets)
    if s.type == "hyperband":
        return schedulers.HyperBandScheduler(time_attr="training_iteration", max_t=limit,
                                             reduction_factor=s.reduction_factor)
    if s.type == "median":
        return schedulers.MedianStoppingRule(time_attr="training_iteration", grace_period=s.grace_period,
                                             min_samples_required=s.min_samples_required)
    return schedulers.FIFOScheduler()


def _diagnose(tables: RunTables, baseline: float) -> None:
    from .diagnosis import diagnose

    for tid, t in tables.trials.items():
        if t.status == "error" and not tables.curve(tid, "train_loss"):
            continue
        d = diagnose(tables.curve(tid, "train_loss"), tables.curve(tid, "val_loss"),
                     diverged=t.status == "diverged", baseline_loss=baseline)
        tables.diagnoses[tid] = {"label": d.label, "reason": d.reason, "stop_epoch": d.stop_epoch,
                                 "figures": d.figures}


def _prepare(spec: SweepSpec, view: ProgressView | None) -> tuple[data_mod.Prepared, ProgressView, str]:
    """Load and split the data (a bad file fails here, before anything starts); make the view."""
    from . import data as data_mod

    raw, prepared = data_mod.load_for(spec)
    view = view or ProgressView(spec.name, count_trials(spec), spec.metric_name, spec.mode, list(spec.searched))
    rep = prepared.report
    view.print(f"data {raw.name}: {rep['rows_train']} train / {rep['rows_val']} val / {rep['rows_test']} test rows, "
               f"{rep['n_features']} features; dropped {rep['rows_dropped_missing_target']} rows without a target, "
               f"imputed {sum(rep['missing_values_imputed'].values())} missing values, "
               f"one-hot encoded {len(rep['categorical_columns'])} columns")
    return prepared, view, raw.name


def _trainable(spec: SweepSpec, prepared: data_mod.Prepared, started: float, deadline: float | None = None) -> Any:
    """The trainable as Tune runs it: data (without the test split) and resources bound."""
    from ray import tune

    from .training.faults import load_plan
    from .training.trainable import TrialContext, TrialData, train_trial

    # $SWEEP_FAULT_INJECTION (tests only) is read here, on the driver, and travels with the context.
    ctx = TrialContext(spec=spec, run_started_at=started, faults=load_plan(), deadline=deadline)
    # Train and validation arrays only (never the test split), in a class workers unpickle without
    # importing pandas or scikit-learn.
    trainable = tune.with_parameters(train_trial, data=TrialData.of(prepared.without_test()), ctx=ctx)
    return tune.with_resources(trainable, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})


def _warm_evaluator(trials: int = 0, enabled: bool = True) -> Any:
    """A Tune callback that starts the test evaluation's process before the sweep ends.

    The selected trial is evaluated on the test split after the sweep, in a Ray worker that must
    first import TensorFlow (5-12 s at the end of every run on 2 cores). This starts that worker
    (a Ray actor asking for no CPU, so no trial waits for it) once the last of the ``trials`` has
    started and an epoch was reported (so it neither delays the first epoch nor competes with the
    sweep longer than its last trials); by the end it is warm. A copy Tune restores from its
    experiment state (``sweep resume``) starts nothing.
    """
    import ray
    from ray import tune

    from .training.trainable import Evaluator

    class WarmEvaluator(tune.Callback):
        def __init__(self) -> None:
            self.actor: Any = None
            self.started = 0
            self.reported = False

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.started += 1
            self._maybe_start()

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            self.reported = True
            self._maybe_start()

        def _maybe_start(self) -> None:
            if enabled and self.actor is None and self.reported and self.started >= trials:
                self.actor = ray.remote(num_cpus=0, num_gpus=0)(Evaluator).remote()
                self.actor.ready.remote()

        def __reduce__(self) -> Any:
            return (_warm_evaluator, (trials, False))

    return WarmEvaluator()


# Per-epoch scalars written for TensorBoard with ``--tensorboard``: the curves, not placement data.
TENSORBOARD_SCALARS = ("learning_rate", "epoch_s", "objective")
TENSORBOARD_PREFIXES = ("train_", "val_")


def _tensorboard_callback() -> Any:
    """Ray Tune's TensorBoard logger limited to each epoch's curves (``sweep run --tensorboard``).

    Ray's ``TBXLoggerCallback`` writes one event file per trial into the trial's directory under
    ``RUN_DIR/tune`` (step = epoch) and the trial's hyperparameters for TensorBoard's HParams tab;
    this subclass passes it only the training and validation metrics, the learning rate and the
    epoch time, so TensorBoard's scalar list is the curves.
    """
    from ray.tune.logger import TBXLoggerCallback

    class EpochScalars(TBXLoggerCallback):
        def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
            keep = {k: v for k, v in result.items() if k in TENSORBOARD_SCALARS or k.startswith(TENSORBOARD_PREFIXES)
                    or k in ("training_iteration", "config")}
            super().log_trial_result(iteration, trial, keep)

    return EpochScalars()


def _mark_incomplete(run_dir: Path, tables: RunTables | None, mirror: Any = None) -> None:
    """After a failure: keep what the finished epochs told us and say the run is incomplete."""
    import json

    from .results import write_json

    try:
        if tables is not None:
            tables.flush(run_dir)
        info = json.loads((run_dir / "run.json").read_text())
        info.update({"status": "incomplete", "ended_at": time.time()})
        write_json(info, run_dir / "run.json")
    except Exception:
        pass
    if mirror is not None:
        try:
            mirror.push()
        except Exception as e:  # noqa: BLE001 - the failure being reported is the caller's
            log.warning("could not copy %s to %s: %s", run_dir, mirror.remote, e)


def _staging(run_id: str) -> Path:
    """A new local staging directory for a run on a URI (its journal and tables are written here).

    In ``SWEEP_STAGING_DIR`` when set, else in the system's temporary directory.
    """
    import tempfile

    parent = os.environ.get("SWEEP_STAGING_DIR") or None
    if parent:
        os.makedirs(parent, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="sweep-staging-", dir=parent)) / run_id


def _drop_staging(run_dir: Path) -> None:
    import shutil

    shutil.rmtree(run_dir.parent, ignore_errors=True)


def run_sweep(spec: SweepSpec, out: str | Path = "results", *, address: str | None = None,
              view: ProgressView | None = None, ray_resources: dict[str, float] | None = None,
              warm_start: list[dict[str, Any]] | None = None, tensorboard: bool = False,
              budget_s: float | None = None) -> RunResult:
    """Run a sweep end to end and write its run directory.

    Args:
        spec: the validated sweep.
        out: parent directory of run directories: a local path, or a URI pyarrow can write
            (``s3://bucket/prefix``, ``gs://...``, ``file:///...``; see :mod:`orchestrator.storage`).
        address: a Ray cluster to connect to; None starts Ray embedded (or reuses one already
            initialised in this process).
        view: progress display (a default one on stdout when None).
        ray_resources: ``num_cpus``/``num_gpus`` for an embedded Ray (default: what the machine has).
        warm_start: configurations to try first (the search algorithm's ``points_to_evaluate``;
            each replaces one sample; hyperparameters a point leaves out are sampled as usual).
        tensorboard: also write each trial's per-epoch curves as TensorBoard event files (in its
            directory under ``RUN_DIR/tune``; ``tensorboard --logdir RUN_DIR/tune``).
        budget_s: wall-clock seconds the search may take, counted from this call (``sweep
            compare``): a parallel sweep gets Ray Tune's ``time_budget_s`` (what is left of it when
            the Tuner starts), the babysitter a deadline. The final test evaluation comes after it.
            None: no time limit.

    Returns:
        A :class:`RunResult`.

    Raises:
        SpecError: data or resources that cannot work (nothing is left running).
    """
    started = time.time()
    from .storage import Location, Mirror, resolve

    where = resolve(out, "--out")  # an unknown scheme or an unreachable bucket fails before Ray starts
    # A user's data file may be unusable (a bad value, a class too rare to stratify): it is read
    # before Ray starts, so a bad one starts nothing. A built-in data set loads while Ray (and its
    # workers' TensorFlow import) starts; it fails only on a bad data.samples (Ray is then shut down).
    early = _prepare(spec, view) if spec.data.path is not None else None
    ray_start = _RayStart(address, ray_resources)
    try:
        from .results import RunTables, clean_json, new_run_id, write_json

        run_id = new_run_id(spec.name, started)
        mirror: Mirror | None = None
        if isinstance(where, Location):  # tables and journal staged locally, copied there
            run_dir = _staging(run_id)
            mirror = Mirror(run_dir, where / run_id)
        else:
            run_dir = where / run_id
        prepared, view, _ = early or _prepare(spec, view)
    except BaseException:
        ray_start.abandon()
        raise
    started_ray = ray_start.join()
    import ray
    from ray import tune

    from .recorder import Recorder

    tables: RunTables | None = None
    requested = spec.resources
    try:
        spec = resolve_resources(spec)  # `auto` -> what this Ray instance or cluster has
        _check_fits(spec)
        run_dir.mkdir(parents=True, exist_ok=False)
        if mirror is not None:
            try:
                mirror.remote.mkdir()
            except OSError as e:  # a bucket that does not exist, no permission to write
                raise SpecError("--out", f"{mirror.remote}: cannot write: {str(e).splitlines()[0]}") from None
        info: dict[str, Any] = {
            "run_id": run_id, "name": spec.name, "status": "running", "strategy": spec.strategy,
            "spec_file": spec.source, "spec": spec.to_dict(),
            "started_at": started, "ended_at": None,
            "versions": _versions(),
            "driver": {"host": socket.gethostname(), "pid": os.getpid(), "argv": sys.argv},
            "ray": {"address": address or os.environ.get("RAY_ADDRESS") or "embedded", "started_here": started_ray,
                    "cluster_resources": ray.cluster_resources()},
            "hosts": sorted({n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}),
            "budget": {"trials": count_trials(spec) if spec.strategy == "parallel" else spec.babysit.max_models,
                       "time_s": budget_s, "metric": spec.metric_name, "mode": spec.mode,
                       "max_epochs": max_epochs(spec), "resources": spec.resources.model_dump(),
                       **({"resources_requested": requested.model_dump()} if requested.is_auto else {})},
            "data": prepared.report,
        }
        write_json(clean_json(info), run_dir / "run.json")
        tables = RunTables(run_id, spec.metric_name, spec.mode, strategy=spec.strategy,
                           resources=spec.resources.model_dump())
        tables.open_journal(run_dir / JOURNAL)
        tables.flush(run_dir)
        if mirror is not None:
            mirror.push()
        if spec.strategy == "babysit":
            return _execute_babysit(spec, prepared, tables, info, run_dir, view, started, budget_s, mirror)

        stopper = None
        deadline = None if budget_s is None else started + budget_s
        if spec.stoppers.plateau or spec.stoppers.experiment_plateau or deadline is not None:
            from .stoppers import SweepStopper

            # Under a time budget it also ends the experiment at the deadline (from this call, not
            # from when Tune's own time_budget_s clock starts), so no trial starts after it.
            stopper = SweepStopper(spec, deadline)
        if deadline is not None:
            # A trial Tune started just before the deadline returns without a report.
            os.environ["TUNE_DISABLE_STRICT_METRIC_CHECKING"] = "1"
            # The budget, not num_samples, ends the search: queue few trials ahead (Tune's default
            # of 200 pending trials creates their directories up front, seconds of the budget).
            os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(max(2, int(spec.resources.max_concurrent or 2)))
        n_samples = spec.search.num_samples or (1 if spec.search.algorithm == "grid" else 16)
        # Under a time budget the last trials may never start: warm the evaluator after the first report.
        evaluator = _warm_evaluator(count_trials(spec) if budget_s is None else 1)
        time_budget = None if budget_s is None else max(1.0, budget_s - (time.time() - started))
        callbacks = [Recorder(tables, spec, view, run_dir, stopper, mirror=mirror), evaluator]
        if tensorboard:
            callbacks.append(_tensorboard_callback())
            info["tensorboard"] = str(run_dir / "tune")
            write_json(clean_json(info), run_dir / "run.json")
        tuner = tune.Tuner(
            _trainable(spec, prepared, started, deadline),
            param_space=to_param_space(spec) if spec.search.algorithm != "tpe" else {},
            tune_config=tune.TuneConfig(
                metric="objective", mode=spec.mode, search_alg=_search_alg(spec, warm_start),
                scheduler=_scheduler(spec), num_samples=n_samples,
                reuse_actors=True,
                time_budget_s=time_budget,
            ),
            run_config=tune.RunConfig(
                name="tune", verbose=0,
                # Ray Tune writes checkpoints and its experiment state to the location itself
                **({"storage_path": str(run_dir)} if mirror is None else
                   {"storage_path": mirror.remote.path, "storage_filesystem": mirror.remote.fs}),
                callbacks=callbacks,
                stop=stopper,
                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                # Every checkpoint is kept while the sweep runs (the older ones are pruned when it
                # ends, see _prune_checkpoints): Ray Tune deletes a trial's older checkpoint as soon
                # as a newer one is saved but writes its experiment snapshot later, in the
                # background, so a driver killed in between would leave a snapshot naming a
                # deleted checkpoint and `sweep resume` could not restore that trial. PBT also
                # copies a donor's checkpoint after the donor has moved on.
                checkpoint_config=tune.CheckpointConfig(num_to_keep=None,
                                                        checkpoint_score_attribute="objective",
                                                        checkpoint_score_order=spec.mode),
            ),
        )
        return _execute(tuner, spec, prepared, tables, info, run_dir, view, evaluator=evaluator, mirror=mirror,
                        stopped_reason="budget" if budget_s is not None else "interrupted")
    except BaseException:
        if run_dir.exists() and (run_dir / "run.json").exists():
            _mark_incomplete(run_dir, tables, mirror)
        raise
    finally:
        if tables is not None:
            tables.close_journal()
        if mirror is not None:
            _drop_staging(run_dir)
        if started_ray:
            ray.shutdown()


def resume_sweep(run_dir: str | Path, *, address: str | None = None, view: ProgressView | None = None,
                 ray_resources: dict[str, float] | None = None) -> RunResult:
    """Continue an interrupted run in place (``sweep resume``).

    Ray Tune restores the experiment from ``RUN_DIR/tune``: finished trials stay finished,
    unfinished and errored ones continue from their last checkpoints. The tables are rebuilt from
    the run's journal, so re-reported epochs replace their rows instead of duplicating them.

    Raises:
        SpecError: not a run directory, or one with nothing Ray Tune can restore.
    """
    import json

    from .spec import SweepSpec as _Spec
    from .storage import RUN_FILES, Location, Mirror, resolve

    where = resolve(run_dir, "RUN_DIR")
    mirror: Mirror | None = None
    tune_dir: Any = None
    if isinstance(where, Location):  # pull the run's own files into a local staging copy
        name = where.name
        if not (where / "run.json").is_file():
            raise SpecError("", f"{where}: not a run directory (no run.json)", name)
        run_dir = _staging(name)
        where.download(RUN_FILES, run_dir)
        mirror = Mirror(run_dir, where)
        shown: Any = where
        tune_dir = where / "tune"
    else:
        run_dir = shown = where
        name = run_dir.name
    try:
        if not (run_dir / "run.json").is_file():
            raise SpecError("", f"{run_dir}: not a run directory (no run.json)", name)
        try:
            info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
            babysat = isinstance(info, dict) and info.get("strategy") == "babysit"
            spec = None if babysat else _Spec.model_validate(info["spec"])
        except Exception as e:  # unreadable or from an incompatible version
            raise SpecError("run.json", f"cannot be read back: {str(e).splitlines()[0]}", name) from None
        if babysat:
            raise SpecError("", f"{shown} is a babysitting run; it cannot be resumed (run it again)", name)
        assert spec is not None
        if info.get("status") == "complete":
            raise SpecError("", f"{shown} is complete; nothing to resume", name)
        has_tune = tune_dir.is_dir() if tune_dir is not None else (run_dir / "tune").is_dir()
        if not (run_dir / JOURNAL).is_file() or not has_tune:
            raise SpecError("", f"{shown} has no journal or Ray Tune state to resume from", name)
        prepared, view, _ = _prepare(spec, view)
    except BaseException:
        if mirror is not None:
            _drop_staging(run_dir)
        raise
    try:
        return _resume(spec, prepared, view, info, run_dir, shown, mirror, address, ray_resources)
    finally:
        if mirror is not None:
            _drop_staging(run_dir)


def _resume(spec: SweepSpec, prepared: data_mod.Prepared, view: ProgressView, info: dict[str, Any], run_dir: Path,
            shown: Any, mirror: Any, address: str | None, ray_resources: dict[str, float] | None) -> RunResult:
    from .results import RunTables, clean_json, write_json

    name = getattr(shown, "name", None) or run_dir.name

    started_ray = connect_ray(address, ray_resources)
    import ray
    from ray import tune

    from .recorder import attach

    spec = resolve_resources(spec)
    tables = RunTables.replay(run_dir / JOURNAL, info["run_id"], spec.metric_name, spec.mode,
                              resources=spec.resources.model_dump())
    # Ray Tune's state: beside the journal, or at the URI itself
    tune_at: dict[str, Any] = ({"path": str(run_dir / "tune")} if mirror is None else
                               {"path": (mirror.remote / "tune").path, "storage_filesystem": mirror.remote.fs})
    try:
        _check_fits(spec)
        if not tune.Tuner.can_restore(**tune_at):
            raise SpecError("", f"{shown}/tune holds no Ray Tune experiment state to restore", name)
        tables.open_journal(run_dir / JOURNAL)
        info.update({"status": "running", "ended_at": None,
                     "resumed": [*info.get("resumed", []), {"at": time.time(), "pid": os.getpid()}]})
        write_json(clean_json(info), run_dir / "run.json")
        if mirror is not None:
            mirror.push()
        with attach(run_dir, tables, view, mirror):
            tuner = tune.Tuner.restore(**tune_at, trainable=_trainable(spec, prepared, info["started_at"]),
                                       resume_unfinished=True, resume_errored=True)
            return _execute(tuner, spec, prepared, tables, info, run_dir, view, mirror=mirror)
    except BaseException:
        _mark_incomplete(run_dir, tables, mirror)
        raise
    finally:
        tables.close_journal()
        if started_ray:
            ray.shutdown()


def _execute(tuner: Any, spec: SweepSpec, prepared: data_mod.Prepared, tables: RunTables, info: dict[str, Any],
             run_dir: Path, view: ProgressView, evaluator: Any = None, mirror: Any = None,
             stopped_reason: str = "interrupted") -> RunResult:
    """Run the Tuner, then diagnose, select on validation, test once, and write everything."""
    import ray

    from .training.model import baseline_loss
    from .training.trainable import TrialData, evaluate_on_test

    view.set_capacity(spec.resources.model_dump(), ray.cluster_resources())
    view.start()
    # an embedded Ray started in this process (by this sweep, by `sweep compare` before its runs,
    # or by a test session): its prestarted workers can take Tune's trial actors
    undo = _tune_actors_without_runtime_env() if _embedded_here() else None
    try:
        grid = tuner.fit()
    finally:
        if undo is not None:
            undo()
        view.stop()
    # The search ended when Tune's experiment did; tuner.fit then builds its ResultGrid from every
    # trial's files (recorded apart as results_read_s).
    fit_returned = time.time()
    info["search_ended_at"] = getattr(tables, "search_ended_at", None) or fit_returned
    info["results_read_s"] = fit_returned - info["search_ended_at"]

    tables.node_ips = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}
    for tid, t in tables.trials.items():
        if t.status == "running":  # never ended (driver interrupted, or the time budget ran out)
            tables.trial_ended(tid, "stopped", stopped_reason)
    _diagnose(tables, baseline_loss(prepared.task, prepared.n_classes, prepared.train.y))
    selected = tables.select_best()
    test_metrics: dict[str, float] = {}
    if selected is not None:
        checkpoint = next((_best_checkpoint(r, spec.mode) for r in grid if r.metrics.get("trial_id") == selected),
                          None)
        if checkpoint is not None:
            hp = tables.trials[selected].config
            test_data = TrialData.of(_test_only(prepared), splits=("test",))
            # A checkpoint at a URI goes to the evaluating worker as it is (that worker, on any node,
            # downloads it); on a shared file system its directory is readable from every node.
            import contextlib

            at = contextlib.nullcontext(checkpoint) if mirror is not None else checkpoint.as_directory()
            with at as ckpt_dir:
                actor = getattr(evaluator, "actor", None)
                if actor is not None:  # warm since the sweep began; no trial runs any more
                    ref = actor.evaluate.remote(ckpt_dir, hp, test_data, spec.resources.cpu)
                else:
                    evaluate = ray.remote(num_cpus=spec.resources.cpu, num_gpus=spec.resources.gpu)(evaluate_on_test)
                    ref = evaluate.remote(ckpt_dir, hp, test_data, spec.resources.cpu, spec.resources.gpu)
                test_metrics = ray.get(ref)
                if actor is not None:
                    ray.kill(actor)
        tables.selected = selected
        tables.test_metrics = test_metrics
    _prune_checkpoints(grid, spec.mode)
    return _finish(spec, tables, info, run_dir, view, selected, test_metrics, mirror)


def _finish(spec: SweepSpec, tables: RunTables, info: dict[str, Any], run_dir: Path, view: ProgressView,
            selected: str | None, test_metrics: dict[str, float], mirror: Any = None) -> RunResult:
    """Write the tables and the final run.json (and copy them to the run's URI); print the compute line."""
    from .results import clean_json, write_json

    tables.flush(run_dir)
    counts: dict[str, int] = {}
    for t in tables.trials.values():
        counts[t.status] = counts.get(t.status, 0) + 1
    best_value = tables.best(selected)[0] if selected else None
    ended = time.time()
    search_end = info.pop("search_ended_at", ended)
    info["budget"]["search_elapsed_s"] = search_end - info["started_at"]
    info.update({
        "status": "complete" if selected else "no_result",
        "ended_at": ended,
        "elapsed_s": ended - info["started_at"],
        "counts": counts,
        "compute": tables.compute(),
        "selected": None if not selected else {
            "trial_id": selected, "config": tables.trials[selected].config,
            f"best_{spec.metric_name}": best_value, "best_epoch": tables.best(selected)[1], **test_metrics,
        },
    })
    write_json(clean_json(info), run_dir / "run.json")
    if mirror is not None:
        mirror.push()
    c = info["compute"]
    view.print(f"compute: {c['epochs_trained']} epochs in {c['trial_seconds']:.1f} trial-seconds; training every "
               f"trial to its full length: {c['epochs_full']} epochs, ~{c['trial_seconds_full']:.1f} trial-seconds "
               f"(early stopping saved {100 * c['epochs_saved_fraction']:.0f}% of epochs)")
    return RunResult(run_dir if mirror is None else mirror.remote, info["run_id"], info["status"], selected,
                     best_value, test_metrics, counts, spec.metric_name)


def _prune_checkpoints(grid: Any, mode: str) -> int:
    """Once the sweep has ended, delete each trial's checkpoints but its best and its latest.

    While it runs, every checkpoint is kept (see the CheckpointConfig in :func:`run_sweep`); what a
    finished run keeps is what Ray's ``num_to_keep=1`` with a score would have kept. Works on any
    storage (the results' pyarrow filesystem); a checkpoint that cannot be deleted stays.

    Returns:
        The number of checkpoint directories deleted.
    """
    deleted = 0
    for result in grid:
        if result.path is None or result.checkpoint is None:
            continue
        keep = {result.checkpoint.path}
        best = _best_checkpoint(result, mode)
        if best is not None:
            keep.add(best.path)
        fs = result.filesystem
        try:
            from pyarrow import fs as pafs

            entries = fs.get_file_info(pafs.FileSelector(result.path, allow_not_found=True))
        except Exception:
            continue
        for e in entries:
            if e.type == pafs.FileType.Directory and e.base_name.startswith("checkpoint_") and e.path not in keep:
                try:
                    fs.delete_dir(e.path)
                    deleted += 1
                except Exception:
                    pass
    return deleted


def _execute_babysit(spec: SweepSpec, prepared: data_mod.Prepared, tables: RunTables, info: dict[str, Any],
                     run_dir: Path, view: ProgressView, started: float, budget_s: float | None,
                     mirror: Any = None) -> RunResult:
    """``strategy: babysit``: one Ray actor on one slot trains the models one at a time.

    The actor (:class:`~orchestrator.training.babysitter.BabysitWorker`) streams its records back
    (a Ray streaming generator); each becomes a trial, epoch or event row here, as Tune's reports
    do for a parallel sweep. Then, as for a parallel sweep: diagnosis, selection on validation, and
    one test evaluation of the selected model's best epoch (in the same actor, already warm).
    """
    import ray

    from .recorder import FLUSH_EVERY_S
    from .training.babysitter import BabysitWorker
    from .training.model import baseline_loss
    from .training.trainable import TrialData

    r = spec.resources
    actor = ray.remote(num_cpus=r.cpu, num_gpus=r.gpu)(BabysitWorker).remote(r.cpu, r.gpu)
    deadline = None if budget_s is None else started + budget_s
    view.total = spec.babysit.max_models
    view.set_capacity(r.model_dump(), ray.cluster_resources())
    view.start()
    last_flush = time.time()
    try:
        stream = actor.run.options(num_returns="streaming").remote(
            spec, TrialData.of(prepared.without_test()), started, deadline, str(run_dir / "checkpoints"))
        for ref in stream:
            rec = ray.get(ref)
            kind, tid = rec["kind"], rec["trial_id"]
            if kind == "start":
                tables.trial_started(tid, rec["config"], at=rec["at"])
                view.set_running(1)
            elif kind == "epoch":
                tables.epoch(tid, rec["row"])
                row = rec["row"]
                view.epoch(tid, math.nan if row.get("diverged") else float(row.get(spec.metric_name, math.nan)),
                           tables.trials[tid].config)
            elif kind == "event":
                tables.event(tid, rec["epoch"], "babysitter", rec["decision"], rec["reason"], rec["detail"],
                             at=rec["at"], old_value=rec["old_value"], new_value=rec["new_value"])
            elif kind == "end":
                tables.trial_ended(tid, rec["status"], rec["stop_reason"], at=rec["at"], record_event=False)
                best, _ = tables.best(tid)
                view.set_running(0)
                view.trial_finished(tid, rec["status"], rec["stop_reason"], len(tables.curve(tid, "train_loss")),
                                    best, tables.trials[tid].config)
            if time.time() - last_flush > FLUSH_EVERY_S:
                tables.flush(run_dir)
                last_flush = time.time()
    finally:
        view.stop()
    info["search_ended_at"] = time.time()
    try:
        _diagnose(tables, baseline_loss(prepared.task, prepared.n_classes, prepared.train.y))
        selected = tables.select_best()
        test_metrics: dict[str, float] = {}
        if selected is not None:
            test_data = TrialData.of(_test_only(prepared), splits=("test",))
            test_metrics = ray.get(actor.evaluate.remote(selected, tables.trials[selected].config, test_data))
            tables.selected = selected
            tables.test_metrics = test_metrics
    finally:
        ray.kill(actor)
    return _finish(spec, tables, info, run_dir, view, selected, test_metrics, mirror)


def _best_checkpoint(result: Any, mode: str) -> Any:
    try:
        best = result.get_best_checkpoint("objective", mode)
    except Exception:  # no scored checkpoints
        best = None
    return best or result.checkpoint


def _test_only(prepared: data_mod.Prepared) -> data_mod.Prepared:
    """The prepared data with train/val emptied: the final evaluation sees the test split only."""
    import dataclasses

    from . import data as data_mod

    empty = data_mod.Split(prepared.test.X[:0], prepared.test.y[:0])
    return dataclasses.replace(prepared, train=empty, val=empty)
