"""The tests' own CLI helper holds every CLI test to the terminal a user sees: ``run_cli`` fails a
test whose command lets a native log line (TensorFlow/absl's ``E0000 ... file.cc:52] ...``) reach
file descriptor 1 or 2, and hands everything the command wrote on to pytest's capture.

The command is a stand-in for ``orchestrator.cli.main`` that writes as native code does: to the
descriptors, not through ``sys.stderr``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import orchestrator.cli
from tests.helpers import assert_no_native_lines, run_cli

CUINIT = "E0000 00:00:1796358306.311979    5670 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)"


def _command(monkeypatch: pytest.MonkeyPatch, out: bytes, err: bytes, code: int = 0) -> list[list[str]]:
    calls: list[list[str]] = []

    def main(argv: list[str]) -> int:
        calls.append(argv)
        os.write(1, out)
        os.write(2, err)
        return code

    monkeypatch.setattr(orchestrator.cli, "main", main)
    return calls


def test_a_native_line_on_stderr_fails_the_test_naming_it(monkeypatch, capfd):
    _command(monkeypatch, b"ok: 3 trials\n", f"{CUINIT}\n".encode())
    with pytest.raises(AssertionError, match="cuda_platform.cc:52] failed call to cuInit") as info:
        run_cli("validate", "spec.yaml")
    assert "sweep validate" in str(info.value)
    # what the command wrote still reaches pytest's capture, each on its own descriptor
    out, err = capfd.readouterr()
    assert out == "ok: 3 trials\n" and err == f"{CUINIT}\n"


def test_a_native_line_from_a_child_process_is_caught_too(monkeypatch):
    def main(argv: list[str]) -> int:
        # a process the command starts inherits descriptor 2, as Ray's and TensorFlow's helpers do
        subprocess.run([sys.executable, "-c", f"import os; os.write(2, {CUINIT!r}.encode() + b'\\n')"], check=True)
        return 0

    monkeypatch.setattr(orchestrator.cli, "main", main)
    with pytest.raises(AssertionError, match="cuInit"):
        run_cli("run", "spec.yaml")


def test_other_output_passes_through_with_the_exit_code(monkeypatch, capfd):
    calls = _command(monkeypatch, b"results: out/run-1\n", b"warning: params.extra: never read\n", code=2)
    assert run_cli("run", "spec.yaml", "--out", 3) == 2
    assert calls == [["run", "spec.yaml", "--out", "3"]]
    out, err = capfd.readouterr()
    assert out == "results: out/run-1\n" and err == "warning: params.extra: never read\n"


def test_assert_no_native_lines_reads_every_line_of_a_captured_output():
    assert_no_native_lines("results: out/run-1\nI said 0000 things\n")
    for line in (CUINIT, "I0000 00:00:1796358306.311979    5670 port.cc:153] oneDNN custom operations are on",
                 "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"):
        with pytest.raises(AssertionError, match="sweep resume let 1 native log line"):
            assert_no_native_lines(f"results: out/run-1\n{line}\n", "sweep resume")
