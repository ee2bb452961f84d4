"""The ``model`` and ``params`` sections: every hyperparameter resolved to a constant or a distribution.

Each value is checked against the hyperparameter's kind and rule
(:mod:`orchestrator.spec.hyperparameters`); conditions (``when``) are checked against the values
the parameters they name can take.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecError
from .distributions import DIST_TYPES, Choice, Constant, Grid, IntRange, LogUniform, Param, Uniform
from .hyperparameters import HYPERPARAMETERS, check_value
from .pydantic_errors import validate

__all__ = ["parse_param", "resolve_params", "check_conditions"]


def parse_param(name: str, value: Any, key: str) -> Param:
    """One hyperparameter as written under ``key``: a plain value (a :class:`Constant`) or a
    distribution whose values, bounds and kind fit the hyperparameter."""
    if name not in HYPERPARAMETERS:
        raise SpecError(key, f"unknown hyperparameter; known: {', '.join(HYPERPARAMETERS)}")
    kind = HYPERPARAMETERS[name][0]
    if isinstance(value, list):
        raise SpecError(key, "a list is ambiguous: write {type: grid, values: [...]} to try every value "
                        "or {type: choice, values: [...]} to sample one")
    if not isinstance(value, dict):
        return Constant(value=check_value(name, value, key))
    if "type" not in value:
        raise SpecError(f"{key}.type", f"required; one of {', '.join(DIST_TYPES)} (or give a plain value)")
    t = value["type"]
    if t == "constant":
        c = validate(Constant, value, key)
        return Constant(value=check_value(name, c.value, f"{key}.value"), when=c.when)
    if not isinstance(t, str) or t not in DIST_TYPES:
        raise SpecError(f"{key}.type", f"must be one of {', '.join(DIST_TYPES)}, got {t!r}")
    dist = validate(DIST_TYPES[t], value, key)
    if isinstance(dist, (Grid, Choice)):
        if not dist.values:
            raise SpecError(f"{key}.values", "is empty; give at least one value")
        vals = [check_value(name, v, f"{key}.values[{i}]") for i, v in enumerate(dist.values)]
        if len(set(map(repr, vals))) != len(vals):
            raise SpecError(f"{key}.values", f"has duplicates: {vals}")
        return type(dist)(type=dist.type, values=vals, when=dist.when)
    if kind == "cat":
        raise SpecError(f"{key}.type", f"{name} is categorical: use choice or grid, not {t}")
    if isinstance(dist, IntRange) and kind != "int":
        raise SpecError(f"{key}.type", f"{name} is a float: use uniform or loguniform, not {t}")
    if isinstance(dist, (Uniform, LogUniform)) and kind != "float":
        raise SpecError(f"{key}.type", f"{name} is an integer: use int (with log: true for a log scale), not {t}")
    # The log-scale bound first: learning_rate's own rule (> 0) would hide why 0 is refused here.
    if (isinstance(dist, LogUniform) or (isinstance(dist, IntRange) and dist.log)) and dist.low <= 0:
        raise SpecError(f"{key}.low", f"must be > 0 for a log scale, got {dist.low:g}")
    lo = check_value(name, dist.low, f"{key}.low")
    hi = check_value(name, dist.high, f"{key}.high")
    if lo > hi or (lo == hi and not isinstance(dist, IntRange)):
        raise SpecError(f"{key}.low", f"must be below high ({hi:g}), got {lo:g}")
    return dist


def resolve_params(model: dict[str, Any], params: dict[str, Any]) -> dict[str, Param]:
    """Every hyperparameter of the model: ``model`` (fixed values), ``params`` (searched or
    fixed), then the defaults; each set in one place only."""
    out: dict[str, Param] = {}
    for name, value in model.items():
        key = f"model.{name}"
        if name in params:
            raise SpecError(key, f"also set in params.{name}; set it in one place")
        if isinstance(value, dict) and "type" in value:
            raise SpecError(key, "model holds fixed values; put distributions under params")
        out[name] = parse_param(name, value, key)
    for name, value in params.items():
        out[name] = parse_param(name, value, f"params.{name}")
    for name, (_kind, default, _rule) in HYPERPARAMETERS.items():
        out.setdefault(name, Constant(value=default))
    check_conditions(out, params)
    return out


def check_conditions(out: dict[str, Param], params: dict[str, Any]) -> None:
    """Conditions: ``when: {optimizer: sgd}`` means the parameter only exists when the condition
    holds; it may name only unconditional parameters with listed values, and values they can take.

    Args:
        out: every hyperparameter, resolved.
        params: the spec's ``params`` section as written (to name ``params.`` or ``model.``).
    """
    for name, p in out.items():
        if not p.when:
            continue
        where = "params" if name in params else "model"
        if isinstance(p, Grid):
            raise SpecError(f"{where}.{name}.when", "a grid parameter cannot be conditional; use choice")
        for other, wanted in p.when.items():
            ck = f"{where}.{name}.when.{other}"
            if other not in HYPERPARAMETERS:
                raise SpecError(ck, f"unknown hyperparameter; known: {', '.join(HYPERPARAMETERS)}")
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
                w = check_value(other, w, ck)
                if w not in possible:
                    raise SpecError(ck, f"{w!r} is not a value {other} can take ({', '.join(map(str, possible))})")
