"""TensorFlow's native start-up lines are held back in the driver; everything else a user's code
writes still reaches the terminal (orchestrator/quiet.py)."""

from __future__ import annotations

import os

import pytest

from orchestrator.quiet import quiet_native_stderr, without_native_logs

NATIVE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796358306.311979    5670 port.cc:153] oneDNN custom operations are on.\n"
    "E0000 00:00:1796358220.079261    4480 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n"
    "I0000 00:00:1796358216.411009    4480 cpu_feature_guard.cc:227] This TensorFlow binary is optimized.\n"
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.\n"
)


def test_native_log_lines_are_dropped_and_user_lines_kept():
    text = "loading my data\n" + NATIVE + "Warning: 3 files skipped\n"
    assert without_native_logs(text) == "loading my data\nWarning: 3 files skipped\n"


def test_what_native_code_writes_to_fd_2_is_filtered(capfd):
    with quiet_native_stderr():
        os.write(2, NATIVE.encode())
        os.write(2, b"my loader: 10 rows\n")
    assert capfd.readouterr().err == "my loader: 10 rows\n"


def test_a_failing_block_shows_everything_it_wrote(capfd):
    with pytest.raises(ImportError):
        with quiet_native_stderr():
            os.write(2, NATIVE.encode())
            raise ImportError("libcudart.so.12: cannot open shared object file")
    assert capfd.readouterr().err == NATIVE
