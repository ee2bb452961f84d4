"""Ray's start: an embedded Ray (or a connection to a cluster), its workers, and what fits on it.

The only place the product starts Ray. An embedded Ray starts in this process without a dashboard,
listening on 127.0.0.1 only, with its logs kept out of the user's terminal; ``--address`` /
``RAY_ADDRESS`` connects to a cluster instead, sending the code the spec names along as Ray's
``working_dir`` (:mod:`.working_dir`). The patches of Ray's internals applied while it starts live
in :mod:`orchestrator.internals`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import UsageError, first_line
from ..processes import cpu_seconds, has_library, idle_ray_workers
from ..internals import RAY_START_PATCHES, patched, ray_init_private_kwargs
from ..decisions.space import count_trials
from .working_dir import cluster_runtime_env, select_code

if TYPE_CHECKING:
    from ..spec import SweepSpec

__all__ = ["WORKER_ENV", "DRIVER_ENV", "quiet_ray_loggers", "has_tensorflow", "tensorflow_ready", "restock", "keep_embedded", "one_shot", "connect_ray", "check_address", "embedded_here", "RayStart", "warm_workers", "shutdown_ray",
           "resolve_resources", "check_fits", "describe_ray", "RayLogs"]

# Environment for Ray workers: TensorFlow's C++ logs off, no Tune logger files per trial.
WORKER_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONWARNINGS": "ignore",
    "KERAS_BACKEND": "tensorflow",
    # What Ray Tune sets for its trial actors in their runtime_env: here already, so Tune's trial
    # actors can do without one (the patch tune_actors_without_runtime_env in orchestrator/internals/ray.py).
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

# Trials are the foreground work of `sweep run`: their workers run at the driver's priority, not at
# Ray's default niceness of 15 (which makes any other process on the machine starve them).
WORKER_NICENESS = int(os.environ.get("SWEEP_WORKER_NICENESS", "0"))
# Modules every worker of an embedded Ray (and of the warm runtime) imports as it starts (Ray's
# ``preload_python_modules``): TensorFlow (trimmed, training/preload.py) is then imported in the
# workers Ray prestarts (one per CPU), which run the first trials, while the driver sets up the
# sweep, and in the workers restocked after a run (:func:`keep_embedded`), which run the next run's
# first trials in a notebook. SWEEP_PRELOAD=0 turns it off (benchmarks/startup.md).
PRELOAD_MODULES = ["orchestrator.training.preload"]
# How long an embedded Ray keeps an idle worker it would otherwise end (Ray's default: 1 s). Ray ends
# idle workers beyond its free CPUs; once Tune's placement groups hold the CPUs, the workers Ray
# prestarted, still importing TensorFlow, count as such, and were ended before the first trials could
# use them: those trials then started new workers and imported TensorFlow again (a notebook's first
# run: first epoch after 19.3-21.0 s, 14.8-15.9 s with the workers kept; benchmarks/startup.md).
IDLE_WORKER_KEEP_MS = int(os.environ.get("SWEEP_IDLE_WORKER_KEEP_MS", "60000"))

# The node id of the Ray that connect_ray started in this process (None: none, or a cluster's):
# its workers inherit this process's environment (see embedded_here).
_STARTED_NODE: str | None = None
# True once a run kept the embedded Ray it started for the process's next runs (keep_embedded).
_KEPT = False
# True in a process that makes one run and exits (the CLI, :func:`one_shot`).
_ONE_SHOT = False


def one_shot() -> None:
    """Say that this process makes one run and exits (``sweep run``): its embedded Ray is not
    kept or restocked after the run, and its workers do not preload TensorFlow unless
    ``SWEEP_PRELOAD=1``. Preloading pays off for a process's next run (a notebook's second call);
    for the first, two workers importing TensorFlow while Ray and Tune start on the same cores
    made the first epoch no sooner (quickstart, 2 cores, medians of 6: 14.66 s with, 14.79 s
    without; benchmarks/startup.md)."""
    global _ONE_SHOT
    _ONE_SHOT = True


def embedded_here() -> bool:
    """True while the Ray this process uses is the embedded one :func:`connect_ray` started here.

    Its workers inherit this process's environment, which is what lets Tune's trial actors do
    without a runtime_env (and so start in the workers Ray prestarted).
    """
    import ray

    return (_STARTED_NODE is not None and ray.is_initialized()
            and ray.get_runtime_context().get_node_id() == _STARTED_NODE)


def quiet_ray_loggers() -> None:
    # Ray's own log lines stay out of the terminal: the sweep's progress view is what it shows.
    logging.getLogger("ray").setLevel(logging.ERROR)
    logging.getLogger("ray.tune").setLevel(logging.ERROR)


# How long a cluster's address may take to accept a connection before the sweep says nothing answers
# there. ray.init itself waits for an address that does not answer for minutes, printing Ray's own
# reconnection warnings, and one that is not HOST:PORT is an internal error of Ray's.
ADDRESS_TIMEOUT_S = float(os.environ.get("SWEEP_ADDRESS_TIMEOUT_S", "10"))


def _unanswered(host: str, port: int, timeout: float) -> str | None:
    """Why nothing accepts a TCP connection at ``host:port`` within ``timeout`` s (None: something does)."""
    import socket

    try:
        socket.create_connection((host.strip("[]"), port), timeout=timeout).close()
        return None
    except OSError as e:
        return f"no answer within {timeout:g} s" if isinstance(e, socket.timeout) else (e.strerror or type(e).__name__)


def check_address(address: str, argument: str = "--address") -> None:
    """Refuse, in one line, a cluster address that no Ray could answer at, before Ray is reached.

    ``HOST:PORT``, ``ray://HOST:PORT`` and what ``auto`` stands for (the Ray last started on this
    machine) must be well formed and accept a TCP connection within :data:`ADDRESS_TIMEOUT_S`;
    ``local`` and schemes other than ``ray://`` are left to Ray.

    Raises:
        UsageError: naming ``argument`` (``--address``, or ``RAY_ADDRESS`` when that gave it).
    """
    shown = address
    if address == "auto":
        from ..internals import bootstrap_address

        try:
            address = bootstrap_address(address) or ""
        except ConnectionError:
            raise UsageError(argument, "auto: no Ray was started on this machine (`ray start --head`, or "
                                       "`sweep up` for the warm runtime)") from None
        if not address:
            return
        shown = f"auto ({address})"
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "", address
    if address == "local" or scheme not in ("", "ray"):
        return
    host, colon, port = rest.split("/", 1)[0].rpartition(":")
    if not colon or not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(argument, f"{shown}: not the address of a Ray cluster (HOST:PORT, ray://HOST:PORT "
                                   "or auto)")
    why = _unanswered(host, int(port), ADDRESS_TIMEOUT_S)
    if why:
        raise UsageError(argument, f"{shown}: no Ray answers there ({why}); is the cluster up, and is this "
                                   "its head's address?")


def connect_ray(address: str | None, resources: dict[str, float] | None = None, *,
                preload: bool | None = None, dashboard: bool = False,
                spec: SweepSpec | None = None, out: str | Path | None = None) -> bool:
    """Start an embedded Ray or connect to ``address``; True when this call started it.

    A Ray already initialised in this process (a notebook, the test session) is reused as is.
    An embedded Ray's workers inherit :data:`WORKER_ENV` from this process (no runtime_env, so
    trials can use the workers Ray prestarts as it starts), run at :data:`WORKER_NICENESS`, and
    import :data:`PRELOAD_MODULES` as they start when ``preload`` (default: unless
    ``SWEEP_PRELOAD=0``). It listens on 127.0.0.1 only and starts Ray's dashboard (on
    127.0.0.1) only when ``dashboard`` (``--dashboard``); without it, no dashboard process, log
    monitor or autoscaler monitor (see :mod:`orchestrator.internals`). A cluster gets the
    environment as a runtime_env, and the code ``spec`` names (None: none) as Ray's ``working_dir``
    (:func:`.working_dir.select_code`; ``out`` is never sent).

    Raises:
        SpecError: the code to send is over its size limit (checked before Ray is reached).
    """
    return _connect(address, resources, preload=preload, dashboard=dashboard, spec=spec, out=out)[0]


def _connect(address: str | None, resources: dict[str, float] | None, *, preload: bool | None, dashboard: bool,
             spec: SweepSpec | None, out: str | Path | None) -> tuple[bool, str | None]:
    """:func:`connect_ray`, and the line that says what was sent to the cluster (None: nothing)."""
    for k, v in DRIVER_ENV.items():
        os.environ.setdefault(k, v)
    imported = sys.modules.get("ray")  # the size check comes first, without importing Ray for it
    if imported is not None and imported.is_initialized():
        return False, None
    given = bool(address)
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address:
        _start_embedded(resources, preload, dashboard)
        return True, None
    argument = "--address" if given else "RAY_ADDRESS"
    code = None if spec is None else select_code(spec, out=out)
    with cluster_runtime_env(WORKER_ENV, code) as (runtime_env, sent):  # the code's size checked first
        check_address(address, argument)
        import ray

        quiet_ray_loggers()
        # ray.init zips and uploads the staged code before it returns; the staging folder goes after
        try:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False, logging_level=logging.ERROR)
        except ConnectionError as e:  # "auto" with no Ray on this machine, a cluster gone meanwhile
            raise UsageError(argument, f"{address}: {first_line(e)}") from None
    quiet_ray_loggers()
    return True, None if sent is None else sent.describe()


def _start_embedded(resources: dict[str, float] | None, preload: bool | None, dashboard: bool) -> None:
    import ray

    quiet_ray_loggers()
    for k, v in WORKER_ENV.items():
        os.environ.setdefault(k, v)
    if preload is None:
        preload = os.environ.get("SWEEP_PRELOAD", "0" if _ONE_SHOT else "1") != "0"
    system: dict[str, Any] = {"worker_niceness": WORKER_NICENESS, "idle_worker_killing_time_threshold_ms": IDLE_WORKER_KEEP_MS}
    if preload:
        system["preload_python_modules"] = list(PRELOAD_MODULES)
    names = [n for n in RAY_START_PATCHES if not (dashboard and n == "ray_no_api_server")]
    with patched(*names) as applied:
        private = ray_init_private_kwargs(node_ip_address="127.0.0.1" if applied["ray_loopback"] else None,
                                          system_config=system)
        context = ray.init(include_dashboard=dashboard, dashboard_host="127.0.0.1", **(resources or {}),
                           log_to_driver=False, logging_level=logging.ERROR, **private)
    global _STARTED_NODE
    _STARTED_NODE = ray.get_runtime_context().get_node_id()
    if dashboard and getattr(context, "dashboard_url", None):
        print(f"ray dashboard: http://{context.dashboard_url}", file=sys.stderr, flush=True)
    quiet_ray_loggers()


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM in a command: end the driver cleanly (the run is marked incomplete on the way out).

    Signalled with its process group (``kill -TERM -PGID``, a container's stop), the embedded Ray's
    processes stop serving too, and Ray Tune's exit handler then waited 60 s for the GCS and ended
    the command with status 1 and Ray's error line (measured). So at exit, before the handlers of
    Ray and Ray Tune (``atexit`` runs the last registered first): when the GCS no longer answers,
    exit at once; else (the driver alone was signalled) Ray shuts down as usual and stops what it
    started.
    """
    import atexit

    def exit_now_if_ray_is_gone() -> None:
        from ..internals import gcs_address

        address = gcs_address()
        host, _, port = (address or "").rpartition(":")
        if not port.isdigit() or _unanswered(host, int(port), 1.0) is None:
            return  # none, or it answers: Ray's own exit
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(128 + signum)

    atexit.register(exit_now_if_ray_is_gone)
    sys.exit(128 + signum)  # 143, as a shell reports a command a SIGTERM ended (130 for Ctrl-C)


class RayStart:
    """:func:`connect_ray` on a helper thread (an embedded Ray only; a cluster is joined in place).

    Starting an embedded Ray is mostly waiting for its processes; meanwhile the driver prepares
    the data (and imports pandas and scikit-learn when nothing did before). ``sweep run`` starts
    Ray this way; :meth:`join` waits for it. ``spec``, ``out`` and ``dashboard``: as for
    :func:`connect_ray` (a cluster's size check raises here, before anything started).
    :attr:`shipped` says what was sent to a cluster in one line (None: nothing), for the run to
    print once its progress view exists.
    """

    def __init__(self, address: str | None, resources: dict[str, float] | None, *,
                 spec: SweepSpec | None = None, out: str | Path | None = None, dashboard: bool = False) -> None:
        self.started: bool | None = None
        self.shipped: str | None = None
        self.error: BaseException | None = None
        self._thread: threading.Thread | None = None
        if address or os.environ.get("RAY_ADDRESS"):
            self.started, self.shipped = _connect(address, resources, preload=None, dashboard=dashboard, spec=spec,
                                                  out=out)
            return
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(resources, dashboard), name="sweep-ray-init",
                                        daemon=True)
        self._thread.start()

    def _run(self, resources: dict[str, float] | None, dashboard: bool) -> None:
        try:
            self.started = connect_ray(None, resources, dashboard=dashboard)
            from ..stats_file import stamp

            stamp("ray_ready", started=self.started)
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
                    signal.signal(signal.SIGTERM, _terminated)
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
            shutdown_ray()


def warm_workers() -> list[int]:
    """Import TensorFlow in as many Ray worker processes as there are CPUs, before a strategy's
    clock starts, so that neither strategy's budget pays for it.

    On a loaded 2-core machine importing TensorFlow in two fresh workers at once took longer than a
    30 s budget; it is set-up, not tuning. The warm runtime's host (:mod:`orchestrator.runtime.host`)
    keeps its pool stocked this way between sweeps. Returns the workers' process ids. Ray keeps idle workers in its pool for later tasks and
    actors, which may then start warm (it is not guaranteed: under heavy load a parallel sweep's
    first trials still started 15-20 s into a 30 s budget).
    """
    import ray

    n = max(1, int(ray.cluster_resources().get("CPU", 1)))

    @ray.remote(num_cpus=1)
    def warm() -> int:
        import os

        from orchestrator.training import import_tensorflow

        import_tensorflow()

        return os.getpid()

    return sorted(set(ray.get([warm.remote() for _ in range(n)])))


def has_tensorflow(pid: int) -> bool | None:
    """True when process ``pid`` has TensorFlow's library loaded (a warm worker); None where the
    platform does not tell (macOS)."""
    return has_library(pid, "libtensorflow")


def tensorflow_ready(pids: list[int], window: float = 0.3) -> list[int]:
    """Those of ``pids`` that have imported TensorFlow and are done with it: its library loaded
    (:func:`has_tensorflow`, true from the import's first moments; where the platform cannot tell,
    every worker is taken to preload it, as this project's do) and the process quiet, using under
    a fifth of a CPU over ``window`` seconds (a worker still importing uses a whole one)."""
    loaded = [pid for pid in pids if has_tensorflow(pid) is not False]
    if not loaded:
        return []
    before = {pid: cpu_seconds(pid) for pid in loaded}
    time.sleep(window)
    out = []
    for pid in loaded:
        after, then = cpu_seconds(pid), before[pid]
        if after is not None and then is not None and after - then <= 0.2 * window:
            out.append(pid)
    return out


def restock(want: int, idle: list[int]) -> None:
    """Have the raylet start what is missing of ``want`` idle workers for this driver's job.

    A Tune trial runs in an actor, which Ray starts only in a worker that never ran anything else
    and ends with it: after a sweep the pool is empty. Workers started now (with Ray's
    ``preload_python_modules``, importing TensorFlow as they start) are warm for the next sweep.
    """
    from ..internals import prestart_workers

    if want > len(idle):
        prestart_workers(want - len(idle))


def keep_embedded(started_here: bool) -> None:
    """After a run, keep the embedded Ray this process started for its next run (a notebook's
    second ``orchestrator.run``), and put back one warm idle worker per CPU for that run's first
    trials, in the background, when a run of this process started it (``started_here``, or an
    earlier run). Ray shuts it down when the process exits."""
    import ray

    from ..internals import raylet_pid

    global _KEPT
    if _ONE_SHOT or not embedded_here() or not (started_here or _KEPT):
        return  # another's Ray (a test session's, a cluster): left as it is
    _KEPT = True
    want, raylet = int(ray.cluster_resources().get("CPU", 1)), raylet_pid()
    if raylet is None:
        return

    def refill() -> None:
        try:
            restock(want, idle_ray_workers(parent=raylet))
        except Exception:  # noqa: BLE001 - the next run then starts its workers itself
            pass

    threading.Thread(target=refill, name="sweep-restock", daemon=True).start()


def shutdown_ray() -> None:
    """Shut down the Ray this process started (:func:`connect_ray` returned True)."""
    import ray

    ray.shutdown()


def describe_ray(address: str | None, started_here: bool) -> tuple[dict[str, Any], list[str]]:
    """What run.json says of the Ray a run uses: its address, whether the run started it, its
    resources; and the addresses of its live nodes."""
    import ray

    about = {"address": address or os.environ.get("RAY_ADDRESS") or "embedded", "started_here": started_here,
             "cluster_resources": ray.cluster_resources()}
    return about, sorted({n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")})


def _alive_nodes() -> list[dict[str, float]]:
    import ray

    return [n["Resources"] for n in ray.nodes() if n.get("Alive")]


def resolve_resources(spec: SweepSpec) -> SweepSpec:
    """The spec with ``auto`` resources resolved from what the connected Ray reports."""
    if not spec.resources.is_auto:
        return spec
    import ray

    nodes = _alive_nodes()
    total = ray.cluster_resources()
    resolved = spec.resources.resolve(
        float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0)),
        node_cpus=max((float(n.get("CPU", 0.0)) for n in nodes), default=None),
        node_gpus=max((float(n.get("GPU", 0.0)) for n in nodes), default=None),
        trials=count_trials(spec))
    return spec.with_overrides(resources=resolved)


def check_fits(spec: SweepSpec, file: str | None = None) -> list[str]:
    """Fail fast when one trial asks for more than any node has or can get (Ray would wait forever).

    On a cluster whose autoscaler may start a node that holds the trial (its node types, or an
    autoscaler that does not say their sizes: ``ray up`` and KubeRay configs that scale workers from
    zero), the trials wait for it as Ray Tune's do: the notes to print say so.

    Raises:
        UsageError: naming ``file`` (the spec's file name, when given) and the resource key.
    """
    from ..internals import autoscaler_node_types

    nodes = _alive_nodes()
    r = spec.resources
    notes: list[str] = []
    types: list[dict[str, float]] | None = None
    for key, asked in (("cpu", r.cpu), ("gpu", r.gpu)):
        name = key.upper()
        largest = max((n.get(name, 0.0) for n in nodes), default=0.0)
        if asked <= largest:
            continue
        where = f"{file}: resources.{key}" if file else f"resources.{key}"
        types = autoscaler_node_types() if types is None else types
        if types is None:
            raise UsageError(where, f"a trial asks for {asked:g} {name}s but the largest node has {largest:g}")
        biggest = max((t.get(name, 0.0) for t in types), default=None)
        if biggest is not None and asked > biggest:
            raise UsageError(where, f"a trial asks for {asked:g} {name}s but the largest node has {largest:g}, and "
                                    f"the largest the cluster's autoscaler may start has {biggest:g}")
        notes.append(f"no node has {asked:g} {name}s for a trial yet; the cluster's autoscaler may start one, "
                     "and the trials wait for it (Ctrl-C stops the sweep)")
    return notes


class RayLogs(logging.Filter):
    """Keeps Ray's own log records out of the terminal while a run is under way.

    Installed on the handlers of Ray's ``ray`` logger (its terminal handler) by :meth:`held`:
    records are not printed but kept (the last :data:`KEEP` of them), so that a run that fails can
    write them next to its traceback. Without it, Ray Tune prints ``ERROR tune.py -- Trials did
    not complete: [...]`` whenever a time budget stops trials, which the sweep reports itself.
    """

    KEEP = 200

    def __init__(self) -> None:
        super().__init__()
        self.records: deque[str] = deque(maxlen=self.KEEP)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self.records.append(f"{record.levelname} {record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is dropped
            pass
        return False

    @classmethod
    @contextlib.contextmanager
    def held(cls) -> Iterator[RayLogs]:
        """Hold Ray's log records back from its terminal handlers for the duration of the block."""
        import ray  # noqa: F401 - Ray installs its terminal handler as it is imported

        logs = cls()
        handlers = list(logging.getLogger("ray").handlers)
        for h in handlers:
            h.addFilter(logs)
        try:
            yield logs
        finally:
            for h in handlers:
                h.removeFilter(logs)
