"""Which Ray a sweep uses when a warm runtime is written down (runtime/client.py ``choose``), without Ray."""

from __future__ import annotations

import pytest

from orchestrator.errors import UsageError
from orchestrator.runtime import client
from orchestrator.runtime import state as state_mod


def _state() -> state_mod.State:
    return state_mod.State(address="127.0.0.1:6380", socket="/tmp/x.sock", token_file="/tmp/x.token", ray_pid=1,
                           host_pid=1, cpus=2.0, gpus=0.0, fingerprint={}, env={}, temp_dir="/tmp/x",
                           started_at=0.0, ready=True)


@pytest.fixture
def up(monkeypatch):
    st = _state()
    monkeypatch.delenv(state_mod.NO_RUNTIME_ENV, raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(state_mod, "find", lambda cpu=0.0, gpu=0.0: st)
    monkeypatch.setattr(state_mod, "read", lambda folder=None: st)
    return st


def test_a_usable_runtime_takes_the_sweep_without_a_word(up):
    said: list[str] = []
    assert client.choose(None, False, 1, 0, say=said.append) is up
    assert said == []


def test_dashboard_runs_embedded_and_says_why_in_one_line(up):
    said: list[str] = []
    assert client.choose(None, False, 1, 0, say=said.append, dashboard=True) is None
    assert len(said) == 1 and "--dashboard" in said[0] and up.address in said[0] and "embedded" in said[0]


def test_dashboard_with_the_runtimes_own_address_is_a_usage_error(up):
    with pytest.raises(UsageError) as e:
        client.choose(up.address, False, 1, 0, say=lambda line: None, dashboard=True)
    assert e.value.argument == "--dashboard" and up.address in str(e.value)


def test_no_runtime_and_another_cluster_skip_it(up, monkeypatch):
    assert client.choose(None, True, say=lambda line: None) is None
    assert client.choose("10.0.0.5:6379", False, say=lambda line: None, dashboard=True) is None
    monkeypatch.setenv(state_mod.NO_RUNTIME_ENV, "1")
    assert client.choose(None, False, say=lambda line: None) is None
