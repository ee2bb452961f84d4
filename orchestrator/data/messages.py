"""Wording shared by the data errors: how a value, a row, a column list or a typo is shown.

Every :class:`~orchestrator.errors.DataError` is one line a user acts on, so the pieces that name
what they typed or what is in their file are written the same way wherever the error comes from.
"""

from __future__ import annotations

import difflib
from typing import Any, Sequence

import numpy as np

__all__ = ["MAX_COLUMNS_LISTED", "preview", "did_you_mean", "label", "row"]

MAX_COLUMNS_LISTED = 20
"""Most column names an error lists before it says how many more there are."""


def preview(columns: Sequence[str]) -> str:
    """The first :data:`MAX_COLUMNS_LISTED` column names, quoted, and how many more there are.

    A file may have thousands of columns; the error stays one readable line.
    """
    shown = ", ".join(repr(str(c)) for c in columns[:MAX_COLUMNS_LISTED])
    more = len(columns) - MAX_COLUMNS_LISTED
    return shown + (f", ... and {more} more" if more > 0 else "")


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """A `` (did you mean ...?)`` hint for a misspelt name, or ``""`` when nothing is close.

    A name that differs only in case says so, since that is the commonest slip with column names.
    """
    lowered = {str(c).lower(): str(c) for c in choices}
    if word.lower() in lowered:
        return f" (did you mean {lowered[word.lower()]!r}? names are case-sensitive)"
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def label(value: Any) -> str:
    """A class label as the user wrote it (``'yes'``, ``3``), not as NumPy holds it (``np.int64(3)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def row(position: int) -> str:
    """A 0-based row position as a user finds it: data row N (line N+1 of a CSV with a header)."""
    return f"data row {int(position) + 1}"
