"""Spec files are data: the package never evaluates, imports or unsafely loads what a spec says."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                yield f.id, node
            elif isinstance(f, ast.Attribute):
                base = f.value.id if isinstance(f.value, ast.Name) else ""
                yield f"{base}.{f.attr}", node


def test_no_eval_exec_dynamic_import_or_unsafe_yaml():
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, node in _calls(tree):
            bad = name in ("eval", "exec", "compile", "__import__", "importlib.import_module",
                           "yaml.load", "yaml.unsafe_load", "yaml.full_load", "yaml.load_all")
            if name == "yaml.load":
                bad = not any(isinstance(k.value, ast.Attribute) and k.value.attr == "SafeLoader"
                              for k in node.keywords if k.arg == "Loader")
            if bad:
                offences.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}")
    assert offences == []


def test_spec_loader_uses_safe_load_only():
    src = (PACKAGE / "spec.py").read_text(encoding="utf-8")
    assert "yaml.safe_load(" in src
    assert "yaml.load(" not in src and "unsafe_load" not in src
