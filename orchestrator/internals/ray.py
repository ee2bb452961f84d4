"""Ray's and Ray Tune's internals (driver side): the patches around an embedded Ray, and the reaches.

RAY_START_PATCHES are applied around ``ray.init`` when the product starts an embedded Ray
(execution/ray_start.py), the fourth around ``tuner.fit`` when that Ray was started in this
process. Besides the patches, three reaches: :func:`ray_init_private_kwargs`, :func:`trial_actor`
and :func:`trial_error`, each with the public way (or nothing) when its target moved. Tested
against Ray 2.60; canaries in ``tests/integration/test_internals.py``.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

from .patches import Undo, register, swap

__all__ = ["RAY_START_PATCHES", "ray_init_private_kwargs", "trial_actor", "trial_error", "prestart_workers", "raylet_pid",
           "tune_interrupt", "tune_interrupt_in_force", "bootstrap_address", "gcs_address", "autoscaler_node_types"]

RAY_START_PATCHES = ("ray_node_params", "ray_loopback", "ray_no_api_server")


def _taken_port_or_none(port: int) -> int | None:
    """None when ``port`` is free on this machine, else a free port to use instead."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))
            return None
        except OSError:
            pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


@register("ray_node_params", "ray._private.parameter:RayParams.__init__")
def _node_params() -> Undo | None:
    """Defaults for the node an embedded Ray starts that ``ray.init`` has no argument for.

    No log monitor (it streams workers' output to the driver, which ``log_to_driver=False`` turns
    off anyway) and no autoscaler monitor (one machine): two Python processes that took 0.7
    CPU-seconds while the first trials started on 2 cores. When Ray's dashboard agent port is
    taken (another Ray on this machine), a free one: else the agent retries the taken port for
    about 3.5 s and the raylet waits for it before ``ray.init`` returns.
    """
    from ray._private import parameter, ray_constants

    defaults: dict[str, Any] = {"include_log_monitor": False, "no_monitor": True}
    instead = _taken_port_or_none(ray_constants.DEFAULT_DASHBOARD_AGENT_LISTEN_PORT)
    if instead is not None:
        defaults["dashboard_agent_listen_port"] = instead
    original = parameter.RayParams.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        for k, v in defaults.items():
            if kwargs.get(k) is None:
                kwargs[k] = v
        original(self, *args, **kwargs)

    return swap(parameter.RayParams, "__init__", init)


@register("ray_loopback", "ray._private.ray_constants:ENABLE_RAY_CLUSTER")
def _loopback() -> Undo | None:
    """Make an embedded Ray bind its servers to 127.0.0.1 instead of every interface.

    Ray (2.60) turns ``_node_ip_address="127.0.0.1"`` into the machine's address unless it runs
    in its single-machine mode (the default on macOS and Windows, ``ENABLE_RAY_CLUSTER`` false);
    on Linux its GCS, raylet and workers then listen on all interfaces. This switches that mode on
    for the duration of ``ray.init``. Unpatched, the caller passes no address (Ray's default).
    """
    from ray._private import ray_constants

    if not hasattr(ray_constants, "ENABLE_RAY_CLUSTER"):
        return None
    return swap(ray_constants, "ENABLE_RAY_CLUSTER", False)


@register("ray_no_api_server", "ray._private.node:Node.start_api_server")
def _no_api_server() -> Undo | None:
    """Start an embedded Ray without its API server process when no dashboard is wanted.

    Ray (2.60) starts its dashboard head even with ``include_dashboard=False`` (then loading only
    its usage statistics, off here) and ``ray.init`` polls until it is up: 0.5-1 s on 2 cores.
    Nothing a sweep uses needs it (Tune talks to the GCS and the raylet).
    """
    from ray._private import node

    return swap(node.Node, "start_api_server", lambda self, **kwargs: None)


@register("tune_actors_without_runtime_env", "ray.tune.execution.class_cache:_ActorClassCache.get")
def _tune_actors_without_runtime_env() -> Undo | None:
    """Let Ray Tune's trial actors start in the workers an embedded Ray has prestarted.

    Tune registers its trainable with a runtime_env of a few environment variables
    (``PL_DISABLE_FORK=1`` and those it copies from the driver's environment). Ray hands an actor
    only an idle worker of the same runtime_env, so it started two new workers for the first
    trials while the two it prestarted (one per CPU) sat idle: 1.7 s later to the first trial on 2
    cores. An embedded Ray's workers inherit this process's environment, which holds those
    variables already: this registers the trainable without the runtime_env, only when every
    variable Tune would set has that value here (else None: Tune keeps its runtime_env). Whether a
    prestarted worker is idle when the first trial asks is up to Ray's timing; when none is, Ray
    starts a new worker, as it would unpatched.
    """
    import os

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

    return swap(class_cache._ActorClassCache, "get", get)


@register("tune_registry_lock", "ray.tune.registry:_Registry.flush_values")
def _tune_registry_lock() -> Undo | None:
    """Make Ray Tune's process-wide registries safe for two sweeps started at once in one process.

    The warm runtime's host runs each sweep in a thread of its own; Tune registers every
    experiment's trainable (and ``tune.with_parameters``' data) in module-level registries that
    iterate a dict while another thread adds to it: two sweeps started together failed with
    "dictionary changed size during iteration" (Ray 2.60). One lock around their methods.
    """
    import functools
    import threading

    from ray.tune import registry

    lock = threading.RLock()
    undos = []
    for owner, names in ((registry._Registry, ("register", "flush_values", "unregister", "unregister_all")),
                         (registry._ParameterRegistry, ("put", "flush"))):
        for name in names:
            original = getattr(owner, name)

            def locked(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
                with lock:
                    return __original(*args, **kwargs)

            undos.append(swap(owner, name, functools.wraps(original)(locked)))

    def undo() -> None:
        for u in reversed(undos):
            u()

    return undo


# The event that interrupts the Ray Tune experiment running in this thread (see tune_interrupt).
_TUNE_INTERRUPT = threading.local()


@contextlib.contextmanager
def tune_interrupt(event: threading.Event | None) -> Iterator[None]:
    """While a ``tuner.fit`` runs in this thread, setting ``event`` interrupts it as Ctrl-C would.

    Needs the ``tune_interrupt_event`` patch in force (:func:`tune_interrupt_in_force`); without
    it the block does nothing.
    """
    _TUNE_INTERRUPT.event = event
    try:
        yield
    finally:
        _TUNE_INTERRUPT.event = None


def tune_interrupt_in_force() -> bool:
    """True while the ``tune_interrupt_event`` patch is applied in this process."""
    import sys

    tune_mod = sys.modules.get("ray.tune.tune")
    return getattr(getattr(tune_mod, "_setup_signal_catching", None), "_sweep_interrupt", False)


@register("tune_interrupt_event", "ray.tune.tune:_setup_signal_catching")
def _tune_interrupt_event() -> Undo | None:
    """Let a sweep running in a thread be interrupted the way Ctrl-C interrupts one in the main thread.

    ``tune.run`` ends its loop when the event ``_setup_signal_catching`` gave it is set (by SIGINT,
    which only reaches the main thread), saves the experiment's state with the unfinished trials
    still unfinished, and stops their actors: ``Tuner.restore`` then continues them. The warm
    runtime's host runs each sweep in a thread and must end one whose client went away that way;
    stopping its trials through a ``Stopper`` instead would record them as finished, and a later
    ``sweep resume`` would have nothing to continue. This hands ``tune.run`` the event
    :func:`tune_interrupt` set for the calling thread (when there is one; else Tune's own).
    """
    from ray.tune import tune as tune_mod

    original = tune_mod._setup_signal_catching

    def setup_signal_catching() -> threading.Event:
        event = getattr(_TUNE_INTERRUPT, "event", None)
        return event if event is not None else original()

    setup_signal_catching._sweep_interrupt = True  # type: ignore[attr-defined]
    return swap(tune_mod, "_setup_signal_catching", setup_signal_catching)


def ray_init_private_kwargs(*, node_ip_address: str | None = None,
                            system_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``ray.init``'s private keyword arguments for an embedded Ray, those this Ray still reads.

    ``_node_ip_address`` (127.0.0.1, with ``ray_loopback``) and ``_system_config`` (Ray's
    ``worker_niceness``, ``preload_python_modules``). One ``ray.init`` no longer reads is left out
    (Ray's default then) rather than passed to be refused.
    """
    import inspect

    import ray

    try:
        known = set(inspect.unwrap(ray.init).__code__.co_varnames)
    except Exception:  # noqa: BLE001 - not a plain function any more: pass nothing private
        known = set()
    given = {"_node_ip_address": node_ip_address, "_system_config": dict(system_config or {}) or None}
    return {k: v for k, v in given.items() if v is not None and k in known}


def trial_actor(trial: Any) -> Any:
    """The Ray actor running a Ray Tune trial (``trial.temporary_state.ray_actor``), or None.

    Used to kill a trial that has not reported yet when a time budget ends; None (the trial then
    stops by itself) when Tune moved it.
    """
    return getattr(getattr(trial, "temporary_state", None), "ray_actor", None)


def trial_error(trial: Any) -> BaseException | None:
    """The exception a Ray Tune trial last failed with (``trial.pickled_error_file``), or None.

    Tune (2.60) pickles a failed trial's error (``RayTaskError``, ``RayActorError``) with
    ``ray.cloudpickle`` into the trial's local directory at once (``Trial.handle_error``); the run's
    storage gets the file only at Tune's next sync, so the public ``trial.get_pickled_error()``,
    which reads storage, often finds nothing yet when ``on_trial_error`` or ``on_trial_recover``
    asks. This reads the local file; when Tune moved it (no such attribute, or no file there), the
    public way. Raises what unpickling raises (an exception class the driver cannot import).
    """
    import os

    local = getattr(trial, "pickled_error_file", None)
    if isinstance(local, str) and os.path.exists(local):
        from ray import cloudpickle

        with open(local, "rb") as f:
            return cloudpickle.load(f)
    return trial.get_pickled_error()


def prestart_workers(count: int, keep_alive_s: int = 3600) -> bool:
    """Ask this node's raylet to start ``count`` idle workers for this driver's job, kept that long.

    The warm runtime's host (:mod:`orchestrator.runtime.host`) stocks its pool this way: Ray hands
    an actor (a Tune trial) only a worker that never ran anything else, and a worker ends with its
    actor, so after a sweep the pool is empty until the next actor waits for a new worker to start
    and import TensorFlow (3-5 s on 2 cores). The raylet's ``PrestartWorkers`` call (Ray 2.60) has
    no Python API; this sends it over the raylet's gRPC channel, with the cluster's token. Returns
    False (nothing started: the next trials start their workers, as Ray does by itself) when the
    call or its generated stubs moved.
    """
    import ray

    try:
        from ray._private.grpc_utils import init_grpc_channel
        from ray.core.generated import common_pb2, node_manager_pb2, node_manager_pb2_grpc
    except ImportError:
        return False
    if count <= 0:
        return True
    context = ray.get_runtime_context()
    node = next((n for n in ray.nodes() if n.get("NodeID") == context.get_node_id()), None)
    if node is None:
        return False
    request = node_manager_pb2.PrestartWorkersRequest(
        language=common_pb2.Language.PYTHON, job_id=bytes.fromhex(context.get_job_id()), num_workers=count,
        keep_alive_duration_secs=keep_alive_s)
    request.runtime_env_info.serialized_runtime_env = "{}"
    channel = init_grpc_channel(f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}", asynchronous=False)
    try:
        node_manager_pb2_grpc.NodeManagerServiceStub(channel).PrestartWorkers(request, timeout=30)
        return True
    except Exception:  # noqa: BLE001 - refused or unknown: Ray starts workers on demand instead
        return False
    finally:
        channel.close()


def raylet_pid() -> int | None:
    """The process id of the raylet of the Ray this process started (``ray._private.worker._global_node``),
    whose children are its workers; None when this process started none, or when Ray moved it."""
    import ray

    try:
        node = ray._private.worker._global_node
        return int(node.all_processes["raylet"][0].process.pid)
    except Exception:  # noqa: BLE001 - moved: the caller does without (the next run starts its workers)
        return None


def bootstrap_address(address: str) -> str | None:
    """The HOST:PORT ``ray.init(address=address)`` connects to: ``auto`` is the Ray last started on
    this machine (Ray's file under its temp folder, else a GCS process found running), another
    address itself. None when Ray's private function moved (``ray.init`` then resolves it alone).

    Raises:
        ConnectionError: ``auto`` and no Ray found on this machine (as ``ray.init`` raises).
    """
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:
        return None
    return canonicalize_bootstrap_address(address)


def gcs_address() -> str | None:
    """``HOST:PORT`` of the GCS this driver is connected to (``ray._private.worker._global_node``);
    None when it is connected to none, or when Ray moved it."""
    import sys

    try:
        address = sys.modules["ray._private.worker"]._global_node.gcs_address
    except Exception:  # noqa: BLE001 - not connected, or moved: the caller does without
        return None
    return address if isinstance(address, str) and ":" in address else None


def autoscaler_node_types() -> list[dict[str, float]] | None:
    """What the connected cluster's autoscaler may start, for a trial no live node can hold yet.

    The resources of each node type it may start (``max_count`` not 0) when its cluster config is
    in the GCS (autoscaler v2); ``[]`` when an autoscaler with node types of its own runs but
    publishes no sizes (v1, ``ray up`` and KubeRay: its status names the node types only); None when
    no autoscaler runs (an embedded Ray; ``ray start`` without a cluster config runs a read-only
    monitor, which names each live node ``node_<id>``) or when what is read moved.
    """
    import json
    import re

    try:
        from ray._private import ray_constants
        from ray._private.state import state
        from ray.experimental import internal_kv

        config = state.get_cluster_config()
        if config is not None and config.node_group_configs:
            return [{str(k): float(v) for k, v in group.resources.items()}
                    for group in config.node_group_configs if group.max_count != 0]
        raw = internal_kv._internal_kv_get(ray_constants.DEBUG_AUTOSCALING_STATUS)
        report = (json.loads(raw).get("autoscaler_report") or {}) if raw else {}
        types = set((report.get("node_type_mapping") or {}).values()) | set(report.get("active_nodes") or {})
    except Exception:  # noqa: BLE001 - moved, or not readable: as without an autoscaler (fail fast)
        return None
    return [] if any(not re.fullmatch(r"node_[0-9a-f]+", str(t)) for t in types) else None
