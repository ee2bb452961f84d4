"""The host: one long-lived Ray driver in the warm runtime, which runs the sweeps it is handed.

Ray gives each driver (each job) its own worker processes, so a new ``sweep run`` process joining
a running Ray would still wait for fresh workers to import TensorFlow. The host is the one driver
of the runtime: it joins the runtime's Ray once, imports TensorFlow and Keras, keeps one idle
worker per CPU that has imported them too (Ray keeps idle workers for its later tasks and actors),
and runs each sweep a client hands it (:mod:`.client`) in a thread of its own, with the sweep's
progress streamed back to the client's terminal. Two sweeps at once share the Ray node through
Ray's resource accounting, each with its own run directory.

A client that goes away (killed, Ctrl-C) cancels its sweep: Tune stops its trials (their resources
are released) and the run is left incomplete and resumable, as an interrupted ``sweep run``.

Started by ``sweep up`` (:mod:`.control`) as ``python -m orchestrator.runtime.host FOLDER``; it
listens on a Unix socket in the runtime folder (owner only), and a client proves it holds the
runtime's token (``multiprocessing.connection``'s challenge) before it is heard.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from multiprocessing.connection import Connection, Listener
from pathlib import Path
from typing import Any

from ..execution.ray_start import restock, tensorflow_ready
from ..processes import idle_ray_workers
from . import state as state_mod

__all__ = ["main"]

# Seconds between two checks that the pool still holds an idle worker per CPU (after a sweep, Ray
# has ended the workers its trial actors used), and how long `sweep up` waits for them to be warm.
RESTOCK_S = 5.0
WARM_WAIT_S = 120.0


class _Stream:
    """A file-like object rich writes to: each write goes to the client as ``("out", text)``.

    Once the client is gone, writes are dropped (and the sweep is cancelled by the watcher)."""

    def __init__(self, conn: Connection, lock: threading.Lock) -> None:
        self.conn, self.lock, self.gone = conn, lock, False

    def write(self, text: str) -> int:
        if text and not self.gone:
            try:
                with self.lock:
                    self.conn.send(("out", text))
            except (OSError, ValueError):
                self.gone = True
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class Host:
    """The sweeps under way and the warm pool; :meth:`serve` answers clients until stopped."""

    def __init__(self, folder: Path, st: state_mod.State) -> None:
        self.folder, self.state = folder, st
        self.running: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.restock = threading.Event()

    # ---- start ----------------------------------------------------------------------------
    def start(self) -> None:
        """Join the runtime's Ray, import TensorFlow here, and fill the pool with warm workers."""
        import logging

        import ray

        from ..execution.ray_start import DRIVER_ENV, quiet_ray_loggers
        from ..internals import patched
        from ..training import import_tensorflow

        for k, v in DRIVER_ENV.items():
            os.environ.setdefault(k, v)
        quiet_ray_loggers()
        ray.init(address=self.state.address, log_to_driver=False, logging_level=logging.ERROR)
        quiet_ray_loggers()
        # The runtime's workers inherit `ray start`'s environment, which holds what Tune would put in its
        # trial actors' runtime_env: the actors can then take the warm workers; and Tune's registries
        # are locked, for sweeps started at once in two threads; a sweep whose client went away is
        # interrupted as Ctrl-C would (its trials left for `sweep resume`). All for the host's life.
        self._patches = contextlib.ExitStack()  # kept for the host's life (a dropped one undoes itself)
        self._patches.enter_context(patched("tune_actors_without_runtime_env", "tune_registry_lock",
                                            "tune_interrupt_event"))
        self._restock(wait=True)
        import_tensorflow()  # the driver builds each sweep's model once to check it
        threading.Thread(target=self._keep_warm, name="sweep-host-warm", daemon=True).start()

    def warm_workers(self) -> list[int]:
        """The idle workers of the runtime that have imported TensorFlow (their process ids)."""
        return tensorflow_ready(idle_ray_workers(session=self.state.ray_pid))

    def _restock(self, wait: bool = False) -> None:
        """Prestart what is missing of one idle worker per CPU (each imports TensorFlow as it
        starts: `sweep up` sets Ray's preload_python_modules); with ``wait``, until they have."""
        want = int(self.state.cpus)
        restock(want, idle_ray_workers(session=self.state.ray_pid))
        deadline = time.time() + (WARM_WAIT_S if wait else 0.0)
        while time.time() < deadline and len(self.warm_workers()) < want:
            time.sleep(0.2)

    def _keep_warm(self) -> None:
        """After each sweep, put back a warm worker per CPU into Ray's idle pool."""
        while not self.stopping.is_set():
            self.restock.wait(timeout=RESTOCK_S)
            self.restock.clear()
            with self.lock:
                busy = bool(self.running)
            if busy or self.stopping.is_set():
                continue
            try:
                self._restock()
            except Exception:  # noqa: BLE001 - a failed restock only costs the next sweep its warm start
                traceback.print_exc()

    # ---- serve ----------------------------------------------------------------------------
    def serve(self) -> None:
        sock = self.state.socket
        try:
            os.unlink(sock)
        except FileNotFoundError:
            pass
        old = os.umask(0o177)  # the socket: owner only
        try:
            listener = Listener(sock, family="AF_UNIX", authkey=self.state.token())
        finally:
            os.umask(old)
        self.state.ready = True
        state_mod.write(self.state, self.folder)
        print(f"host ready: pid {os.getpid()}, warm workers {self.warm_workers()}", flush=True)
        while not self.stopping.is_set():
            try:
                conn = listener.accept()
            except Exception as e:  # noqa: BLE001 - a client without the token, or one that hung up
                print(f"refused a client: {type(e).__name__}: {e}", flush=True)
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()
        listener.close()

    def _answer(self, conn: Connection) -> None:
        try:
            request = conn.recv()
            op = request.get("op")
            if op == "status":
                conn.send(("done", self.status()))
            elif op == "stop":
                conn.send(("done", "stopping"))
                self.stopping.set()
                os._exit(0)
            elif op in ("run", "resume"):
                self._sweep(conn, request)
            else:
                conn.send(("error", ValueError(f"unknown request {op!r}")))
        except (EOFError, OSError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def status(self) -> dict[str, Any]:
        import ray

        with self.lock:
            running = [{"id": k, **{n: v for n, v in r.items() if n != "cancel"}} for k, r in self.running.items()]
        return {"resources": ray.cluster_resources(), "available": ray.available_resources(),
                "warm_workers": len(self.warm_workers()), "running": running, "host_pid": os.getpid()}

    def _sweep(self, conn: Connection, request: dict[str, Any]) -> None:
        """Run one sweep (or resume one) for a client, its progress streamed to it."""
        from rich.console import Console

        send_lock = threading.Lock()
        stream = _Stream(conn, send_lock)
        console = Console(file=stream, force_terminal=bool(request.get("terminal")),
                          width=int(request.get("width") or 100), color_system="auto" if request.get("terminal")
                          else None)
        cancel = threading.Event()
        key = f"{os.getpid()}-{time.time():.6f}"
        with self.lock:
            self.running[key] = {"what": request.get("label", ""), "client_pid": request.get("pid"),
                                 "since": time.time(), "cancel": cancel}
        watcher = threading.Thread(target=self._watch, args=(conn, cancel, stream), daemon=True)
        watcher.start()
        try:
            reply: tuple[str, Any] = ("done", self._call(request, console, cancel))
        except BaseException as e:  # noqa: BLE001 - everything goes back to the client, as raised
            reply = ("error", _portable(e))
        finally:
            with self.lock:
                self.running.pop(key, None)
            self.restock.set()
        if not stream.gone:
            try:
                with send_lock:
                    conn.send(reply)
            except (OSError, ValueError):
                pass

    def _call(self, request: dict[str, Any], console: Any, cancel: threading.Event) -> str:
        from ..decisions.space import count_trials
        from ..execution import resume_sweep, run_sweep
        from ..progress import ProgressView

        if request["op"] == "resume":
            return str(resume_sweep(request["run_dir"], address=self.state.address, console=console,
                                    cancel=cancel).run_dir)
        spec = request["spec"]
        view = ProgressView(spec.name, count_trials(spec), spec.metric_name, spec.mode, list(spec.searched),
                            console=console)
        # the address is only recorded (in run.json): this process joined that Ray already
        result = run_sweep(spec, request["out"], address=self.state.address, view=view, tensorboard=request.get("tensorboard", False),
                           budget_s=request.get("budget_s"), cancel=cancel)
        return str(result.run_dir)

    @staticmethod
    def _watch(conn: Connection, cancel: threading.Event, stream: _Stream) -> None:
        """Cancel the sweep when its client hangs up or asks to."""
        while not cancel.is_set():
            try:
                if conn.poll(0.5):
                    message = conn.recv()
                    if message == "cancel":
                        cancel.set()
            except (EOFError, OSError):
                stream.gone = True
                cancel.set()
                return


def _portable(e: BaseException) -> BaseException:
    """``e`` if it survives pickling (the project's errors do), else a RuntimeError that says what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(e).__name__}: {e}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    folder = Path(argv[0])
    st = state_mod.read(folder)
    if st is None:
        print(f"no runtime is written down in {folder}", file=sys.stderr)
        return 2
    host = Host(folder, st)
    host.start()
    host.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
