"""The per-layer directed check (`flows/layer_check.py`): vectors on every threshold, and the
simulated layers against FINN's execution."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from qonnx.core.datatype import DataType

from onebit.errors import VerificationError
from onebit.flows.layer_check import Domain, _lattice, directed_inputs

# (input values, weight values, xnor): FINN's MVAU arithmetic kinds of a binary network
KINDS = {
    "xnor": (np.array([0, 1]), np.array([0, 1]), True),
    "bipolar": (np.array([-1, 1]), np.array([-1, 1]), True),
    "uint2 x bipolar": (np.arange(4), np.array([-1, 1]), False),
    "int4 x binary": (np.arange(-8, 8), np.array([0, 1]), False),
}


def _flipped(kind: str, w: np.ndarray) -> np.ndarray:
    _, wv, _ = KINDS[kind]
    return wv[0] + wv[1] - w  # the other one of the two weight values


@st.composite
def domains(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    values, wv, xnor = KINDS[kind]
    mw, mh, nt = draw(st.integers(1, 40)), draw(st.integers(1, 6)), draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    w = wv[rng.integers(2, size=(mw, mh))]
    dom = Domain(values, w, xnor, np.zeros((mh, nt), dtype=np.int64))
    lo, hi, _ = _lattice(dom.contributions())
    thr = np.sort(rng.integers(lo[:, None] - 1, hi[:, None] + 2, size=(mh, nt)), axis=1)
    return kind, Domain(values, w, xnor, thr), seed


def _outputs(dom: Domain, x: np.ndarray, rows: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The thresholded output of channel n[i] for input row rows[i]."""
    acc = dom.accumulate(x[rows])[np.arange(len(rows)), n]
    return (acc[:, None] >= dom.thresholds[n]).sum(axis=1)


@settings(max_examples=60, deadline=None)
@given(domains())
def test_directed_vectors_sit_on_every_reachable_threshold(case):
    """Each event's *at* vector has the lowest reachable accumulator >= the threshold, its
    *below* vector one lattice step less; a single weight flip of the channel moves one of the
    two outputs (a fault the simulation would show): every flip for one-bit operands, and for
    multi-bit inputs every flip of a weight whose input is the same and not 0 in both (an
    input of 0 hides its weight; near the end of the range it cannot always be avoided)."""
    kind, dom, seed = case
    x, ev = directed_inputs(dom, seed)
    c = dom.contributions()
    lo, hi, step = _lattice(c)
    pairs, ends = [], {}  # (channel, at) both sides reachable; (channel, end of range)
    for n in range(dom.w.shape[1]):
        base = int(c[:, n, 0].sum()) % step[n]
        for t in dom.thresholds[n]:
            a = int(t) + (base - int(t)) % step[n]
            if lo[n] <= a - step[n] and a <= hi[n]:
                pairs.append((n, a))
            else:
                ends[(n, int(hi[n] if a > hi[n] else lo[n]))] = None
    k = len(pairs)
    assert ev["events"] == len(x) == 2 * k + len(ends) and x.shape[1] == dom.w.shape[0]
    assert ev["hit"] == len(x)  # one- and two-valued weights: every boundary reached exactly
    acc = dom.accumulate(x)
    assert [int(acc[2 * k + i, n]) for i, (n, _) in enumerate(ends)] == [e for _, e in ends]
    if not k:
        return
    n = np.array([p[0] for p in pairs])
    assert (acc[np.arange(k), n] == [p[1] for p in pairs]).all()
    assert (acc[k + np.arange(k), n] == [p[1] - step[p[0]] for p in pairs]).all()
    rows = np.concatenate([np.arange(k), k + np.arange(k)])
    both = np.concatenate([n, n])
    base = _outputs(dom, x, rows, both)
    for j in range(k):
        ch = n[j]
        for col in range(dom.w.shape[0]):
            if not dom.xnor and (x[j, col] != x[k + j, col] or x[j, col] == 0):
                continue
            w = dom.w.copy()
            w[col, ch] = _flipped(kind, w[col, ch])
            bad = Domain(dom.values, w, dom.xnor, dom.thresholds)
            pair = np.array([j, k + j])
            assert (_outputs(bad, x, pair, n[[j, j]]) != base[pair]).any(), (
                f"a flip of weight ({col}, {ch}) leaves both directed outputs unchanged")


def test_a_threshold_beyond_the_range_gets_an_edge_vector():
    """A channel that is always on (or off) gets one vector at the low (high) end of its range:
    its threshold, clamped there in the RTL, one step off turns it off (on) there."""
    dom = Domain(np.array([0, 1]), np.ones((4, 2), dtype=np.int64), True,
                 np.array([[0], [9]]))  # acc in 0..4: threshold 0 always met, 9 never
    x, ev = directed_inputs(dom)
    assert x.shape == (2, 4) and ev == {"events": 2, "hit": 2}
    assert dom.accumulate(x)[[0, 1], [0, 1]].tolist() == [0, 4]


@pytest.mark.verilator
def test_build_checks_each_layer_and_names_a_faulty_one(mlp_build, tmp_path):
    """The build simulated each thresholding MVAU alone on all its boundaries; a weight bit
    flipped in a copy of the design fails that layer's check, naming it."""
    from onebit.flows.build import load_intermediate
    from onebit.flows.layer_check import check_layers
    from onebit.flows.mutation import memories
    from onebit.hw.accelerator import Accelerator

    out, report = mlp_build
    lc = report["layer_check"]
    assert lc["layers"] and all(e["hit"] == e["events"] > 0 for e in lc["layers"].values())
    assert report["stages"]["layersim"]["vectors"] == sum(
        e["vectors"] for e in lc["layers"].values())
    rtl = tmp_path / "rtl"
    shutil.copytree(out / "rtl", rtl)
    acc = Accelerator.load(rtl)
    golden = load_intermediate(out, "dataflow_golden")
    name = sorted(lc["layers"])[-1]
    mem = next(m for m in memories(acc, rtl) if m.layer == name and m.role == "weights")
    lines = (rtl / mem.file).read_text().split()
    lines[len(lines) // 2] = f"{int(lines[len(lines) // 2], 16) ^ 1:0{len(lines[0])}x}"
    (rtl / mem.file).write_text("\n".join(lines) + "\n")
    assert check_layers(acc, golden, out / "rtl", lc["seed"]).keys() == lc["layers"].keys()
    with pytest.raises(VerificationError, match="directed vector") as e:
        check_layers(acc, golden, rtl, lc["seed"])
    assert e.value.stage == "layersim" and e.value.layer == name


@pytest.mark.verilator
def test_layer_check_catches_what_one_vector_cannot(mlp_build, tmp_path):
    """With a single network vector, the build's check (stream taps + per-layer check) still
    catches every weight-bit fault of the layers it checks alone."""
    from onebit.flows.mutation import verify_build

    out = tmp_path / "b"
    shutil.copytree(mlp_build[0], out)
    checked = json.loads((out / "report.json").read_text())["layer_check"]["layers"]
    m = verify_build(out, 16, seed=5, vectors=1)
    assert m["layer_check"]
    assert not [s for s in m["survivors"]
                if s["layer"] in checked and s["kind"] == "weight_bit"]


@settings(max_examples=80, deadline=None)
@given(domains(), st.data())
def test_equivalent_faults_change_nothing_and_the_others_something(case, data):
    """`mutation.equivalent` against brute force over every input of a small layer (PE = 1,
    SIMD = MW): a fault it calls equivalent changes no output; a threshold step it does not
    call equivalent changes one (with +-1/binary weights every lattice value is reachable)."""
    import itertools

    from onebit.flows.mutation import Fault, Memory, equivalent

    kind, dom, _ = case
    mw, mh = dom.w.shape
    if len(dom.values) ** mw > 4096:
        return
    nthr = dom.thresholds.shape[1]
    params = {"PE": 1, "SIMD": mw, "N_THRES": nthr}
    xs = np.array(list(itertools.product(dom.values, repeat=mw)))
    ch = data.draw(st.integers(0, mh - 1))

    def outputs(d: Domain) -> np.ndarray:
        return (d.accumulate(xs)[:, ch, None] >= d.thresholds[ch]).sum(axis=1)

    t, step = data.draw(st.integers(0, nthr - 1)), data.draw(st.sampled_from([-1, 1]))
    bits = 16
    word = "".join(f"{int(v) & 0xFFFF:04x}" for v in dom.thresholds[ch][::-1])
    thr = dom.thresholds.copy()
    thr[ch, t] += step
    f = Fault("threshold_step", "L", "t", ch, f"threshold {t} {step:+d}")
    eq = equivalent(f, Memory("L", "thresholds", "t", bits, nthr, 1), params, word, dom)
    changed = (outputs(Domain(dom.values, dom.w, dom.xnor, thr, dom.wdt)) != outputs(dom)).any()
    assert eq != changed

    col = data.draw(st.integers(0, mw - 1))
    wdt = "BINARY" if kind in ("xnor", "int4 x binary") else "BIPOLAR"
    d1 = Domain(dom.values, dom.w, dom.xnor, dom.thresholds, DataType[wdt])
    f = Fault("weight_bit", "L", "w", ch, f"bit {col}")
    eq = equivalent(f, Memory("L", "weights", "w", 1, mw, 1), params, "0", d1)
    w = dom.w.copy()
    w[col, ch] = _flipped(kind, w[col, ch])
    if eq:
        assert (outputs(Domain(dom.values, w, dom.xnor, dom.thresholds)) == outputs(dom)).all()
