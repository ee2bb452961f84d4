"""The kinds of failure, and what the CLI turns each into.

- :class:`SpecError` (and its :class:`DataError`): the spec, or the data it points to, cannot be
  used. One line naming the file and the key path; exit code 2; nothing started or written.
- :class:`UsageError`: a command-line argument or a run directory cannot be used (an unwritable
  ``--out``, a run that is already complete, resources no node has). One line naming the
  argument; exit code 2; nothing started or written over.
- :class:`RunFailed`: something failed inside the product or a library while a run was under way
  (not the user's input). One line naming what failed and the file its traceback went to; exit
  code 1; the run directory is marked incomplete and can be resumed.

Anything else that escapes a command is an internal error: the CLI writes its traceback to a file
(:func:`write_traceback`) and prints one line naming it; exit code 1.

A failed *trial* is not an exception here: it is recorded (status ``error`` or ``diverged``) and
the sweep goes on.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import traceback
from pathlib import Path

__all__ = ["SpecError", "DataError", "UsageError", "RunFailed", "one_line", "first_line", "write_traceback",
           "ERROR_DIR_ENV"]

ERROR_DIR_ENV = "SWEEP_ERROR_DIR"  # where tracebacks of internal errors go (default: the temp dir)
# Every character str.splitlines() breaks a line at: a message with one would print as two lines.
_LINE_BREAKS = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with its line breaks escaped (``\\n``), so that it prints as one line.

    A key or value the user wrote (``params: {"a\\nb": 1}``) can hold one; messages promise one line.
    """
    return _LINE_BREAKS.sub(lambda m: repr(m.group())[1:-1], text)


def first_line(e: BaseException, limit: int | None = 300) -> str:
    """The first line of ``str(e)`` (at most ``limit`` characters; None: whole), or its type's name when empty."""
    line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    return line if limit is None or len(line) <= limit else line[: limit - 3] + "..."


def write_traceback(exc: BaseException, prefix: str = "sweep-traceback") -> Path:
    """Write ``exc``'s full traceback to a new file and return its path.

    The file goes to ``$SWEEP_ERROR_DIR`` when set, else the system's temporary directory, named
    ``<prefix>-<YYYYmmdd-HHMMSS>-<pid>.txt`` (a number added when that exists). Raises OSError
    when it cannot be written.
    """
    directory = Path(os.environ.get(ERROR_DIR_ENV) or tempfile.gettempdir())
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for n in range(100):
        path = directory / (f"{stem}.txt" if n == 0 else f"{stem}-{n}.txt")
        try:
            with open(path, "x", encoding="utf-8") as f:  # never over another run's file
                f.write(text)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"{directory}: {stem}*.txt: all taken")


class SpecError(ValueError):
    """A spec (or the data it points to) cannot be used.

    Args:
        key: dotted key path inside the spec, e.g. ``params.learning_rate.low``; may be empty.
        message: what is wrong and, where possible, how to fix it.
        file: the spec file's name; filled in by the loader when it is known.
    """

    def __init__(self, key: str, message: str, file: str | None = None) -> None:
        self.key = key
        self.message = message
        self.file = file
        super().__init__(str(self))

    def with_file(self, file: str) -> "SpecError":
        """Return a copy of this error that names ``file``."""
        return type(self)(self.key, self.message, file)

    def __reduce__(self) -> tuple:
        # raised in a Ray worker and re-raised on the driver: rebuilt from its fields, not str(self)
        return (type(self), (self.key, self.message, self.file))

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        parts.append(self.message)
        return one_line(": ".join(parts))


class DataError(SpecError):
    """The data a spec points to is missing or unusable (same one-line format)."""


class UsageError(SpecError):
    """A command-line argument (or the run directory it names) cannot be used.

    Distinct from a spec error (``except UsageError`` tells them apart: no spec file is named),
    and a kind of it: both are bad input, one line, exit code 2, and code that catches
    :class:`SpecError` for "bad input, nothing started" keeps catching both.

    Args:
        argument: the argument as the user typed it (``--out``, ``RUN_DIR``, ``--num-samples``);
            may be empty.
        message: what is wrong and, where possible, how to fix it.
    """

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(argument, message)

    def with_file(self, file: str) -> "UsageError":
        """A usage error names an argument, not a spec file: itself."""
        return self

    def __reduce__(self) -> tuple:
        return (type(self), (self.argument, self.message))

    def __str__(self) -> str:
        return one_line(f"{self.argument}: {self.message}" if self.argument else self.message)


class _Cause(Exception):
    """A :class:`RunFailed`'s cause after a trip between processes: its type's name and its text."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        super().__init__(text)

    def __reduce__(self) -> tuple:
        return (type(self), (self.name, str(self)))


class RunFailed(RuntimeError):
    """An unexpected failure while a run was under way; the run is left resumable.

    Args:
        what: what failed, in a few words (``Ray Tune's end-of-run analysis``).
        cause: the exception.
        run_dir: the run directory (its ``run.json`` says ``incomplete``), when one was made.
        traceback_file: where the full traceback was written, when it was.
    """

    def __init__(self, what: str, cause: BaseException, run_dir: object = None,
                 traceback_file: str | None = None) -> None:
        self.what = what
        self.cause = cause
        self.run_dir = run_dir
        self.traceback_file = traceback_file
        super().__init__(str(self))

    def __reduce__(self) -> tuple:
        # sent from the warm runtime's host to its client: the cause travels as its name and text
        cause = self.cause if isinstance(self.cause, (SpecError, OSError, ValueError, RuntimeError)) \
            else _Cause(type(self.cause).__name__, str(self.cause))
        return (type(self), (self.what, cause, None if self.run_dir is None else str(self.run_dir),
                             self.traceback_file))

    def __str__(self) -> str:
        first = (str(self.cause).strip().splitlines() or [""])[0]
        name = self.cause.name if isinstance(self.cause, _Cause) else type(self.cause).__name__
        text = f"{self.what} failed: {name}" + (f": {first}" if first else "")
        if self.traceback_file:
            text += f" (traceback: {self.traceback_file})"
        if self.run_dir is not None:
            text += f"; the run can be resumed: sweep resume {self.run_dir}"
        return text
