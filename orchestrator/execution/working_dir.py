"""The user's code a cluster run sends as Ray's ``working_dir``: only the code the spec names.

When something is sent: a run that connects to an existing cluster (``--address``, ``RAY_ADDRESS``,
a ``ray job submit`` driver) and whose spec names code as a file (``model.builder`` or
``data.loader`` as ``models.py:build_model``) or lists files in ``code.include``. A spec that names
no code (a built-in model on a CSV) sends nothing, however large its directory; so does a
``package.module:function`` reference alone (it is importable on the nodes already), and so does
the embedded Ray (its workers run on this machine, in this process's environment).

What is sent (:func:`select_code`): the files the spec names; the local modules they import
(``import x``, ``from x import y`` and relative imports, read with :mod:`ast`, followed from file
to file, resolved against the importing file's folder and the spec's directory, to files that
exist there); when a named file lies in a Python package (folders with ``__init__.py``), that
package's ``.py`` files; and what ``code.include`` lists (files and folders relative to the spec).
Never the data the driver reads (``data.path`` and anything under it: the driver hands the data to
the trials), ``--out``, version control, virtual environments or byte code, nor a file outside
the spec's directory. The files are copied into a staging folder that mirrors their paths
relative to the spec's directory (:func:`cluster_runtime_env`), which Ray zips and uploads while
``ray.init`` runs; every worker of the job starts in its node's copy, with it on ``sys.path``, and
:data:`SPEC_DIR_ENV` (``.``) tells :func:`orchestrator.usercode.resolve_ref` that the spec's
directory is that copy's root.

Except where a job carries its own: ``ray job submit --working-dir DIR`` (or a RayJob's
``runtimeEnvYAML``) gives the job a ``working_dir`` that the driver sees in its environment
(``RAY_JOB_CONFIG_JSON_ENV_VAR``, which ``ray.init`` merges with what it is passed and refuses on a
conflict). That one is kept: nothing is sent, and :data:`SPEC_DIR_ENV` tells the workers where the
spec's directory lies inside the job's (the driver starts in its root).

The limit: the bytes of the files to send (before compression); past ``SWEEP_WORKING_DIR_LIMIT_MB``
(default 50 MiB; Ray itself refuses a zipped package of 512 MiB, its gRPC message limit) the run
stops before Ray is reached with one line naming the spec, the size and the largest files.
``SWEEP_WORKING_DIR_LIMIT_MB=0`` sends nothing (for code already installed on every node).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Mapping

from ..errors import SpecError, UsageError
from ..usercode import is_file_ref, package_root, parse_ref

if TYPE_CHECKING:
    from ..spec import SweepSpec

__all__ = ["LIMIT_ENV", "DEFAULT_LIMIT_MB", "SKIPPED_FOLDERS", "SPEC_DIR_ENV", "JOB_CONFIG_ENV", "Shipment",
           "select_code", "local_imports", "job_runtime_env", "limit_bytes", "check_size", "cluster_runtime_env"]

LIMIT_ENV = "SWEEP_WORKING_DIR_LIMIT_MB"
DEFAULT_LIMIT_MB = 50.0
# Folders never sent from a package or an included folder: version control, virtual environments,
# caches. Byte code (*.pyc) neither: each node compiles its own.
SKIPPED_FOLDERS = frozenset({".git", ".hg", ".svn", ".venv", "venv", "__pycache__", ".ipynb_checkpoints",
                             ".pytest_cache", ".mypy_cache"})
# Set for the workers: the spec's directory relative to their working directory ("." when it is that).
SPEC_DIR_ENV = "SWEEP_SPEC_DIR_IN_WORKING_DIR"
# Where Ray's job supervisor gives a submitted job's driver its runtime_env (ray/_private/runtime_env/constants.py).
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"
_MIB = 1024 * 1024
_NAMED = 6  # files named in the one line that says what was sent; the rest are counted


@dataclass(frozen=True)
class Shipment:
    """The files a cluster run sends: paths relative to ``spec_dir`` (POSIX) with their bytes, in
    the order they were found (the named files first). ``spec_file``: the spec's file name, for messages."""

    spec_dir: Path
    files: tuple[tuple[str, int], ...] = ()
    spec_file: str | None = None

    @property
    def size(self) -> int:
        """Bytes of all the files."""
        return sum(size for _, size in self.files)

    def largest(self, keep: int = 3) -> list[tuple[str, int]]:
        """The ``keep`` largest files, largest first."""
        return sorted(self.files, key=lambda f: (-f[1], f[0]))[:keep]

    def describe(self) -> str:
        """One line: how many files, how many bytes, which (``code: 2 files, 1.5 KiB sent to the cluster (...)``)."""
        names = [rel for rel, _ in self.files]
        shown = ", ".join(names[:_NAMED]) + (f" and {len(names) - _NAMED} more" if len(names) > _NAMED else "")
        count = f"{len(names)} file{'s' if len(names) != 1 else ''}"
        return f"code: {count}, {_size(self.size)} sent to the cluster ({shown})"


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < _MIB:
        return f"{n / 1024:.3g} KiB"
    v = n / _MIB
    return f"{v:.0f} MiB" if v >= 100 else f"{v:.3g} MiB"


def _relative(path: Path, base: Path) -> str | None:
    """``path`` relative to ``base`` as POSIX ("." for ``base`` itself), None when it lies outside.

    Lexical (``..`` folded, links not followed): a link inside the spec's directory is sent as a
    copy of what it points to, under its own name.
    """
    rel = os.path.relpath(os.path.normpath(os.path.abspath(path)), base)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return Path(rel).as_posix()


def _under(path: Path, roots: list[Path]) -> bool:
    p = os.path.normpath(os.path.abspath(path))
    return any(p == str(r) or p.startswith(str(r) + os.sep) for r in roots)


def _walk(folder: Path) -> Iterator[Path]:
    """Every file under ``folder`` but :data:`SKIPPED_FOLDERS` and byte code; linked folders followed, each once."""
    seen: set[str] = set()
    stack = [folder]
    while stack:
        current = stack.pop()
        real = os.path.realpath(current)
        if real in seen:
            continue
        seen.add(real)
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            path = current / entry.name
            try:
                if entry.is_dir():
                    if entry.name not in SKIPPED_FOLDERS:
                        stack.append(path)
                elif entry.is_file() and not entry.name.endswith((".pyc", ".pyo")):
                    yield path
            except OSError:  # gone meanwhile, unreadable: not sent
                continue


def _module_files(root: Path, parts: list[str], names: Iterable[str] = ()) -> list[Path]:
    """The files of ``root``/``a/b`` for the module ``a.b`` (``a/__init__.py``, ``a/b.py`` or
    ``a/b/__init__.py``), and of ``names`` imported from it when they are modules (``from a import b``)."""
    found: list[Path] = []
    folder = root
    for i, part in enumerate(parts):
        if (folder / part).is_dir():  # a package (or a namespace package: a folder without __init__.py)
            folder = folder / part
            if (folder / "__init__.py").is_file():
                found.append(folder / "__init__.py")
            continue
        if i == len(parts) - 1 and (folder / f"{part}.py").is_file():
            found.append(folder / f"{part}.py")
        return found  # a module, or nothing here: no submodules to look for
    for name in names:
        for candidate in (folder / f"{name}.py", folder / name / "__init__.py"):
            if candidate.is_file():
                found.append(candidate)
    return found


def local_imports(file: Path, spec_dir: Path) -> list[Path]:
    """The files of the local modules ``file`` imports, wherever the import statement is (a function,
    a ``try``): absolute imports looked for beside ``file`` and in ``spec_dir``, relative ones from
    ``file``'s package. Only files that exist; a file that does not parse imports nothing."""
    try:
        tree = ast.parse(file.read_bytes(), filename=str(file))
    except (SyntaxError, ValueError, OSError):
        return []
    roots = list(dict.fromkeys([file.parent, spec_dir]))
    found: list[Path] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                for root in roots:
                    found += _module_files(root, alias.name.split("."))
        elif isinstance(node, ast.ImportFrom):
            parts = node.module.split(".") if node.module else []
            names = [a.name for a in node.names if a.name != "*"]
            if node.level:
                base = file.parent
                for _ in range(node.level - 1):
                    base = base.parent
                found += _module_files(base, parts, names)
            else:
                for root in roots:
                    found += _module_files(root, parts, names)
    return found


def _named_files(spec: SweepSpec, base: Path) -> list[Path]:
    """The files ``model.builder`` and ``data.loader`` name (not the module references), when they exist."""
    files = []
    for key, ref in (("model.builder", spec.model.builder), ("data.loader", spec.data.loader)):
        if ref is None:
            continue
        where, _ = parse_ref(ref, key)
        if is_file_ref(where):
            path = Path(where).expanduser()
            path = path if path.is_absolute() else base / path
            if path.is_file():
                files.append(path)
    return files


def _not_sent(spec: SweepSpec, out: str | Path | None) -> list[Path]:
    """Where nothing is sent from: the data the driver reads and the run's ``--out`` (local ones)."""
    roots = []
    for where in (spec.data_path(), None if out is None else str(out)):
        if where is not None and "://" not in where:
            roots.append(Path(os.path.normpath(os.path.abspath(where))))
    return roots


def select_code(spec: SweepSpec, *, out: str | Path | None = None) -> Shipment:
    """What a cluster run of ``spec`` sends (see the module's docstring); no files when it names no code."""
    base = Path(os.path.normpath(os.path.abspath(spec.base_dir)))
    skip = _not_sent(spec, out)
    found: dict[str, Path] = {}
    todo: list[Path] = []

    def add(path: Path) -> None:
        rel = _relative(path, base)
        if rel is None or rel == "." or rel in found or _under(path, skip) or not path.is_file():
            return
        found[rel] = path
        if path.suffix == ".py":
            todo.append(path)

    def follow_imports() -> None:
        while todo:
            for path in local_imports(todo.pop(0), base):
                add(path)

    for file in _named_files(spec, base):
        add(file)
        top = package_root(file, stop=base)
        if top is not None and _relative(top, base) is not None:
            for path in _walk(top):
                if path.suffix == ".py":
                    add(path)
    follow_imports()  # the named code and what it imports first, then what the user lists
    for entry in spec.code.include:  # checked when the spec was read: inside the spec's directory
        path = base / entry
        for p in (_walk(path) if path.is_dir() else [path]):
            add(p)
        follow_imports()
    files = []
    for rel, path in found.items():
        try:
            files.append((rel, path.stat().st_size))
        except OSError:  # gone meanwhile: not sent
            continue
    return Shipment(base, tuple(files), Path(spec.source).name if spec.source else None)


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
        raise UsageError(LIMIT_ENV, f"must be a number of MiB >= 0 (0: do not send the spec's code), got {raw!r}")
    return int(mb * _MIB)


def check_size(shipment: Shipment, limit: int) -> None:
    """Refuse a shipment over ``limit`` bytes.

    Raises:
        SpecError: one line naming the spec file and ``code``, the size, the limit, the largest
            files and what to do.
    """
    if shipment.size <= limit:
        return
    largest = ", ".join(f"{rel} ({_size(size)})" for rel, size in shipment.largest())
    raise SpecError("code", f"the code to send to the cluster as Ray's working_dir is {_size(shipment.size)} in "
                    f"{len(shipment.files)} files, over the {_size(limit)} limit; largest: {largest}; list fewer "
                    f"files in code.include, or raise {LIMIT_ENV} (0: send nothing, for code installed on every "
                    "node)", shipment.spec_file)


@contextlib.contextmanager
def _staged(shipment: Shipment) -> Iterator[Path]:
    """A temporary folder holding copies of the shipment's files at their relative paths; removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix="sweep-code-"))
    try:
        for rel, _ in shipment.files:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(shipment.spec_dir / rel, target)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def cluster_runtime_env(env_vars: Mapping[str, str], code: Shipment | None, *,
                        environ: Mapping[str, str] | None = None,
                        cwd: str | Path | None = None) -> Iterator[tuple[dict, Shipment | None]]:
    """The runtime_env a driver passes to ``ray.init`` when it joins a cluster, and what it sends.

    ``env_vars`` go to every worker, less those the job's own runtime_env sets (the job's win;
    ``ray.init`` refuses the same key twice). ``code`` (:func:`select_code`; None: no spec) goes as
    ``working_dir``, a staging folder that lives until the block ends (``ray.init`` uploads it), unless
    it has no files, the job has a ``working_dir`` (or ``excludes``) of its own, or the limit is 0;
    ``cwd`` (default: this process's) is where a job's driver starts, the root of the job's working
    directory. Yields ``(runtime_env, shipment sent or None)``.

    Raises:
        SpecError: the code is over the limit (:func:`check_size`), before anything is copied.
        UsageError: the limit is not a number.
    """
    environ = os.environ if environ is None else environ
    job = job_runtime_env(environ)
    job_vars = job.get("env_vars") or {}
    runtime_env: dict = {"env_vars": {k: v for k, v in env_vars.items() if k not in job_vars}}
    if code is None or not code.spec_dir.is_dir():
        yield runtime_env, None
        return
    if "working_dir" in job or "excludes" in job:
        inside = _relative(code.spec_dir, Path(cwd or os.getcwd()).absolute())
        if inside is not None and SPEC_DIR_ENV not in job_vars:
            runtime_env["env_vars"][SPEC_DIR_ENV] = inside
        yield runtime_env, None
        return
    if not code.files or limit_bytes(environ) == 0:
        yield runtime_env, None
        return
    check_size(code, limit_bytes(environ))
    with _staged(code) as folder:
        runtime_env["working_dir"] = str(folder)
        if SPEC_DIR_ENV not in job_vars:
            runtime_env["env_vars"][SPEC_DIR_ENV] = "."
        yield runtime_env, code
