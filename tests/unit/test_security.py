"""Spec files are data: the package never evaluates, imports or unsafely loads what a spec says.

An AST lint over every module of the package: no ``eval``/``exec``/``compile``, no dynamic import
(``__import__``, ``importlib.import_module`` however it is imported, ``pydoc.locate``, ``runpy``),
no YAML loading that can build Python objects (``yaml.load``/``load_all`` without a safe loader,
``unsafe_load``, ``full_load``, the unsafe loader classes). The lint is itself tested on a snippet
holding each offence, so it cannot pass by finding nothing.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"

FORBIDDEN_CALLS = {
    "eval", "exec", "compile", "__import__", "import_module", "importlib.import_module",
    "importlib.__import__", "builtins.__import__", "builtins.eval", "builtins.exec", "pydoc.locate", "locate",
    "runpy.run_path", "runpy.run_module", "yaml.unsafe_load", "yaml.unsafe_load_all", "yaml.full_load",
    "yaml.full_load_all", "yaml.add_constructor", "yaml.add_multi_constructor",
    "importlib.util.spec_from_file_location", "spec_from_file_location",
}
# Any call of a method of this name (``spec.loader.exec_module(module)``) runs a module's code.
FORBIDDEN_METHODS = {"exec_module", "load_module"}
# The one module allowed to import code a spec names (a user's builder or loader), and exactly
# the dynamic imports it may make: a change there is a change of the trust boundary.
USERCODE = "orchestrator/usercode.py"
USERCODE_ALLOWED = ["importlib.util.spec_from_file_location()", "spec.loader.exec_module()",
                    "importlib.import_module()"]
YAML_LOADS = {"yaml.load", "yaml.load_all", "load", "load_all"}  # safe only with an explicit safe loader
SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
UNSAFE_NAMES = {"Loader", "UnsafeLoader", "FullLoader", "CLoader", "CUnsafeLoader", "CFullLoader"}
FORBIDDEN_IMPORTS = {("importlib", "import_module"), ("pydoc", "locate"), ("yaml", "load"), ("yaml", "load_all"),
                     ("yaml", "unsafe_load"), ("yaml", "full_load"), ("yaml", "Loader"), ("yaml", "UnsafeLoader"),
                     ("yaml", "FullLoader")}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    return ""


def _loader_name(node: ast.AST) -> str:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""


def offences(source: str, filename: str = "<snippet>") -> list[str]:
    """Every forbidden construct in ``source``, as ``filename:line: what``."""
    tree = ast.parse(source, filename=filename)
    found = []
    yaml_imported: dict[str, str] = {}  # local name -> name in yaml (``from yaml import load as l``)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module, alias.name) in FORBIDDEN_IMPORTS:
                    found.append(f"{filename}:{node.lineno}: from {node.module} import {alias.name}")
                if node.module == "yaml":
                    yaml_imported[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "runpy":
                    found.append(f"{filename}:{node.lineno}: import runpy")
        elif isinstance(node, ast.Attribute) and _dotted(node.value) == "yaml" and node.attr in UNSAFE_NAMES:
            found.append(f"{filename}:{node.lineno}: yaml.{node.attr}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name in FORBIDDEN_CALLS or name.rpartition(".")[2] in FORBIDDEN_METHODS:
                found.append(f"{filename}:{node.lineno}: {name}()")
            elif name.startswith("yaml.") and name in YAML_LOADS or yaml_imported.get(name) in YAML_LOADS:
                loader = next((k.value for k in node.keywords if k.arg == "Loader"),
                              node.args[1] if len(node.args) > 1 else None)
                if loader is None or _loader_name(loader) not in SAFE_LOADERS:
                    found.append(f"{filename}:{node.lineno}: {name}() without a safe Loader")
    return found


def test_no_eval_exec_dynamic_import_or_unsafe_yaml_in_the_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if rel != USERCODE:
            found += offences(path.read_text(encoding="utf-8"), rel)
    assert found == []


def test_only_the_user_code_module_imports_what_a_spec_names():
    """usercode.py imports a builder or loader the user wrote (README: the trust boundary), with
    these three calls and nothing else the lint forbids (no eval, no exec, no unsafe YAML)."""
    path = PACKAGE.parent / USERCODE
    found = offences(path.read_text(encoding="utf-8"), USERCODE)
    assert sorted(f.split(": ", 1)[1] for f in found) == sorted(USERCODE_ALLOWED), found


def test_the_lint_finds_each_offence():
    snippet = textwrap.dedent("""
        import importlib, yaml, builtins, pydoc
        import runpy
        from importlib import import_module
        from yaml import load as yload, Loader
        eval(spec["model"])
        exec(code)
        compile(src, "x", "exec")
        __import__(spec["module"])
        importlib.import_module(spec["module"])
        import_module(name)
        builtins.__import__(name)
        pydoc.locate(spec["class"])
        yaml.load(text)
        yaml.load(text, Loader=yaml.Loader)
        yaml.load(text, yaml.FullLoader)
        yaml.load_all(text)
        yaml.unsafe_load(text)
        yaml.full_load(text)
        yload(text)
        yaml.add_constructor("!x", f)
        importlib.util.spec_from_file_location(name, path)
        spec.loader.exec_module(module)
    """)
    found = offences(snippet)
    lines = sorted({int(f.split(":")[1]) for f in found})
    # every line from the first offence on is flagged (line 2 imports harmless modules)
    assert lines == list(range(3, 24)), found


def test_the_lint_accepts_safe_loading():
    snippet = textwrap.dedent("""
        import yaml
        yaml.safe_load(text)
        yaml.load(text, Loader=yaml.SafeLoader)
        yaml.load(text, yaml.CSafeLoader)
        yaml.parse(text, Loader=yaml.SafeLoader)
        getattr(obj, "name")
    """)
    assert offences(snippet) == []


def test_spec_loader_uses_safe_load_only():
    src = (PACKAGE / "spec" / "loading.py").read_text(encoding="utf-8")
    assert "yaml.safe_load(" in src
    assert "yaml.load(" not in src and "unsafe_load" not in src
