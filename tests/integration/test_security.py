"""An embedded Ray listens on loopback only, and starts no dashboard unless asked.

Each case starts an embedded Ray the way ``sweep run`` does (``execution.ray_start.RayStart``, which
calls ``connect_ray`` on a helper thread) in a fresh interpreter, so the session's Ray is not disturbed;
that interpreter runs one task and lists, with psutil (vendored by Ray), the listening sockets of
itself and of every process it started. A socket bound to ``0.0.0.0``, ``::`` or the machine's
address would let anyone on the network talk to Ray, which runs whatever it is sent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, assert_no_native_lines, is_loopback

PROBE = r"""
import json, os, sys, time
from orchestrator.execution.ray_start import RayStart
started = RayStart(None, {"num_cpus": 1}, dashboard=os.environ.get("SWEEP_DASHBOARD") == "1").join()
import ray
import psutil  # Ray's vendored copy, on sys.path once ray is imported

@ray.remote(num_cpus=1)
def where():
    return os.getpid()

ray.get(where.remote())  # a worker has run a task: its servers are up too
time.sleep(2)            # the agents finish binding
me = psutil.Process()
listening, names = [], []
for p in [me, *me.children(recursive=True)]:
    try:
        cmd = " ".join(p.cmdline())
        names.append(cmd[:200])
        for c in p.net_connections(kind="inet"):
            if c.status == psutil.CONN_LISTEN:
                listening.append({"pid": p.pid, "name": p.name(), "ip": c.laddr.ip, "port": c.laddr.port,
                                  "cmd": cmd[:120]})
    except psutil.Error:
        pass
print(json.dumps({"started": started, "listening": listening, "processes": names,
                  "node_ip": ray.util.get_node_ip_address()}))
ray.shutdown()
"""


def _probe(tmp_path: Path, **env: str) -> dict:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    environment.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=240,
                       cwd=tmp_path, env=environment)
    assert r.returncode == 0, r.stderr[-4000:]
    assert_no_native_lines(r.stdout + r.stderr, "an embedded Ray's start")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _metrics_port() -> int:
    from ray.dashboard.consts import DASHBOARD_METRIC_PORT

    return int(DASHBOARD_METRIC_PORT)


def _dashboard_sockets(found: dict) -> list[dict]:
    """Listening sockets of Ray's dashboard head (``dashboard/dashboard.py``) but its metrics export.

    Ray would start that process even with ``include_dashboard=False``; an embedded Ray here starts
    it only when the dashboard is asked for. It also exports Ray's own Prometheus metrics on
    ``DASHBOARD_METRIC_PORT`` (44227; on loopback for a loopback node, checked by the test above),
    when that port is free: that endpoint is not the dashboard, so it is left out here.
    """
    return [s for s in found["listening"] if "dashboard/dashboard.py" in s["cmd"] and s["port"] != _metrics_port()]


@pytest.fixture(scope="module")
def default_probe(tmp_path_factory):
    return _probe(tmp_path_factory.mktemp("ray-default"))


def test_embedded_ray_listens_on_loopback_only(default_probe):
    found = default_probe
    assert found["started"] is True
    assert found["node_ip"] == "127.0.0.1"
    names = {s["name"] for s in found["listening"]}
    # The servers that matter are all there (so the check below is not vacuous): GCS, raylet, a worker.
    assert {"gcs_server", "raylet"} <= names, names
    assert len(found["listening"]) >= 5, found["listening"]
    exposed = [s for s in found["listening"] if not is_loopback(s["ip"])]
    assert exposed == [], exposed


def test_embedded_ray_serves_no_dashboard_by_default(default_probe):
    assert _dashboard_sockets(default_probe) == []
    assert not [s for s in default_probe["listening"] if s["port"] == 8265]


# Processes Ray starts by default that a sweep on an embedded Ray does without (execution.ray_start.connect_ray):
# the dashboard head, the log monitor (streams workers' output to the driver: log_to_driver is off)
# and the autoscaler monitor (one machine).
UNNEEDED = ("dashboard/dashboard.py", "_private/log_monitor.py", "autoscaler/_private/monitor.py")


def test_embedded_ray_starts_only_what_a_sweep_uses(default_probe):
    running = [p for p in default_probe["processes"] if any(u in p for u in UNNEEDED)]
    assert running == [], running
    # the rest of Ray is there: the probe's task ran, and these processes were listed
    assert any("gcs_server" in p for p in default_probe["processes"])
    assert any("raylet" in p for p in default_probe["processes"])


def test_dashboard_when_asked_listens_on_loopback_only(tmp_path):
    found = _probe(tmp_path, SWEEP_DASHBOARD="1")
    assert any("dashboard/dashboard.py" in p for p in found["processes"])
    served = _dashboard_sockets(found)
    assert served, found["listening"]
    exposed = [s for s in found["listening"] if not is_loopback(s["ip"])]
    assert exposed == [], exposed
