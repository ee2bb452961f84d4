"""pydantic's validation errors as one-line :class:`~orchestrator.errors.SpecError`s.

pydantic reports a location tuple with union tags in it (``metric.MetricSpec.direction``); the
user wrote ``metric.direction``. This turns the error the user meant into that key path and a
message with the value given, or for an unknown key the keys the section takes.
"""

from __future__ import annotations

from typing import Any, Sequence, get_args

from pydantic import BaseModel, ValidationError

from ..errors import SpecError

__all__ = ["validate", "from_validation", "key_path"]

# The parts of pydantic's error locations that name a union branch, not a key the user wrote.
_TAGS = {"str", "int", "float", "bool", "MetricSpec", "list[...]"}


def key_path(parts: Sequence[Any]) -> str:
    """``("params", "units", "values", 0)`` as ``params.units.values[0]``: how errors name keys."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def from_validation(err: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> SpecError:
    """One SpecError for a pydantic error: the key path under ``prefix``, pydantic's message with
    the value given, and for an unknown key the keys that section takes (from ``model``)."""
    errors = err.errors()
    # A union (metric: name or mapping) reports one error per branch; the deepest one is the
    # branch the user meant (metric.foo: unknown key, not metric: should be a string).
    e = max((x for x in errors if x["loc"][:1] == errors[0]["loc"][:1]), key=lambda x: len(x["loc"]))
    loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and ("[" in p or p in _TAGS)))
    key = ".".join(x for x in (prefix, key_path(loc)) if x)
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
        parent = _model_at(model, e["loc"][:-1]) if model is not None else None
        if parent is not None:
            msg += f"; expected one of: {', '.join(parent.model_fields)}"
    elif e["type"] == "missing":
        msg = "required key is missing"
    else:
        inp = e.get("input")
        if not isinstance(inp, (dict, list)):
            msg = f"{msg}, got {inp!r}"
    return SpecError(key, msg)



def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The section model that a validation error's location points into (for the key hint)."""
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in _TAGS):
            continue
        field = model.model_fields.get(part) if isinstance(part, str) else None
        found = _model_of(field.annotation) if field is not None else None
        if found is None:
            return None
        model = found
    return model


def validate(model: type[BaseModel], value: Any, prefix: str) -> Any:
    """``model.model_validate(value)``, its first error turned into a SpecError under ``prefix``."""
    try:
        return model.model_validate(value)
    except ValidationError as err:
        raise from_validation(err, prefix, model) from None
