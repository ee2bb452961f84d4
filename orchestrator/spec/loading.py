"""Reading a spec file: bytes -> UTF-8 text -> plain YAML data -> :func:`parse_spec`.

YAML is read with ``yaml.safe_load`` (plain data: tags such as ``!!python/object`` are refused)
and four more rules, each one line naming the file:

- at most :data:`MAX_SPEC_BYTES` bytes and :data:`MAX_YAML_ALIASES` aliases;
- no value nested deeper than :data:`MAX_YAML_DEPTH` levels (PyYAML composes recursively: ten
  thousand ``[`` would end in a ``RecursionError``), checked while composing, before the
  recursion gets deep, and again once aliases are expanded;
- at most :data:`MAX_YAML_NODES` values once aliases are expanded ("billion laughs");
- no key given twice in one mapping (PyYAML keeps the later value silently): the error names the
  key path and both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from ..errors import SpecError
from .checks import parse_spec
from .pydantic_errors import key_path
from .sections import SweepSpec

__all__ = ["MAX_SPEC_BYTES", "MAX_YAML_NODES", "MAX_YAML_ALIASES", "MAX_YAML_DEPTH", "SpecLoader", "load_spec",
           "read_yaml"]

MAX_SPEC_BYTES = 1_000_000
MAX_YAML_NODES = 20_000
MAX_YAML_ALIASES = 100
MAX_YAML_DEPTH = 50  # a spec nests about five levels (params.momentum.when.optimizer[0])
_MERGE_TAG = "tag:yaml.org,2002:merge"  # `<<: *base`: merged keys may be overridden, by design


def load_spec(path: str | Path) -> SweepSpec:
    """Read, validate and resolve a spec file.

    Args:
        path: the YAML file.

    Returns:
        The resolved :class:`SweepSpec`.

    Raises:
        SpecError: one line naming the file and key path.
    """
    p = Path(path)
    fname = p.name or str(p)
    try:
        if not p.exists():
            raise SpecError("", f"no such file: {path}")
        if p.is_dir():
            raise SpecError("", f"{path} is a directory, not a spec file")
        size = p.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError("", f"file is {size} bytes; a spec may be at most {MAX_SPEC_BYTES}")
        raw = p.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpecError("", f"not UTF-8 text (byte {e.start}); save the file as UTF-8") from None
        doc = read_yaml(text)
        return parse_spec(doc, source=str(p), base_dir=str(p.resolve().parent), default_name=p.stem)
    except SpecError as e:
        raise e.with_file(fname) from None
    except OSError as e:
        raise SpecError("", f"cannot read: {e.strerror or e}", fname) from None


class SpecLoader(yaml.SafeLoader):
    """Composes a spec's YAML (never constructs it) to check what ``yaml.safe_load`` lets through.

    - nesting deeper than :data:`MAX_YAML_DEPTH`: refused before the composer's recursion goes
      deeper (PyYAML's scanner also slows down with every open bracket: it stops early too);
    - more than :data:`MAX_YAML_ALIASES` aliases: anchors that reference each other can expand
      to billions of nodes ("billion laughs") once anything walks the tree;
    - a key given twice in one mapping: :meth:`compose_node` keeps the key path of the node being
      composed, so :meth:`compose_mapping_node` can say where.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.path_parts: list[str | int] = []
        self.depth = 0
        self.aliases = 0

    def compose_document(self) -> Node:
        node = super().compose_document()
        if self.aliases > MAX_YAML_ALIASES:
            raise SpecError("", f"{self.aliases} YAML aliases; at most {MAX_YAML_ALIASES} are allowed in a spec")
        return node

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        self.aliases += isinstance(event, yaml.AliasEvent)
        nests = isinstance(event, yaml.CollectionStartEvent)
        if nests and self.depth >= MAX_YAML_DEPTH:
            mark = event.start_mark
            raise SpecError("", f"values are nested more than {MAX_YAML_DEPTH} levels deep (at line "
                            f"{mark.line + 1}, column {mark.column + 1}); a spec nests a few levels at most")
        # index: the key node for a mapping's value, the position for a sequence's item, None for
        # a mapping's key and for the document itself.
        part = index if isinstance(index, int) else index.value if isinstance(index, ScalarNode) else None
        self.depth += nests
        if part is not None:
            self.path_parts.append(part)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= nests
            if part is not None:
                self.path_parts.pop()

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            # Compare keys as the mapping will hold them (1 and 0x1 are one key); a tag that has no
            # constructor fails here as it would in safe_load.
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise SpecError(key_path([*self.path_parts, str(key)]), f"given twice (lines {seen[key]} and {line})")
            seen[key] = line
        return node


def read_yaml(text: str) -> Any:
    """Plain data from YAML text, within the limits above; SpecError (without a file) otherwise.

    The text is read twice, as before these checks: composed by :class:`SpecLoader` (the checks),
    then loaded by ``yaml.safe_load`` (the data).
    """
    try:
        yaml.compose(text, Loader=SpecLoader)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "could not determine a constructor" in str(e):
            problem = "YAML tags such as !!python/... are not allowed; a spec is plain data"
        raise SpecError("", f"not valid YAML{where}: {problem}") from None
    nodes, depth = _measure(doc)
    if nodes > MAX_YAML_NODES:
        raise SpecError("", f"spec has more than {MAX_YAML_NODES} values once aliases are expanded")
    if depth > MAX_YAML_DEPTH:
        raise SpecError("", f"values are nested more than {MAX_YAML_DEPTH} levels deep once aliases are expanded")
    return doc


def _measure(doc: Any) -> tuple[int, int]:
    """How many values ``doc`` holds and how deep they nest, aliases expanded; the walk (iterative,
    so depth cannot exhaust the stack) stops once either passes its limit."""
    stack, nodes, deepest = [(doc, 0)], 0, 0
    while stack and nodes <= MAX_YAML_NODES and deepest <= MAX_YAML_DEPTH:
        x, depth = stack.pop()
        nodes += 1
        deepest = max(deepest, depth)
        if isinstance(x, dict):
            stack.extend((k, depth + 1) for k in x.keys())
            stack.extend((v, depth + 1) for v in x.values())
        elif isinstance(x, list):
            stack.extend((v, depth + 1) for v in x)
    return nodes, deepest
