"""--top-k: the label output (ONNX TopK -> FINN LabelSelect), verified against the scores."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UserInputError
from onebit.export.qonnx import run_qonnx
from onebit.flows.topk import append_topk, topk_reference


def _identity(classes: int) -> ModelWrapper:
    """A graph whose output is its input: scores in, scores out."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, classes])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, classes])
    node = helper.make_node("Identity", ["x"], ["y"], name="Identity_0")
    graph = helper.make_graph([node], "scores", [x], [y])
    return ModelWrapper(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))


@settings(max_examples=25, deadline=None)
@given(scores=arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(2, 12)),
                     elements=st.integers(-3, 3).map(float)),  # small integers: many ties
       data=st.data())
def test_reference_is_what_the_topk_graph_computes_ties_included(scores, data):
    k = data.draw(st.integers(1, scores.shape[1]))
    model = append_topk(_identity(scores.shape[1]), k)
    got = run_qonnx(model, scores)
    np.testing.assert_array_equal(np.asarray(got).reshape(len(scores), k),
                                  topk_reference(scores, k))


def test_refusals():
    with pytest.raises(UserInputError, match="--top-k 11: the output has 10 classes"):
        append_topk(_identity(10), 11)
    model = append_topk(_identity(10), 1)
    with pytest.raises(UserInputError, match="already ends in TopK"):
        append_topk(model, 1)
    onnx.checker.check_model(model.model)
