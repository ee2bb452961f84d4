"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import os
import socket

import pytest

# A warm runtime a developer keeps up (`sweep up`) is not this suite's: the sweeps the tests run in
# this process and in the processes they start use an embedded Ray, as on a clean machine.
# tests/integration/test_runtime.py starts a runtime of its own, in a folder of its own.
os.environ["SWEEP_NO_RUNTIME"] = "1"


@pytest.fixture
def s3_root(monkeypatch):
    """A bucket on a local S3 endpoint (moto's server), with dummy credentials; skipped without moto."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    import pyarrow.fs as pafs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    creds = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    for k, v in creds.items():
        monkeypatch.setenv(k, v)
    endpoint = f"endpoint_override=127.0.0.1:{port}&scheme=http"
    fs, _ = pafs.FileSystem.from_uri(f"s3://sweep-test/?{endpoint}&allow_bucket_creation=true")
    fs.create_dir("sweep-test")
    try:
        yield f"s3://sweep-test/runs?{endpoint}"
    finally:
        server.stop()
