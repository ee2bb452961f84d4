"""Integration tests: real Ray (one in-process instance for the whole session) and tiny Keras models.

Every sweep a test runs in this process uses the session's Ray (the ``ray_session`` fixture): its
start-up (5-7 s, more on a slow machine) is paid once per session, not once per sweep. A test that
would start a Ray of its own in this process fails at once, naming the fixture to request
(``_one_ray_per_session``). The tests that start a Ray of their own do so in another process, on
purpose:

- test_security.py, test_startup.py: what an embedded Ray started as ``sweep run`` starts it does
  (which sockets listen, which processes and prestarted workers exist) in a fresh interpreter, so
  the session's Ray neither confounds the figures nor is disturbed;
- test_resume.py, test_crash_loop.py, test_storage_uri.py: a ``sweep run`` driver that is
  SIGKILLed mid-run takes its embedded Ray with it (test_resume's and the file URI's resume then
  run on the session's Ray; test_crash_loop kills its resumes too, and the S3 case runs driver and
  resume apart so that their workers get the credentials from the environment);
- test_cluster.py: a two-node cluster with token authentication, and a job submitted to it;
- test_peers_smoke.py: a benchmark script run as a user runs it.

What the tests share besides fixtures (paths, ``write_spec``, ``run_cli``, ...) is in ``tests/helpers.py``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

# What `sweep` sets before anything imports TensorFlow (orchestrator.cli.main): test modules import
# Keras as they are collected, and TensorFlow reads the level once, at its import; without it the
# first use of a device in this process (a builder's model check) writes a native CUDA line that
# the tests' check for native lines on the terminal then finds.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def ray_session():
    """One embedded Ray for every integration test; shut down (only this one) at the end.

    It declares 4 logical GPUs (this machine has none) so that GPU placement is testable: Ray
    assigns GPU ids and sets CUDA_VISIBLE_DEVICES exactly as on a GPU machine.
    """
    from orchestrator.execution import connect_ray

    # Workers import TensorFlow in their first trial, as before preloading was the default: the
    # suite's sweeps are timed as they were (test_warm_second_run checks the preloaded, kept Ray).
    started = connect_ray(None, {"num_cpus": 2, "num_gpus": 4}, preload=False)
    import ray

    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(autouse=True)
def _one_ray_per_session(request, monkeypatch):
    """Refuse, in a test without ``ray_session``, an in-process sweep that would start its own Ray."""
    if "ray_session" in request.fixturenames:
        yield
        return
    from orchestrator.execution import ray_start, run

    real = ray_start.connect_ray

    def connect(address: str | None, resources: dict[str, float] | None = None, **kwargs: Any) -> bool:
        ray = sys.modules.get("ray")
        if not (address or os.environ.get("RAY_ADDRESS") or (ray is not None and ray.is_initialized())):
            raise AssertionError(f"{request.node.nodeid} would start a Ray of its own in the test process: "
                                 "request the ray_session fixture")
        return real(address, resources, **kwargs)

    monkeypatch.setattr(ray_start, "connect_ray", connect)
    monkeypatch.setattr(run, "connect_ray", connect)
    yield
