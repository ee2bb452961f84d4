"""The distributions a hyperparameter can be given in a spec, and what follows from them.

A plain value becomes a :class:`Constant`; a mapping with a ``type`` one of the distributions.
:func:`active` says whether a conditional hyperparameter exists under a configuration, and
:func:`pbt_mutable` which hyperparameters Population Based Training may perturb.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict

from .hyperparameters import Scalar

__all__ = ["Frozen", "Constant", "Grid", "Choice", "Uniform", "LogUniform", "IntRange", "Param", "DIST_TYPES",
           "active", "pbt_mutable", "GRAPH_KEEPING", "WEIGHT_SHAPING"]


class Frozen(BaseModel):
    """The base of every spec model: unknown keys are refused and a loaded spec is immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Distribution(Frozen):
    """What every distribution has: an optional condition (``when``) on other hyperparameters."""

    when: dict[str, Union[Scalar, list[Scalar]]] | None = None

    @property
    def is_grid(self) -> bool:
        return False


class Constant(Frozen):
    """A fixed value (what a plain scalar in the spec becomes)."""

    type: Literal["constant"] = "constant"
    value: Scalar
    when: dict[str, Union[Scalar, list[Scalar]]] | None = None

    @property
    def is_grid(self) -> bool:
        return False


class Grid(Distribution):
    """Every value is tried: grids multiply into a full cross product."""

    type: Literal["grid"]
    values: list[Scalar]

    @property
    def is_grid(self) -> bool:
        return True


class Choice(Distribution):
    """One value drawn uniformly from a list."""

    type: Literal["choice"]
    values: list[Scalar]


class Uniform(Distribution):
    """A float drawn uniformly from [low, high]."""

    type: Literal["uniform"]
    low: float
    high: float


class LogUniform(Distribution):
    """A float drawn uniformly on a log scale from [low, high] (both > 0)."""

    type: Literal["loguniform"]
    low: float
    high: float


class IntRange(Distribution):
    """An integer from low to high, both included; ``log: true`` samples on a log scale."""

    type: Literal["int", "randint"]
    low: int
    high: int
    log: bool = False


Param = Union[Constant, Grid, Choice, Uniform, LogUniform, IntRange]
# The ``type`` a spec writes -> the model that reads it (``constant`` is handled on its own).
DIST_TYPES: dict[str, type[BaseModel]] = {
    "grid": Grid,
    "choice": Choice,
    "uniform": Uniform,
    "loguniform": LogUniform,
    "int": IntRange,
    "randint": IntRange,
}


def active(params: dict[str, Param], name: str, config: dict[str, Any]) -> bool:
    """Whether hyperparameter ``name`` is active under ``config`` (its ``when`` holds)."""
    p = params[name]
    if not p.when:
        return True
    for other, wanted in p.when.items():
        wanted_list = wanted if isinstance(wanted, list) else [wanted]
        if config.get(other) not in wanted_list:
            return False
    return True


# What PBT may perturb: values the optimizer or the data pipeline reads, never the layers (an
# exploited trial loads a donor's weights, which fit the donor's layers only: a trial given other
# `units` failed with Keras' "3 objects could not be loaded"). The built-in families also hold
# their dropout rates and L2 factors as variables; a builder's own names may mean anything.
GRAPH_KEEPING: dict[str, tuple[str, ...]] = {
    "mlp": ("learning_rate", "momentum", "batch_size", "dropout", "l2"),
    "cnn": ("learning_rate", "momentum", "batch_size", "dropout", "l2"),
    "builder": ("learning_rate", "momentum", "batch_size"),
}
# The built-in families' hyperparameters that shape their weights: never perturbed by PBT, even
# when scheduler.mutations names them.
WEIGHT_SHAPING: dict[str, tuple[str, ...]] = {
    "mlp": ("hidden_layers", "units"),
    "cnn": ("conv_layers", "filters", "kernel_size", "dense_units"),
}


def pbt_mutable(params: dict[str, Param], kind: str = "mlp") -> list[str]:
    """The hyperparameters PBT perturbs when ``scheduler.mutations`` names none: the searched
    numeric ones (ranges, and choices or grids of numbers only) that keep the model's layers
    (:data:`GRAPH_KEEPING` of the model ``kind``), in the spec's order.

    The one place this rule lives: the spec refuses ``type: pbt`` when the list is empty, and the
    scheduler builds its mutation table from it.
    """
    allowed = GRAPH_KEEPING.get(kind)
    return [n for n, p in params.items() if (allowed is None or n in allowed)
            and (isinstance(p, (Uniform, LogUniform, IntRange))
                 or (isinstance(p, (Choice, Grid)) and all(isinstance(v, (int, float)) for v in p.values)))]
