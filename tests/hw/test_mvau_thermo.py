"""onebit_mvau on thermometer codes (`THERMO_LEVELS`): the matches of each code looked up from
its number of levels on, bit-exact against FINN's XNOR MVAU execution on codes from the
thermometer encoder, under random backpressure, plain and pipelined; the table against a
brute-force count; layers it does not apply to keep the XNOR popcount."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper
from qonnx.core.datatype import DataType
from test_mvau import BIN, BIP, STALLS, golden, make_mvau, run_rtl, thresholds

from onebit.driver.weights import fold_rows
from onebit.flows.fracbnn_ops import thermometer
from onebit.hw import mvau, verilator
from onebit.hw.packing import from_hex
from onebit.models.thermometer import thermometer_levels

# name: (pixels per vector, resolution, MH, SIMD, PE, output type, thresholds T, budget, vectors)
# MW = pixels * L; e.g. a 3x3 window of one channel at resolution 8 is 9 pixels, MW 288
CASES = {
    "fracbnn_first_nf2": (9, 8, 8, 288, 4, DataType["UINT2"], 3, None, 3),
    "r85_folded_sf3": (12, 85, 4, 12, 4, BIP, 1, None, 4),
    "r16_pipelined_noact": (4, 16, 6, 64, 3, DataType["UINT7"], 0, 3, 3),
    "r32_four_words": (8, 32, 2, 16, 2, DataType["UINT2"], 3, 2, 2),
}


def thermo_mvau(case, seed=0):
    """(model with a ThermometerEncoder feeding the MVAU, the MVAU alone for the golden)."""
    pix, r, mh, simd, pe, odt, t, budget, n_vec = case
    levels = thermometer_levels(r)
    mw = pix * levels
    rng = np.random.default_rng(seed)
    thr = None if t == 0 else thresholds(0, mw, mh, t, rng)
    alone = make_mvau(mw, mh, simd, pe, BIN, BIN, odt, thr=thr, xnor=1, n_vec=(n_vec,),
                      seed=seed)
    fed = make_mvau(mw, mh, simd, pe, BIN, BIN, odt, thr=thr, xnor=1, n_vec=(n_vec,), seed=seed)
    fed.graph.node.append(helper.make_node(
        "ThermometerEncoder", ["pix"], ["inp"], name="thermo0", domain="onebit.flows.fracbnn_ops",
        backend="fpgadataflow", NumChannels=pix, PE=1, resolution=r, inputDataType="UINT8",
        outputDataType="BINARY", numInputVectors=[n_vec]))  # fmt: skip
    for m in (alone, fed):
        if budget is not None:
            mvau.set_lut_levels(m.graph.node[0], budget)
    return fed, alone, r


def codes(n_vec, pix, r, rng):
    """Thermometer codes of random pixels, the first vector's pixels 0 and 255 (no level and
    every level on)."""
    p = rng.integers(0, 256, (n_vec, pix))
    p[0, ::2], p[0, 1::2] = 0, 255
    return thermometer(p, r, axis=-1, binary=True).astype(np.float32)


@pytest.mark.verilator
@pytest.mark.parametrize("name", list(CASES))
def test_thermometer_mvau_matches_finn_under_stalls(name, tmp_path, vcache):
    fed, alone, r = thermo_mvau(CASES[name])
    pix, n_vec = CASES[name][0], CASES[name][-1]
    rng = np.random.default_rng(1)
    for seed, pv, pr in STALLS:
        x = codes(n_vec, pix, r, rng)
        got, res, inst = run_rtl(fed, x, tmp_path, vcache, seed=seed, p_valid=pv, p_ready=pr)
        assert inst.params["THERMO_LEVELS"] == thermometer_levels(r)
        want = golden(alone, x)
        assert np.array_equal(got, want), f"seed {seed}: first mismatch at " \
            f"{np.flatnonzero(got.reshape(-1) != want.reshape(-1))[:1]}"
        if pv == 1.0 and pr == 1.0:
            assert res.cycles == mvau.expected_cycles(inst, n_vec)


def test_table_counts_the_matches_of_every_code():
    rng = np.random.default_rng(3)
    for levels, simd, pe, mw, mh in ((32, 64, 2, 128, 4), (3, 6, 1, 12, 3), (1, 2, 2, 4, 2)):
        w = rng.integers(0, 2, (mh, mw))
        words = fold_rows(w, simd, pe)
        table = mvau.thermo_table(words, simd, pe, levels)
        for wa in range(words.shape[0]):
            for p in range(pe):
                for g in range(simd // levels):
                    bits = words[wa, p * simd + g * levels:][:levels]
                    for q in range(levels + 1):
                        code = np.arange(levels) < q
                        assert table[g, wa, q, p] == np.sum(code == bits)


@pytest.mark.parametrize("change, on", [
    ({}, True),
    ({"SIMD": 16}, False),  # codes of 32 levels split across words
    ({"PE": 1}, False),  # 8 weight words: the table would outgrow the popcount
    ({"producer": "none"}, False),  # not fed by a thermometer unit
])
def test_thermometer_lookup_only_where_it_is_exact_and_smaller(change, on, tmp_path):
    fed, alone, _ = thermo_mvau(CASES["fracbnn_first_nf2"])
    model = alone if change.get("producer") == "none" else fed
    node = model.graph.node[0]
    for a in node.attribute:
        if a.name in change:
            a.i = change[a.name]
    inst = mvau.generate(node, model, tmp_path)
    assert ("THERMO_LEVELS" in inst.params) == on
    assert (tmp_path / "mvau0_thermo.mem").is_file() == on


@pytest.mark.verilator
def test_thermometer_mvau_lint_clean(tmp_path):
    for name in ("fracbnn_first_nf2", "r16_pipelined_noact"):
        fed, _, _ = thermo_mvau(CASES[name])
        inst = mvau.generate(fed.graph.node[0], fed, tmp_path / name)
        assert verilator.lint(inst.sources, inst.module, inst.params) == ""
    with pytest.raises(verilator.VerilatorError, match="THERMO_LEVELS"):
        verilator.lint(inst.sources, inst.module, {**inst.params, "THERMO_LEVELS": 5})


@st.composite
def thermo_configs(draw):
    r = draw(st.sampled_from([8, 16, 32, 64, 85, 128]))
    levels = thermometer_levels(r)
    codes_per_word = draw(st.integers(1, 3))
    sf = draw(st.integers(1, 2))
    pe = draw(st.integers(1, 3))
    nf = draw(st.integers(1, 4 // sf))
    return r, levels * codes_per_word, codes_per_word * sf, nf * pe, pe, draw(
        st.sampled_from([None, 2, 4])), draw(st.integers(0, 2**16))


@pytest.mark.verilator
@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(cfg=thermo_configs())
def test_thermometer_mvau_sweep(cfg, tmp_path_factory, vcache):
    r, simd, pix, mh, pe, budget, seed = cfg
    fed, alone, _ = thermo_mvau((pix, r, mh, simd, pe, DataType["UINT2"], 3, budget, 3), seed)
    x = codes(3, pix, r, np.random.default_rng(seed))
    got, _, inst = run_rtl(fed, x, tmp_path_factory.mktemp("t"), vcache, seed=seed % 7,
                           p_valid=0.7, p_ready=0.6)
    assert inst.params["THERMO_LEVELS"] == thermometer_levels(r)
    assert np.array_equal(got, golden(alone, x))


def test_weight_fault_reaches_the_table_the_hardware_reads(tmp_path):
    """Mutation testing (`onebit verify`) flips a weight bit; on thermometer codes the mutant's
    table is made from the faulty weights, so the fault is in what the simulation reads."""
    from onebit.flows.mutation import Fault, Memory, mutant_dir

    fed, _, _ = thermo_mvau(CASES["r85_folded_sf3"])
    rtl = tmp_path / "rtl"
    inst = mvau.generate(fed.graph.node[0], fed, rtl, absolute_paths=False)
    p = inst.params
    m = Memory("mvau0", "weights", p["WEIGHT_FILE"], 1, p["PE"] * p["SIMD"], p["PE"],
               tuple(sorted(p.items())))
    fault = Fault("weight_bit", "mvau0", p["WEIGHT_FILE"], 1, "bit 5")
    d = mutant_dir(rtl, fault, m, tmp_path / "mutant")
    before = (rtl / p["THERMO_FILE"]).read_text()
    assert (d / p["THERMO_FILE"]).read_text() != before
    assert (rtl / p["THERMO_FILE"]).read_text() == before  # the build's own files untouched
    faulty = from_hex((d / p["WEIGHT_FILE"]).read_text().split(), m.fields)
    mvau.write_thermo_table(tmp_path / "want.mem", faulty, p)
    assert (d / p["THERMO_FILE"]).read_text() == (tmp_path / "want.mem").read_text()
