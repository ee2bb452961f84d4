"""The spec's directory as Ray's ``working_dir`` on a cluster, so a builder or loader file next to the spec
imports on every node.

When it is sent: always when a run connects to an existing cluster (``--address``, ``RAY_ADDRESS``,
a ``ray job submit`` driver), never on the embedded Ray (its workers run on this machine, in this
process's environment). Ray zips the directory once per run, uploads it to the cluster and starts
every worker of the job in its node's copy, with it on ``sys.path``
(:func:`orchestrator.usercode.resolve_ref` looks there when the driver's path does not exist).

Except where a job carries its own: ``ray job submit --working-dir DIR`` (or a RayJob's
``runtimeEnvYAML``) gives the job a ``working_dir`` that the driver sees in its environment
(``RAY_JOB_CONFIG_JSON_ENV_VAR``, which ``ray.init`` merges with what it is passed and refuses on a
conflict). That one is kept: the spec's directory is then not sent, and :data:`SPEC_DIR_ENV` tells
the workers where the spec's directory lies inside the job's (the driver starts in its root).

What is sent: the directory less what Ray skips itself (a ``.gitignore`` or ``.rayignore`` in any of
its folders, each relative to its own folder; ``.gitignore`` not when
``RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1``) and :data:`DEFAULT_EXCLUDES` (version control, virtual
environments, byte code, the default ``--out`` folder ``results/``, a nightly history's
``date=...`` partitions) plus ``--out`` when it lies inside it, which are passed to Ray as ``excludes``. The data itself need not travel: the driver
reads it and hands it to the trials.

The limit: :func:`scan` counts the bytes of the files that would be sent (before compression);
past ``SWEEP_WORKING_DIR_LIMIT_MB`` (default 50 MiB; Ray itself refuses a zipped package of
512 MiB, its gRPC message limit) the run stops before Ray is reached with one line naming the
directory, its size, the three largest files and how to leave them out. ``SWEEP_WORKING_DIR_LIMIT_MB=0``
sends nothing (for code already installed on every node).
"""

from __future__ import annotations

import heapq
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..errors import UsageError

__all__ = ["LIMIT_ENV", "DEFAULT_LIMIT_MB", "DEFAULT_EXCLUDES", "SPEC_DIR_ENV", "JOB_CONFIG_ENV", "Package",
           "job_runtime_env", "scan", "limit_bytes", "check_size", "cluster_runtime_env"]

LIMIT_ENV = "SWEEP_WORKING_DIR_LIMIT_MB"
DEFAULT_LIMIT_MB = 50.0
# gitignore-style patterns relative to the spec's directory, passed to Ray as runtime_env excludes.
# The product's own output: the default --out folder and a nightly history's date=YYYY-MM-DD partitions.
DEFAULT_EXCLUDES = [".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "*.pyc", ".ipynb_checkpoints",
                    ".pytest_cache", "/results/", "date=*/"]
# Set for the workers: the spec's directory relative to their working directory ("." when it is that).
SPEC_DIR_ENV = "SWEEP_SPEC_DIR_IN_WORKING_DIR"
# Where Ray's job supervisor gives a submitted job's driver its runtime_env (ray/_private/runtime_env/constants.py).
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"
_IGNORE_GITIGNORE_ENV = "RAY_RUNTIME_ENV_IGNORE_GITIGNORE"
_MIB = 1024 * 1024


@dataclass
class Package:
    """What would be sent: the directory, the bytes and number of its files, the largest files
    (path relative to the directory, bytes), largest first."""

    directory: Path
    size: int = 0
    files: int = 0
    largest: list[tuple[str, int]] = field(default_factory=list)


def job_runtime_env(environ: Mapping[str, str] | None = None) -> dict:
    """The runtime_env of the Ray job this process is the driver of (``ray job submit``); {} when none."""
    raw = (os.environ if environ is None else environ).get(JOB_CONFIG_ENV)
    if not raw:
        return {}
    try:
        env = json.loads(raw).get("runtime_env") or {}
    except (ValueError, AttributeError):
        return {}
    return env if isinstance(env, dict) else {}


def _spec(lines: list[str]):
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def _ignore_specs(directory: Path, gitignore: bool) -> list:
    names = [".gitignore", ".rayignore"] if gitignore else [".rayignore"]
    specs = []
    for name in names:
        f = directory / name
        if f.is_file():
            try:
                specs.append(_spec(f.read_text(errors="replace").splitlines()))
            except OSError:
                continue
    return specs


def _excluded(rel_to: list[tuple[Path, list]], path: Path, is_dir: bool) -> bool:
    for base, specs in rel_to:
        rel = path.relative_to(base).as_posix()
        for s in specs:
            if s.match_file(rel) or (is_dir and s.match_file(rel + "/")):
                return True
    return False


def scan(directory: str | Path, excludes: list[str] | tuple[str, ...] = (), *,
         environ: Mapping[str, str] | None = None, keep: int = 3) -> Package:
    """Count the files Ray would send of ``directory`` (as :mod:`ray`'s packaging walks it).

    ``excludes`` match relative to ``directory``; a ``.gitignore`` / ``.rayignore`` in a folder
    matches relative to that folder. Symbolic links are followed (as Ray does), each folder once.
    """
    environ = os.environ if environ is None else environ
    gitignore = environ.get(_IGNORE_GITIGNORE_ENV, "0") != "1"
    root = Path(directory).absolute()
    package = Package(root)
    heap: list[tuple[int, str]] = []
    seen: set[str] = set()
    stack: list[tuple[Path, list[tuple[Path, list]]]] = [(root, [(root, [_spec(list(excludes))])])]
    while stack:
        folder, rules = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        rules = [*rules, (folder, _ignore_specs(folder, gitignore))]
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            path = folder / entry.name
            try:
                is_dir = entry.is_dir()
                if _excluded(rules, path, is_dir):
                    continue
                if is_dir:
                    stack.append((path, rules))
                    continue
                size = entry.stat().st_size
            except OSError:  # a dangling link, a file gone meanwhile: Ray would not send it either
                continue
            package.size += size
            package.files += 1
            item = (size, path.relative_to(root).as_posix())
            if len(heap) < keep:
                heapq.heappush(heap, item)
            else:
                heapq.heappushpop(heap, item)
    package.largest = [(rel, size) for size, rel in sorted(heap, reverse=True)]
    return package


def limit_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The size limit in bytes from :data:`LIMIT_ENV` (default :data:`DEFAULT_LIMIT_MB`); 0: send nothing.

    Raises:
        UsageError: naming the variable, when it is not a number >= 0.
    """
    raw = (os.environ if environ is None else environ).get(LIMIT_ENV, "").strip()
    if not raw:
        return int(DEFAULT_LIMIT_MB * _MIB)
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb >= 0 or mb == float("inf"):
        raise UsageError(LIMIT_ENV, f"must be a number of MiB >= 0 (0: do not send the spec's directory), got {raw!r}")
    return int(mb * _MIB)


def _mib(n: int) -> str:
    if n < _MIB:
        return f"{n / 1024:.3g} KiB"
    v = n / _MIB
    return f"{v:.0f} MiB" if v >= 100 else f"{v:.3g} MiB"


def check_size(package: Package, limit: int) -> None:
    """Refuse a package over ``limit`` bytes.

    Raises:
        UsageError: one line naming the directory, its size, the limit, the largest files and how
            to leave them out.
    """
    if package.size <= limit:
        return
    d = package.directory
    largest = ", ".join(f"{rel} ({_mib(size)})" for rel, size in package.largest)
    raise UsageError(str(d), f"the spec's directory is {_mib(package.size)} in {package.files} files, over the "
                     f"{_mib(limit)} limit for sending it to the cluster as Ray's working_dir; largest: {largest}; "
                     f"list what the trials do not need in {d / '.rayignore'} (or .gitignore), or raise "
                     f"{LIMIT_ENV}")


def _out_exclude(directory: Path, out: str | Path | None) -> list[str]:
    if out is None or "://" in str(out):
        return []
    try:
        rel = Path(out).absolute().relative_to(directory)
    except ValueError:
        return []
    return [] if str(rel) == "." else [f"/{rel.as_posix()}/"]


def _spec_dir_in(base: Path, spec_dir: Path) -> str | None:
    try:
        return spec_dir.relative_to(base).as_posix()
    except ValueError:
        return None


def cluster_runtime_env(env_vars: Mapping[str, str], spec_dir: str | Path | None, *, out: str | Path | None = None,
                        environ: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> dict:
    """The runtime_env a driver passes to ``ray.init`` when it joins a cluster.

    ``env_vars`` go to every worker, less those the job's own runtime_env sets (the job's win;
    ``ray.init`` refuses the same key twice). ``spec_dir`` (None: no spec file) goes as
    ``working_dir`` with :data:`DEFAULT_EXCLUDES` (and ``out`` when it lies inside it), unless the job
    has a ``working_dir`` (or ``excludes``) of its own or the limit is 0; ``cwd`` (default: this
    process's) is where a job's driver starts, the root of the job's working directory.

    Raises:
        UsageError: the directory is over the limit (:func:`check_size`), or the limit is not a number.
    """
    environ = os.environ if environ is None else environ
    job = job_runtime_env(environ)
    job_vars = job.get("env_vars") or {}
    runtime_env: dict = {"env_vars": {k: v for k, v in env_vars.items() if k not in job_vars}}
    if spec_dir is None or not Path(spec_dir).is_dir():
        return runtime_env
    directory = Path(spec_dir).absolute()
    if "working_dir" in job or "excludes" in job:
        inside = _spec_dir_in(Path(cwd or os.getcwd()).absolute(), directory)
        if inside is not None and SPEC_DIR_ENV not in job_vars:
            runtime_env["env_vars"][SPEC_DIR_ENV] = inside
        return runtime_env
    limit = limit_bytes(environ)
    if limit == 0:
        return runtime_env
    excludes = [*DEFAULT_EXCLUDES, *_out_exclude(directory, out)]
    check_size(scan(directory, excludes, environ=environ), limit)
    runtime_env.update(working_dir=str(directory), excludes=excludes)
    if SPEC_DIR_ENV not in job_vars:
        runtime_env["env_vars"][SPEC_DIR_ENV] = "."
    return runtime_env
