"""The test suite's own rules, read from the source (nothing is imported):

- no test module imports from another test module or from a ``conftest.py``: what tests share is
  in ``tests/helpers.py`` (fixtures and hooks stay in the conftests);
- no unit test module imports Ray, TensorFlow or Keras, at any level (tests/unit/conftest.py also
  checks what each unit test imports as it runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

TESTS = ROOT / "tests"
HEAVY = {"ray", "tensorflow", "keras"}


def _imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the module at ``path`` (its source, or ``text``
    as if it were), relative ones resolved."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = []
    source = path.read_text(encoding="utf-8") if text is None else text
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            # "from . import test_x" names the module in the alias
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names] if not node.module else \
                [(node.lineno, module)]
    return found


def _is_test_module(module: str) -> bool:
    last = module.rsplit(".", 1)[-1]
    return module.startswith("tests.") and (last.startswith("test_") or last == "conftest")


def test_no_test_module_imports_another_or_a_conftest():
    reaches = [f"{path.relative_to(ROOT)}:{line} imports {module}"
               for path in sorted(TESTS.rglob("*.py")) for line, module in _imports(path)
               if _is_test_module(module)]
    assert reaches == [], "move what is shared to tests/helpers.py:\n" + "\n".join(reaches)


def test_no_unit_test_module_imports_ray_tensorflow_or_keras():
    heavy = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in sorted((TESTS / "unit").glob("*.py")) for line, module in _imports(path)
             if module.split(".")[0] in HEAVY]
    assert heavy == [], "unit tests import neither Ray nor TensorFlow (tests/integration):\n" + "\n".join(heavy)


def test_the_rules_see_relative_and_absolute_reaches():
    """The reader above resolves the ways a reach is written (else the rules could pass vacuously)."""
    text = ("from .test_nightly import FakeSweep\nfrom . import conftest\nfrom tests.integration.conftest import x\n"
            "import tests.unit.test_storage\nfrom ..helpers import ROOT\ndef f():\n    from ray import tune\n")
    found = [m for _, m in _imports(TESTS / "unit" / "test_probe.py", text)]
    assert found == ["tests.unit.test_nightly", "tests.unit.conftest", "tests.integration.conftest",
                     "tests.unit.test_storage", "tests.helpers", "ray"]
    assert [m for m in found if _is_test_module(m)] == found[:4]
