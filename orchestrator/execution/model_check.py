"""Before anything starts: can the spec's model be built on the data it will get?

``sweep validate`` and ``sweep run`` both call :func:`check_model` once the data is prepared:

- the MLP needs nothing more;
- ``family: cnn`` checks the examples' shape (pure: no TensorFlow);
- ``model.builder`` imports the user's function, checks its signature, builds one model for one
  configuration sampled from the space (seeded by the spec's ``seed``) on the data's shapes, and
  says how many parameters it has, which of the user's hyperparameters it never read, and what
  the product cannot do with it (a learning-rate schedule compiled in, no traced-model cache).

A builder that cannot be used is a :class:`~orchestrator.errors.SpecError` naming the spec's key
and the function, before Ray starts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from ..spec import SweepSpec
from ..usercode import load_function

if TYPE_CHECKING:
    from ..data import Prepared

__all__ = ["ModelCheck", "check_model"]


@dataclass(frozen=True)
class ModelCheck:
    """What was learnt of the model before the sweep: what it is, its size, and what to tell the user."""

    what: str
    params: int | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line for the model, then one per warning and note (none for the default MLP)."""
        if self.what == "mlp":
            return []
        size = "" if self.params is None else f", {self.params:,} parameters for one sampled configuration"
        return ([f"model {self.what}{size}"] + [f"warning: {w}" for w in self.warnings]
                + [f"note: {n}" for n in self.notes])


def check_model(spec: SweepSpec, prepared: "Prepared") -> ModelCheck:
    """Check the spec's model against the prepared data (see the module docstring).

    Raises:
        SpecError: the model cannot be built on this data (key ``model.family``, ``model.builder``
            or ``metric``).
    """
    from ..decisions.space import sample_config
    from ..training.inputs import DataInfo

    info = DataInfo(tuple(int(s) for s in prepared.input_shape), prepared.task, int(prepared.n_classes))
    kind = spec.model.kind
    if kind == "mlp":
        return ModelCheck("mlp")
    if kind == "cnn":
        from ..training.cnn import check_input

        problem = check_input(info)
        if problem:
            raise SpecError("model.family", problem)
        rank = "Conv1D" if len(info.input_shape) == 2 else "Conv2D"
        return ModelCheck(f"cnn ({rank} on examples shaped {_shape(info.input_shape)})")
    # The import, the function and its signature first: what is wrong there needs no TensorFlow.
    load_function(str(spec.model.builder), base_dir=spec.base_dir, key="model.builder", arity=2)
    hp = sample_config(spec, random.Random(spec.seed))
    from ..training.probe import probe_model

    probe = probe_model(spec, info, hp)
    warnings = [f"params.{name}: the builder {spec.model.builder} never reads it" for name in probe.unused]
    return ModelCheck(f"builder {spec.model.builder} on examples shaped {_shape(info.input_shape)}",
                      params=int(probe.params), warnings=warnings, notes=list(probe.notes))


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
