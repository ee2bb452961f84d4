"""The two kinds of failure.

A :class:`SpecError` is fatal: the sweep cannot start (an unreadable spec, a missing data file, a
column that does not exist). It is reported as one line naming the file and the key path, and the
CLI exits with code 2 before anything is started or written.

A failed *trial* is not an exception here: it is recorded (status ``error`` or ``diverged``) and
the sweep goes on.
"""

from __future__ import annotations

__all__ = ["SpecError", "DataError"]


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

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.key) if p]
        parts.append(self.message)
        return ": ".join(parts)


class DataError(SpecError):
    """The data a spec points to is missing or unusable (same one-line format)."""
