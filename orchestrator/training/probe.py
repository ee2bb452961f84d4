"""One model built before the sweep starts (``sweep validate``, ``sweep run``): does it build, and how big is it.

:func:`probe_model` builds the spec's model for one configuration on the data's shapes, through
the same family a trial uses (:func:`orchestrator.training.model.family_of`), and evaluates it on
one example of zeros, so that a model that cannot take the data's examples or labels fails here,
as one line, and not in every trial. For a user's builder it also says which of the user's
hyperparameters the function never read (it gets a dict that records every read), and whether
the model reports the metric the spec selects on. Imports TensorFlow (inside the function).

:func:`check_model` is what ``sweep validate`` and ``sweep run`` call once the data is prepared:

- the MLP needs nothing more;
- ``family: cnn`` checks the examples' shape (pure: no TensorFlow);
- ``model.builder`` imports the user's function, checks its signature, and probes one model for
  one configuration sampled from the space (seeded by the spec's ``seed``) on the data's shapes,
  saying how many parameters it has, which of the user's hyperparameters it never read, and what
  the product cannot do with it (a learning-rate schedule compiled in, no traced-model cache).

A model that cannot be used is a :class:`~orchestrator.errors.SpecError` naming the spec's key
and the function, before Ray starts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import SpecError, first_line
from ..spec import TRAINING_HYPERPARAMETERS, SweepSpec
from ..usercode import load_function
from .builder import NO_CACHE_NOTE, BuilderError
from .cnn import check_input
from .epoch import task_metrics
from .inputs import DataInfo
from .model import family_of
from .tf_errors import lift_informative_line

if TYPE_CHECKING:
    from ..data import Prepared

__all__ = ["Probe", "RecordingDict", "probe_model", "ModelCheck", "check_model", "lines_before", "metric_columns_of"]


@dataclass(frozen=True)
class Probe:
    """What building one model told: its parameter count, notes for the user, the user's names it
    never read, and the metric columns its trials' rows hold (``metrics``: ``train_<m>`` and
    ``val_<m>`` for each name a builder's model logs; empty for the built-in families)."""

    params: int
    notes: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    metrics: tuple[str, ...] = ()


class RecordingDict(dict):
    """A dict that records the keys read from it: ``[]``, ``get``, ``in``, and every key on iteration,
    ``keys``/``values``/``items``, copies and ``**`` unpacking."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read: set[Any] = set()

    def __getitem__(self, key: Any) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: Any) -> bool:
        self.read.add(key)
        return super().__contains__(key)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.read.add(key)
        return super().setdefault(key, default)

    def pop(self, key: Any, *default: Any) -> Any:
        self.read.add(key)
        return super().pop(key, *default)

    def _all(self) -> None:
        self.read.update(super().keys())

    def __iter__(self) -> Iterator[Any]:
        self._all()
        return super().__iter__()

    def keys(self) -> Any:
        self._all()
        return super().keys()

    def values(self) -> Any:
        self._all()
        return super().values()

    def items(self) -> Any:
        self._all()
        return super().items()

    def copy(self) -> dict[Any, Any]:
        self._all()
        return dict(super().items())


def probe_model(spec: Any, info: DataInfo, hp: dict[str, Any]) -> Probe:
    """Build the spec's model for the configuration ``hp`` on the data ``info`` describes.

    Raises:
        SpecError: ``model.family`` (the CNN cannot take these examples), ``model.builder`` (the
            function cannot be imported, raised, returned no Keras model, or its model cannot be
            evaluated on the data's examples), ``metric`` / ``early_stopping.monitor`` (a compiled
            model does not report the metric the spec selects on or watches).
    """
    from .worker import import_tensorflow

    import_tensorflow(quiet=True)  # this is the driver: TensorFlow's start-up lines stay off the terminal
    import keras

    model_spec = getattr(spec, "model", None)
    kind = "mlp" if model_spec is None else str(model_spec.kind)
    if kind == "cnn":
        problem = check_input(info)
        if problem:
            raise SpecError("model.family", problem)
    family = family_of(spec)
    given = RecordingDict(hp) if kind == "builder" else dict(hp)
    keras.backend.clear_session()
    try:
        model = family.build(given, info)
    except BuilderError as e:
        raise SpecError(e.key, e.message) from None
    try:
        if kind != "builder":
            return Probe(int(model.count_params()))
        ref = str(model_spec.builder)
        problem = output_problem(getattr(model, "output_shape", None), info, getattr(model, "sweep_compiled", False))
        if problem:
            raise SpecError("model.builder", f"{ref}: {problem}")
        logged = _check_reports(model, spec, info, ref)
        owned = set(TRAINING_HYPERPARAMETERS)
        unused = [n for n in getattr(spec, "params", {}) if n not in owned and n not in given.read]
        return Probe(int(model.count_params()), [*getattr(model, "sweep_notes", ()), NO_CACHE_NOTE], unused,
                     metric_columns_of(logged))
    finally:
        del model
        keras.backend.clear_session()


def output_problem(output_shape: Any, info: DataInfo, compiled_by_sweep: bool) -> str | None:
    """What is wrong with the width of a builder's model's output, for the loss the sweep compiles
    it with; None when nothing is (or when the user compiled it: their loss decides what fits).

    Classification is compiled with sparse categorical cross-entropy: one output per class
    (``Dense(n_classes, activation="softmax")``, two for two classes, as the built-in families end);
    regression with the mean squared error: one output. A model with several outputs is not judged.
    """
    if not compiled_by_sweep or not isinstance(output_shape, tuple) or not output_shape \
            or any(isinstance(d, (tuple, list)) for d in output_shape):
        return None
    got = output_shape[-1] if len(output_shape) > 1 else 1
    if not isinstance(got, int):
        return None
    if info.task == "classification":
        want, end = int(info.n_classes), f'Dense({int(info.n_classes)}, activation="softmax")'
        why = "the sweep compiles it with sparse categorical cross-entropy, one output per class"
    else:
        want, end, why = 1, "Dense(1)", "the sweep compiles it with the mean squared error of one value"
    if got == want:
        return None
    data = f"{want} classes" if info.task == "classification" else "a real target"
    return (f"its model outputs {got} value{'s' if got != 1 else ''} per example, expected {want} for {data} "
            f"({why}): end it with {end}, or compile it with a loss of your own")


def metric_columns_of(logged: Any) -> tuple[str, ...]:
    """The row columns of the metric names a model logs (``loss``, ``auc``): ``train_loss``,
    ``val_loss``, ``train_auc``, ``val_auc`` (what :func:`orchestrator.training.epoch.metric_columns` writes)."""
    return tuple(f"{split}_{m}" for m in logged for split in ("train", "val"))


def _check_reports(model: Any, spec: Any, info: DataInfo, ref: str) -> list[str]:
    """Evaluate ``model`` on one example of zeros; the metric names it logs (``loss``, ``auc``).
    SpecError when it cannot, or lacks a metric the spec reads."""
    import numpy as np

    x = np.zeros((1, *info.input_shape), dtype="float32")
    # the highest class label: a model with too few outputs for its loss fails here, not in every trial
    y = (np.full((1,), max(int(info.n_classes) - 1, 0), dtype="int64") if info.task == "classification"
         else np.zeros((1,), dtype="float32"))
    try:
        logs = model.evaluate(x, y, verbose=0, return_dict=True)
    except Exception as e:  # the user's model: why it cannot take this data, in one line
        lift_informative_line(e)
        shape = "(" + ", ".join(str(d) for d in info.input_shape) + ("," if len(info.input_shape) == 1 else "") + ")"
        labels = "integer class labels" if info.task == "classification" else "real targets"
        raise SpecError("model.builder", f"{ref}: its model cannot be evaluated on examples shaped {shape} with "
                        f"{labels}: {type(e).__name__}: {first_line(e)}") from None
    wanted = [("metric", str(spec.metric.name))]
    es = getattr(spec, "early_stopping", None)
    if es is not None:
        wanted.append(("early_stopping.monitor", str(es.monitor)))
    # the other objectives, the constraints and the select rule may name a metric too (val_auc, train_loss)
    wanted += spec.metric_keys() if hasattr(spec, "metric_keys") else []
    for key, name in wanted:
        base = name.removeprefix("val_").removeprefix("train_")
        if base not in logs:
            raise SpecError(key, f"{name}: the model {ref} returns is compiled without {base!r} (it reports "
                            f"{', '.join(sorted(logs))}); compile it with metrics=[{base!r}] or return it uncompiled")
    return [str(k) for k in logs]


@dataclass(frozen=True)
class ModelCheck:
    """What was learnt of the model before the sweep: what it is, its size, what to tell the user,
    and the metric columns its trials' rows hold (``train_<m>``/``val_<m>``: the task's metrics for
    the built-in families, what the probed model logs for a builder)."""

    what: str
    params: int | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metrics: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """One line for the model, then one per warning and note (none for the default MLP)."""
        if self.what == "mlp":
            return []
        size = "" if self.params is None else f", {self.params:,} parameters for one sampled configuration"
        return ([f"model {self.what}{size}"] + [f"warning: {w}" for w in self.warnings]
                + [f"note: {n}" for n in self.notes])


def lines_before(spec: SweepSpec, prepared: "Prepared", model: ModelCheck) -> list[str]:
    """What ``sweep validate`` and ``sweep run`` say after the data line: the data's warnings, the
    model's lines (:meth:`ModelCheck.lines`) and a note when the trials would repeat one configuration."""
    repeats = spec.repeats_note()
    return ([f"warning: {w}" for w in prepared.warnings()] + model.lines()
            + ([f"note: {repeats}"] if repeats else []))


def check_model(spec: SweepSpec, prepared: "Prepared") -> ModelCheck:
    """Check the spec's model against the prepared data (see :func:`check_model`'s module).

    Raises:
        SpecError: the model cannot be built on this data (key ``model.family``, ``model.builder``
            or ``metric``), a builder's model does not report a metric an objective, constraint or
            ``select`` names, or every model of a built-in family's space breaks a ``params``
            constraint (``constraints.params``).
    """
    from ..decisions.sizes import check_size_constraints
    from ..decisions.space import sample_config

    info = DataInfo(tuple(int(s) for s in prepared.input_shape), prepared.task, int(prepared.n_classes))
    kind = spec.model.kind
    task_columns = metric_columns_of(["loss", *task_metrics(info.task)])
    if kind == "mlp":
        check_size_constraints(spec, info.input_shape, info.n_classes)  # a params bound no model of the space keeps
        return ModelCheck("mlp", metrics=task_columns)
    if kind == "cnn":
        problem = check_input(info)
        if problem:
            raise SpecError("model.family", problem)
        check_size_constraints(spec, info.input_shape, info.n_classes)
        rank = "Conv1D" if len(info.input_shape) == 2 else "Conv2D"
        return ModelCheck(f"cnn ({rank} on examples shaped {_shape(info.input_shape)})", metrics=task_columns)
    # The import, the function and its signature first: what is wrong there needs no TensorFlow.
    load_function(str(spec.model.builder), base_dir=spec.base_dir, key="model.builder", arity=2)
    hp = sample_config(spec, random.Random(spec.seed))
    probe = probe_model(spec, info, hp)
    warnings = [f"params.{name}: the builder {spec.model.builder} never reads it" for name in probe.unused]
    return ModelCheck(f"builder {spec.model.builder} on examples shaped {_shape(info.input_shape)}",
                      params=int(probe.params), warnings=warnings, notes=list(probe.notes), metrics=probe.metrics)


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
