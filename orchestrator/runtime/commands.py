"""The runtime's commands, ``sweep up``, ``sweep down`` and ``sweep status``, added to ``sweep``'s app.

Errors are raised as the project's errors; ``sweep``'s ``main`` turns them into one line and exit
code 2, as for every other command.
"""

from __future__ import annotations

import time
from typing import Any, Optional

import typer

__all__ = ["register"]


def up(cpus: Optional[int] = typer.Option(None, "--num-cpus", help="CPUs the runtime offers, at least 1 "
                                          "(default: the machine's)."),
       gpus: Optional[int] = typer.Option(None, "--num-gpus", help="GPUs the runtime offers (default: the "
                                          "machine's).")) -> None:
    """Start a warm runtime on this machine: later sweeps start with TensorFlow already loaded."""
    from .control import up as start

    t0 = time.time()
    st = start(cpus, gpus, log=typer.echo)
    if st.started_at >= t0:
        typer.echo(f"runtime up at {st.address}: {st.cpus:g} CPUs, {st.gpus:g} GPUs, host pid {st.host_pid} "
                   f"({time.time() - t0:.1f} s); `sweep run` uses it until `sweep down`")


def down() -> None:
    """Stop the warm runtime (its Ray node and host); says so when none is up."""
    from .control import down as stop

    stop(log=typer.echo)


def status() -> None:
    """Show the warm runtime: address, resources, warm workers, running sweeps."""
    from .control import status as ask

    about = ask()
    if about is None:
        typer.echo("no runtime is up (`sweep up` starts one)")
        return
    typer.echo(_describe(about))


def _describe(about: dict[str, Any]) -> str:
    res, free = about.get("resources", {}), about.get("available", {})
    lines = [f"runtime at {about['address']} (up {time.time() - about['started_at']:.0f} s; host pid "
             f"{about['host_pid']}, ray pid {about['ray_pid']})",
             f"resources: {res.get('CPU', 0):g} CPUs ({free.get('CPU', 0):g} free), {res.get('GPU', 0):g} GPUs "
             f"({free.get('GPU', 0):g} free)",
             f"warm workers: {about.get('warm_workers', 0)}",
             "versions: " + ", ".join(f"{k} {v}" for k, v in about.get("versions", {}).items())]
    running = about.get("running") or []
    lines.append(f"running sweeps: {len(running)}")
    for r in running:
        lines.append(f"  {r.get('what', '')} (client pid {r.get('client_pid')}, for {time.time() - r['since']:.0f} s)")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``up``, ``down`` and ``status`` to ``sweep``'s app."""
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
