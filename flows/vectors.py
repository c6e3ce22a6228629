"""Directed verification vectors: inputs that put the layers' accumulators on their thresholds.

A simulation only shows a wrong threshold or weight where some vector brings that layer's
accumulator to the threshold: a threshold one step too high changes an output only for an
accumulator exactly at it, one step too low only for the value just below, and a flipped weight
bit moves an accumulator by one step. The first test images rarely do this for most channels,
so a fault can survive the check (`flows/mutation.py` measures how many).

Here every threshold of every `MultiThreshold` of the streamlined graph (the accumulators are
integers there: a MatMul or popcount result) gives two *boundary events* per channel: some
position of some vector has its accumulator at the threshold, and some has it one lattice step
below (the step is the spacing of the accumulator's values: 2 for a +-1 dot product of one
parity, 1 for integers). `choose` picks, from a pool of candidate inputs, the ones that cover
the most events the verification vectors leave uncovered (greedy set cover); the build then
simulates them as well (`directed` in the report, with the coverage before and after).
"""

from __future__ import annotations

from math import gcd

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

CANDIDATES = 4
"""Candidates a build executes per directed vector it may choose (QONNX execution per input is
the cost: ~30 ms for TFC)."""


def contexts(model: ModelWrapper, x: np.ndarray) -> list[dict]:
    """QONNX's full execution context of `model` for each input of `x`."""
    from qonnx.core.onnx_exec import execute_onnx

    iname = model.graph.input[0].name
    shape = model.get_tensor_shape(iname)
    return [execute_onnx(model, {iname: v.reshape(shape)}, return_full_exec_context=True)
            for v in np.asarray(x, dtype=np.float32)]


def lattice_step(acc: np.ndarray) -> int:
    """The spacing of integer values `acc` (the gcd of their differences; 1 if all equal)."""
    d = np.unique(acc.astype(np.int64) - int(acc.min()))
    return max(1, gcd(*d.tolist()))


def boundary_hits(model: ModelWrapper, ctxs: list[dict]) -> tuple[np.ndarray, list[str]]:
    """(vectors, events) booleans: which vector covers which boundary event, and the node each
    event belongs to. Thresholds of non-integer accumulators are left out (no lattice)."""
    cols, owner = [], []
    for node in model.graph.node:
        if node.op_type != "MultiThreshold":
            continue
        thr = model.get_initializer(node.input[1])
        acc = np.stack([c[node.input[0]] for c in ctxs]).astype(np.float64)
        if thr is None or not np.array_equal(acc, np.round(acc)):
            continue
        acc = acc.reshape(len(ctxs), *acc.shape[2:])  # one vector a row, batch of 1 dropped
        if acc.ndim > 2 and getCustomOp(node).get_nodeattr("data_layout") == "NCHW":
            acc = np.moveaxis(acc, 1, -1)  # channels last
        acc = acc.reshape(len(ctxs), -1, acc.shape[-1] if acc.ndim > 1 else 1)  # (n, pos, ch)
        thr = np.broadcast_to(thr, (acc.shape[2], thr.shape[-1]))  # (ch, thresholds)
        step = lattice_step(acc)
        at, below = _events(acc, thr, step)
        for hits in (at, below):
            cols.append(hits.reshape(len(ctxs), -1))
            owner += [node.name] * cols[-1].shape[1]
    if not cols:
        return np.zeros((len(ctxs), 0), dtype=bool), []
    return np.concatenate(cols, axis=1), owner


def _events(acc: np.ndarray, thr: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, ch, thresholds) each: some position at [t, t + step), some in [t - step, t)."""
    n, _, ch = acc.shape
    at = np.zeros((n, *thr.shape), dtype=bool)
    below = np.zeros_like(at)
    for i in range(n):
        srt = np.sort(acc[i], axis=0)  # per channel, the positions' values in order
        for c in range(ch):
            col, t = srt[:, c], thr[c]
            for hits, lo, hi in ((at, t, t + step), (below, t - step, t)):
                j = np.minimum(np.searchsorted(col, lo), len(col) - 1)  # first value >= lo
                hits[i, c] = (col[j] >= lo) & (col[j] < hi)
    return at, below


def choose(hits: np.ndarray, given: int, k: int) -> list[int]:
    """Up to `k` rows of `hits` after the first `given` (the candidates) that cover the most
    events rows `:given` leave uncovered, greedily; fewer when nothing more is gained."""
    covered = hits[:given].any(axis=0)
    picked: list[int] = []
    for _ in range(k):
        gain = (hits[given:] & ~covered).sum(axis=1)
        best = int(np.argmax(gain))
        if gain[best] == 0:
            break
        picked.append(given + best)
        covered |= hits[given + best]
    return picked


def coverage(hits: np.ndarray, owner: list[str], rows) -> dict:
    """Boundary events covered by `rows`: in all and per node."""
    covered = hits[list(rows)].any(axis=0) if len(rows) else np.zeros(hits.shape[1], bool)
    per = {}
    for name in dict.fromkeys(owner):
        m = np.array([o == name for o in owner])
        per[name] = round(float(covered[m].mean()), 4)
    return {"events": int(hits.shape[1]), "covered": int(covered.sum()),
            "fraction": round(float(covered.mean()), 4) if hits.shape[1] else None,
            "layers": per}
