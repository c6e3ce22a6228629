"""Whole-accelerator RTL simulation, checked bit-exactly against FINN's golden execution.

`build_accelerator` turns a folded, specialized FINN dataflow graph into RTL instances and a
stitched top; `size_fifos` sets the inter-layer FIFO depths from a simulation (peak occupancy
at full throughput); `run_frames` streams frames through the stitched design in Verilator.
On a mismatch, `locate_mismatch` simulates the layers one by one on their golden inputs and
names the first layer that differs and the first differing element.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import VerificationError
from onebit.hw import codegen, packing
from onebit.hw.instance import RtlInstance
from onebit.hw.sim import SimResult, simulate_instance
from onebit.hw.stitch import stitch

PASS_THROUGH = ("StreamingDataWidthConverter", "StreamingFIFO")
DEFAULT_FIFO_DEPTH = 2


@dataclass
class Layer:
    """One node of the dataflow graph with its RTL and stream geometry."""

    name: str
    op_type: str
    in_tensor: str
    out_tensor: str
    inst: RtlInstance
    in_dt: DataType
    out_dt: DataType
    in_epw: int  # elements per input word
    out_epw: int
    in_words: int  # words per frame
    out_words: int

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in ("name", "op_type", "in_tensor", "out_tensor",
                                            "in_epw", "out_epw", "in_words", "out_words")}
        d["in_dt"], d["out_dt"] = self.in_dt.name, self.out_dt.name
        d["inst"] = {**asdict(self.inst), "sources": [str(p) for p in self.inst.sources]}
        return d

    @classmethod
    def from_json(cls, d: dict) -> Layer:
        inst = dict(d["inst"])
        inst["sources"] = [Path(p) for p in inst["sources"]]
        kw = {k: d[k] for k in ("name", "op_type", "in_tensor", "out_tensor", "in_epw",
                                "out_epw", "in_words", "out_words")}
        return cls(inst=RtlInstance(**inst), in_dt=DataType[d["in_dt"]],
                   out_dt=DataType[d["out_dt"]], **kw)


def _hw(node, model):
    from finn.util.basic import getHWCustomOp

    return getHWCustomOp(node)


def make_layers(model: ModelWrapper, out_dir: Path) -> list[Layer]:
    """Generate the RTL of every node of a linear dataflow graph, in stream order."""
    layers = []
    expect = model.graph.input[0].name
    for node in model.graph.node:
        if node.input[0] != expect:
            raise VerificationError("rtlsim", "the dataflow graph is not a linear chain",
                                    node.name)
        expect = node.output[0]
        op = _hw(node, model)
        fin, fout = op.get_folded_input_shape(), op.get_folded_output_shape()
        layers.append(Layer(
            node.name, node.op_type, node.input[0], node.output[0],
            codegen.generate(node, model, out_dir),
            op.get_input_datatype(0), op.get_output_datatype(0),
            int(fin[-1]), int(fout[-1]), int(np.prod(fin[:-1])), int(np.prod(fout[:-1])),
        ))
    return layers


def pack_frames(frames: np.ndarray, dt: DataType, epw: int) -> np.ndarray:
    """(N, ...) tensors in stream (C) order to one bit matrix of words."""
    return packing.pack(np.asarray(frames).reshape(-1), dt, epw)


def unpack_frames(words: np.ndarray, dt: DataType, epw: int, n: int) -> np.ndarray:
    return packing.unpack(words, dt, epw).reshape(n, -1)


def run_frames(top: RtlInstance, layers: list[Layer], x: np.ndarray, *, seed: int = 0,
               backpressure: bool = False, run_dir: Path | None = None,
               cache_dir: Path | None = None) -> tuple[np.ndarray, SimResult]:
    """Stream `x` (N frames of the dataflow input) through the stitched design.

    `backpressure`: the source stalls and the sink refuses words at random (60% duty).
    """
    first, last = layers[0], layers[-1]
    n = len(x)
    words = pack_frames(x, first.in_dt, first.in_epw)
    p = 0.6 if backpressure else 1.0
    res = simulate_instance(top, words, n * last.out_words, seed=seed,
                            p_valid=p, p_ready=p,
                            watchdog=_watchdog(layers), run_dir=run_dir, cache_dir=cache_dir)
    out = unpack_frames(res.out_words[:, : last.inst.out_bits], last.out_dt, last.out_epw, n)
    return out, res


def _watchdog(layers: list[Layer]) -> int:
    # The longest silent stretch of a sound design is bounded by a frame's worth of work of
    # the slowest layer (e.g. a sliding window filling its buffer); allow generously more.
    return 10_000 + 4 * sum(max(layer.in_words, layer.out_words) * 8 for layer in layers)


def frame_timing(res: SimResult, out_words_per_frame: int, n: int) -> dict:
    """Latency of the first frame and steady-state cycles per frame from handshake cycles."""
    ends = res.out_cycles[out_words_per_frame - 1 :: out_words_per_frame][:n].astype(np.int64)
    first_in = int(res.in_cycles[0]) if len(res.in_cycles) else 0
    latency = int(ends[0]) - first_in + 1
    if n >= 3:
        # skip the first frame (pipeline fill) when there are enough frames
        cpf = float(ends[-1] - ends[1]) / (n - 2)
    elif n == 2:
        cpf = float(ends[1] - ends[0])
    else:
        cpf = float(latency)
    return {"latency_cycles": latency, "cycles_per_frame": cpf, "total_cycles": int(res.cycles)}


def size_fifos(layers: list[Layer], x: np.ndarray, out_dir: Path, *, probe_depth: int = 0,
               tolerance: float = 0.005, cache_dir: Path | None = None) -> list[int]:
    """Smallest FIFO depths that keep the simulated throughput of deep FIFOs.

    One simulation-only top connects the layers through deep FIFOs (`probe_depth`, default one
    frame of the producer's words) whose fill level is capped at run time by
    `fifo_limits.hex`. With every cap at the probe depth the design runs at its own
    bottleneck rate (input offered as fast as it is taken); then, FIFO by FIFO, a binary
    search finds the smallest cap that keeps the steady-state cycles/frame within
    `tolerance` of that. Each probe is a run of the same executable, not a rebuild.
    """
    probe = [probe_depth or max(16, layer.out_words + 2) for layer in layers]
    run_dir = Path(out_dir) / "sizing"
    top = stitch([la.inst for la in layers], probe, run_dir, monitor=True)
    frames = max(4, len(x))
    xs = np.asarray(x)[np.arange(frames) % len(x)]

    def cycles_per_frame(limits: list[int]) -> tuple[float, list[int]]:
        (run_dir / "fifo_limits.hex").write_text("".join(f"{v:x}\n" for v in limits))
        _, res = run_frames(top, layers, xs, run_dir=run_dir, cache_dir=cache_dir)
        peaks = [0] * len(layers)
        for line in (run_dir / "fifo_occupancy.txt").read_text().split("\n"):
            if line.strip():
                i, peak = line.split()
                peaks[int(i)] = int(peak)
        return frame_timing(res, layers[-1].out_words, frames)["cycles_per_frame"], peaks

    limits = list(probe)
    best, peaks = cycles_per_frame(limits)
    budget = best * (1 + tolerance)
    limits = [max(DEFAULT_FIFO_DEPTH, p + 1) for p in peaks]
    for i in range(len(layers)):
        lo, hi = DEFAULT_FIFO_DEPTH, limits[i]
        while lo < hi:
            mid = (lo + hi) // 2
            trial = limits[:i] + [mid] + limits[i + 1 :]
            if cycles_per_frame(trial)[0] <= budget:
                hi = mid
            else:
                lo = mid + 1
        limits[i] = lo
    return limits


def golden_tensor(model: ModelWrapper, ctx: dict, name: str) -> np.ndarray:
    """A tensor of the golden context, looking through width converters and FIFOs."""
    while name not in ctx:
        prod = model.find_producer(name)
        if prod is None or not prod.op_type.startswith(PASS_THROUGH):
            raise KeyError(name)
        name = prod.input[0]
    return ctx[name]


def locate_mismatch(layers: list[Layer], model: ModelWrapper, golden: list[dict],
                    out_dir: Path, cache_dir: Path | None = None) -> None:
    """Simulate layers one by one on golden inputs; raise naming the first wrong layer."""
    for layer in layers:
        if layer.op_type.startswith(PASS_THROUGH):
            continue
        xin = np.stack([golden_tensor(model, g, layer.in_tensor) for g in golden])
        want = np.stack([golden_tensor(model, g, layer.out_tensor) for g in golden])
        words = pack_frames(xin, layer.in_dt, layer.in_epw)
        run_dir = Path(out_dir) / layer.name
        run_dir.mkdir(parents=True, exist_ok=True)
        res = simulate_instance(layer.inst, words, len(golden) * layer.out_words,
                                watchdog=_watchdog([layer]), run_dir=run_dir,
                                cache_dir=cache_dir)
        got = unpack_frames(res.out_words[:, : layer.inst.out_bits], layer.out_dt,
                            layer.out_epw, len(golden))
        want = want.reshape(len(golden), -1)
        bad = np.argwhere(got != want)
        if len(bad):
            f, i = (int(v) for v in bad[0])
            raise VerificationError(
                "rtlsim", f"frame {f}: got {got[f, i]:g}, FINN golden {want[f, i]:g} "
                f"({len(bad)} of {want.size} values differ)", layer.name, (f, i))


MANIFEST = "accelerator.json"


def save_manifest(out_dir: Path, layers: list[Layer], top: RtlInstance, depths: list[int]) -> Path:
    """Record the generated accelerator so it can be re-simulated (`onebit sim`)."""
    path = Path(out_dir) / MANIFEST
    path.write_text(json.dumps({
        "top": {**asdict(top), "sources": [str(p) for p in top.sources]},
        "fifo_depths": depths,
        "layers": [la.to_json() for la in layers],
    }, indent=1))
    return path


def load_manifest(out_dir: Path) -> tuple[list[Layer], RtlInstance, list[int]]:
    """Inverse of `save_manifest`."""
    d = json.loads((Path(out_dir) / MANIFEST).read_text())
    top = dict(d["top"])
    top["sources"] = [Path(p) for p in top["sources"]]
    return [Layer.from_json(x) for x in d["layers"]], RtlInstance(**top), d["fifo_depths"]
