"""How many parameters a built-in model has, computed without building it, and what follows for a spec.

:func:`mlp_param_count` and :func:`cnn_param_count` count the trainable parameters of the model
the MLP (:func:`orchestrator.training.mlp.model_plan`) and the CNN
(:func:`orchestrator.training.cnn.cnn_plan`) build for one configuration, layer by layer; the
integration test ``tests/integration/test_model_families.py`` holds them equal to Keras'
``count_params()`` (neither family has non-trainable weights, so ``params_total`` is the same
number). :func:`param_range` gives the smallest and the largest count over a whole search space,
and :func:`check_size_constraints` refuses a ``params``/``params_total`` constraint that every
configuration breaks (``sweep validate`` and ``sweep run``, once the data's shape is known).

Pure: the standard library only.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Callable, Iterable

from ..errors import SpecError
from ..spec import Choice, Constant, Grid, IntRange, Param, SweepSpec

__all__ = ["mlp_param_count", "cnn_param_count", "param_count", "PARAM_COUNTS", "param_range",
           "check_size_constraints"]


def _dense(inputs: int, units: int) -> int:
    return inputs * units + units  # kernel and bias


def _outputs(n_classes: int) -> int:
    """The output layer's units: one per class (softmax), or one for a regression (``n_classes`` 0)."""
    return int(n_classes) if n_classes > 0 else 1


def mlp_param_count(hp: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> int:
    """Trainable parameters of the MLP for ``hp`` on examples shaped ``input_shape`` (flattened).

    ``hidden_layers`` dense layers of ``units`` (dropout adds none), then the output layer:
    ``n_classes`` units, or one for a regression (``n_classes`` 0).
    """
    width = math.prod(int(d) for d in input_shape)
    total = 0
    for _ in range(int(hp["hidden_layers"])):
        total += _dense(width, int(hp["units"]))
        width = int(hp["units"])
    return total + _dense(width, _outputs(n_classes))


def cnn_param_count(hp: dict[str, Any], input_shape: tuple[int, ...], n_classes: int) -> int:
    """Trainable parameters of the CNN for ``hp`` on examples shaped ``(steps, channels)`` or
    ``(height, width, channels)``.

    ``conv_layers`` convolutions (``filters`` of ``kernel_size`` per side, padding ``same``), each
    followed by a pooling of 2 per side longer than 1 (none for ``pooling: none``); images are then
    flattened, sequences pooled over their steps; a dense layer of ``dense_units`` (none for 0), the
    output layer.

    Raises:
        ValueError: the CNN takes no examples of this shape.
    """
    shape = [int(d) for d in input_shape]
    if len(shape) not in (2, 3):
        raise ValueError(f"the CNN takes examples shaped (steps, channels) or (height, width, channels), got {shape}")
    sides, channels = shape[:-1], shape[-1]
    filters, kernel = int(hp["filters"]), int(hp["kernel_size"])
    total = 0
    for _ in range(int(hp["conv_layers"])):
        total += channels * kernel ** len(sides) * filters + filters
        channels = filters
        if str(hp["pooling"]) != "none":
            sides = [s // 2 if s >= 2 else s for s in sides]  # a side already 1 is not pooled
    width = math.prod(sides) * channels if len(sides) == 2 else channels  # flatten, or global pooling
    if int(hp["dense_units"]) > 0:
        total += _dense(width, int(hp["dense_units"]))
        width = int(hp["dense_units"])
    return total + _dense(width, _outputs(n_classes))


Counter = Callable[[dict[str, Any], tuple[int, ...], int], int]
PARAM_COUNTS: dict[str, Counter] = {"mlp": mlp_param_count, "cnn": cnn_param_count}

# The hyperparameters a family's parameter count depends on, and how: a count grows with the
# "growing" ones when they are 1 or more (so only their extremes matter), and may rise or fall with
# the others (more layers can mean fewer parameters: a narrow hidden layer, a smaller map to
# flatten), whose every value is tried. dense_units 0 (no dense layer) is its own case.
_GROWING = {"mlp": ("units",), "cnn": ("filters", "kernel_size", "dense_units")}
_ANY_WAY = {"mlp": ("hidden_layers",), "cnn": ("conv_layers", "pooling")}


def param_count(hp: dict[str, Any], input_shape: tuple[int, ...], n_classes: int, family: str = "mlp") -> int:
    """Trainable parameters of a built-in ``family``'s model for ``hp`` (see :data:`PARAM_COUNTS`)."""
    return PARAM_COUNTS[family](hp, input_shape, n_classes)


def _values(p: Param) -> list[Any]:
    """Every value ``p`` can take (an int range: each integer), None for a float range."""
    if isinstance(p, Constant):
        return [p.value]
    if isinstance(p, (Grid, Choice)):
        return list(p.values)
    if isinstance(p, IntRange):
        return list(range(p.low, p.high + 1))
    return [p.low, p.high]  # a float range: no structural hyperparameter is one


def _candidates(p: Param, growing: bool) -> list[Any]:
    """The values of ``p`` among which the smallest and the largest count lie."""
    if not growing:
        return sorted(set(_values(p)), key=str)
    if isinstance(p, IntRange):
        ends = [p.low, p.high]
        return sorted(set(ends + ([1] if p.low == 0 < p.high else [])))
    values = sorted(int(v) for v in _values(p))
    positive = [v for v in values if v > 0]
    return sorted(set([v for v in values if v <= 0] + positive[:1] + positive[-1:]))


def _grid(params: dict[str, Param], family: str) -> Iterable[dict[str, Any]]:
    names = [*_GROWING[family], *_ANY_WAY[family]]
    choices = [_candidates(params[n], n in _GROWING[family]) for n in names]
    for combo in itertools.product(*choices):
        yield dict(zip(names, combo))


def param_range(params: dict[str, Param], family: str, input_shape: tuple[int, ...],
                n_classes: int) -> tuple[tuple[int, dict[str, Any]], tuple[int, dict[str, Any]]]:
    """The smallest and the largest parameter count over a built-in family's search space.

    Args:
        params: the spec's hyperparameters (``SweepSpec.params``).
        family: ``mlp`` or ``cnn``.
        input_shape, n_classes: the prepared data's (``n_classes`` 0 for a regression).

    Returns:
        ``((smallest, its configuration), (largest, its configuration))``, each configuration the
        hyperparameters the count depends on.
    """
    counter = PARAM_COUNTS[family]
    counted = [(counter(hp, input_shape, n_classes), hp) for hp in _grid(params, family)]
    return min(counted, key=lambda c: c[0]), max(counted, key=lambda c: c[0])


def _config(hp: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in hp.items())


def check_size_constraints(spec: SweepSpec, input_shape: tuple[int, ...], n_classes: int) -> None:
    """Refuse a ``params`` or ``params_total`` constraint that every configuration of a built-in
    family's space breaks on this data: a ``max`` below the smallest model, a ``min`` above the
    largest. Nothing to check for a user's builder (its models are known only once built).

    Raises:
        SpecError: ``constraints.params`` (or ``constraints.params_total``), saying the count of the
            smallest (largest) configuration.
    """
    family = spec.model.kind
    wanted = {n: b for n, b in spec.constraints.items() if n in ("params", "params_total")}
    if family not in PARAM_COUNTS or not wanted:
        return
    (low, low_hp), (high, high_hp) = param_range(spec.params, family, input_shape, n_classes)
    for name, bound in wanted.items():
        if bound.max is not None and low > bound.max:
            raise SpecError(f"constraints.{name}", f"every configuration breaks max {bound.max:g}: the smallest model "
                            f"of the space ({_config(low_hp)}) has {low:,} parameters on this data")
        if bound.min is not None and high < bound.min:
            raise SpecError(f"constraints.{name}", f"every configuration breaks min {bound.min:g}: the largest model "
                            f"of the space ({_config(high_hp)}) has {high:,} parameters on this data")
