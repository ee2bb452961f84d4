"""The package's structure in figures: module sizes, long functions, import circles, private reaches.

    python scripts/structure.py [--root orchestrator] [--max-module 600] [--max-function 80]

Reads the source only (nothing is imported or run). Prints every module with its line count, then
each rule broken: a module over ``--max-module`` lines, a function over ``--max-function`` lines,
an import circle between modules (imports inside functions count: they run too), and a private
name (leading underscore) imported from another module. Exit code 1 when a rule is broken.
``tests/unit/test_structure.py`` runs the same checks.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Module:
    name: str  # dotted, e.g. orchestrator.execution.run
    path: Path
    lines: int
    is_package: bool
    imports: set[str] = field(default_factory=set)  # dotted names of modules of the package
    private: list[str] = field(default_factory=list)  # "name from module (line N)"
    long_functions: list[tuple[str, int]] = field(default_factory=list)


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute module of a ``from ... import`` in ``current``."""
    if level == 0:
        return target or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, *(target.split(".") if target else [])])


def _owner(name: str, known: set[str]) -> str | None:
    """The longest known module that ``name`` is or lies in."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _functions(tree: ast.AST, limit: int) -> list[tuple[str, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = (node.end_lineno or node.lineno) - node.lineno + 1
            if n > limit:
                out.append((f"{node.name} (line {node.lineno})", n))
    return out


def scan(root: Path, max_function: int = 80) -> dict[str, Module]:
    """Every module under ``root`` with its imports of sibling modules (function-local ones too)."""
    files = sorted(root.rglob("*.py"))
    modules: dict[str, Module] = {}
    trees = {}
    for path in files:
        name, is_pkg = module_name(path, root)
        text = path.read_text(encoding="utf-8")
        modules[name] = Module(name, path, len(text.splitlines()), is_pkg)
        trees[name] = ast.parse(text, str(path))
    known = set(modules)
    for name, tree in trees.items():
        mod = modules[name]
        mod.long_functions = _functions(tree, max_function)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    owner = _owner(alias.name, known)
                    if owner and owner != name:
                        mod.imports.add(owner)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, mod.is_package, node.level, node.module)
                for alias in node.names:
                    owner = _owner(f"{base}.{alias.name}", known) or _owner(base, known)
                    if owner and owner != name:
                        mod.imports.add(owner)
                    if alias.name.startswith("_") and not alias.name.startswith("__") and _owner(base, known):
                        mod.private.append(f"{alias.name} from {base} (line {node.lineno})")
    return modules


def circles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(modules[v].imports):
            if w not in modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(max(1000, 10 * len(modules)))
    for v in sorted(modules):
        if v not in index:
            visit(v)
    return out


def problems(modules: dict[str, Module], max_module: int = 600) -> list[str]:
    """Every broken rule, one line each."""
    out = []
    for m in modules.values():
        if m.lines > max_module:
            out.append(f"module over {max_module} lines: {m.name} ({m.lines})")
        for fn, n in m.long_functions:
            out.append(f"function over the limit: {m.name}.{fn}: {n} lines")
        for p in m.private:
            out.append(f"private name imported: {m.name} imports {p}")
    for group in circles(modules):
        out.append("import circle: " + " <-> ".join(group))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT / "orchestrator")
    ap.add_argument("--max-module", type=int, default=600)
    ap.add_argument("--max-function", type=int, default=80)
    args = ap.parse_args(argv)
    modules = scan(args.root.resolve(), args.max_function)
    total = 0
    for m in sorted(modules.values(), key=lambda m: m.name):
        total += m.lines
        print(f"{m.lines:6d}  {m.name}")
    print(f"{total:6d}  total in {len(modules)} modules")
    found = problems(modules, args.max_module)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
