"""The per-layer directed check: each thresholding MVAU simulated on its own, on inputs built to
put every output channel's accumulator on each of its thresholds and one lattice step below.

The network's vectors reach a hidden layer's thresholds only by chance (`flows/vectors.py`
picks the best of a pool, and still leaves most of them uncovered on TFC), so a wrong weight
bit or threshold can survive the build's check. A layer on its own can be driven with any
input of its datatype. For channel n and threshold t the *at* vector has the accumulator at
the lowest value it can take that is >= t, the *below* vector one lattice step under it:

- a threshold one step too high changes the *at* output, one step too low the *below* one;
- the *below* vector is the *at* vector with one contribution lowered, so (for +-1 and binary
  weights on inputs that are not 0) every weight of the channel moves one of the two across
  the threshold when it is flipped: a flipped weight bit changes an output.

Vectors are built in FINN's arithmetic (`MVAU.execute_node`: popcount of xnor for binary or
bipolar operands, else the dot product) and the expected outputs come from FINN's own
execution of the pre-specialize (golden) node; the simulated layer must equal them exactly.
Layers without thresholds (the last, `noActivation`), FracBNN's gated MVAUs, zero-padded
convs (position-dependent thresholds) and layers that look thermometer codes up
(`THERMO_LEVELS`: exact on thermometer codes only, not on any vector) are left to the
network's vectors and said so.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from onebit.errors import VerificationError


@dataclass(frozen=True)
class Domain:
    """One MVAU's arithmetic in FINN's terms: acc[n] = sum_i c(x_i, w[i, n])."""

    values: np.ndarray  # the input datatype's values, ascending
    w: np.ndarray  # (MW, MH) weights
    xnor: bool  # c = (x == w), else c = x * w
    thresholds: np.ndarray  # (MH, T) integer thresholds: out counts acc >= thr
    wdt: DataType = DataType["BINARY"]  # the weights' datatype

    def contributions(self) -> np.ndarray:
        """(MW, MH, values): what each input value contributes to each channel."""
        v = self.values[None, None, :]
        w = self.w[:, :, None]
        return (v == w).astype(np.int64) if self.xnor else (v * w).astype(np.int64)

    def accumulate(self, x: np.ndarray) -> np.ndarray:
        """(V, MW) inputs -> (V, MH) accumulators."""
        if self.xnor:
            return (x[:, :, None] == self.w[None]).sum(axis=1)
        return x.astype(np.int64) @ self.w.astype(np.int64)


def domain(node, model: ModelWrapper) -> Domain | None:
    """The arithmetic of an MVAU node with thresholds; None for a layer this check leaves to
    the network's vectors (no thresholds, gated, zero-padded)."""
    from onebit.flows.zero_pad import node_correction
    from onebit.hw.mvau import gates_of

    op = getCustomOp(node)
    g = op.get_nodeattr
    if (not node.op_type.startswith("MVAU") or g("noActivation") or gates_of(node) is not None
            or node_correction(node) is not None):
        return None
    idt = DataType[g("inputDataType")]
    w = model.get_initializer(node.input[1])
    thr = model.get_initializer(node.input[2])
    if w is None or thr is None or not idt.is_integer():
        return None
    values = (np.array([-1, 1]) if idt == DataType["BIPOLAR"]
              else np.arange(int(idt.min()), int(idt.max()) + 1))
    xnor = bool(g("binaryXnorMode")) or (idt == DataType["BIPOLAR"]
                                          and g("weightDataType") == "BIPOLAR")
    mh = w.shape[1]
    thresholds = np.ceil(np.broadcast_to(thr, (mh, thr.shape[-1]))).astype(np.int64)
    return Domain(values, np.asarray(w).astype(np.int64), xnor, thresholds,
                  DataType[g("weightDataType")])


def _lattice(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel of contributions `c` (MW, MH, values): the lowest and highest accumulator
    and the spacing of the values it takes (gcd of the contributions' differences)."""
    lo, hi = c.min(axis=2).sum(axis=0), c.max(axis=2).sum(axis=0)
    steps = np.abs(c - c[:, :, :1]).transpose(1, 0, 2).reshape(c.shape[1], -1)
    step = np.array([max(1, gcd(*row.tolist())) if row.any() else 1 for row in steps])
    return lo, hi, step


def _steer(vidx: np.ndarray, c: np.ndarray, target: np.ndarray, order: np.ndarray,
           n: np.ndarray, avoid: int | None) -> None:
    """Move the rows of `vidx` (value indices of the inputs, (V, MW)) towards `target`
    (V,) accumulators of channels `n` (V,): coordinates in `order`, each changed to the value
    that brings its row closest without overshooting; value index `avoid` (an input of 0)
    only where nothing else gets there."""
    rows = np.arange(len(vidx))
    cv = c[:, n, :].transpose(1, 0, 2)  # (V, MW, values)
    acc = np.take_along_axis(cv, vidx[:, :, None], axis=2)[:, :, 0].sum(axis=1)
    for shun in ([avoid, None] if avoid is not None else [None]):
        for i in order:
            r = target - acc
            if not r.any():
                return
            cur = cv[rows, i, vidx[:, i]]
            delta = cv[:, i, :] - cur[:, None]  # (V, values)
            # no overshoot: the move's sign follows r and its size is at most |r|
            ok = (delta * np.sign(r)[:, None] >= 0) & (np.abs(delta) <= np.abs(r)[:, None])
            gain = np.where(ok, np.abs(delta), -1)
            if shun is not None:
                gain[:, shun] = -1
            best = np.argmax(gain, axis=1)
            moved = (gain[rows, best] > 0) & (r != 0)
            vidx[moved, i] = best[moved]
            acc = acc + np.where(moved, delta[rows, best], 0)


def _unzero(vidx: np.ndarray, c: np.ndarray, n: np.ndarray, zero: int) -> None:
    """Give the inputs of 0 left in `vidx` (steered rows of channels `n`; 0 hides its weight)
    another value, another input of the row taking up the difference: same accumulators."""
    for r, j in zip(*np.nonzero(vidx == zero), strict=True):
        cv = c[:, n[r], :]  # (MW, values)
        moves = cv - cv[np.arange(len(cv)), vidx[r]][:, None]  # each input's possible changes
        for v in np.argsort(np.abs(moves[j]), kind="stable"):
            if v == zero:
                continue
            fit = moves == -moves[j, v]
            fit[j], fit[:, zero] = False, False
            ks, us = np.nonzero(fit)
            if moves[j, v] == 0 or len(ks):
                vidx[r, j] = v
                if moves[j, v]:
                    vidx[r, ks[0]] = us[0]
                break


def directed_inputs(dom: Domain, seed: int = 0) -> tuple[np.ndarray, dict]:
    """(V, MW) input vectors and the boundary events they hit exactly: for each channel and
    threshold whose boundary the accumulator can reach, an *at* and a *below* vector (rows
    `:k` and `k:2k`); then, per channel with a threshold beyond its range, one vector at that
    end of the range (an *edge*: a threshold clamped there, one step off, turns the channel on
    or off)."""
    rng = np.random.default_rng(seed)
    c = dom.contributions()
    mw, mh, nv = c.shape
    lo, hi, step = _lattice(c)
    # an input of 0 adds nothing whatever its weight (not so for xnor's 0, the code of -1)
    zero = (int(np.flatnonzero(dom.values == 0)[0])
            if not dom.xnor and (dom.values == 0).any() else None)
    chan, at, edges = [], [], {}
    for n in range(mh):
        base = int(c[:, n, 0].sum()) % step[n]  # the lattice's offset (value index 0 at all)
        for t in dom.thresholds[n]:
            a = int(t) + (base - int(t)) % step[n]  # lowest lattice value >= t
            if lo[n] <= a - step[n] and a <= hi[n]:  # both sides reachable: t matters
                chan.append(n)
                at.append(a)
            else:
                edges[(n, int(hi[n] if a > hi[n] else lo[n]))] = None
    k = len(chan)
    chan = np.array(chan + [n for n, _ in edges], dtype=np.int64)
    target = np.array(at + [e for _, e in edges], dtype=np.int64)
    if not len(chan):
        return np.zeros((0, mw), dtype=np.int64), {"events": 0, "hit": 0}
    # start anywhere but at 0 (an input of 0 hides its weight), then steer to the targets
    nonzero = np.array([v for v in range(nv) if v != zero])
    vidx = nonzero[rng.integers(len(nonzero), size=(len(chan), mw))]
    _steer(vidx, c, target, rng.permutation(mw), chan, zero)
    below = vidx[:k].copy()
    _steer(below, c, target[:k] - step[chan[:k]], rng.permutation(mw), chan[:k], zero)
    if zero is not None:
        _unzero(vidx, c, chan, zero)
        _unzero(below, c, chan[:k], zero)
    x = dom.values[np.concatenate([vidx[:k], below, vidx[k:]])]
    rows = np.concatenate([chan[:k], chan[:k], chan[k:]])
    want = np.concatenate([target[:k], target[:k] - step[chan[:k]], target[k:]])
    hit = int((dom.accumulate(x)[np.arange(len(x)), rows] == want).sum())
    return x, {"events": len(x), "hit": hit}


def node_outputs(node, model: ModelWrapper, x: np.ndarray, positions: int) -> np.ndarray:
    """FINN's execution of the MVAU `node` of `model` on the rows of `x`, `positions` rows a
    frame (a conv's output pixels; `x` padded to whole frames): (V, MH)."""
    op = getCustomOp(node)
    ishape = model.get_tensor_shape(node.input[0])
    oshape = model.get_tensor_shape(node.output[0])
    ctx = {i: model.get_initializer(i) for i in node.input[1:]}
    out = []
    for f in range(len(x) // positions):
        ctx[node.input[0]] = x[f * positions:(f + 1) * positions].astype(np.float32).reshape(ishape)
        ctx[node.output[0]] = np.zeros(oshape, dtype=np.float32)
        op.execute_node(ctx, model.graph)
        out.append(ctx[node.output[0]].reshape(positions, -1))
    return np.concatenate(out)


def check_layer(layer, node, golden: ModelWrapper, run_dir: Path, seed: int = 0) -> dict | None:
    """Simulate `layer` (`hw.accelerator.Layer`) on the directed vectors of its golden `node`,
    its memories read from `run_dir`; raises `VerificationError` (stage `layersim`, the layer,
    (vector, channel)) at the first output that differs from FINN's. None when the layer is
    left to the network's vectors."""
    from onebit.hw.accelerator import pack_frames, unpack_frames, watchdog
    from onebit.hw.sim import simulate_instance

    dom = domain(node, golden)
    if dom is None or "THERMO_LEVELS" in layer.inst.params:
        return None
    x, events = directed_inputs(dom, seed + zlib.crc32(node.name.encode()))
    if not len(x):
        return {"vectors": 0, **events}
    inp, out = layer.ins[0], layer.outs[0]
    mw = dom.w.shape[0]
    positions = inp.words * inp.epw // mw
    frames = -(-len(x) // positions)
    xs = x[np.arange(frames * positions) % len(x)]  # whole frames, cycling over the vectors
    want = node_outputs(node, golden, xs, positions)
    res = simulate_instance(layer.inst, pack_frames(xs, inp.dt, inp.epw), frames * out.words,
                            run_dir=run_dir, watchdog=watchdog([layer]))
    bits = layer.inst.out_port_bits(0)
    got = unpack_frames(res.out_words[:, :bits], out.dt, out.epw, frames).reshape(want.shape)
    bad = np.argwhere(got != want)
    if len(bad):
        v, ch = (int(i) for i in bad[0])
        raise VerificationError(
            "layersim", f"directed vector {v % len(x)}, channel {ch}: got {got[v, ch]:g}, FINN "
            f"golden {want[v, ch]:g} ({len(bad)} of {want.size} values differ)", layer.name,
            (v, ch))
    return {"vectors": len(x), **events}


def golden_node(golden: ModelWrapper, layer):
    """The node of the golden graph computing `layer`'s output tensor, or None."""
    return golden.find_producer(layer.outs[0].tensor) if layer.outs else None


def check_layers(acc, golden: ModelWrapper, run_dir: Path, seed: int = 0,
                 only: set[str] | None = None, jobs: int = 2) -> dict:
    """`check_layer` for every layer of the accelerator `acc` (or those named in `only`), `jobs`
    at a time (each compiles its own model: the cost of the check); {layer: its entry} for
    the layers checked. A failure is raised for the first failing layer in dataflow order."""
    from concurrent.futures import ThreadPoolExecutor

    todo = [(la, golden_node(golden, la)) for la in acc.layers
            if only is None or la.name in only]
    todo = [(la, node) for la, node in todo if node is not None]
    with ThreadPoolExecutor(max(1, min(jobs, len(todo) or 1))) as pool:
        entries = list(pool.map(lambda t: check_layer(t[0], t[1], golden, run_dir, seed), todo))
    return {la.name: e for (la, _), e in zip(todo, entries, strict=True) if e is not None}


def channel_range(dom: Domain, column: np.ndarray) -> tuple[int, int, int, int]:
    """(lo, hi, step, offset) of the accumulator of a channel with weights `column` (MW,):
    it takes values lo + k * step in [lo, hi] only (offset = lo % step)."""
    d = Domain(dom.values, column[:, None], dom.xnor, dom.thresholds[:1], dom.wdt)
    lo, hi, step = (int(v[0]) for v in _lattice(d.contributions()))
    return lo, hi, step, lo % step


def constant(dom: Domain, column: np.ndarray, thresholds: np.ndarray) -> bool:
    """Whether a channel with weights `column` and these thresholds has one output for every
    input: each threshold at or below its lowest accumulator, or above its highest."""
    lo, hi, _, _ = channel_range(dom, column)
    return not ((thresholds > lo) & (thresholds <= hi)).any()
