"""The build flow: each stage verified bit-exactly, bad input refused by name."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import (
    ModelFormatError,
    UnsupportedOpError,
    UserInputError,
    VerificationError,
)
from onebit.flows.build import BuildConfig, BuildInput, BuildState, build, check_stage
from onebit.flows.inputs import resolve

from nets import cnn, mlp, pixels

NO_SIM = ["export", "finn", "streamline", "hw_layers", "fold", "estimate"]


def _build(tmp_path, net, x, **kw):
    return build(BuildInput("net", x, torch_model=net), BuildConfig(tmp_path / "b", **kw),
                 steps=NO_SIM)


def test_mlp_every_stage_bit_exact(tmp_path):
    r = _build(tmp_path, mlp(), pixels(8))
    assert r["status"] == "ok"
    assert set(r["stages"]) == {"qonnx", "finn", "streamline", "hw_layers"}
    for s in r["stages"].values():
        assert s["verified"] and s["max_abs_diff"] == 0.0 and s["vectors"] == 8
    e = r["estimate"]
    assert e["cycles_per_frame"] > 0 and e["fps"] > 0 and e["luts"] > 0
    on_disk = json.loads((tmp_path / "b" / "report.json").read_text())
    assert on_disk["status"] == "ok" and on_disk["part"] == "xc7z020clg400-1"
    assert (tmp_path / "b" / "intermediate" / "02_finn.onnx").exists()


def test_cnn_with_bipolar_padding_is_exact(tmp_path):
    """The -1 padding is absorbed into the sliding window; a wrong absorption breaks equality."""
    r = _build(tmp_path, cnn(), pixels(6))
    assert all(s["max_abs_diff"] == 0.0 for s in r["stages"].values())
    hw = ModelWrapper(str(tmp_path / "b" / "intermediate" / "05_dataflow_golden.onnx"))
    ops = [n.op_type for n in hw.graph.node]
    assert ops.count("FMPadding") == 2 and "Pad" not in ops


def test_zero_padded_bipolar_conv_is_exact(tmp_path):
    """Zero padding of a +-1 map (once refused) builds: -1 padding plus a correction
    (tests/test_zero_pad.py), every stage equal to torch."""
    r = _build(tmp_path, cnn(bipolar_zero_pad=True), pixels(4))
    assert r["status"] == "ok"
    assert all(s["max_abs_diff"] == 0.0 for s in r["stages"].values())


def test_corrupted_model_fails_verification(tmp_path):
    x = pixels(8)
    _build(tmp_path, mlp(), x)
    d = tmp_path / "b" / "intermediate"
    good = ModelWrapper(str(d / "03_streamline.onnx"))
    state = BuildState(BuildConfig(tmp_path / "c"), BuildInput("net", x), None)
    from onebit.export.qonnx import run_qonnx

    state.expected = run_qonnx(ModelWrapper(str(d / "01_qonnx.onnx")), x)
    check_stage(state, "streamline", good, reference="qonnx")
    bad = ModelWrapper(str(d / "03_streamline.onnx"))
    mm = next(n for n in bad.graph.node if n.op_type == "MatMul")
    w = bad.get_initializer(mm.input[1]).copy()
    w[:, 0] = -w[:, 0]
    bad.set_initializer(mm.input[1], w)
    with pytest.raises(VerificationError, match="stage 'streamline'.*first mismatch at index"):
        check_stage(state, "streamline", bad, reference="qonnx")


def _onnx_file(tmp_path, nodes, inits, shape=(1, 4)):
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    p = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g), p)
    return p


def _build_file(tmp_path, path, shape=(4,)):
    x = np.ones((2, *shape), dtype=np.float32)
    return build(BuildInput("f", x, qonnx_path=path), BuildConfig(tmp_path / "b"), steps=NO_SIM)


def test_garbage_file_is_one_line_error(tmp_path):
    p = tmp_path / "g.onnx"
    p.write_bytes(b"\x00not an onnx model at all")
    with pytest.raises(ModelFormatError, match="not a valid ONNX model"):
        _build_file(tmp_path, p)


def test_unsupported_op_named(tmp_path):
    p = _onnx_file(tmp_path, [helper.make_node("Sigmoid", ["x"], ["y"], name="act0")], [])
    with pytest.raises(UnsupportedOpError, match="'act0' \\(Sigmoid\\)"):
        _build_file(tmp_path, p)


def test_non_binary_weights_refused(tmp_path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5, -0.25, 1, 1, 1, 1, 1, 1])
    p = _onnx_file(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc0")], [w])
    with pytest.raises(UnsupportedOpError, match="'fc0'.*non-binary weights"):
        _build_file(tmp_path, p)


def test_multibit_weights_only_in_the_first_and_last_layer(tmp_path):
    from brevitas.nn import QuantLinear

    from onebit.models.recipes.layers import OnebitInt8Weight

    net = mlp()
    net[4] = QuantLinear(32, 32, bias=False, weight_quant=OnebitInt8Weight, input_quant=None)
    with pytest.raises(UnsupportedOpError, match="'Gemm_1'.*8 bits: onebit needs binary .* hidden"):
        _build(tmp_path, net, pixels(2))


def test_wrong_input_shape(tmp_path):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [1, -1] * 4)
    p = _onnx_file(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc0")], [w])
    with pytest.raises(UserInputError, match="expects input shape"):
        _build_file(tmp_path, p, shape=(5,))


def test_unknown_board(tmp_path):
    with pytest.raises(UserInputError, match="unknown board 'zedboard'"):
        build(BuildInput("n", pixels(1), torch_model=mlp()),
              BuildConfig(tmp_path / "b", board="zedboard"))


def test_bnn_pynq_tfc_builds_verified(tmp_path):
    inp = resolve("bnn_pynq:tfc", vectors=4)
    r = build(inp, BuildConfig(tmp_path / "b", target_fps=5000), steps=NO_SIM)
    assert r["status"] == "ok" and len(r["stages"]) == 4
    assert all(s["verified"] for s in r["stages"].values())
    assert r["estimate"]["cycles_per_frame"] <= 100e6 / 5000


def test_folding_the_rtl_cannot_build_is_refused_at_fold(tmp_path):
    """A parallel window needs SIMD = IFMChannels (8 here): refused by fold, not by rtl."""
    folding = {"ConvolutionInputGenerator_rtl_1": {"SIMD": 2, "parallel_window": 1}}
    with pytest.raises(UnsupportedOpError,
                       match="'ConvolutionInputGenerator_rtl_1'.*SIMD=2 parallel_window=1"):
        build(BuildInput("net", pixels(2), torch_model=cnn()),
              BuildConfig(tmp_path / "b", folding=folding, vectors=2), steps=[*NO_SIM, "rtl"])
    r = json.loads((tmp_path / "b" / "report.json").read_text())
    assert r["status"] == "failed" and r["failed_step"] == "fold"


@pytest.mark.slow
def test_bnn_pynq_cnv_builds_verified(tmp_path):
    inp = resolve("bnn_pynq:cnv", vectors=2)
    r = build(inp, BuildConfig(tmp_path / "b", target_fps=3000), steps=NO_SIM)
    assert all(s["verified"] for s in r["stages"].values())


def _bipolar_by_binary(extra_output: bool) -> ModelWrapper:
    """x -> MultiThreshold (BIPOLAR, 2 y - 1) -> MatMul with {0,1} weights [-> also an output]."""
    from qonnx.core.datatype import DataType

    rng = np.random.default_rng(0)
    k, n = 12, 5
    mt = helper.make_node("MultiThreshold", ["x", "thr"], ["a"], domain="qonnx.custom_op.general",
                          out_dtype="BIPOLAR", out_scale=2.0, out_bias=-1.0)  # fmt: skip
    mm = helper.make_node("MatMul", ["a", "w"], ["y"])
    outs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])]
    if extra_output:
        outs.append(helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, k]))
    graph = helper.make_graph([mt, mm], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
                              outs)  # fmt: skip
    model = ModelWrapper(helper.make_model(graph))
    model.set_initializer("thr", rng.normal(size=(k, 1)).astype(np.float32))
    model.set_initializer("w", rng.integers(0, 2, size=(k, n)).astype(np.float32))
    model.set_tensor_datatype("w", DataType["BINARY"])
    from qonnx.transformation.infer_shapes import InferShapes

    model = model.transform(InferShapes())
    model.set_tensor_datatype("a", DataType["BIPOLAR"])
    return model


def test_bipolar_by_binary_matmul_becomes_and_popcount():
    """x.W (x = +-1, W in {0,1}) == 2 b.W - colsum(W) on b = (x + 1) / 2: same outputs, the
    MatMul input turns BINARY; a bipolar tensor that something else also reads is left alone."""
    from qonnx.core.datatype import DataType
    from qonnx.core.onnx_exec import execute_onnx

    from onebit.flows.and_popcount import ConvertBipolarByBinaryMatMul

    x = np.random.default_rng(1).normal(size=(1, 12)).astype(np.float32)
    model = _bipolar_by_binary(extra_output=False)
    want = execute_onnx(model, {"x": x})["y"]
    new = model.transform(ConvertBipolarByBinaryMatMul())
    mm = next(n for n in new.graph.node if n.op_type == "MatMul")
    assert new.get_tensor_datatype(mm.input[0]) == DataType["BINARY"]
    assert [n.op_type for n in new.graph.node] == ["MultiThreshold", "MatMul", "Mul", "Add"]
    np.testing.assert_array_equal(execute_onnx(new, {"x": x})["y"], want)
    shared = _bipolar_by_binary(extra_output=True)
    kept = shared.transform(ConvertBipolarByBinaryMatMul())
    assert [n.op_type for n in kept.graph.node] == ["MultiThreshold", "MatMul"]
    assert kept.get_tensor_datatype("a") == DataType["BIPOLAR"]


def _chain(ops: list[tuple[str, str]]) -> ModelWrapper:
    """x -> op -> op -> ... -> y, each (op_type, domain); nothing executed."""
    nodes, t = [], "x"
    for i, (op, domain) in enumerate(ops):
        out = "y" if i == len(ops) - 1 else f"t{i}"
        nodes.append(helper.make_node(op, [t], [out], name=f"{op}_{i}", domain=domain))
        t = out
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return ModelWrapper(helper.make_model(g))


def test_software_node_between_hw_layers_is_refused_by_name():
    """FINN's partitioning asserts on it ('partition depends on itself'): refuse it, named."""
    from onebit.flows.hw_layers import HW_DOMAIN, check_no_software_between_hw

    hw = (HW_DOMAIN, HW_DOMAIN)
    check_no_software_between_hw(_chain([("Transpose", ""), ("MVAU", hw[0]),
                                         ("MVAU", hw[1]), ("Mul", "")]))  # fmt: skip
    with pytest.raises(UnsupportedOpError, match="'Mul_2' \\(Mul\\): stays in software between"
                                                 ".*Mul_2 \\(Mul\\), Add_3 \\(Add\\)"):
        check_no_software_between_hw(_chain([("Transpose", ""), ("MVAU", hw[0]), ("Mul", ""),
                                              ("Add", ""), ("Thresholding", hw[1])]))


@pytest.mark.parametrize("shape, pads, ok", [
    ((1, 1, 1, 6), [0, 1, 0, 1], False),  # 3x3 over one row
    ((1, 1, 6, 1), [0, 0, 0, 0], False),  # 3x3 over one column
    ((1, 1, 3, 6), [1, 1, 1, 1], True),
])  # fmt: skip
def test_conv_over_a_one_pixel_map_is_refused_by_name(shape, pads, ok):
    """qonnx's Im2Col asserts on a kernel or padding across a 1-pixel dimension."""
    from qonnx.transformation.infer_shapes import InferShapes

    from onebit.flows.check import check_supported

    w = helper.make_tensor("w", TensorProto.FLOAT, [2, 1, 3, 3], [1.0, -1.0] * 9)
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv0", kernel_shape=[3, 3],
                            pads=pads)  # fmt: skip
    g = helper.make_graph([conv], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    model = ModelWrapper(helper.make_model(g)).transform(InferShapes())
    if ok:
        check_supported(model)
        return
    with pytest.raises(UnsupportedOpError, match="'conv0' \\(Conv\\): a 3x3 kernel .* 1 pixel"):
        check_supported(model)
