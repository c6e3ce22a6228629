"""ram_style "auto" by a block-RAM budget (`flows/memory_styles.py`): the weight memories that
save the most LUTs per BRAM18 go to block RAM while the budget lasts, small ones stay in LUTs,
a user's style is kept."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model

from onebit.flows.memory_styles import MIN_DEPTH, place_weight_memories, rom_luts

# (name, MW, MH, SIMD, PE, ram_style): a chain, MW of each = MH of the one before
LAYERS = [("deep", 256, 64, 4, 4, "auto"),  # 1024 words of 16 bits: 256 LUTs, one BRAM18
          ("wide", 64, 64, 32, 32, "auto"),  # 4 words of 1024 bits: below MIN_DEPTH
          ("mid", 64, 128, 2, 2, "auto"),  # 2048 words of 4 bits: 128 LUTs, one BRAM18
          ("user", 128, 16, 1, 1, "distributed")]


def chain(layers=LAYERS):
    nodes, tensors = [], []
    for i, (name, mw, mh, simd, pe, style) in enumerate(layers):
        nodes.append(helper.make_node(
            "MVAU_hls", [f"t{i}", f"w{i}"], [f"t{i + 1}"], name=name,
            domain="finn.custom_op.fpgadataflow.hls", backend="fpgadataflow", MW=mw, MH=mh,
            SIMD=simd, PE=pe, inputDataType="BINARY", weightDataType="BINARY",
            outputDataType="UINT16", binaryXnorMode=1, noActivation=1, ram_style=style,
            mem_mode="internal_decoupled", numInputVectors=[1]))  # fmt: skip
        tensors.append((f"w{i}", (mw, mh)))
    io = [helper.make_tensor_value_info(f"t{k}", TensorProto.FLOAT, [1, d]) for k, d in
          ((0, layers[0][1]), (len(layers), layers[-1][2]))]
    model = ModelWrapper(qonnx_make_model(helper.make_graph(nodes, "chain", io[:1], io[1:])))
    for name, shape in tensors:
        model.set_initializer(name, np.ones(shape, dtype=np.float32))
        model.set_tensor_datatype(name, DataType["BINARY"])
    return model


def styles(model):
    return {n.name: getCustomOp(n).get_nodeattr("ram_style") for n in model.graph.node}


def test_memories_go_to_block_ram_by_lut_savings_within_the_budget():
    model = chain()
    got = place_weight_memories(model, "xc7z020clg400-1", 280)
    assert got == {"deep": "block", "wide": "distributed", "mid": "block"}
    assert styles(model) == {**got, "user": "distributed"}
    # room for one memory (0.75 x 2 BRAM18): the one saving more LUTs per BRAM18
    model = chain()
    assert place_weight_memories(model, "xc7z020clg400-1", 2)["mid"] == "distributed"
    assert styles(model)["deep"] == "block"
    # no room: everything in LUTs, the user's style untouched
    model = chain()
    assert set(place_weight_memories(model, "xc7z020clg400-1", 0).values()) == {"distributed"}
    assert styles(model)["user"] == "distributed"


def test_rom_cost_and_small_memories():
    assert rom_luts(64, 100) == 100 and rom_luts(65, 100) == 200 and rom_luts(1, 8) == 8
    model = chain([("small", 64, 8, 2, 1, "auto")])  # 32 / 2 * 8 = 256 words
    assert place_weight_memories(model, "xc7z020clg400-1", 280) == {"small": "block"}
    model = chain([("small", 64, 8, 64, 8, "auto")])  # one word
    assert 1 < MIN_DEPTH and place_weight_memories(model, "xc7z020clg400-1", 280) == {
        "small": "distributed"}
