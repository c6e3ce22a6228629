"""The pipeline timeline: what every stream of the accelerator did, cycle class by time window.

The simulation wrapper counts, per stream and window of W cycles, the cycles a stream moved a
word (valid & ready: busy), was held by its consumer (valid & !ready: stall) or carried nothing
(!valid: idle) (`sim.Activity`; the streams are the layers' outputs, at the producer's side of
each FIFO, and the accelerator's input). `timeline` turns those counts into the report's
`sim.activity`: one row per stream named producer -> consumer, each layer's totals per frame,
and the measured bottleneck.

A stall is a cycle the consumer made its producer wait (its FIFO full). Upstream of the slowest
layer every stream stalls, downstream of it streams only idle: the **measured bottleneck** is
the consumer of the last stream, in dataflow order, that stalls for at least `STALL_FLOOR` of
the run; "input" when no stream stalls that much (the source is the limit).
"""

from __future__ import annotations

import numpy as np

from onebit.hw.sim import BUSY, IDLE, STALL, Activity
from onebit.hw.stitch import GRAPH

STALL_FLOOR = 0.01
"""The fraction of the run a stream must stall for its consumer to count as holding it up."""


def stream_names(layers: list[str], edges, taps: list[int]) -> list[tuple[str, str]]:
    """(producer, consumer) of each counted stream: the tapped edges `taps`, then the input.
    The accelerator's own ports are "input" and "output"."""
    def name(i: int, top: str) -> str:
        return top if i == GRAPH else layers[i]

    rows = [(name(edges[k].src[0], "input"), name(edges[k].dst[0], "output")) for k in taps]
    first = next(e for e in edges if e.src[0] == GRAPH)
    return [*rows, ("input", name(first.dst[0], "output"))]


def bottleneck(streams: list[dict], cycles: int) -> str:
    """The consumer of the last stream (dataflow order) stalling >= STALL_FLOOR of `cycles`;
    "input" when none does. `streams` in dataflow order, each with its `stall` total."""
    held = [s["consumer"] for s in streams if s["totals"]["stall"] >= STALL_FLOOR * cycles]
    return held[-1] if held else "input"


def timeline(act: Activity, layers: list[str], edges, taps: list[int], frames: int) -> dict:
    """The report's `sim.activity`: per stream (dataflow order, the input first) its busy/stall/
    idle cycles per window; per layer per frame its output stream's busy/stall/idle cycles (the
    mean of a fork's two) and `waited`, the stall cycles of the streams it consumes (its
    producers waiting on it, summed over an add's two)."""
    names = stream_names(layers, edges, taps)
    # dataflow order: the input, then by producer (edges are in node order)
    order = [len(names) - 1] + sorted(range(len(names) - 1), key=lambda s: edges[taps[s]].src)
    streams = []
    for s in order:
        producer, consumer = names[s]
        c = act.counts[s]
        streams.append({
            "producer": producer, "consumer": consumer,
            "busy": c[:, BUSY].tolist(), "stall": c[:, STALL].tolist(), "idle": c[:, IDLE].tolist(),
            "totals": {"busy": int(c[:, BUSY].sum()), "stall": int(c[:, STALL].sum()),
                       "idle": int(c[:, IDLE].sum())}})
    cycles = int(act.counts[0].sum()) if act.counts.size else 0
    per_layer = {}
    for la in layers:
        outs = [s["totals"] for s in streams if s["producer"] == la]
        ins = [s["totals"] for s in streams if s["consumer"] == la]
        per_layer[la] = {
            **{k: round(sum(t[k] for t in outs) / len(outs) / frames, 1)
               for k in ("busy", "stall", "idle")},
            "waited": round(sum(t["stall"] for t in ins) / frames, 1)}
    return {"window_cycles": act.window, "cycles": cycles, "frames": frames,
            "streams": streams, "layers": per_layer, "bottleneck": bottleneck(streams, cycles)}


def fractions(stream: dict) -> np.ndarray:
    """(windows, 3) busy/stall/idle fractions of each window of a `timeline` stream."""
    c = np.array([stream["busy"], stream["stall"], stream["idle"]], dtype=float).T
    return c / np.maximum(c.sum(axis=1, keepdims=True), 1) if len(c) else c.reshape(0, 3)
