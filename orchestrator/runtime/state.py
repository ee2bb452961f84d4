"""Where a warm runtime is written down, and whether this process may use the one that is.

``sweep up`` writes ``runtime.json`` (and the token, the host's socket and logs) into the runtime
directory: ``$SWEEP_RUNTIME_DIR``, else ``$XDG_RUNTIME_DIR/sweep``, else ``~/.cache/sweep/runtime``.
A sweep reads it back with :func:`find`, which says in one line why a runtime that is written
down cannot be used (it died, it belongs to another user, it runs other versions or another
environment than this process, it lacks the resources asked for). Imports neither Ray nor
TensorFlow: ``sweep run`` decides here, in milliseconds, where its sweep goes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import stat
from importlib import metadata
from pathlib import Path
from typing import Any

from .. import processes

__all__ = ["RUNTIME_DIR_ENV", "NO_RUNTIME_ENV", "State", "runtime_dir", "fingerprint", "read", "write", "clear",
           "alive", "find", "forwarded_env", "Unusable"]

RUNTIME_DIR_ENV = "SWEEP_RUNTIME_DIR"
NO_RUNTIME_ENV = "SWEEP_NO_RUNTIME"
STATE_FILE = "runtime.json"

# Environment variables that change what a sweep does (faults injected, trial statistics, Ray's
# and TensorFlow's settings, the devices a trial sees). A sweep runs with the runtime's own
# environment, so one whose environment differs from it in any of them runs embedded instead.
_WATCHED_PREFIXES = ("SWEEP_", "RAY_", "TF_", "KERAS_", "CUDA_", "MLFLOW_", "AWS_", "GOOGLE_", "PYTHONPATH")
# ... except these, which only say where the runtime is or whether to use it.
_NOT_WATCHED = {RUNTIME_DIR_ENV, NO_RUNTIME_ENV, "SWEEP_ERROR_DIR", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH",
                "RAY_AUTH_TOKEN", "RAY_ADDRESS", "RAY_USAGE_STATS_ENABLED", "RAY_DEDUP_LOGS", "RAY_AIR_NEW_OUTPUT",
                "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND"}


class Unusable(Exception):
    """The runtime written down cannot take this sweep; the message says why, in one line."""


@dataclasses.dataclass
class State:
    """What ``sweep up`` wrote down of the runtime it started.

    Attributes:
        address: the Ray GCS address (``127.0.0.1:PORT``).
        socket: the Unix socket the host (the long-lived driver) listens on.
        token_file: the Ray token (and the host's key), readable by its owner only.
        ray_pid: the ``ray start --block`` process (the leader of its own process group).
        host_pid: the host process (the leader of its own process group).
        cpus, gpus: what the runtime's Ray node offers.
        fingerprint: the versions it runs (:func:`fingerprint`).
        env: the watched environment variables it was started with (:func:`forwarded_env`).
        temp_dir: Ray's temporary folder for this node (removed by ``sweep down``).
        started_at: when ``sweep up`` started it (seconds since the epoch).
        ready: the host finished warming its workers and takes sweeps.
    """

    address: str
    socket: str
    token_file: str
    ray_pid: int
    host_pid: int
    cpus: float
    gpus: float
    fingerprint: dict[str, str]
    env: dict[str, str]
    temp_dir: str
    started_at: float
    ready: bool = False

    def token(self) -> bytes:
        return Path(self.token_file).read_text(encoding="ascii").strip().encode("ascii")


def runtime_dir() -> Path:
    """The folder a runtime is written down in (see the module's docstring)."""
    if os.environ.get(RUNTIME_DIR_ENV):
        return Path(os.environ[RUNTIME_DIR_ENV]).expanduser().resolve()
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "sweep"
    return Path.home() / ".cache" / "sweep" / "runtime"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "none"


def _code_digest() -> str:
    """A digest of the package's source files (names, sizes, modification times): a runtime
    started from other code (an edited checkout, another install) is not used."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(str(root).encode())
    for path in sorted(root.rglob("*.py")):
        st = path.stat()
        h.update(f"{path.relative_to(root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def fingerprint() -> dict[str, str]:
    """The versions a runtime and a sweep must share: Python, Ray, TensorFlow, Keras, this project."""
    return {"python": platform.python_version(), "ray": _version("ray"), "tensorflow": _version("tensorflow"),
            "keras": _version("keras"), "orchestrator": f"{_version('orchestrator')}+{_code_digest()}"}


def forwarded_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The watched environment variables of ``environ`` (default: this process's)."""
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in sorted(environ.items())
            if k.startswith(_WATCHED_PREFIXES) and k not in _NOT_WATCHED}


def read(folder: Path | None = None) -> State | None:
    """The runtime written down in ``folder`` (default :func:`runtime_dir`), or None.

    Raises:
        Unusable: the file is not this user's, or cannot be read.
    """
    path = (folder or runtime_dir()) / STATE_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if st.st_uid != os.getuid():
        raise Unusable(f"the runtime written down in {path.parent} belongs to user {st.st_uid}, not to this "
                       f"user ({os.getuid()})")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return State(**doc)
    except (OSError, ValueError, TypeError) as e:
        raise Unusable(f"{path}: cannot be read ({type(e).__name__}); `sweep down` clears it") from None


def write(state: State, folder: Path | None = None) -> Path:
    """Write ``state`` (readable by its owner only), atomically."""
    folder = folder or runtime_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(state), indent=1), encoding="utf-8")
    os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR)
    os.replace(tmp, path)
    return path


def clear(folder: Path | None = None) -> None:
    """Forget the runtime written down (the files ``sweep up`` made; not Ray's temp folder)."""
    folder = folder or runtime_dir()
    for name in (STATE_FILE, "host.sock", "token"):
        try:
            (folder / name).unlink()
        except FileNotFoundError:
            pass


def find(cpu: Any = 0.0, gpu: Any = 0.0) -> State:
    """The runtime a sweep on this machine should use, asking for ``cpu``/``gpu`` per trial
    (``auto``: whatever it has).

    Raises:
        Unusable: none is up (the message is empty then), or the one written down cannot be used
            (the message says why, in one line).
    """
    state = read()
    if state is None:
        raise Unusable("")
    where = f"the warm runtime at {state.address}"
    if not (processes.alive(state.host_pid) and processes.alive(state.ray_pid)):
        raise Unusable(f"{where} is not running (left by a `sweep up` that was killed, or it died); "
                       "`sweep down` clears it")
    if not state.ready:
        raise Unusable(f"{where} is still starting")
    mine = fingerprint()
    differ = [f"{k} {state.fingerprint.get(k)} there, {v} here" for k, v in mine.items()
              if state.fingerprint.get(k) != v]
    if differ:
        raise Unusable(f"{where} runs other versions ({'; '.join(differ)}); `sweep down` and `sweep up` renew it")
    env, there = forwarded_env(), state.env
    changed = sorted(k for k in set(env) | set(there) if env.get(k) != there.get(k))
    if changed:
        raise Unusable(f"{where} was started with another environment ({', '.join(changed)})")
    cpu, gpu = (float(v) if isinstance(v, (int, float)) else 0.0 for v in (cpu, gpu))
    if cpu > state.cpus or gpu > state.gpus:
        raise Unusable(f"{where} has {state.cpus:g} CPUs and {state.gpus:g} GPUs; a trial asks for "
                       f"{cpu:g} CPUs and {gpu:g} GPUs")
    return state


def describe(state: State) -> dict[str, Any]:
    """What ``sweep status`` shows of a runtime besides what its host reports."""
    return {"address": state.address, "cpus": state.cpus, "gpus": state.gpus, "host_pid": state.host_pid,
            "ray_pid": state.ray_pid, "started_at": state.started_at, "versions": state.fingerprint}
