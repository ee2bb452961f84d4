"""The one place the package imports code a spec names: a model builder or a data loader.

A spec stays data (:mod:`orchestrator.spec.loading` reads it with ``yaml.safe_load``); what it may
name is a *function* the user wrote, as ``file.py:function`` (a path relative to the spec file's
directory) or ``package.module:function`` (importable from where the sweep runs). Importing that
file runs the user's code, exactly as running their own training script would: that is the trust
boundary (README, "Your own model"). ``tests/unit/test_security.py`` allows a dynamic import in
this module only.

Every failure is a :class:`~orchestrator.errors.SpecError` naming the spec key and the reference:
no such file, no such module, an import that raised, no such function, not a function, a
signature that cannot take the arguments the product passes.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from .errors import SpecError, first_line
from .quiet import quiet_native_stderr

__all__ = ["parse_ref", "is_file_ref", "resolve_ref", "load_function", "check_arity", "package_root"]

_LOCK = threading.Lock()
_LOADED: dict[tuple[str, str], Any] = {}  # (file path or module name, function) -> function


def parse_ref(ref: Any, key: str) -> tuple[str, str]:
    """``"models.py:build"`` -> ``("models.py", "build")``; ``"pkg.mod:build"`` -> ``("pkg.mod", "build")``."""
    if not isinstance(ref, str) or ref.count(":") < 1:
        raise SpecError(key, f"must be 'file.py:function' or 'package.module:function', got {ref!r}")
    where, _, name = ref.rpartition(":")
    where, name = where.strip(), name.strip()
    if not where or not name.isidentifier():
        raise SpecError(key, f"must be 'file.py:function' or 'package.module:function', got {ref!r}")
    return where, name


def is_file_ref(where: str) -> bool:
    """True when the part of a reference before ``:`` names a file (``models.py``, ``lib/models``),
    False for a module name (``package.module``)."""
    return where.endswith(".py") or "/" in where or os.sep in where


def package_root(path: str | Path, stop: str | Path | None = None) -> Path | None:
    """The outermost folder of the Python package ``path`` lies in (the folders above it that hold
    an ``__init__.py``), not climbing above ``stop``; None when its folder is no package."""
    folder, top = Path(path).parent, None
    stop_at = None if stop is None else Path(stop)
    while (folder / "__init__.py").is_file():
        top = folder
        if folder == stop_at or folder.parent == folder:
            break
        folder = folder.parent
    return top


def resolve_ref(ref: str, base_dir: str, key: str) -> tuple[str, str, bool]:
    """Where ``ref`` lives: ``(file path or module name, function, is_file)``.

    A file is looked for, in order: in the spec's directory within the job's working directory
    (``SWEEP_SPEC_DIR_IN_WORKING_DIR``, set in a cluster's workers: on a Ray cluster the spec's
    directory arrives as, or inside, the job's ``working_dir``, and Ray Tune, which runs a trial
    in its own directory, keeps the one it started in as ``TUNE_ORIG_WORKING_DIR``), so a trial
    imports its node's copy; relative to ``base_dir`` (the spec file's directory: the driver, an
    embedded Ray); in the job's working directory; in the current one.
    """
    where, name = parse_ref(ref, key)
    if not is_file_ref(where):
        return where, name, False
    path = Path(where).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        root = Path(os.environ.get("TUNE_ORIG_WORKING_DIR") or Path.cwd())
        inside = os.environ.get("SWEEP_SPEC_DIR_IN_WORKING_DIR")
        # in a worker of a job that carries the spec's directory, its node's copy comes first
        candidates = [*([root / inside / path] if inside else []), Path(base_dir, path), root / path,
                      Path.cwd() / path]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate.resolve()), name, True
    looked = list(dict.fromkeys(str(c.parent) for c in candidates))
    raise SpecError(key, f"{ref}: no such file {where!r} (looked in {', '.join(looked)})")


def load_function(ref: str, *, base_dir: str, key: str, arity: int | None = None) -> Callable[..., Any]:
    """Import the function ``ref`` names and check that it can be called with ``arity`` arguments.

    Imports are cached per process (a worker imports a builder once for all its trials), a file's
    for as long as it is unchanged: a long-lived process (the warm runtime's host and workers, a
    notebook) imports a file edited since afresh. A file's directory is put on ``sys.path`` first,
    so the file can import its neighbours.

    Raises:
        SpecError: naming ``key`` and ``ref``, for every reason it cannot be used.
    """
    where, name, is_file = resolve_ref(ref, base_dir, key)
    stamp = _stamp(where) if is_file else ""
    with _LOCK:
        module = _LOADED.get((where, stamp))
        if module is None:
            module = _import_file(where, ref, key, stamp) if is_file else _import_module(where, ref, key)
            _LOADED[(where, stamp)] = module
    fn = getattr(module, name, None)
    if fn is None:
        shown = Path(where).name if is_file else where
        raise SpecError(key, f"{ref}: {shown} has no function {name!r}")
    if not callable(fn) or inspect.isclass(fn):
        raise SpecError(key, f"{ref}: {name} is not a function ({type(fn).__name__})")
    if arity is not None:
        check_arity(fn, arity, ref, key)
    return fn


def check_arity(fn: Callable[..., Any], arity: int, ref: str, key: str) -> None:
    """``fn`` accepts ``arity`` positional arguments (and needs no more); SpecError otherwise."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: let the call tell
        return
    try:
        signature.bind(*range(arity))
    except TypeError:
        shown = ", ".join(p for p in signature.parameters) or "no arguments"
        raise SpecError(key, f"{ref}: takes ({shown}) but is called with {arity} argument"
                        f"{'s' if arity != 1 else ''}") from None


def _stamp(path: str) -> str:
    """The file's size and modification time: a changed file is another module."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{st.st_size}-{st.st_mtime_ns}"


def _import_file(path: str, ref: str, key: str, stamp: str = "") -> Any:
    directory = str(Path(path).parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)
    module_name = f"sweep_user_{Path(path).stem}_{abs(hash(path + stamp)) % 10**8}"
    top = package_root(path)
    try:
        if top is not None:
            # A file in a package is imported as a module of it, so its relative imports
            # (``from .helpers import f``) work; the package gets a name of its own, so two specs
            # with a package of the same name in one process do not share modules.
            alias = f"sweep_user_{top.name}_{abs(hash(str(top) + stamp)) % 10**8}"
            if alias not in sys.modules:
                _exec_file(alias, str(top / "__init__.py"), search=str(top))
            dotted = Path(path).relative_to(top).with_suffix("").parts
            module_name = ".".join((alias, *dotted))
        return _exec_file(module_name, path)
    except SpecError as e:
        raise SpecError(key, f"{ref}: {e.message}") from None
    except Exception as e:  # the user's code: any failure is theirs, in one line
        raise SpecError(key, f"{ref}: importing {Path(path).name} failed: {type(e).__name__}: "
                        f"{first_line(e)}") from None


def _exec_file(module_name: str, path: str, search: str | None = None) -> Any:
    """Run the file at ``path`` as the module ``module_name`` (a package's ``__init__.py`` with
    ``search``, the folder its submodules are found in); it is left out of sys.modules on a failure."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path,
                                                  submodule_search_locations=None if search is None else [search])
    if spec is None or spec.loader is None:
        raise SpecError("", f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with quiet_native_stderr():  # a module importing Keras: TensorFlow's start-up lines stay off the terminal
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _import_module(name: str, ref: str, key: str) -> Any:
    try:
        with quiet_native_stderr():
            return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise SpecError(key, f"{ref}: no module named {e.name!r} (a file needs its .py)") from None
        raise SpecError(key, f"{ref}: importing {name} failed: ModuleNotFoundError: {first_line(e)}") from None
    except Exception as e:
        raise SpecError(key, f"{ref}: importing {name} failed: {type(e).__name__}: {first_line(e)}") from None
