"""TensorFlow's errors, told by their informative line.

A TensorFlow op that fails inside a traced function (every ``model.fit``) raises a
``tf.errors.OpError`` whose message starts with a generic line, ``Graph execution error:``, then
the Python stack where the failing node was defined, and only then what went wrong::

    Graph execution error:

    Detected at node compile_loss/sparse_categorical_crossentropy/... defined at (most recent call last):
      File "...", line 1002, in _bootstrap
      ...
    Received a label value of 1 which is outside the valid range of [0, 1).  Label values: 0 1 0 ...
    \t [[{{node compile_loss/sparse_categorical_crossentropy/...}}]] [Op:__inference_multi_step_on_iterator_1001]

A trial's recorded error (``trials.parquet``'s ``error``, ``events.parquet``'s ``detail``, the
terminal) is its exception's first line. :func:`lift_informative_line` puts the informative line
first, in place (the exception keeps its type, its traceback and, below that line, its whole
original message), so every place that reads a first line reads why. Imports no TensorFlow: an
``OpError`` is recognised by its class' module and attributes.
"""

from __future__ import annotations

import re

__all__ = ["informative_line", "is_tf_error", "lift_informative_line"]

LIMIT = 300  # characters of the informative line kept (a label list can run on for a whole batch)

_GENERIC = re.compile(r"^(graph execution error|detected at node|detected unsupported operations)\b", re.IGNORECASE)
_NODE = re.compile(r"(?:Detected at node|\{\{node) '?([^\s'}]+)")


def is_tf_error(e: BaseException) -> bool:
    """Whether ``e`` is a ``tf.errors.OpError`` (any subclass), without importing TensorFlow."""
    return any(c.__name__ == "OpError" and c.__module__.startswith("tensorflow") for c in type(e).__mro__) \
        and isinstance(getattr(e, "_message", None), str)


def informative_line(message: str) -> str | None:
    """The line of a TensorFlow error's ``message`` that says what went wrong; None when its first
    line already does (or nothing better is found).

    The generic lines (``Graph execution error:``, ``Detected at node ... defined at``), the
    stack of the node's definition and the indented node lines are skipped; the first other line
    is the one. Where there is none, the failing node is named after the first line.
    """
    lines = [ln for ln in message.splitlines() if ln.strip()]
    if not lines or not _GENERIC.match(lines[0].strip()):
        return None
    for ln in lines[1:]:
        if ln[:1].isspace() or _GENERIC.match(ln.strip()):
            continue
        line = ln.strip()
        return line if len(line) <= LIMIT else line[: LIMIT - 3] + "..."
    node = _NODE.search(message)
    return f"{lines[0].strip().rstrip(':')} at node {node.group(1)}" if node else None


def lift_informative_line(e: BaseException) -> BaseException:
    """Put a TensorFlow error's informative line first in its message, in place, and return it.

    Any other exception (or a TensorFlow error whose first line already says why) is returned as it
    is. The original message follows, whole, after a blank line; pickling (Ray sends the exception
    to the driver) keeps the new message.
    """
    if not is_tf_error(e):
        return e
    message = e._message  # type: ignore[attr-defined]
    line = informative_line(message)
    if line:
        e._message = f"{line}\n\n{message}"  # type: ignore[attr-defined]
    return e
