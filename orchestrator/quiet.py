"""Native libraries' start-up logs kept off the user's terminal.

TensorFlow 2.21 writes its C++ start-up lines (oneDNN, CUDA drivers, CPU features) to file
descriptor 2 before its logging reads ``TF_CPP_MIN_LOG_LEVEL``, so the variable alone no longer
silences them. Ray's workers write theirs to Ray's log files; in the driver (a builder's model
check, a user's module that imports Keras, an image folder read through Keras)
:func:`quiet_native_stderr` holds back those lines and lets everything else through.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Iterator

__all__ = ["NATIVE_LOG_LINE", "quiet_native_stderr", "without_native_logs"]

# absl/glog's format ("I0000 00:00:1796358306.311979    5670 port.cc:153] ..."), absl's notice
# that it is not initialised yet, and the second line of TensorFlow's CPU-feature notice.
NATIVE_LOG_LINE = re.compile(r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.+-]+:\d+\] "
                             r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
                             r"|To enable the following instructions: .* rebuild TensorFlow)")


def without_native_logs(text: str) -> str:
    """``text`` without the native libraries' log lines (:data:`NATIVE_LOG_LINE`)."""
    return "".join(line for line in text.splitlines(keepends=True) if not NATIVE_LOG_LINE.match(line))


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hold back what is written to file descriptor 2 while the block runs; then write it out
    without the native log lines (all of it when the block raises: it may say why).

    Where descriptor 2 cannot be duplicated (closed), the block runs as it is.
    """
    fd = 2  # where native code writes, whatever sys.stderr is
    try:
        saved = os.dup(fd)
    except OSError:
        yield
        return
    sys.stderr.flush()
    failed = False
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), fd)
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", "replace")
            kept = text if failed else without_native_logs(text)
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
