"""Fixtures shared by unit and integration tests."""

from __future__ import annotations

import socket

import pytest


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
