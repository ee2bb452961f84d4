"""The test evaluator a process keeps on its Ray: two sweeps of one process (the warm runtime's
host runs each in a thread) that reach it at the same moment start one, and both use it.

Ray is replaced by a stand-in that records what would be started (no Ray in unit tests).
"""

from __future__ import annotations

import sys
import threading
import time
import types

import pytest

from orchestrator.execution import tune_setup


class _Actor:
    def __init__(self) -> None:
        self.ready = types.SimpleNamespace(remote=lambda: None)


def _fake_ray(started: list[_Actor]) -> tuple[types.ModuleType, types.ModuleType]:
    ray = types.ModuleType("ray")
    tune = types.ModuleType("ray.tune")
    tune.Callback = object
    ray.tune = tune

    def remote(**resources):
        assert resources == {"num_cpus": 0, "num_gpus": 0}  # it holds no CPU or GPU a trial could use

        def wrap(cls):
            def start():
                time.sleep(0.2)  # an actor takes a moment to start: the window two sweeps could both enter
                actor = _Actor()
                started.append(actor)
                return actor

            return types.SimpleNamespace(remote=start)

        return wrap

    ray.remote = remote
    context = types.SimpleNamespace(get_node_id=lambda: "node", get_job_id=lambda: "job")
    ray.get_runtime_context = lambda: context
    return ray, tune


@pytest.fixture
def started(monkeypatch) -> list[_Actor]:
    """The evaluators started, with Ray replaced by the stand-in and no evaluator kept yet."""
    out: list[_Actor] = []
    ray, tune = _fake_ray(out)
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray.tune", tune)
    monkeypatch.setattr(tune_setup, "_KEPT_EVALUATOR", {})
    return out


def test_two_sweeps_at_once_start_one_evaluator_and_share_it(started):
    callbacks = [tune_setup.warm_evaluator(trials=1) for _ in range(2)]
    for cb in callbacks:  # each sweep's last trial has started; its first report then starts the evaluator
        cb.on_trial_start(0, [], None)
    go = threading.Barrier(2)

    def report(cb):
        go.wait()
        cb.on_trial_result(1, [], None, {})

    threads = [threading.Thread(target=report, args=(cb,)) for cb in callbacks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1, f"{len(started)} evaluators started"
    assert callbacks[0].actor is callbacks[1].actor is started[0]
    assert tune_setup.kept_evaluator() is started[0]  # kept for the process's next run


def test_an_evaluator_starts_only_after_the_last_trial_started_and_reported(started):
    cb = tune_setup.warm_evaluator(trials=2)
    cb.on_trial_start(0, [], None)
    cb.on_trial_result(1, [], None, {})
    assert started == []  # one of two trials started: the evaluator would compete with the second
    cb.on_trial_start(2, [], None)
    assert len(started) == 1 and cb.actor is started[0]
