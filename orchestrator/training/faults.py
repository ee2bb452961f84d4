"""Fault injection for the test suite (never used by a normal run).

A run reads a fault plan only when the environment variable ``SWEEP_FAULT_INJECTION`` names a
JSON file when the sweep starts (the driver reads it and hands it to every trial, so workers on
other nodes need no environment). Unset, nothing here runs. The plan is one fault or a list of
them::

    {"trials": [2, 9],          # trial indices (the number ending the trial id), or "all"
     "probability": 0.1,        # or: each trial is picked with this probability (seeded)
     "seed": 0,
     "epoch": "random",         # an epoch number, or "random": one per trial in 2..epochs (seeded)
     "times": "once",           # "once" (a retry does not fail again) or "always"
     "kind": "raise",           # raise | memory | kill | slow
     "seconds": 0.5,            # kind slow: sleep this long at the start of every epoch
     "state_dir": "/tmp/x"}     # where "once" markers and fired.jsonl go (default: <plan>.state)

Kinds: ``raise`` raises :class:`InjectedFault` as the epoch begins; ``memory`` sets an address
space limit on the trial's own process just above what it uses, allocates far more (NumPy raises
``MemoryError``, as on a machine out of memory), then lifts the limit again; ``kill`` SIGKILLs
the trial's own worker process (what the kernel's OOM killer or Ray's memory monitor does);
``slow`` sleeps (makes epochs long enough for a test to kill the driver between them). Every
firing appends a line to ``<state_dir>/fired.jsonl`` first.

Imports neither Ray nor TensorFlow. A trial's index is :func:`~orchestrator.training.inputs.trial_index`,
as for its seed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..processes import address_space_bytes
from .inputs import trial_index

__all__ = ["ENV", "InjectedFault", "load_plan", "Fault", "faults_for", "trial_index"]

ENV = "SWEEP_FAULT_INJECTION"
KINDS = ("raise", "memory", "kill", "slow")


class InjectedFault(RuntimeError):
    """The failure a ``raise`` fault injects."""


def load_plan(path: str | None = None) -> list[dict[str, Any]] | None:
    """The fault plan named by ``$SWEEP_FAULT_INJECTION`` (or ``path``), or None when unset.

    Each fault comes back with an absolute ``state_dir``. A plan that cannot be read raises
    ``ValueError``: a test that meant to inject faults must not silently run without them.
    """
    path = path if path is not None else os.environ.get(ENV)
    if not path:
        return None
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{ENV}={path}: {e}") from None
    faults = doc if isinstance(doc, list) else [doc]
    out = []
    for f in faults:
        if not isinstance(f, dict) or f.get("kind", "raise") not in KINDS:
            raise ValueError(f"{ENV}={path}: each fault is an object with kind in {KINDS}")
        f = dict(f)
        f["state_dir"] = str(Path(f.get("state_dir") or f"{path}.state").resolve())
        out.append(f)
    return out


def _picked(f: dict[str, Any], index: int) -> bool:
    trials = f.get("trials")
    if trials == "all":
        return True
    if trials is not None:
        return index in {int(t) for t in trials}
    p = float(f.get("probability", 0.0))
    return random.Random(f"{f.get('seed', 0)}:pick:{index}").random() < p


def _epoch(f: dict[str, Any], index: int, epochs: int) -> int:
    e = f.get("epoch", "random")
    if e == "random":
        return random.Random(f"{f.get('seed', 0)}:epoch:{index}").randint(min(2, epochs), epochs)
    return int(e)


@dataclass(frozen=True)
class Fault:
    """One fault bound to one trial: :meth:`at_epoch_begin` fires it when its epoch comes."""

    spec: dict[str, Any]
    trial_id: str
    number: int  # the fault's position in the plan
    epoch: int  # 1-based epoch it fires in (0: every epoch, for ``slow``)

    @property
    def kind(self) -> str:
        return str(self.spec.get("kind", "raise"))

    def _marker(self) -> Path:
        return Path(self.spec["state_dir"], f"{self.trial_id}.{self.number}.fired")

    def at_epoch_begin(self, epoch: int) -> None:
        """Called as 1-based ``epoch`` begins; fires when due (and, for ``once``, not yet fired)."""
        if self.kind == "slow":
            time.sleep(float(self.spec.get("seconds", 0.5)))
            return
        if epoch != self.epoch:
            return
        once = self.spec.get("times", "once") == "once"
        state = Path(self.spec["state_dir"])
        state.mkdir(parents=True, exist_ok=True)
        if once:
            try:  # atomic: exactly one attempt of the trial fires a "once" fault
                fd = os.open(self._marker(), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                os.close(fd)
            except FileExistsError:
                return
        line = json.dumps({"trial_id": self.trial_id, "epoch": epoch, "kind": self.kind, "pid": os.getpid(),
                           "at": time.time()})
        with open(state / "fired.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if self.kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(60)  # not reached
        if self.kind == "memory":
            _allocate_too_much()
        raise InjectedFault(f"injected failure in trial {self.trial_id} at epoch {epoch}")


def _allocate_too_much(headroom: int = 256 << 20, ask: int = 8 << 30) -> None:
    """Allocate ``ask`` bytes under an address-space limit ``headroom`` above this process' use.

    NumPy's allocation fails and raises ``MemoryError``; the limit is lifted again before this
    returns, so the worker goes on (a reused worker runs the next trial normally).
    """
    import resource

    import numpy as np

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = address_space_bytes() or 0
    limit = used + headroom
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        block = np.empty(ask, dtype=np.uint8)  # never touched: without the limit it costs nothing
        del block
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    raise RuntimeError("the address-space limit did not stop an oversized allocation")


def faults_for(plan: list[dict[str, Any]] | None, trial_id: str, epochs: int) -> list[Fault]:
    """The faults of ``plan`` that apply to ``trial_id`` (a trial of ``epochs`` epochs)."""
    if not plan:
        return []
    index = trial_index(trial_id)
    return [Fault(f, trial_id, n, 0 if f.get("kind") == "slow" else _epoch(f, index, epochs))
            for n, f in enumerate(plan) if _picked(f, index)]
