"""The package keeps the shape a reader can follow (scripts/structure.py prints the figures).

Small modules, short functions, no import circle (imports inside functions count: they run too),
and no private name reached across modules.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _structure():
    spec = importlib.util.spec_from_file_location("structure", ROOT / "scripts" / "structure.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["structure"] = module
    spec.loader.exec_module(module)
    return module


def test_the_package_has_no_long_module_long_function_circle_or_private_reach():
    s = _structure()
    modules = s.scan(ROOT / "orchestrator", max_function=80)
    assert s.problems(modules, max_module=600) == []


def test_the_checker_sees_a_circle_a_private_import_and_a_long_function(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import _hidden\n    return _hidden\n")
    (pkg / "b.py").write_text("from . import a\n_hidden = 1\n\ndef g():\n" + "    x = 1\n" * 81)
    s = _structure()
    found = s.problems(s.scan(pkg, max_function=80), max_module=600)
    assert "import circle: pkg.a <-> pkg.b" in found
    assert any(p.startswith("private name imported: pkg.a imports _hidden") for p in found)
    assert any(p.startswith("function over the limit: pkg.b.g") for p in found)
