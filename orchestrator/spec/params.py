"""The ``model`` and ``params`` sections: the model (family or builder) and every hyperparameter
resolved to a constant or a distribution.

``model.family`` and ``model.builder`` say which model; every other key of ``model`` is a fixed
hyperparameter value. The product's own hyperparameters are checked against their kind and rule
(:mod:`orchestrator.spec.hyperparameters`); a builder's own names take the kind their values
show (integers, numbers, strings or booleans). Conditions (``when``) are checked against the
values the parameters they name can take.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import SpecError
from ..usercode import parse_ref
from .distributions import DIST_TYPES, Choice, Constant, Grid, IntRange, LogUniform, Param, Uniform
from .hyperparameters import FAMILY_HYPERPARAMETERS, HYPERPARAMETERS, Entry, check_value, hyperparameters
from .pydantic_errors import validate
from .sections import ModelSpec

__all__ = ["parse_model", "parse_param", "resolve_params", "check_conditions", "infer_entry"]

# What YAML 1.1 reads as a string for want of a dot: 1e-3, 5E+2 (a builder's number, not a category).
_EXPONENT = re.compile(r"[-+]?[0-9]+[eE][-+]?[0-9]+")


def parse_model(model: dict[str, Any]) -> tuple[ModelSpec, dict[str, Any]]:
    """The ``model`` section as written -> ``(ModelSpec, the fixed hyperparameter values)``."""
    values = dict(model)
    family = values.pop("family", None)
    builder = values.pop("builder", None)
    if family is not None and (not isinstance(family, str) or family not in FAMILY_HYPERPARAMETERS):
        raise SpecError("model.family", f"must be one of {', '.join(FAMILY_HYPERPARAMETERS)}, "
                        f"got {family!r} (your own Keras model: model.builder: file.py:function)")
    if builder is None:
        return ModelSpec(family=family or "mlp"), values
    parse_ref(builder, "model.builder")  # the format only: the builder is imported when validated or run
    if family not in (None, "mlp"):
        raise SpecError("model.builder", f"a builder is its own model: give model.builder or model.family "
                        f"({family}), not both")
    return ModelSpec(builder=builder.strip()), values


def _known(kind: str) -> str:
    return ", ".join(hyperparameters(kind))


def _unknown(name: str, key: str, kind: str) -> SpecError:
    """The error for a name family ``kind`` does not take, saying whose name it is when it is one."""
    for other, table in FAMILY_HYPERPARAMETERS.items():
        if other != kind and name in table:
            return SpecError(key, f"{name} is a hyperparameter of model.family {other}, not of {kind}; "
                             f"{kind} takes: {_known(kind)} (your own model: model.builder takes any name)")
    return SpecError(key, f"unknown hyperparameter for model.family {kind}; known: {_known(kind)} "
                     "(your own model: model.builder takes any name)")


def _free(_value: Any) -> None:
    """A builder's own hyperparameter has no rule but its kind: its values mean what the builder says."""
    return None


def _check_name(name: str, key: str) -> None:
    if not name.isidentifier():
        raise SpecError(key, f"a hyperparameter name must be an identifier (letters, digits, _), got {name!r}")


def infer_entry(name: str, values: list[Any], key: str) -> Entry:
    """The kind of a builder's own hyperparameter from the values written for it: all integers
    -> int, numbers with a float among them -> float, strings -> cat, booleans -> bool."""
    _check_name(name, key)
    vals = [float(v) if isinstance(v, str) and _EXPONENT.fullmatch(v) else v for v in values]
    if all(isinstance(v, bool) for v in vals):
        kind = "bool"
    elif all(isinstance(v, str) for v in vals):
        kind = "cat"
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        kind = "int" if all(isinstance(v, int) for v in vals) else "float"
    else:
        raise SpecError(key, f"mixes kinds of value ({', '.join(map(repr, vals))}); give {name} all numbers, "
                        "all strings or all booleans")
    return kind, None, _free


def parse_param(name: str, value: Any, key: str, entry: Entry | None = None) -> Param:
    """One hyperparameter as written under ``key``: a plain value (a :class:`Constant`) or a
    distribution whose values, bounds and kind fit the hyperparameter.

    ``entry``: ``(kind, default, rule)`` of one the product owns; None for a builder's own name,
    whose kind follows from the values (:func:`infer_entry`).
    """
    if isinstance(value, list):
        raise SpecError(key, "a list is ambiguous: write {type: grid, values: [...]} to try every value "
                        "or {type: choice, values: [...]} to sample one")
    if not isinstance(value, dict):
        return Constant(value=check_value(name, value, key, entry or infer_entry(name, [value], key)))
    if "type" not in value:
        raise SpecError(f"{key}.type", f"required; one of {', '.join(DIST_TYPES)} (or give a plain value)")
    t = value["type"]
    if t == "constant":
        c = validate(Constant, value, key)
        e = entry or infer_entry(name, [c.value], f"{key}.value")
        return Constant(value=check_value(name, c.value, f"{key}.value", e), when=c.when)
    if not isinstance(t, str) or t not in DIST_TYPES:
        raise SpecError(f"{key}.type", f"must be one of {', '.join(DIST_TYPES)}, got {t!r}")
    dist = validate(DIST_TYPES[t], value, key)
    if isinstance(dist, (Grid, Choice)):
        if not dist.values:
            raise SpecError(f"{key}.values", "is empty; give at least one value")
        e = entry or infer_entry(name, list(dist.values), f"{key}.values")
        vals = [check_value(name, v, f"{key}.values[{i}]", e) for i, v in enumerate(dist.values)]
        if len(set(map(repr, vals))) != len(vals):
            raise SpecError(f"{key}.values", f"has duplicates: {vals}")
        return type(dist)(type=dist.type, values=vals, when=dist.when)
    if entry is None:  # a builder's own: a range says its kind
        _check_name(name, key)
        entry = ("int" if isinstance(dist, IntRange) else "float", None, _free)
    kind = entry[0]
    if kind in ("cat", "bool"):
        raise SpecError(f"{key}.type", f"{name} is categorical: use choice or grid, not {t}")
    if isinstance(dist, IntRange) and kind != "int":
        raise SpecError(f"{key}.type", f"{name} is a float: use uniform or loguniform, not {t}")
    if isinstance(dist, (Uniform, LogUniform)) and kind != "float":
        raise SpecError(f"{key}.type", f"{name} is an integer: use int (with log: true for a log scale), not {t}")
    # The log-scale bound first: learning_rate's own rule (> 0) would hide why 0 is refused here.
    if (isinstance(dist, LogUniform) or (isinstance(dist, IntRange) and dist.log)) and dist.low <= 0:
        raise SpecError(f"{key}.low", f"must be > 0 for a log scale, got {dist.low:g}")
    lo = check_value(name, dist.low, f"{key}.low", entry)
    hi = check_value(name, dist.high, f"{key}.high", entry)
    if lo > hi or (lo == hi and not isinstance(dist, IntRange)):
        raise SpecError(f"{key}.low", f"must be below high ({hi:g}), got {lo:g}")
    return dist


def resolve_params(model: dict[str, Any], params: dict[str, Any], kind: str = "mlp"
                   ) -> tuple[dict[str, Param], dict[str, Entry]]:
    """Every hyperparameter of the model: ``model`` (fixed values), ``params`` (searched or
    fixed), then the defaults of the ones the product owns; each set in one place only.

    Args:
        model: the ``model`` section's hyperparameter values (``family``/``builder`` taken out).
        params: the ``params`` section as written.
        kind: the model's kind (:attr:`ModelSpec.kind`): which names it takes.

    Returns:
        ``(params, entries)``: each hyperparameter resolved, and its ``(kind, default, rule)``.
    """
    owned = hyperparameters(kind)
    entries: dict[str, Entry] = {}
    out: dict[str, Param] = {}
    for where, section in (("model", model), ("params", params)):
        for name, value in section.items():
            key = f"{where}.{name}"
            if where == "model" and name in params:
                raise SpecError(key, f"also set in params.{name}; set it in one place")
            if where == "model" and isinstance(value, dict) and "type" in value:
                raise SpecError(key, "model holds fixed values; put distributions under params")
            if name not in owned and kind != "builder":
                raise _unknown(name, key, kind)
            out[name] = parse_param(name, value, key, owned.get(name))
            entries[name] = owned.get(name) or _entry_of(name, out[name], key)
    for name, entry in owned.items():
        out.setdefault(name, Constant(value=entry[1]))
        entries.setdefault(name, entry)
    check_conditions(out, params, entries, kind)
    return out, entries


def _entry_of(name: str, p: Param, key: str) -> Entry:
    """A builder's own hyperparameter's entry, from its resolved values (for its conditions)."""
    if isinstance(p, Constant):
        return infer_entry(name, [p.value], key)
    if isinstance(p, (Grid, Choice)):
        return infer_entry(name, list(p.values), key)
    return ("int" if isinstance(p, IntRange) else "float"), None, _free


def check_conditions(out: dict[str, Param], params: dict[str, Any], entries: dict[str, Entry] | None = None,
                     kind: str = "mlp") -> None:
    """Conditions: ``when: {optimizer: sgd}`` means the parameter only exists when the condition
    holds; it may name only unconditional parameters with listed values, and values they can take.

    Args:
        out: every hyperparameter, resolved.
        params: the spec's ``params`` section as written (to name ``params.`` or ``model.``).
        entries: each hyperparameter's ``(kind, default, rule)`` (default: the MLP's).
        kind: the model's kind (for the message naming an unknown hyperparameter).
    """
    entries = entries if entries is not None else HYPERPARAMETERS
    for name, p in out.items():
        if not p.when:
            continue
        where = "params" if name in params else "model"
        if isinstance(p, Grid):
            raise SpecError(f"{where}.{name}.when", "a grid parameter cannot be conditional; use choice")
        for other, wanted in p.when.items():
            ck = f"{where}.{name}.when.{other}"
            if other not in out:
                raise (_unknown(other, ck, kind) if kind != "builder" else SpecError(
                    ck, f"unknown hyperparameter; known: {', '.join(out)}"))
            if other == name:
                raise SpecError(ck, "a parameter cannot depend on itself")
            q = out[other]
            if q.when:
                raise SpecError(ck, f"{other} is itself conditional; conditions may only name unconditional parameters")
            if not isinstance(q, (Constant, Grid, Choice)):
                raise SpecError(ck, f"{other} is a continuous range; conditions need a constant, choice or grid")
            wanted_list = wanted if isinstance(wanted, list) else [wanted]
            possible = [q.value] if isinstance(q, Constant) else list(q.values)
            for w in wanted_list:
                w = check_value(other, w, ck, entries[other])
                if w not in possible:
                    raise SpecError(ck, f"{w!r} is not a value {other} can take ({', '.join(map(str, possible))})")
