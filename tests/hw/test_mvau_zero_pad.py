"""onebit_mvau with position classes (zero padding of +-1 inputs) against `PaddedMVAU`."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.core.datatype import DataType
from test_mvau import BIN, BIP, golden, make_mvau, random_input, thresholds

from onebit.flows.zero_pad import DOMAIN, set_correction
from onebit.hw import mvau, sim, verilator
from onebit.hw.packing import pack, unpack

# name: (MW, MH, SIMD, PE, odt, T, ActVal, row classes, column classes)
CASES = {
    "3x3_classes_folded": (16, 8, 4, 2, BIP, 1, 0, [0, 1, 1, 2], [0, 1, 1, 1, 2]),
    "multibit_out": (12, 6, 3, 3, DataType["UINT2"], 3, 0, [0, 1, 2], [0, 0, 1, 2, 2]),
    "unfolded": (8, 4, 8, 4, BIP, 1, 0, [0, 1, 1, 2, 3], [0, 1, 2]),
}


def padded_mvau(name, seed=0, corrected=True):
    mw, mh, simd, pe, odt, t, act, rows, cols = CASES[name]
    rng = np.random.default_rng(seed)
    thr = thresholds(0, mw, mh, t, rng)
    model = make_mvau(mw, mh, simd, pe, BIN, BIN, odt, thr=thr, xnor=1, act_val=act,
                      n_vec=(1, len(rows), len(cols)), seed=seed)
    ncls = (max(rows) + 1) * (max(cols) + 1)
    corr = rng.integers(-mw, mw + 1, (ncls, mh)) / 2  # popcount units: half-integers
    node = model.graph.node[0]
    if corrected:
        node.domain = DOMAIN
        set_correction(node, rows, cols, corr)
    return model


def run_frames(model, x, tmp_path, vcache, **kw):
    """Stream the frames `x` (N, 1, H, W, MW) through the generated module; outputs flat."""
    node = model.graph.node[0]
    inst = mvau.generate(node, model, tmp_path, absolute_paths=False)
    p = inst.params
    n_vec = x.size // p["MW"]
    res = sim.simulate_instance(inst, pack(x, BIN, p["SIMD"]), n_vec * p["MH"] // p["PE"],
                                run_dir=tmp_path, cache_dir=vcache, **kw)
    return unpack(res.out_words, model.get_tensor_datatype("outp"), p["PE"]), res, inst


@pytest.mark.verilator
@pytest.mark.parametrize("name", list(CASES))
def test_padded_mvau_matches_golden(name, tmp_path, vcache):
    """Bit-exact under stalls, one vector per NF*SF cycles; the correction changes outputs."""
    model = padded_mvau(name)
    plain = padded_mvau(name, corrected=False)
    rng = np.random.default_rng(3)
    for seed, pv, pr in [(1, 1.0, 1.0), (2, 0.6, 0.4)]:
        x = np.concatenate([random_input(model, rng) for _ in range(2)])  # two frames
        want = np.concatenate([golden(model, f[None]) for f in x])
        assert not np.array_equal(want, np.concatenate([golden(plain, f[None]) for f in x]))
        got, res, inst = run_frames(model, x, tmp_path, vcache, seed=seed, p_valid=pv,
                                    p_ready=pr)
        assert np.array_equal(got.reshape(want.shape), want), \
            f"{name} seed {seed}: first mismatch at " \
            f"{np.flatnonzero(got.reshape(-1) != want.reshape(-1))[:1]}"
        if pv == 1.0:
            assert res.cycles == mvau.expected_cycles(inst, x.size // inst.params["MW"])


@pytest.mark.verilator
def test_padded_mvau_lint_and_parameter_checks(tmp_path):
    model = padded_mvau("3x3_classes_folded")
    inst = mvau.generate(model.graph.node[0], model, tmp_path)
    assert inst.params["N_ROW_CLS"] == 3 and inst.params["OUT_COLS"] == 5
    assert verilator.lint(inst.sources, inst.module, inst.params) == ""
    with pytest.raises(verilator.VerilatorError, match="position classes"):
        verilator.lint(inst.sources, inst.module, {**inst.params, "N_ROW_CLS": 5})
    with pytest.raises(verilator.VerilatorError, match="need thresholds"):
        verilator.lint(inst.sources, inst.module, {**inst.params, "N_THRES": 0})


def test_threshold_memory_holds_one_set_per_class(tmp_path):
    """Word cls * NF + nf of the threshold file is ceil(thr - corr[cls]) of its PE rows."""
    model = padded_mvau("3x3_classes_folded")
    inst = mvau.generate(model.graph.node[0], model, tmp_path)
    words = (tmp_path / "mvau0_thres.mem").read_text().split()
    p = inst.params
    assert len(words) == 9 * p["MH"] // p["PE"]
    node = model.graph.node[0]
    from onebit.flows.zero_pad import node_correction

    _, _, corr = node_correction(node)
    thr = model.get_initializer("thresh").astype(np.float64)
    cls, nf = 4, 1  # interior class of the 3 x 3, second neuron fold
    word = int(words[cls * 4 + nf], 16)
    bits = p["ACC_BITS"]
    for pe in range(p["PE"]):
        v = (word >> (pe * bits)) & ((1 << bits) - 1)
        v -= (1 << bits) if v >> (bits - 1) else 0
        r = nf * p["PE"] + pe
        assert v == np.ceil(np.clip(thr[r, 0] - corr[cls, r], 0, p["MW"] + 1))
