"""Canaries for the patches and reaches of Ray's and Ray Tune's internals (``orchestrator/internals/ray.py``).

One test per entry: it fails, naming the entry, when an upgrade of Ray moves what the entry
relies on (its target, or the place Ray reads it), so that the fallback (Ray as it is, a little
slower or less private) never silently becomes the only path. Each patch is applied, checked to
have taken effect, and checked to be undone. No Ray is started (the session's is not needed).
"""

from __future__ import annotations

import importlib
import inspect

import pytest

from orchestrator.internals import (PATCHES, RAY_START_PATCHES, bootstrap_address, gcs_address, patched,
                                    ray_init_private_kwargs, target_present, trial_actor, trial_error, tune_interrupt,
                                    tune_interrupt_in_force)

RAY_PATCHES = (*RAY_START_PATCHES, "tune_actors_without_runtime_env", "tune_interrupt_event")


def _moved(name: str, what: str) -> str:
    return (f"internals patch {name!r} ({PATCHES[name].target}): {what}; Ray moved it: update the patch "
            "(or drop it) and the version bound in pyproject.toml")


@pytest.mark.parametrize("name", RAY_PATCHES)
def test_every_ray_patch_has_its_target(name):
    assert name in PATCHES, f"no patch registered as {name!r}"
    target = PATCHES[name].target
    try:
        importlib.import_module(target.partition(":")[0])  # target_present looks at imported modules only
    except ImportError as e:
        pytest.fail(_moved(name, f"module not found ({e})"))
    assert target_present(target), _moved(name, "target not found")


def test_ray_node_params_sets_the_defaults_while_applied():
    from ray._private import parameter

    original = parameter.RayParams.__init__
    with patched("ray_node_params") as applied:
        assert applied["ray_node_params"], _moved("ray_node_params", "not applied")
        params = parameter.RayParams()
        assert params.include_log_monitor is False, _moved("ray_node_params", "include_log_monitor not set")
        assert params.no_monitor is True, _moved("ray_node_params", "no_monitor not set")
        # an explicit value still wins
        assert parameter.RayParams(include_log_monitor=True).include_log_monitor is True
    assert parameter.RayParams.__init__ is original, _moved("ray_node_params", "not undone")
    # Ray still starts the monitors it guards from these two parameters
    node_source = inspect.getsource(__import__("ray._private.node", fromlist=["Node"]).Node)
    for field in ("include_log_monitor", "no_monitor"):
        assert field in node_source, _moved("ray_node_params", f"Node no longer reads {field}")


def test_ray_loopback_switches_single_machine_mode_while_applied():
    from ray._private import ray_constants, services

    before = ray_constants.ENABLE_RAY_CLUSTER
    with patched("ray_loopback") as applied:
        assert applied["ray_loopback"], _moved("ray_loopback", "not applied")
        assert ray_constants.ENABLE_RAY_CLUSTER is False
    assert ray_constants.ENABLE_RAY_CLUSTER == before, _moved("ray_loopback", "not undone")
    # Ray reads the constant at call time, where it picks the node's address
    assert "ray_constants.ENABLE_RAY_CLUSTER" in inspect.getsource(services.get_node_ip_address), \
        _moved("ray_loopback", "get_node_ip_address no longer reads ENABLE_RAY_CLUSTER")


def test_ray_no_api_server_makes_start_api_server_a_no_op_while_applied():
    from ray._private import node

    original = node.Node.start_api_server
    with patched("ray_no_api_server") as applied:
        assert applied["ray_no_api_server"], _moved("ray_no_api_server", "not applied")
        assert node.Node.start_api_server(object()) is None  # nothing started, for any node
    assert node.Node.start_api_server is original, _moved("ray_no_api_server", "not undone")
    assert "self.start_api_server(" in inspect.getsource(node.Node), \
        _moved("ray_no_api_server", "Node no longer starts its API server through start_api_server")


def test_tune_actors_without_runtime_env_registers_without_one_while_applied(monkeypatch):
    from ray.tune.execution import class_cache

    for k, v in class_cache.DEFAULT_ENV_VARS.items():
        monkeypatch.setenv(k, v)  # what an embedded Ray's workers inherit (execution.ray_start.WORKER_ENV)

    class Trainable:
        pass

    original = class_cache._ActorClassCache.get
    with patched("tune_actors_without_runtime_env") as applied:
        assert applied["tune_actors_without_runtime_env"], _moved("tune_actors_without_runtime_env", "not applied")
        remote = class_cache._ActorClassCache().get(Trainable)
        assert not remote._default_options.get("runtime_env"), \
            _moved("tune_actors_without_runtime_env", "the trainable still gets a runtime_env")
    assert class_cache._ActorClassCache.get is original, _moved("tune_actors_without_runtime_env", "not undone")
    # unpatched, Tune sets the runtime_env the patch makes unnecessary (else the patch is moot)
    unpatched = class_cache._ActorClassCache().get(Trainable)
    assert unpatched._default_options.get("runtime_env", {}).get("env_vars", {}).get("PL_DISABLE_FORK") == "1", \
        _moved("tune_actors_without_runtime_env", "Tune no longer sets PL_DISABLE_FORK in its runtime_env")
    # a variable that differs from what Tune sets: the patch stands aside
    monkeypatch.setenv("PL_DISABLE_FORK", "0")
    with patched("tune_actors_without_runtime_env") as refused:
        assert not refused["tune_actors_without_runtime_env"]


def test_tune_interrupt_event_hands_tune_run_the_threads_event_while_applied():
    import inspect
    import threading

    from ray.tune import tune as tune_mod

    # tune.run still ends its loop on the event _setup_signal_catching gives it (else the patch is moot)
    source = inspect.getsource(tune_mod.run)
    assert "_setup_signal_catching()" in source and "experiment_interrupted_event.is_set()" in source, \
        _moved("tune_interrupt_event", "tune.run no longer loops on the event of _setup_signal_catching")
    original = tune_mod._setup_signal_catching
    mine = threading.Event()
    seen: dict[str, object] = {}

    def in_a_thread() -> None:  # as the warm runtime's host runs a sweep
        with tune_interrupt(mine):
            seen["with"] = tune_mod._setup_signal_catching()
        seen["after"] = tune_mod._setup_signal_catching()

    with patched("tune_interrupt_event") as applied:
        assert applied["tune_interrupt_event"] and tune_interrupt_in_force(), _moved("tune_interrupt_event", "not applied")
        t = threading.Thread(target=in_a_thread)
        t.start()
        t.join()
    assert seen["with"] is mine, _moved("tune_interrupt_event", "tune.run would not get the thread's event")
    assert isinstance(seen["after"], threading.Event) and seen["after"] is not mine  # Tune's own, outside the block
    assert tune_mod._setup_signal_catching is original and not tune_interrupt_in_force(), \
        _moved("tune_interrupt_event", "not undone")


def test_trial_actor_reads_the_actor_tune_keeps_for_a_trial():
    """Not a patch but a reach: ``trial.temporary_state.ray_actor`` (killing unreported trials at a
    time budget's deadline); None when it moved."""
    from ray.tune.experiment import trial as trial_mod

    state = trial_mod._TemporaryTrialState()
    assert hasattr(state, "ray_actor"), "internals reach trial_actor: Tune's trial state has no ray_actor"
    assert "self.temporary_state = _TemporaryTrialState()" in inspect.getsource(trial_mod.Trial.__init__), \
        "internals reach trial_actor: Trial no longer keeps a temporary_state"

    class Fake:
        temporary_state = state

    state.ray_actor = "actor"
    assert trial_actor(Fake()) == "actor"
    assert trial_actor(object()) is None


def test_ray_init_still_reads_the_private_arguments_an_embedded_ray_is_started_with():
    """Not a patch but a reach: ``ray.init(_node_ip_address=..., _system_config=...)``; an argument
    Ray no longer reads is left out (Ray's defaults then)."""
    given = ray_init_private_kwargs(node_ip_address="127.0.0.1",
                                    system_config={"worker_niceness": 0, "preload_python_modules": []})
    missing = sorted({"_node_ip_address", "_system_config"} - set(given))
    assert not missing, f"internals reach ray_init_private_kwargs: ray.init no longer reads {missing}"
    assert ray_init_private_kwargs() == {}


def test_trial_error_reads_the_error_tune_pickled_before_the_storage_has_it(tmp_path):
    """Not a patch but a reach: ``trial.pickled_error_file``, the failed trial's error as Tune
    pickled it (``ray.cloudpickle``) in the trial's local directory, which the run's storage gets
    only at Tune's next sync; without it, the public ``trial.get_pickled_error()``."""
    from ray.exceptions import RayTaskError
    from ray.tune.experiment import trial as trial_mod

    try:
        from ray.train._internal.storage import StorageContext
    except ImportError as e:  # the test's own scaffolding moved, not necessarily the reach
        pytest.fail(f"internals reach trial_error: cannot build a Tune trial to check it ({e})")
    staging = tmp_path / "staging"
    staging.mkdir()

    class Staged(trial_mod.Trial):
        local_path = property(lambda self: str(staging))  # where the driver stages it (a Ray session's dir)

    storage = StorageContext(storage_path=str(tmp_path / "storage"), experiment_dir_name="exp", trial_dir_name="t1")
    trial = Staged("trainable", stub=True, storage=storage)
    try:
        raise ValueError("boom in the user's code")
    except ValueError as cause:
        trial.handle_error(RayTaskError("train", "traceback", cause))
    assert trial.pickled_error_file and trial.pickled_error_file.startswith(str(staging)), \
        "internals reach trial_error: Trial.handle_error no longer pickles the error into the trial's local directory"
    assert trial.get_pickled_error() is None, \
        "internals reach trial_error: the storage has the error at once now; the public get_pickled_error() will do"
    err = trial_error(trial)
    assert isinstance(err, RayTaskError), f"internals reach trial_error: read {err!r}, not the trial's error"
    assert isinstance(err.cause, ValueError) and str(err.cause) == "boom in the user's code"

    class Moved:  # a Tune without pickled_error_file: the public way
        def get_pickled_error(self):
            return "from storage"

    assert trial_error(Moved()) == "from storage"



def test_bootstrap_address_resolves_an_address_as_ray_init_does():
    """Not a patch but a reach: ``ray._private.services.canonicalize_bootstrap_address`` (what
    ``--address auto`` stands for, checked before ``ray.init`` would wait on it); None when it moved."""
    got = bootstrap_address("10.1.2.3:6379")
    assert got == "10.1.2.3:6379", "the reach bootstrap_address: Ray's canonicalize_bootstrap_address moved " \
                                    f"(got {got!r}); `--address auto` is then no longer checked before ray.init"


def test_gcs_address_names_the_gcs_this_driver_talks_to(ray_session):
    """Not a patch but a reach: ``_global_node.gcs_address`` (a command ended by SIGTERM exits at
    once when that GCS no longer answers); None when it moved."""
    import socket

    address = gcs_address()
    assert address is not None, "the reach gcs_address: Ray's _global_node.gcs_address moved; a command " \
                                "signalled with its process group waits 60 s for a gone GCS again"
    host, _, port = address.rpartition(":")
    socket.create_connection((host, int(port)), timeout=5).close()  # the session's GCS answers there


def test_autoscaler_node_types_reads_the_autoscalers_status(ray_session):
    """Not a patch but a reach: the cluster config (autoscaler v2) and the status the autoscaler's
    monitor writes (``__autoscaling_status``), read when a trial fits on no live node. The session's
    Ray runs no monitor; the status of a monitor with node types (``ray up``, KubeRay) and of the
    read-only monitor of ``ray start`` (which names each node ``node_<id>``) are written here."""
    import json

    from ray._private import ray_constants
    from ray._private.state import state
    from ray.experimental import internal_kv

    from orchestrator.internals import autoscaler_node_types

    assert state.get_cluster_config() is None  # no autoscaler v2 here
    assert autoscaler_node_types() is None
    key = ray_constants.DEBUG_AUTOSCALING_STATUS

    def status(types: dict[str, str]) -> bytes:
        return json.dumps({"autoscaler_report": {"active_nodes": {t: 1 for t in types.values()},
                                                 "node_type_mapping": types}}).encode()

    try:
        internal_kv._internal_kv_put(key, status({"ab12": "node_ab12"}), overwrite=True)
        assert autoscaler_node_types() is None, "a read-only monitor is taken for an autoscaler"
        internal_kv._internal_kv_put(key, status({"ab12": "head_group"}), overwrite=True)
        assert autoscaler_node_types() == [], "the reach autoscaler_node_types: the autoscaler's status moved; " \
                                              "a cluster that scales from zero is refused at once again"
    finally:
        internal_kv._internal_kv_del(key)
    assert autoscaler_node_types() is None
