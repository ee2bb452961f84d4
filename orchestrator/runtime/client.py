"""The client side of the warm runtime: hand a sweep to the host and show its progress here.

:func:`choose` decides, without importing Ray, whether a sweep goes to the warm runtime (one is up,
usable, and nothing asked for another Ray), and says in one line why not when one is written down
but cannot be used. :func:`run_there` and :func:`resume_there` send the sweep to the host and
write what it streams back to this terminal; an interrupt here cancels the sweep there (its
trials stop, the run is left resumable).
"""

from __future__ import annotations

import os
import shutil
import sys
from multiprocessing.connection import Client, Connection
from typing import Any

from ..errors import UsageError
from . import state as state_mod
from .state import State, Unusable

__all__ = ["choose", "run_there", "resume_there", "ask", "announce"]

CONNECT_TIMEOUT_S = 10.0


def choose(address: str | None, no_runtime: bool, cpu: float = 0.0, gpu: float = 0.0,
           say: Any = None, dashboard: bool = False) -> State | None:
    """The warm runtime this sweep should use, or None (an embedded Ray or ``address``).

    ``say`` gets the one line that tells why a runtime written down is not used. ``dashboard``
    (``--dashboard``) asks for Ray's dashboard, which the runtime does not start: such a sweep
    runs on an embedded Ray that has one, and says so.

    Raises:
        UsageError: ``address`` names the runtime's own address and it cannot take the sweep
            (falling back to another Ray would not be what was asked).
    """
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    address = address or os.environ.get("RAY_ADDRESS") or None
    if no_runtime or os.environ.get(state_mod.NO_RUNTIME_ENV, "") not in ("", "0"):
        return None
    try:
        st = state_mod.find(cpu, gpu)
    except Unusable as e:
        why = str(e)
        if address is not None and _names_runtime(address):
            raise UsageError("--address", why or f"no warm runtime is up at {address}") from None
        if why and address is None:
            say(f"runtime: {why}; starting an embedded Ray instead")
        return None
    if address is not None and address != st.address:
        return None  # another cluster
    if dashboard:
        if address is not None:
            raise UsageError("--dashboard", f"the warm runtime at {st.address} runs without Ray's dashboard; "
                             "drop --address to start an embedded Ray with one")
        say(f"runtime: --dashboard: the warm runtime at {st.address} runs without Ray's dashboard; "
            "starting an embedded Ray with one instead")
        return None
    return st


def _names_runtime(address: str) -> bool:
    try:
        st = state_mod.read()
    except Unusable:
        return False
    return st is not None and st.address == address


def announce(st: State) -> str:
    """The first line of a sweep that uses the warm runtime."""
    return (f"runtime: the warm runtime at {st.address} ({st.cpus:g} CPUs, {st.gpus:g} GPUs; "
            f"`sweep down` stops it)")


def _connect(st: State) -> Connection:
    import socket

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(CONNECT_TIMEOUT_S)  # never hang on a host that stopped answering
    try:
        return Client(st.socket, family="AF_UNIX", authkey=st.token())
    except (OSError, EOFError) as e:
        raise Unusable(f"the warm runtime at {st.address} does not answer ({type(e).__name__})") from None
    finally:
        socket.setdefaulttimeout(old)


def ask(st: State, request: dict[str, Any]) -> Any:
    """One request, one answer (``status``, ``stop``)."""
    conn = _connect(st)
    try:
        conn.send(request)
        kind, value = conn.recv()
    finally:
        conn.close()
    if kind == "error":
        raise value
    return value


def _terminal() -> tuple[bool, int]:
    isatty = getattr(sys.stdout, "isatty", lambda: False)()
    return bool(isatty), shutil.get_terminal_size((100, 24)).columns


def _stream(st: State, request: dict[str, Any]) -> str:
    """Send a sweep, print what comes back until its end; the run directory it wrote."""
    terminal, width = _terminal()
    request = {**request, "terminal": terminal, "width": width, "pid": os.getpid()}
    conn = _connect(st)
    try:
        conn.send(request)
        while True:
            try:
                kind, value = conn.recv()
            except EOFError:
                raise RuntimeError(f"the warm runtime at {st.address} went away during the sweep "
                                   f"(its log: {os.path.dirname(st.socket)}/host.log)") from None
            if kind == "out":
                sys.stdout.write(value)
                sys.stdout.flush()
            elif kind == "error":
                raise value
            else:
                return str(value)
    except KeyboardInterrupt:
        try:
            conn.send("cancel")
        except OSError:
            pass
        raise
    finally:
        conn.close()


def run_there(st: State, spec: Any, out: Any, *, budget_s: float | None, tensorboard: bool) -> str:
    """Run ``spec`` in the warm runtime; its run directory (a path, or a URI)."""
    from pathlib import Path

    if isinstance(out, Path):
        out = out.resolve()
    return _stream(st, {"op": "run", "spec": spec, "out": out, "budget_s": budget_s, "tensorboard": tensorboard,
                        "label": spec.name})


def resume_there(st: State, run_dir: str) -> str:
    """Resume an interrupted run in the warm runtime; its run directory."""
    from pathlib import Path

    local = Path(run_dir)
    shown = str(local.resolve()) if local.exists() else run_dir
    return _stream(st, {"op": "resume", "run_dir": shown, "label": f"resume {shown}"})
