"""How a trial ended, decided from its last report or its exception (pure)."""

from __future__ import annotations

import re
from typing import Any, Iterable

__all__ = ["asha_rung", "end_status", "classify_failure", "UNTRAINED_WHY"]

# Why epochs of a trial's full length were not trained, other than early stopping (run.json's
# compute.epochs_untrained): said apart from what early stopping saved, in the terminal and the report.
UNTRAINED_WHY = {"error": "trials failed", "interrupted": "the run was interrupted",
                 "budget": "the time budget ran out"}


def asha_rung(epochs: int, grace_period: int, reduction_factor: float) -> int:
    """Index of the highest ASHA rung a trial reached after ``epochs`` epochs (rung 0 = grace)."""
    k, milestone = 0, float(grace_period)
    while milestone * reduction_factor <= epochs + 1e-9:
        milestone *= reduction_factor
        k += 1
    return k


def end_status(*, errored: bool, last: dict[str, Any] | None, max_epochs: int,
               scheduler: str, grace_period: int = 1, reduction_factor: float = 3) -> tuple[str, str]:
    """Status and stop reason of a finished trial, from its last report.

    Returns:
        ``(status, stop_reason)`` with status one of ``completed``, ``stopped``, ``diverged``,
        ``error``, ``infeasible`` (its one report says its model broke a cost constraint; the
        reason ``constraint``, which the tables can name: ``RunTables.broken_constraints``).
    """
    if errored:
        return "error", "error"
    if not last:
        return "stopped", scheduler if scheduler != "none" else "stopped"
    if last.get("infeasible"):
        return "infeasible", "constraint"
    if last.get("diverged"):
        return "diverged", "diverged"
    reason = last.get("stop_reason") or ""
    epochs = int(last.get("epoch", 0))
    if reason in ("patience", "budget"):
        return "stopped", reason
    if reason == "max_epochs" or epochs >= max_epochs:
        return "completed", "max_epochs"
    if scheduler == "asha":
        return "stopped", f"asha_rung_{asha_rung(epochs, grace_period, reduction_factor)}"
    if scheduler in ("hyperband", "median"):
        return "stopped", scheduler
    return "stopped", "stopped"


_OOM_TYPES = {"MemoryError", "ResourceExhaustedError", "OutOfMemoryError"}
_OOM_WORDS = re.compile(r"out of memory|outofmemory|resourceexhausted|\boom\b", re.IGNORECASE)
_DIED_TYPES = {"RayActorError", "ActorDiedError", "WorkerCrashedError", "ActorUnavailableError", "NodeDiedError"}


def classify_failure(types: Iterable[str], message: str) -> tuple[str, str]:
    """Why a trial failed, from its exception's type names (the whole chain) and message.

    Returns:
        ``(reason, text)``:

        - ``out_of_memory`` ("out of memory: ...") for ``MemoryError``, TensorFlow's
          ``ResourceExhaustedError``, Ray's ``OutOfMemoryError`` or a worker Ray's memory monitor
          killed (exit type ``NODE_OUT_OF_MEMORY``, "running low on memory"), or an exception whose first line says so;
        - ``worker_died`` ("worker process died (killed, possibly out of memory): ...") when the
          trial's process vanished otherwise (a SIGKILL from the kernel's OOM killer or anyone,
          a crash);
        - ``error`` for any other exception; ``text`` is then the message's first line.
    """
    names = set(types)
    message = str(message)
    first = next((ln.strip() for ln in message.splitlines() if ln.strip()), "") or "error"
    first = first[:1000]
    exit_type = re.search(r"Worker exit type: (\w+)", message)
    if names & _OOM_TYPES or "NODE_OUT_OF_MEMORY" in message or "running low on memory" in message:
        return "out_of_memory", first if first.lower().startswith("out of memory") else f"out of memory: {first}"
    if names & _DIED_TYPES:
        how = f" (exit type {exit_type.group(1)})" if exit_type else ""
        return "worker_died", f"worker process died (killed, possibly out of memory): {first}{how}"
    if _OOM_WORDS.search(first):
        return "out_of_memory", f"out of memory: {first}"
    return "error", first
