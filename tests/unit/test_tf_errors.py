"""A failed trial records why TensorFlow failed, not "Graph execution error:"; a builder whose model
has the wrong number of outputs for the sweep's loss is refused before the sweep. No TensorFlow:
a TensorFlow error is stood in for by a class that looks like one (its module and attributes)."""

from __future__ import annotations

import pytest

from orchestrator.errors import first_line
from orchestrator.results import classify_failure
from orchestrator.training.inputs import DataInfo
from orchestrator.training.probe import output_problem
from orchestrator.training.tf_errors import informative_line, lift_informative_line

# what TensorFlow 2.x says when a Dense(1) model meets labels 0 and 1 under sparse cross-entropy
GRAPH_ERROR = (
    "Graph execution error:\n\n"
    "Detected at node compile_loss/sparse_categorical_crossentropy/SparseSoftmaxCrossEntropyWithLogits/"
    "SparseSoftmaxCrossEntropyWithLogits defined at (most recent call last):\n"
    '  File "/usr/lib/python3.11/threading.py", line 1002, in _bootstrap\n\n'
    '  File "/work/main/orchestrator/training/loop.py", line 166, in fit\n\n'
    "Received a label value of 1 which is outside the valid range of [0, 1).  Label values: 0 1 0 0 1 0\n"
    "\t [[{{node compile_loss/sparse_categorical_crossentropy/SparseSoftmaxCrossEntropyWithLogits/"
    "SparseSoftmaxCrossEntropyWithLogits}}]] [Op:__inference_multi_step_on_iterator_1001]"
)


class OpError(Exception):
    """Stands in for tf.errors.OpError: its message in ``_message``, pickled from its fields."""

    def __init__(self, node_def, op, message, *args):
        super().__init__()
        self._node_def, self._op, self._message = node_def, op, message

    @property
    def message(self):
        return self._message

    @property
    def node_def(self):
        return self._node_def

    @property
    def op(self):
        return self._op

    def __reduce__(self):
        return type(self), (self.node_def, self.op, self.message)

    def __str__(self):
        return self.message


class InvalidArgumentError(OpError):
    pass


OpError.__module__ = InvalidArgumentError.__module__ = "tensorflow.python.framework.errors_impl"


def test_a_graph_error_records_its_informative_line_first() -> None:
    e = InvalidArgumentError(None, None, GRAPH_ERROR)
    assert first_line(e) == "Graph execution error:"  # what trials.parquet kept
    assert lift_informative_line(e) is e
    want = "Received a label value of 1 which is outside the valid range of [0, 1).  Label values: 0 1 0 0 1 0"
    assert first_line(e) == want
    assert GRAPH_ERROR in str(e)  # the whole message stays, below
    # as the driver gets it from Ray (pickled) and records it (a trial's error, an event's detail)
    cls, args = e.__reduce__()  # what pickle sends (pickling itself would look the class up in TensorFlow)
    back = cls(*args)
    assert type(back) is InvalidArgumentError and first_line(back) == want
    types = [c.__name__ for c in type(back).__mro__]
    assert classify_failure(types, f"{type(back).__name__}: {back}") == ("error", f"InvalidArgumentError: {want}")


def test_only_a_tensorflow_error_with_a_generic_first_line_is_rewritten() -> None:
    eager = InvalidArgumentError(None, None, "Incompatible shapes: [32,1] vs. [32,10] [Op:Mul]")
    assert first_line(lift_informative_line(eager)) == "Incompatible shapes: [32,1] vs. [32,10] [Op:Mul]"
    other = ValueError("Graph execution error:\n\nsomething")
    assert first_line(lift_informative_line(other)) == "Graph execution error:"
    # nothing but the stack: the failing node is named
    bare = "Graph execution error:\n\nDetected at node model/dense/MatMul defined at (most recent call last):\n  File x\n"
    assert informative_line(bare) == "Graph execution error at node model/dense/MatMul"
    long = "Graph execution error:\n\n" + "Received a label value of 7 " + "1 " * 400
    assert len(informative_line(long)) == 300 and informative_line(long).endswith("...")


@pytest.mark.parametrize("shape, task, n_classes, compiled_by_sweep, problem", [
    ((None, 1), "classification", 2, True, "its model outputs 1 value per example, expected 2 for 2 classes"),
    ((None, 3), "classification", 10, True, "its model outputs 3 values per example, expected 10 for 10 classes"),
    ((None, 2), "classification", 2, True, None),
    ((None, 10), "classification", 10, True, None),
    ((None, 1), "classification", 2, False, None),  # compiled by the user (binary cross-entropy): theirs to say
    ((None, 1), "regression", 0, True, None),
    ((None,), "regression", 0, True, None),
    ((None, 4), "regression", 0, True, "its model outputs 4 values per example, expected 1 for a real target"),
    ([(None, 2), (None, 1)], "classification", 2, True, None),  # several outputs: not judged
])
def test_a_builder_model_with_the_wrong_output_width_is_refused(shape, task, n_classes, compiled_by_sweep,
                                                                 problem) -> None:
    got = output_problem(shape, DataInfo((5,), task, n_classes), compiled_by_sweep)
    if problem is None:
        assert got is None
    else:
        assert got.startswith(problem) and "end it with Dense(" in got
