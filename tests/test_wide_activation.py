"""An MVAU's wide activation split off into a thresholding layer (`flows/wide_activation.py`):
the same function, FINN's execution before and after, and only above the parallel limit."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model

from onebit.flows.wide_activation import MAX_PARALLEL_THRESHOLDS, SplitWideActivations


def mvau_with_thresholds(steps: int, *, xnor: int = 0, seed: int = 0) -> ModelWrapper:
    """A one-MVAU graph (MW 12, MH 6, over a 3x3 map) with `steps` sorted integer thresholds
    a channel and a signed output, its accumulator minimized as the build does."""
    from finn.transformation.fpgadataflow.minimize_accumulator_width import (
        MinimizeAccumulatorWidth,
    )

    rng = np.random.default_rng(seed)
    mw, mh = 12, 6
    idt, wdt = (DataType["BINARY"], DataType["BINARY"]) if xnor else (DataType["INT4"],
                                                                        DataType["INT2"])
    lo, hi = (0, mw) if xnor else (-40, 40)
    thr = np.sort(rng.integers(lo, hi + 1, (mh, steps)), axis=1).astype(np.float32)
    bits = int(np.ceil(np.log2(steps + 1)))
    odt = DataType[f"INT{bits}"]
    node = helper.make_node(
        "MVAU", ["inp", "weights", "thresh"], ["outp"], name="MVAU_0",
        domain="finn.custom_op.fpgadataflow", backend="fpgadataflow", MW=mw, MH=mh, SIMD=1,
        PE=1, inputDataType=idt.name, weightDataType=wdt.name, outputDataType=odt.name,
        ActVal=int(odt.min()), binaryXnorMode=xnor, noActivation=0, numInputVectors=[1, 3, 3])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, 3, 3, mw])],
        [helper.make_tensor_value_info("outp", TensorProto.FLOAT, [1, 3, 3, mh])])
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_tensor_datatype("inp", idt)
    model.set_tensor_datatype("outp", odt)
    w = rng.integers(int(wdt.min()), int(wdt.max()) + 1, (mw, mh)).astype(np.float32)
    model.set_initializer("weights", w)
    model.set_tensor_datatype("weights", wdt)
    model.set_initializer("thresh", thr)
    model.set_tensor_datatype("thresh", DataType["INT33"])
    return model.transform(MinimizeAccumulatorWidth())


@pytest.mark.parametrize("steps,xnor", [(MAX_PARALLEL_THRESHOLDS + 1, 0), (255, 0), (63, 1)])
def test_a_wide_activation_becomes_a_thresholding_layer_of_the_same_function(steps, xnor):
    model = mvau_with_thresholds(steps, xnor=xnor)
    rng = np.random.default_rng(steps)
    idt = model.get_tensor_datatype("inp")
    xs = [rng.integers(int(idt.min()), int(idt.max()) + 1, (1, 3, 3, 12)).astype(np.float32)
          for _ in range(8)]
    want = [execute_onnx(model, {"inp": x})["outp"] for x in xs]
    split = model.transform(SplitWideActivations())
    mvau, act = split.graph.node
    assert (mvau.op_type, act.op_type) == ("MVAU", "Thresholding")
    assert getCustomOp(mvau).get_nodeattr("noActivation") == 1 and len(mvau.input) == 2
    acc_dt = split.get_tensor_datatype(mvau.output[0])
    assert acc_dt.name == getCustomOp(mvau).get_nodeattr("accDataType")
    t = getCustomOp(act)
    assert t.get_nodeattr("numSteps") == steps and t.get_nodeattr("inputDataType") == acc_dt.name
    assert split.graph.output[0].name == act.output[0]
    for x, y in zip(xs, want, strict=True):
        np.testing.assert_array_equal(execute_onnx(split, {"inp": x})["outp"], y)


def test_up_to_the_parallel_limit_the_mvau_keeps_its_activation():
    model = mvau_with_thresholds(MAX_PARALLEL_THRESHOLDS)
    split = model.transform(SplitWideActivations())
    assert [n.op_type for n in split.graph.node] == ["MVAU"]
    assert getCustomOp(split.graph.node[0]).get_nodeattr("noActivation") == 0


def test_runtime_writable_weights_are_refused_where_the_activation_was_split_off():
    """Rewriting such an MVAU's weights would leave its thresholds, now another layer's, as
    they were: refused at fold naming that layer."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    from onebit.errors import UserInputError
    from onebit.flows.folding import apply_folding_config

    part = "xczu3eg-sbva484-1-e"
    model = mvau_with_thresholds(255).transform(SplitWideActivations())
    model = model.transform(SpecializeLayers(part))
    mvau, act = (n.name for n in model.graph.node)
    with pytest.raises(UserInputError, match=f"'{act}'.*not runtime-writable"):
        apply_folding_config(model, {mvau: {"runtime_writeable_weights": 1}}, part)
    apply_folding_config(model, {mvau: {"PE": 2}}, part)  # other keys as before
