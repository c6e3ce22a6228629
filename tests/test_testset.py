"""`onebit sim BUILD --test-set`: the whole test split through the simulated accelerator, every
output checked, the hardware's accuracy equal to torch's; the batched golden execution."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onebit.errors import UserInputError, VerificationError

from test_cli import _one_line_error, onebit


@pytest.fixture(scope="module")
def digits_build(tmp_path_factory):
    """tfc trained briefly on digits and built (its checkpoint holds torch's test accuracy)."""
    d = tmp_path_factory.mktemp("testset")
    r = onebit("-q", "train", "--epochs", "2", "--out", str(d / "tfc.pt"))
    assert r.returncode == 0, r.stderr
    r = onebit("-q", "build", str(d / "tfc.pt"), "--out", str(d / "b"), "--vectors", "8",
               "--frames", "8", "--directed", "0", "--no-layer-check")
    assert r.returncode == 0, r.stderr
    return d / "b"


@pytest.fixture(scope="module")
def cnn_graphs(tmp_path_factory):
    """The small CNN (tests/nets.py: sliding windows, conv MVAUs, a max-pool) built up to its
    RTL, not simulated: the graphs the golden model runs."""
    from onebit.flows.build import BuildConfig, BuildInput, build

    from nets import cnn, pixels

    out = tmp_path_factory.mktemp("cnn") / "b"
    build(BuildInput("cnn", pixels(8), torch_model=cnn()), BuildConfig(out, sim=False))
    return out


@pytest.mark.parametrize("net", ["mlp", "cnn"])
def test_golden_batched_equals_finn_per_image(net, request):
    from qonnx.core.onnx_exec import execute_onnx

    from onebit.flows.build import load_intermediate
    from onebit.flows.golden import Golden

    out = request.getfixturevalue("mlp_build")[0] if net == "mlp" else \
        request.getfixturevalue("cnn_graphs")
    parent = load_intermediate(out, "hw_layers")
    x = np.load(out / "vectors.npz")["x"]
    golden = Golden(parent, load_intermediate(out, "dataflow_golden"))
    xin, df, final = golden(x)
    assert golden.dataflow.batched
    sdp = next(n for n in parent.graph.node if n.op_type == "StreamingDataflowPartition")
    iname = parent.graph.input[0].name
    for i, v in enumerate(x):
        ctx = execute_onnx(parent, {iname: v.reshape(parent.get_tensor_shape(iname))},
                           return_full_exec_context=True)
        assert np.array_equal(ctx[sdp.input[0]].reshape(-1), xin[i].reshape(-1))
        assert np.array_equal(ctx[sdp.output[0]].reshape(-1), df[i])
        assert np.array_equal(ctx[parent.graph.output[0].name].reshape(-1), final[i])


@pytest.mark.verilator
@settings(max_examples=30, deadline=None, derandomize=True)
@given(data=st.data())
def test_sliding_windows_of_a_batch_equal_finns_per_image(data):
    """`golden.sliding_windows` (a batch at once) against FINN's ConvolutionInputGenerator
    execution (an Im2Col of one image) for random maps, kernels, strides and dilations."""
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.custom_op.registry import getCustomOp
    from qonnx.util.basic import qonnx_make_model

    from onebit.flows.golden import _plain_window, sliding_windows

    draw = data.draw
    kh, kw, dh, dw = (draw(st.integers(1, 3)) for _ in range(4))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ih, iw = draw(st.integers(dh * (kh - 1) + 1, 9)), draw(st.integers(dw * (kw - 1) + 1, 9))
    c, b = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    oh, ow = (ih - dh * (kh - 1) - 1) // sh + 1, (iw - dw * (kw - 1) - 1) // sw + 1
    node = helper.make_node(
        "ConvolutionInputGenerator", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", ConvKernelDim=[kh, kw], IFMChannels=c, IFMDim=[ih, iw],
        OFMDim=[oh, ow], SIMD=c, Stride=[sh, sw], Dilation=[dh, dw], inputDataType="INT8",
        outputDataType="INT8", depthwise=0)
    graph = helper.make_graph(
        [node], "swg", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, [1, ih, iw, c])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, oh, ow, kh * kw * c])])
    model = ModelWrapper(qonnx_make_model(graph))
    op = getCustomOp(model.graph.node[0])
    assert _plain_window(op)
    x = np.random.default_rng(kh * 7 + ih).integers(-128, 128, (b, ih, iw, c)).astype(np.float32)
    got = sliding_windows(x, op)
    for i in range(b):
        ctx = {"inp": x[i : i + 1], "out": np.zeros((1, oh, ow, kh * kw * c), np.float32)}
        op.execute_node(ctx, model.graph)
        assert np.array_equal(got[i : i + 1], ctx["out"]), i


def test_test_set_accuracy_is_torchs(digits_build):
    from onebit import data

    r = onebit("sim", str(digits_build), "--test-set")
    assert r.returncode == 0, r.stderr
    assert "every output bit-exact" in r.stdout and "the same" in r.stdout
    report = json.loads((digits_build / "report.json").read_text())
    t = report["sim"]["test_set"]
    n = len(data.load("digits").split("test")[1])
    assert t["frames"] == n and t["bit_exact"] and t["golden_batched"]
    assert t["accuracy"] == report["meta"]["test_accuracy"] and t["matches_torch"]
    assert t["frames_per_s"] > 0 and t["jobs"] == 2
    assert t["compile_s"] >= 0 and t["frames_per_s_steady"] >= t["frames_per_s"]


@pytest.mark.verilator
def test_test_set_names_the_first_wrong_image(digits_build, tmp_path):
    """A layer's weights inverted in a copy of the design: the run fails naming a test image
    (a single bit may well be invisible: the digits' border pixels are all 0)."""
    from onebit.flows.mutation import memories
    from onebit.flows.testset import run_test_set
    from onebit.hw.accelerator import Accelerator

    out = tmp_path / "b"
    shutil.copytree(digits_build, out)
    rtl = out / "rtl"
    mem = next(m for m in memories(Accelerator.load(rtl), rtl) if m.role == "weights")
    lines = (rtl / mem.file).read_text().split()
    ones = (1 << mem.bits * mem.fields) - 1
    lines = [f"{int(w, 16) ^ ones:0{len(w)}x}" for w in lines]  # every weight of the layer
    (rtl / mem.file).write_text("\n".join(lines) + "\n")
    with pytest.raises(VerificationError, match="test image") as e:
        run_test_set(out, limit=64, jobs=1)
    assert e.value.stage == "rtlsim" and e.value.index[0] < 64


def test_test_set_needs_a_dataset(mlp_build):
    from onebit.flows.testset import run_test_set

    with pytest.raises(UserInputError, match="names no dataset; give --dataset"):
        run_test_set(mlp_build[0])


def test_test_set_options_go_together(tmp_path):
    _one_line_error(onebit("sim", str(tmp_path), "--limit", "5"),
                    "--dataset, --data-dir and --limit go with --test-set")
    _one_line_error(onebit("sim", str(tmp_path), "--test-set"), "is not a onebit build with RTL")


def _hw_node_model(op_type: str, ishape: list, oshape: list, inits: dict, dtypes: dict,
                   **attrs):
    """A one-node model of FINN HW op `op_type` with initializers `inits` and datatypes."""
    from onnx import TensorProto, helper
    from qonnx.core.datatype import DataType
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.util.basic import qonnx_make_model

    node = helper.make_node(op_type, ["inp", *inits], ["outp"],
                            domain="finn.custom_op.fpgadataflow", backend="fpgadataflow", **attrs)
    graph = helper.make_graph(
        [node], "one", [helper.make_tensor_value_info("inp", TensorProto.FLOAT, ishape)],
        [helper.make_tensor_value_info("outp", TensorProto.FLOAT, oshape)])
    model = ModelWrapper(qonnx_make_model(graph))
    for name, v in inits.items():
        model.set_initializer(name, v.astype(np.float32))
    for name, dt in dtypes.items():
        model.set_tensor_datatype(name, DataType[dt])
    return model


def _values(dt: str, shape, rng) -> np.ndarray:
    from qonnx.core.datatype import DataType

    if dt == "BIPOLAR":
        return (2 * rng.integers(0, 2, shape) - 1).astype(np.float32)
    d = DataType[dt]
    return rng.integers(int(d.min()), int(d.max()) + 1, shape).astype(np.float32)


def _batched_equals_finns_one_image(model, x: np.ndarray) -> None:
    """The golden model runs the one-node `model` on the batch `x` with its own kernel
    (`batched`: a differing kernel would fall back to FINN's) and equals FINN's execution of
    each image alone."""
    from qonnx.core.onnx_exec import execute_onnx

    from onebit.flows.golden import Dataflow

    df = Dataflow(model)
    got = df(x)
    assert df.batched
    for i in range(len(x)):
        want = execute_onnx(model, {"inp": x[i : i + 1]})["outp"]
        assert np.array_equal(got[i], want.reshape(-1)), i


@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data())
def test_golden_kernels_equal_finns_execution(data):
    """The golden model's own MVAU and Thresholding execution (a batch as one float32
    product, thresholds counted in place) equals FINN's `execute_node`, image by image, for
    random datatypes (XNOR, +-1 x +-1, integers), threshold counts, ActVal and shapes; the
    batch keeps it (`batched`: a differing kernel would fall back to FINN's)."""
    draw = data.draw
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    b, pix = draw(st.integers(1, 6)), draw(st.sampled_from([[], [2, 3]]))
    if draw(st.booleans()):  # an MVAU (FINN's thresholds them as NCHW: no 3-D vectors)
        idt, wdt, xnor = draw(st.sampled_from([
            ("BINARY", "BINARY", 1), ("BIPOLAR", "BIPOLAR", 0), ("INT4", "BIPOLAR", 0),
            ("UINT8", "INT2", 0), ("BIPOLAR", "BINARY", 0), ("INT2", "INT3", 0)]))
        mw, mh = draw(st.integers(1, 40)), draw(st.integers(1, 9))
        w = _values(wdt, (mw, mh), rng)
        attrs = dict(MW=mw, MH=mh, SIMD=1, PE=1, inputDataType=idt, weightDataType=wdt,
                     binaryXnorMode=xnor, numInputVectors=[1, *pix], ActVal=0)
        inits, dtypes = {"weights": w}, {"inp": idt, "weights": wdt}
        t = draw(st.sampled_from([0, 1, 3]))
        if t:
            acc = (np.abs(w).sum(axis=0).max() + 1) * (1 if xnor else 8)
            thr = np.sort(rng.integers(-acc, acc + 1, (draw(st.sampled_from([1, mh])), t)), 1)
            odt = "BIPOLAR" if t == 1 and draw(st.booleans()) else "INT4"
            attrs.update(noActivation=0, outputDataType=odt,
                         ActVal=0 if odt == "BIPOLAR" else draw(st.integers(-3, 0)))
            inits["thresh"] = thr
        else:
            attrs.update(noActivation=1, outputDataType="INT32")
        model = _hw_node_model("MVAU", [1, *pix, mw], [1, *pix, mh], inits, dtypes, **attrs)
        x = _values(idt, (b, *pix, mw), rng)
    else:  # a Thresholding layer
        c, t = draw(st.integers(1, 12)), draw(st.sampled_from([1, 2, 7]))
        pix = draw(st.sampled_from([pix, [5]]))
        thr = np.sort(rng.integers(-20, 21, (draw(st.sampled_from([1, c])), t)), 1)
        odt = "BIPOLAR" if t == 1 and draw(st.booleans()) else "INT4"
        model = _hw_node_model(
            "Thresholding", [1, *pix, c], [1, *pix, c], {"thresh": thr}, {"inp": "INT6"},
            NumChannels=c, PE=1, numSteps=t, inputDataType="INT6", outputDataType=odt,
            weightDataType="INT6", ActVal=0 if odt == "BIPOLAR" else draw(st.integers(-3, 0)),
            numInputVectors=[1, *pix])
        x = _values("INT6", (b, *pix, c), rng)
    _batched_equals_finns_one_image(model, x)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(labels=st.integers(1, 20), k=st.integers(1, 5), spread=st.sampled_from([1, 3, 100]),
       b=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_golden_labelselect_equals_finns_topk(labels, k, spread, b, seed):
    """The golden model's LabelSelect (a stable sort, no onnxruntime session per call) gives
    FINN's indices image by image, ties (few distinct values) broken by the lower index."""
    k = min(k, labels)
    model = _hw_node_model("LabelSelect", [1, labels], [1, k], {}, {"inp": "INT8"}, Labels=labels,
                           PE=1, K=k, inputDataType="INT8", outputDataType="UINT8",
                           numInputVectors=[1])
    x = np.random.default_rng(seed).integers(-spread, spread + 1, (b, labels)).astype(np.float32)
    _batched_equals_finns_one_image(model, x)


def test_golden_mvau_kernel_leaves_inexact_sums_to_finn():
    """An MVAU whose accumulators could pass 2^24 (where float32 sums depend on their order)
    is not computed by the golden model's own product."""
    from qonnx.custom_op.registry import getCustomOp

    from onebit.flows.golden import _mvau

    mw = 1100
    w = np.full((mw, 2), 127.0)
    model = _hw_node_model("MVAU", [1, mw], [1, 2], {"weights": w},
                           {"inp": "UINT8", "weights": "INT8"}, MW=mw, MH=2, SIMD=1, PE=1,
                           inputDataType="UINT8", weightDataType="INT8", noActivation=1,
                           outputDataType="INT32", numInputVectors=[1])
    node = model.graph.node[0]
    ctx = {"inp": np.ones((3, mw), np.float32), "weights": w}
    assert _mvau(getCustomOp(node), ctx, node) is None
    ctx["weights"] = np.full((mw, 2), 50.0)  # 1100 * 255 * 50 < 2^24 <= 1100 * 255 * 127
    assert _mvau(getCustomOp(node), ctx, node) is not None


def test_slices_keep_every_job_busy_and_start_cheaply():
    """A test set runs as `jobs` to 4 x `jobs` slices, none shorter than SLICE_CYCLES of the
    design (by its simulated cycles a frame, else FINN's estimate), never more than frames."""
    from onebit.flows.testset import SLICE_CYCLES, slice_count

    def sim(cpf):
        return {"sim": {"cycles_per_frame": cpf}}

    assert slice_count(10_000, 2, sim(64)) == 6  # FINN's TFC-W1A1: 640,000 cycles
    assert slice_count(10_000, 2, sim(32_909)) == 8  # CNV-W1A1
    assert slice_count(359, 2, sim(640)) == 2  # the demo: one slice a job
    assert slice_count(3, 4, sim(10**6)) == 3  # no more slices than frames
    assert slice_count(100, 1, {"estimate": {"cycles_per_frame": SLICE_CYCLES}}) == 4
    assert slice_count(100, 2, {}) == 8  # nothing known: as long as SLICE_CYCLES a frame
