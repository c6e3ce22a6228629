"""onebit_duplicate_streams / onebit_add_streams against FINN's Python execution.

The blocks are driven by the multi-port harness (`onebit.hw.sim`) with random valid on
every input and random ready on every output; goldens come from FINN's execution of the
DuplicateStreams / ElementwiseAdd nodes before SpecializeLayers.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.util.basic import qonnx_make_model

from onebit.errors import UnsupportedOpError
from onebit.hw import packing, residual, rtl_source, sim, verilator

PART = "xczu3eg-sbva484-1-e"
DOMAIN = "finn.custom_op.fpgadataflow"
# (seed, p_valid, p_ready) per run: every port gets its own random stream from the seed.
STALLS = [(0, 1.0, 1.0), (1, 0.6, 0.5), (2, 0.3, 0.9), (3, 0.9, 0.25)]


def random_values(rng, dt: DataType, shape) -> np.ndarray:
    if dt == DataType["BIPOLAR"]:
        return rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
    return rng.integers(int(dt.min()), int(dt.max()) + 1, size=shape).astype(np.float32)


def add_model(lhs: DataType, rhs: DataType, out: DataType | None, shape, pe: int,
              rhs_shape=None, rhs_style="input") -> ModelWrapper:
    """One ElementwiseAdd node as InferElementwiseBinaryOperation makes it; `out=None` lets
    FINN's MinimizeAccumulatorWidth rule pick the output type."""
    rhs_shape = list(rhs_shape or shape)
    node = helper.make_node(
        "ElementwiseAdd", ["a", "b"], ["out"], domain=DOMAIN, backend="fpgadataflow",
        lhs_shape=list(shape), rhs_shape=rhs_shape, out_shape=list(shape),
        lhs_dtype=lhs.name, rhs_dtype=rhs.name, out_dtype="INT32", lhs_style="input",
        rhs_style=rhs_style, PE=pe, name="Add_0",
    )
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, list(shape)),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, rhs_shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, list(shape))],
    )
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_tensor_datatype("a", lhs)
    model.set_tensor_datatype("b", rhs)
    from finn.util.basic import getHWCustomOp

    op = getHWCustomOp(model.graph.node[0])
    if out is None:
        op.minimize_accumulator_width(model)
    else:
        op.set_nodeattr("out_dtype", out.name)
        model.set_tensor_datatype("out", out)
    return model


def dup_model(dt: DataType, shape, pe: int, n_out: int = 2) -> ModelWrapper:
    """One DuplicateStreams node with the attributes InferDuplicateStreamsLayer gives it."""
    outs = [f"out{i}" for i in range(n_out)]
    node = helper.make_node(
        "DuplicateStreams", ["inp"], outs, domain=DOMAIN, backend="fpgadataflow",
        NumChannels=shape[-1], PE=pe, inputDataType=dt.name, numInputVectors=list(shape[:-1]),
        NumOutputStreams=n_out, outFIFODepths=[2] * n_out, name="Dup_0",
    )
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, list(shape)) for o in outs],
    )
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_tensor_datatype("inp", dt)
    for o in outs:
        model.set_tensor_datatype(o, dt)
    return model


def specialize_one(model: ModelWrapper, want: str):
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    spec = model.transform(SpecializeLayers(PART))
    node = spec.graph.node[0]
    assert node.op_type == want
    return node, spec


def check_runs(inst, ins, wants, vcache, stalls=STALLS):
    """Simulate `inst` under every stall pattern; outputs must equal `wants` bit for bit."""
    in_w, out_w = inst.port_widths()
    exe = sim.build_multi_sim(inst.sources, inst.module, in_widths=in_w, out_widths=out_w,
                              params=inst.params, ports=inst.ports, cache_dir=vcache)
    for seed, pv, pr in stalls:
        res = sim.run_multi_sim(exe, ins, [len(w) for w in wants], in_widths=in_w,
                                out_widths=out_w, seed=seed, p_valid=pv, p_ready=pr)
        for j, want in enumerate(wants):
            bad = np.flatnonzero((res.out_words[j] != want).any(axis=1))
            assert bad.size == 0, f"seed {seed}: output {j} first wrong word {bad[:1]}"
        if pv == 1.0 and pr == 1.0:
            assert res.cycles == residual.exp_cycles(inst, len(wants[0]))


@pytest.mark.verilator
@pytest.mark.parametrize(
    "lhs, rhs, out, ch, pe",
    [
        ("INT8", "INT8", None, 8, 4),        # FINN: INT9
        ("UINT4", "INT4", None, 6, 1),       # FINN: INT6 (unsigned + signed of one width)
        ("BIPOLAR", "BIPOLAR", "INT3", 8, 8),
        pytest.param("INT2", "UINT8", None, 6, 3, marks=pytest.mark.slow),
        pytest.param("UINT4", "UINT4", None, 4, 2, marks=pytest.mark.slow),  # UINT5
        pytest.param("BIPOLAR", "INT4", "INT32", 4, 2, marks=pytest.mark.slow),
    ],
)
def test_add_matches_finn(lhs, rhs, out, ch, pe, tmp_path, vcache):
    lhs, rhs = DataType[lhs], DataType[rhs]
    shape = (1, 3, 3, ch)
    rng = np.random.default_rng(ch * pe)
    model = add_model(lhs, rhs, out and DataType[out], shape, pe)
    a, b = random_values(rng, lhs, shape), random_values(rng, rhs, shape)
    golden = execute_onnx(model, {"a": a, "b": b})["out"]
    np.testing.assert_array_equal(golden, a + b)
    node, spec = specialize_one(model, "ElementwiseAdd_hls")
    inst = residual.generate(node, spec, tmp_path)
    odt = DataType[spec.get_tensor_datatype("out").name]
    assert inst.params["OUT_BITS"] == odt.bitwidth()
    assert "s1_tdata" in inst.ports and inst.port_widths()[0] == [
        pe * lhs.bitwidth(), pe * rhs.bitwidth()]
    ins = [packing.pack(a, lhs, pe), packing.pack(b, rhs, pe)]
    check_runs(inst, ins, [packing.pack(golden, odt, pe)], vcache)


@pytest.mark.verilator
@pytest.mark.parametrize(
    "dt, ch, pe",
    [
        ("BIPOLAR", 16, 8),
        ("INT4", 6, 2),
        pytest.param("UINT8", 3, 1, marks=pytest.mark.slow),
    ],
)
def test_duplicate_matches_finn(dt, ch, pe, tmp_path, vcache):
    dt, shape = DataType[dt], (1, 4, 4, ch)
    rng = np.random.default_rng(ch)
    model = dup_model(dt, shape, pe)
    x = random_values(rng, dt, shape)
    ctx = execute_onnx(model, {"inp": x})
    node, spec = specialize_one(model, "DuplicateStreams_hls")
    inst = residual.generate(node, spec, tmp_path)
    assert inst.params == {"PE": pe, "ELEM_BITS": dt.bitwidth()}
    wants = [packing.pack(ctx[o], dt, pe) for o in ("out0", "out1")]
    # plus one branch nearly stopped while the other runs freely, and the other way round
    stalls = STALLS + [(4, 1.0, (1.0, 0.05)), (5, 0.8, (0.1, 0.9))]
    check_runs(inst, [packing.pack(x, dt, pe)], wants, vcache, stalls)


@pytest.mark.verilator
def test_residual_graph_from_finn_transforms(tmp_path, vcache):
    """x -> (x + y) + x through FINN's own Infer* transforms; every HW node simulated."""
    from finn.transformation.fpgadataflow.convert_to_hw.duplicate_streams import (
        InferDuplicateStreamsLayer,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.elementwise_binary_operation import (
        InferElementwiseBinaryOperation,
    )
    from finn.transformation.fpgadataflow.minimize_accumulator_width import (
        MinimizeAccumulatorWidth,
    )
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers
    from finn.util.basic import getHWCustomOp
    from qonnx.transformation.general import GiveUniqueNodeNames
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes

    shape, pe = [1, 3, 3, 8], 2
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "y"], ["t"]), helper.make_node("Add", ["t", "x"], ["out"])],
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, shape) for n in ("x", "y")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)],
    )
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_tensor_datatype("x", DataType["INT8"])
    model.set_tensor_datatype("y", DataType["UINT4"])
    model = model.transform(InferShapes()).transform(InferDataTypes())
    model = model.transform(InferElementwiseBinaryOperation())
    model = model.transform(InferDuplicateStreamsLayer())
    model = model.transform(MinimizeAccumulatorWidth()).transform(GiveUniqueNodeNames())
    assert [n.op_type for n in model.graph.node] == [
        "DuplicateStreams", "ElementwiseAdd", "ElementwiseAdd"]
    for n in model.graph.node:
        getHWCustomOp(n).set_nodeattr("PE", pe)
    rng = np.random.default_rng(7)
    x = random_values(rng, DataType["INT8"], shape)
    y = random_values(rng, DataType["UINT4"], shape)
    ctx = execute_onnx(model, {"x": x, "y": y}, return_full_exec_context=True)
    np.testing.assert_array_equal(ctx["out"], 2 * x + y)
    spec = model.transform(SpecializeLayers(PART))
    assert [n.op_type for n in spec.graph.node] == [
        "DuplicateStreams_hls", "ElementwiseAdd_hls", "ElementwiseAdd_hls"]
    def packed(names):
        return [packing.pack(ctx[t], spec.get_tensor_datatype(t), pe) for t in names]

    for node in spec.graph.node:
        inst = residual.generate(node, spec, tmp_path)
        ins, wants = packed(node.input), packed(node.output)
        check_runs(inst, ins, wants, vcache, STALLS[1:3])


RESIDUAL_TOP = """
module residual_block #(parameter int unsigned PE = 2, parameter int unsigned BITS = 4,
                        parameter int unsigned DEPTH = 8) (
  input  logic clk, input logic rst_n,
  input  logic [PE*BITS-1:0] s_axis_tdata, input logic s_axis_tvalid, output logic s_axis_tready,
  output logic [PE*(BITS+1)-1:0] m_axis_tdata, output logic m_axis_tvalid,
  input  logic m_axis_tready
);
  logic [PE*BITS-1:0] d0, d1, f0, f1;
  logic v0, r0, v1, r1, fv0, fr0, fv1, fr1;
  onebit_duplicate_streams #(.PE(PE), .ELEM_BITS(BITS)) dup (
    .clk, .rst_n, .s_axis_tdata, .s_axis_tvalid, .s_axis_tready,
    .m_axis_tdata(d0), .m_axis_tvalid(v0), .m_axis_tready(r0),
    .m1_axis_tdata(d1), .m1_axis_tvalid(v1), .m1_axis_tready(r1));
  onebit_fifo #(.WIDTH(PE*BITS), .DEPTH(2)) body (   // stands in for the conv branch
    .clk, .rst_n, .s_axis_tdata(d0), .s_axis_tvalid(v0), .s_axis_tready(r0),
    .m_axis_tdata(f0), .m_axis_tvalid(fv0), .m_axis_tready(fr0));
  onebit_fifo #(.WIDTH(PE*BITS), .DEPTH(DEPTH)) shortcut (
    .clk, .rst_n, .s_axis_tdata(d1), .s_axis_tvalid(v1), .s_axis_tready(r1),
    .m_axis_tdata(f1), .m_axis_tvalid(fv1), .m_axis_tready(fr1));
  onebit_add_streams #(.PE(PE), .IN0_BITS(BITS), .IN1_BITS(BITS), .IN0_SIGNED(1'b1),
                       .IN1_SIGNED(1'b1), .OUT_BITS(BITS+1)) add (
    .clk, .rst_n, .s_axis_tdata(f0), .s_axis_tvalid(fv0), .s_axis_tready(fr0),
    .s1_axis_tdata(f1), .s1_axis_tvalid(fv1), .s1_axis_tready(fr1),
    .m_axis_tdata, .m_axis_tvalid, .m_axis_tready);
endmodule
"""


@pytest.mark.verilator
def test_residual_block_single_stream(tmp_path, vcache):
    """fork -> (FIFO, FIFO) -> add as one single-stream block: y = 2x, under stalls."""
    top = tmp_path / "residual_block.sv"
    top.write_text(RESIDUAL_TOP)
    srcs = [rtl_source(residual.DUP_MODULE), rtl_source(residual.ADD_MODULE),
            rtl_source("onebit_fifo"), top]
    dt, pe = DataType["INT4"], 2
    x = random_values(np.random.default_rng(1), dt, (64,))
    words, want = packing.pack(x, dt, pe), packing.pack(2 * x, DataType["INT5"], pe)
    exe = sim.build_stream_sim(srcs, "residual_block", in_width=pe * 4, out_width=pe * 5,
                               cache_dir=vcache)
    for seed, pv, pr in STALLS:
        res = sim.run_stream_sim(exe, words, len(want), in_width=pe * 4, out_width=pe * 5,
                                 seed=seed, p_valid=pv, p_ready=pr)
        assert (res.out_words == want).all(), f"seed {seed}"
        if pv == 1.0 and pr == 1.0:  # full rate: dup 1 + FIFO 1 + add 2 cycles of latency
            assert res.cycles == len(words) + 4


@pytest.mark.verilator
@pytest.mark.parametrize("module, params", [
    (residual.DUP_MODULE, {"PE": 1, "ELEM_BITS": 1}),
    (residual.DUP_MODULE, {"PE": 4, "ELEM_BITS": 8}),
    (residual.ADD_MODULE, {"PE": 4, "IN0_BITS": 8, "IN1_BITS": 8, "OUT_BITS": 9}),
    (residual.ADD_MODULE, {"PE": 2, "IN0_BITS": 1, "IN1_BITS": 1, "IN0_BIPOLAR": 1,
                           "IN1_BIPOLAR": 1, "IN0_SIGNED": 0, "IN1_SIGNED": 0, "OUT_BITS": 3}),
    (residual.ADD_MODULE, {"PE": 3, "IN0_BITS": 2, "IN1_BITS": 8, "IN1_SIGNED": 0,
                           "OUT_BITS": 32}),
])
def test_lint_clean(module, params):
    assert verilator.lint([rtl_source(module)], module, params) == ""


@pytest.mark.verilator
@pytest.mark.parametrize("module, params", [
    (residual.DUP_MODULE, {"PE": 0, "ELEM_BITS": 1}),
    (residual.ADD_MODULE, {"PE": 1, "IN0_BITS": 2, "IN0_BIPOLAR": 1}),
    (residual.ADD_MODULE, {"PE": 1, "OUT_BITS": 0}),
])
def test_invalid_parameters_rejected(module, params):
    with pytest.raises(verilator.VerilatorError):
        verilator.lint([rtl_source(module)], module, params)


@pytest.mark.parametrize("make, match", [
    (lambda: dup_model(DataType["INT4"], (1, 2, 2, 4), 1, n_out=3), "Dup_0.*NumOutputStreams=3"),
    (lambda: dup_model(DataType["INT4"], (1, 2, 2, 6), 4), "Dup_0.*PE=4"),
    (lambda: add_model(DataType["INT4"], DataType["INT4"], None, (1, 2, 2, 4), 1,
                       rhs_shape=(1, 1, 1, 4)), "Add_0.*broadcasting"),
    (lambda: add_model(DataType["INT4"], DataType["INT4"], None, (1, 2, 2, 4), 1,
                       rhs_style="const"), "Add_0.*constant operand"),
    # FINN minimises BIPOLAR + BIPOLAR to INT2, which cannot hold +2
    (lambda: add_model(DataType["BIPOLAR"], DataType["BIPOLAR"], None, (1, 2, 2, 4), 1),
     "Add_0.*INT2 cannot hold"),
    (lambda: add_model(DataType["INT4"], DataType["INT4"], DataType["INT4"], (1, 2, 2, 4), 1),
     "Add_0.*INT4 cannot hold"),
])
def test_unsupported_rejected(make, match, tmp_path):
    model = make()
    with pytest.raises(UnsupportedOpError, match=match):
        residual.generate(model.graph.node[0], model, tmp_path)


def test_other_op_rejected(tmp_path):
    model = dup_model(DataType["INT4"], (1, 2, 2, 4), 1)
    model.graph.node[0].op_type = "AddStreams_hls"
    with pytest.raises(UnsupportedOpError, match="Dup_0.*AddStreams_hls"):
        residual.generate(model.graph.node[0], model, tmp_path)


@pytest.mark.verilator
def test_harness_reports_hang_and_extra_words(tmp_path, vcache):
    """The multi-port driver names a starved input (watchdog) and an unexpected output word."""
    model = add_model(DataType["INT4"], DataType["INT4"], None, (1, 1, 4, 2), 2)
    node, spec = specialize_one(model, "ElementwiseAdd_hls")
    inst = residual.generate(node, spec, tmp_path)
    in_w, out_w = inst.port_widths()
    exe = sim.build_multi_sim(inst.sources, inst.module, in_widths=in_w, out_widths=out_w,
                              params=inst.params, ports=inst.ports, cache_dir=vcache)
    w = np.zeros((4, 8), dtype=np.uint8)
    with pytest.raises(sim.SimulationError, match="watchdog.*input 1 0/0.*output 0 0/4"):
        sim.run_multi_sim(exe, [w, w[:0]], [4], in_widths=in_w, out_widths=out_w,
                          watchdog=50)
    with pytest.raises(sim.SimulationError, match="extra output word on output 0"):
        sim.run_multi_sim(exe, [w, w], [3], in_widths=in_w, out_widths=out_w)
