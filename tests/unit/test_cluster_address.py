"""``--address`` / ``RAY_ADDRESS`` that no Ray could answer at: one line, exit 2, before Ray is reached.

Without the check, ``ray.init`` waited on an address that does not answer for minutes (10 and
more), printing Ray's own reconnection warnings to the terminal, and an address that is not
HOST:PORT was an internal error. Each case runs ``sweep run`` in a fresh interpreter that must
not import Ray at all.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.errors import UsageError
from orchestrator.execution import ray_start

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "search_spaces" / "quickstart.yaml"
# sweep run, and whether Ray was imported by the time it returned
RUNNER = ("import sys; from orchestrator.cli import main; rc = main(sys.argv[1:]); "
          "print('RAY IMPORTED' if 'ray' in sys.modules else '', end=''); sys.exit(rc)")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sweep_run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str, float]:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", RUNNER, "run", str(QUICKSTART), "--out", str(tmp_path / "out"), *args],
                       capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})
    return r.returncode, r.stdout, r.stderr, time.monotonic() - t0


@pytest.mark.parametrize("address, says", [
    ("notahost", "notahost: not the address of a Ray cluster (HOST:PORT, ray://HOST:PORT or auto)"),
    ("head:99999", "head:99999: not the address of a Ray cluster"),
    ("CLOSED", "no Ray answers there (Connection refused)"),
    ("ray://CLOSED", "no Ray answers there (Connection refused)"),
])
def test_an_address_no_ray_answers_at_is_one_line_and_exit_2(tmp_path, address, says):
    if "CLOSED" in address:
        address = address.replace("CLOSED", f"127.0.0.1:{_closed_port()}")
        says = f"{address}: {says}"
    rc, out, err, took = _sweep_run(tmp_path, "--address", address)
    assert rc == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"sweep: error: --address: {says}"), err
    assert "RAY IMPORTED" not in out and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing written
    assert took < 60


def test_ray_address_from_the_environment_is_named_as_such(tmp_path):
    address = f"127.0.0.1:{_closed_port()}"
    rc, out, err, _ = _sweep_run(tmp_path, env={"RAY_ADDRESS": address})
    assert rc == 2
    assert err.startswith(f"sweep: error: RAY_ADDRESS: {address}: no Ray answers there") and len(err.splitlines()) == 1


def test_an_address_that_does_not_answer_is_given_up_after_the_timeout(monkeypatch):
    asked = {}

    def silent(where, timeout):  # a host that drops the packets: the connection times out
        asked.update(where=where, timeout=timeout)
        raise socket.timeout("timed out")

    monkeypatch.setattr(socket, "create_connection", silent)
    with pytest.raises(UsageError) as e:
        ray_start.check_address("10.1.2.3:6379")
    assert asked == {"where": ("10.1.2.3", 6379), "timeout": ray_start.ADDRESS_TIMEOUT_S}
    assert str(e.value).startswith("--address: 10.1.2.3:6379: no Ray answers there "
                                   f"(no answer within {ray_start.ADDRESS_TIMEOUT_S:g} s)")


def test_an_address_that_answers_passes(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        ray_start.check_address(f"127.0.0.1:{port}")
        ray_start.check_address(f"ray://127.0.0.1:{port}")
    ray_start.check_address("anyscale://my-cluster")  # other schemes are Ray's to resolve


# ------------------------------------------------------------------------------------------
# a trial no live node holds: fail fast, unless the cluster's autoscaler may start one
# ------------------------------------------------------------------------------------------


def _fits(monkeypatch, nodes, types, cpu=1.0, gpu=0.0):
    import orchestrator.internals as internals
    from orchestrator.spec import parse_spec

    monkeypatch.setattr(ray_start, "_alive_nodes", lambda: nodes)
    monkeypatch.setattr(internals, "autoscaler_node_types", lambda: types)
    spec = parse_spec({"data": {"dataset": "digits"}, "resources": {"cpu": cpu, "gpu": gpu}})
    return ray_start.check_fits(spec, "s.yaml")


def test_a_trial_no_node_holds_fails_fast_without_an_autoscaler(monkeypatch):
    assert _fits(monkeypatch, [{"CPU": 2.0}], None) == []
    with pytest.raises(UsageError, match="^s.yaml: resources.cpu: a trial asks for 4 CPUs but the largest node has 2$"):
        _fits(monkeypatch, [{"CPU": 2.0}], None, cpu=4)


def test_a_cluster_that_scales_from_zero_waits_for_its_autoscaler(monkeypatch):
    """`ray up cluster/aws-gpu.yaml`: a head with 0 CPUs, workers from 0 (a trial holds on no live node)."""
    notes = _fits(monkeypatch, [{"CPU": 0.0}], [], cpu=1, gpu=1)  # an autoscaler that says no sizes (v1)
    assert [n.split(" for a trial")[0] for n in notes] == ["no node has 1 CPUs", "no node has 1 GPUs"]
    assert "autoscaler may start one, and the trials wait for it (Ctrl-C stops the sweep)" in notes[0]
    # node types the autoscaler publishes (v2): one big enough, or none
    assert len(_fits(monkeypatch, [{"CPU": 0.0}], [{"CPU": 8.0, "GPU": 1.0}], cpu=4, gpu=1)) == 2
    with pytest.raises(UsageError, match="resources.gpu: a trial asks for 2 GPUs but the largest node has 0, and "
                                         "the largest the cluster's autoscaler may start has 1$"):
        _fits(monkeypatch, [{"CPU": 0.0}], [{"CPU": 8.0, "GPU": 1.0}], cpu=1, gpu=2)
