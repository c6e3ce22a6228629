"""Models as users have them: plain Brevitas exports, declared input datatypes."""

from __future__ import annotations

import io
import warnings
from contextlib import redirect_stdout

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import ModelFormatError, UnsupportedOpError, UserInputError
from onebit.flows.build import BuildConfig, BuildInput, build
from onebit.flows.inputs import random_vectors, resolve

from nets import mlp

NO_SIM = ["export", "finn", "streamline", "hw_layers", "fold", "estimate"]


def plain_export(net, path, shape=(1, 8, 8), **kw):
    """`brevitas.export.export_qonnx` as a user calls it (torch's default exporter)."""
    from brevitas.export import export_qonnx

    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        export_qonnx(net.eval(), input_t=torch.zeros(1, *shape), export_path=str(path), **kw)
    return path


def assert_exact(r):
    assert r["status"] == "ok"
    assert r["stages"] and all(s["verified"] and s["max_abs_diff"] == 0.0
                               for s in r["stages"].values())


def test_plain_brevitas_export_simulates_bit_exact(tmp_path):
    p = plain_export(mlp(), tmp_path / "mlp.onnx")
    raw = onnx.load(str(p), load_external_data=False)
    assert len(raw.graph.input) > 1  # torch lists the weights as graph inputs too
    inp = resolve(str(p), vectors=4, input_datatype="UINT8")
    r = build(inp, BuildConfig(tmp_path / "b", vectors=4, sim_frames=4))
    assert_exact(r)
    assert r["sim"]["bit_exact"] and r["stages"]["rtlsim"]["max_abs_diff"] == 0.0


@pytest.mark.parametrize("opset, dynamo", [(11, False), (13, False), (18, True), (20, True)])
def test_plain_export_opsets(tmp_path, opset, dynamo):
    """A conv net with -1 padding (the TorchScript exporter writes Pad's shape arithmetic)."""
    from nets import cnn

    p = plain_export(cnn(), tmp_path / "cnn.onnx", opset_version=opset, dynamo=dynamo)
    raw = onnx.load(str(p), load_external_data=False)
    assert next(o.version for o in raw.opset_import if o.domain == "") == opset
    inp = resolve(str(p), vectors=3, input_datatype="UINT8")
    assert_exact(build(inp, BuildConfig(tmp_path / "b"), steps=NO_SIM))


def test_plain_bnn_pynq_tfc_export_builds(tmp_path):
    from onebit.models import bnn_pynq

    net = bnn_pynq("tfc", seed=0)
    p = plain_export(net, tmp_path / "tfc.onnx", shape=net.input_shape)
    inp = resolve(str(p), vectors=3, input_datatype="UINT8")
    r = build(inp, BuildConfig(tmp_path / "b", target_fps=5000), steps=NO_SIM)
    assert r["status"] == "ok" and set(r["stages"]) == {"finn", "streamline", "hw_layers"}
    assert all(s["verified"] for s in r["stages"].values())


def test_external_data_loaded_and_a_missing_file_named(tmp_path):
    src = ModelWrapper(str(plain_export(mlp(), tmp_path / "m.onnx")))
    p = tmp_path / "ext" / "m.onnx"
    p.parent.mkdir()
    onnx.save(src.model, str(p), save_as_external_data=True, location="w.bin",
              size_threshold=0)
    raw = onnx.load(str(p), load_external_data=False)
    assert any(t.data_location == TensorProto.EXTERNAL for t in raw.graph.initializer)
    inp = resolve(str(p), vectors=3, input_datatype="UINT8")
    assert_exact(build(inp, BuildConfig(tmp_path / "b"), steps=["export", "finn"]))
    (p.parent / "w.bin").unlink()
    with pytest.raises(ModelFormatError, match="weights are stored in w.bin, which is not"):
        resolve(str(p), vectors=3, input_datatype="UINT8")


# ---------------------------------------------------------------- input datatypes

TYPES = ["UINT8", "INT8", "BIPOLAR", "BINARY", "INT3", "UINT4"]


@pytest.mark.parametrize("name", TYPES)
def test_random_vectors_cover_the_datatype(name):
    dt = DataType[name]
    x = random_vectors((50, 20), 4, seed=1, datatype=dt)
    values = set(np.unique(x).tolist())
    want = {-1.0, 1.0} if name == "BIPOLAR" else set(map(float, range(int(dt.min()),
                                                                        int(dt.max()) + 1)))
    assert values == want


def _matmul_file(tmp_path, dt: DataType | None, w=None):
    """x (1, 6) -> MatMul with +-1 (or given) weights -> y; the input annotated `dt`."""
    w = np.array([[1, -1, 1]] * 6, dtype=np.float32) if w is None else w
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="fc0")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [onnx.numpy_helper.from_array(w, "w")])
    model = ModelWrapper(helper.make_model(g))
    if dt is not None:
        model.set_tensor_datatype("x", dt)
    p = tmp_path / "m.onnx"
    model.save(str(p))
    return p


@pytest.mark.parametrize("name", TYPES)
def test_annotated_input_datatype_sets_the_vectors(tmp_path, name):
    dt = DataType[name]
    inp = resolve(str(_matmul_file(tmp_path, dt)), vectors=64)
    assert inp.vectors_source == f"random {name}"
    assert all(dt.allowed(v) for v in np.unique(inp.x))
    assert inp.x.min() == dt.min() and inp.x.max() == dt.max()


def test_float_input_refused_at_the_first_step(tmp_path):
    p = _matmul_file(tmp_path, None)
    with pytest.raises(UserInputError, match="FLOAT32 .*--input-datatype .*set_tensor_datatype"):
        resolve(str(p), vectors=2)
    x = np.ones((2, 6), dtype=np.float32)
    with pytest.raises(UserInputError, match="FLOAT32"):
        build(BuildInput("m", x, qonnx_path=p), BuildConfig(tmp_path / "b"), steps=NO_SIM)
    assert not (tmp_path / "b" / "intermediate").exists()  # nothing built
    inp = resolve(str(p), vectors=2, input_datatype="int4")
    assert inp.vectors_source == "random INT4"


def test_dataset_pixels_need_a_datatype_holding_0_to_255(tmp_path):
    p = _matmul_file(tmp_path, DataType["INT8"])
    with pytest.raises(UserInputError, match="INT8, which cannot hold dataset pixels 0..255"):
        resolve(str(p), vectors=2, dataset="digits")


def test_annotation_and_option_disagree(tmp_path):
    p = _matmul_file(tmp_path, DataType["INT8"])
    with pytest.raises(UserInputError, match="annotated INT8, --input-datatype says UINT8"):
        resolve(str(p), vectors=2, input_datatype="UINT8")
    with pytest.raises(UserInputError, match="input datatype 'FLOAT16'"):
        resolve(str(p), vectors=2, input_datatype="FLOAT16")


def test_vectors_outside_the_datatype_refused_at_export(tmp_path):
    p = _matmul_file(tmp_path, DataType["BINARY"])
    x = np.full((2, 6), 217.0, dtype=np.float32)
    with pytest.raises(UserInputError, match="value 217 is not a BINARY"):
        build(BuildInput("m", x, qonnx_path=p), BuildConfig(tmp_path / "b"), steps=NO_SIM)


@pytest.mark.parametrize("name", ["INT8", "UINT4", "BINARY"])
def test_non_pixel_inputs_build_bit_exact(tmp_path, name):
    p = plain_export(mlp(), tmp_path / "mlp.onnx")
    inp = resolve(str(p), vectors=4, input_datatype=name)
    assert_exact(build(inp, BuildConfig(tmp_path / "b"), steps=NO_SIM))
    golden = ModelWrapper(str(tmp_path / "b" / "intermediate" / "05_dataflow_golden.onnx"))
    first = golden.graph.node[0]
    assert golden.get_tensor_datatype(first.input[0]) == DataType[name]


def test_bipolar_input_into_int8_weights_builds_and_into_binary_weights_is_named(tmp_path):
    from brevitas.nn import QuantLinear

    from onebit.models.recipes.layers import OnebitInt8Weight

    net = mlp()
    net[1] = QuantLinear(64, 32, bias=False, weight_quant=OnebitInt8Weight, input_quant=None)
    p = plain_export(net, tmp_path / "int8.onnx")
    inp = resolve(str(p), vectors=4, input_datatype="BIPOLAR")
    assert_exact(build(inp, BuildConfig(tmp_path / "b"), steps=NO_SIM))
    p = plain_export(mlp(), tmp_path / "bin.onnx")
    inp = resolve(str(p), vectors=4, input_datatype="BIPOLAR")
    with pytest.raises(UnsupportedOpError, match="BIPOLAR graph input straight into"):
        build(inp, BuildConfig(tmp_path / "c"), steps=NO_SIM)


# ---------------------------------------------------------------- FINN-ONNX with HW layers


def finn_hw_graph(path, seed=0, extra_node=None):
    """Thresholding (UINT8 -> BINARY) -> MVAU (XNOR, thresholds) -> MVAU (XNOR, no activation),
    built as FINN's own tests build them: helper.make_node(..., domain=fpgadataflow), no names."""
    from qonnx.util.basic import qonnx_make_model

    rng = np.random.default_rng(seed)
    hw = {"domain": "finn.custom_op.fpgadataflow", "backend": "fpgadataflow"}
    c, mh0, mh1 = 16, 8, 4
    nodes = [
        helper.make_node("Thresholding", ["inp", "t0"], ["a0"], **hw, NumChannels=c, PE=4,
                         numSteps=1, inputDataType="UINT8", weightDataType="UINT8",
                         outputDataType="BINARY", ActVal=0, numInputVectors=[1]),
        helper.make_node("MVAU", ["a0", "w1", "t1"], ["a1"], **hw, MW=c, MH=mh0, SIMD=4, PE=2,
                         inputDataType="BINARY", weightDataType="BINARY",
                         outputDataType="BINARY", ActVal=0, binaryXnorMode=1, noActivation=0),
        helper.make_node("MVAU", ["a1", "w2"], ["outp"], **hw, MW=mh0, MH=mh1, SIMD=2, PE=2,
                         inputDataType="BINARY", weightDataType="BINARY",
                         outputDataType="UINT4", ActVal=0, binaryXnorMode=1, noActivation=1,
                         resType="dsp", ram_style="distributed"),
    ]
    if extra_node is not None:
        nodes.append(extra_node)
    out = nodes[-1].output[0]
    g = helper.make_graph(nodes, "finn_hw",
                          [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, c])],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1, mh1])])
    model = ModelWrapper(qonnx_make_model(g, producer_name="finn-test"))
    model.set_initializer("t0", np.sort(rng.integers(0, 256, (c, 1)), 1).astype(np.float32))
    model.set_initializer("w1", rng.integers(0, 2, (c, mh0)).astype(np.float32))
    model.set_initializer("t1", rng.integers(0, c + 1, (mh0, 1)).astype(np.float32))
    model.set_initializer("w2", rng.integers(0, 2, (mh0, mh1)).astype(np.float32))
    for t, dt in (("inp", "UINT8"), ("a0", "BINARY"), ("w1", "BINARY"), ("a1", "BINARY"),
                  ("w2", "BINARY"), ("outp", "UINT4")):
        model.set_tensor_datatype(t, DataType[dt])
    model.save(str(path))
    return path


def test_finn_hw_layer_graph_builds_bit_exact(tmp_path):
    import json

    p = finn_hw_graph(tmp_path / "hw.onnx")
    inp = resolve(str(p), vectors=6)
    assert inp.vectors_source == "random UINT8"
    r = build(inp, BuildConfig(tmp_path / "b", vectors=6, sim_frames=6,
                               folding={"MVAU_hls_0": {"PE": 4, "SIMD": 8}}))
    assert r["status"] == "ok" and set(r["stages"]) == {"hw_layers", "rtlsim", "layersim"}
    assert_exact(r)
    assert r["stages"]["hw_layers"]["reference"] == "finn_onnx" and r["software_nodes"] == []
    assert r["sim"]["bit_exact"] and r["sim"]["frames"] == 6
    folded = ModelWrapper(str(tmp_path / "b" / "intermediate" / "04_dataflow_folded.onnx"))
    assert [n.op_type for n in folded.graph.node if "DataWidth" not in n.op_type] == [
        "Thresholding_rtl", "MVAU_hls", "MVAU_hls"]
    # the graph's own synthesis attributes reach the RTL (and only where set)
    top = json.loads((tmp_path / "b" / "rtl" / "accelerator.json").read_text())
    params = {la["name"]: la["inst"]["params"] for la in top["layers"]}
    assert params["MVAU_hls_1"]["RES_TYPE"] == "dsp"
    assert params["MVAU_hls_1"]["RAM_STYLE"] == "distributed"
    assert "RES_TYPE" not in params["MVAU_hls_0"]


@pytest.mark.parametrize("op, domain", [("VVAU", ""), ("Thresholding_hls", ".hls")])
def test_finn_hw_layer_without_onebit_rtl_is_named_first(tmp_path, op, domain):
    node = helper.make_node(op, ["outp"], ["y"], domain="finn.custom_op.fpgadataflow" + domain,
                            backend="fpgadataflow")
    p = finn_hw_graph(tmp_path / "hw.onnx", extra_node=node)
    with pytest.raises(UnsupportedOpError, match=f"'y' \\({op}\\): no onebit RTL for it"):
        resolve(str(p), vectors=2)


# ---------------------------------------------------------------- command line


def test_cli_input_datatype_and_folding_refusal(tmp_path):
    import json

    from test_cli import _one_line_error, onebit

    p = plain_export(mlp(), tmp_path / "mlp.onnx")
    _one_line_error(onebit("build", str(p), "--out", str(tmp_path / "a"), "--no-sim"),
                    "is FLOAT32 (no datatype annotation)")
    r = onebit("build", str(p), "--out", str(tmp_path / "b"), "--no-sim", "--vectors", "3",
               "--frames", "3", "--input-datatype", "INT8")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["status"] == "ok" and report["vectors"]["source"] == "random INT8"
    fold = tmp_path / "f.json"
    fold.write_text(json.dumps({"Defaults": {}, "MVAU_hls_0": {"mem_mode": "external"}}))
    hw = finn_hw_graph(tmp_path / "hw.onnx")
    # --quiet: no per-step progress lines (stderr is not a terminal)
    _one_line_error(onebit("--quiet", "build", str(hw), "--out", str(tmp_path / "c"),
                           "--folding", str(fold)),
                    "node 'MVAU_hls_0' (MVAU_hls), key 'mem_mode': 'external'")


def test_unknown_custom_op_named_not_a_traceback(tmp_path):
    g = helper.make_graph(
        [helper.make_node("Foo", ["x"], ["y"], name="foo0", domain="my.ops")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    p = tmp_path / "foo.onnx"
    onnx.save(helper.make_model(g), str(p))
    with pytest.raises(UnsupportedOpError, match="'foo0' \\(Foo\\)"):
        resolve(str(p), vectors=2, input_datatype="UINT8")
