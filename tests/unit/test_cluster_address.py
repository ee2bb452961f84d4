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
