"""Whole-accelerator RTL simulation, checked bit-exactly against FINN's golden execution.

`build_accelerator` turns a folded, specialized FINN dataflow graph into RTL instances and a
stitched top; `size_fifos` sets the inter-layer FIFO depths from a simulation (peak occupancy
at full throughput); `run_frames` streams frames through the stitched design in Verilator.
On a mismatch, `locate_mismatch` simulates the layers one by one on their golden inputs and
names the first layer that differs and the first differing element.
"""

from __future__ import annotations

from dataclasses import dataclass
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

    node: object
    inst: RtlInstance
    in_dt: DataType
    out_dt: DataType
    in_epw: int  # elements per input word
    out_epw: int
    in_words: int  # words per frame
    out_words: int

    @property
    def name(self) -> str:
        return self.node.name


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
            node, codegen.generate(node, model, out_dir),
            model.get_tensor_datatype(node.input[0]), model.get_tensor_datatype(node.output[0]),
            int(fin[-1]), int(fout[-1]), int(np.prod(fin[:-1])), int(np.prod(fout[:-1])),
        ))
    return layers


def pack_frames(frames: np.ndarray, dt: DataType, epw: int) -> np.ndarray:
    """(N, ...) tensors in stream (C) order to one bit matrix of words."""
    return packing.pack(np.asarray(frames).reshape(-1), dt, epw)


def unpack_frames(words: np.ndarray, dt: DataType, epw: int, n: int) -> np.ndarray:
    return packing.unpack(words, dt, epw).reshape(n, -1)


def run_frames(top: RtlInstance, layers: list[Layer], x: np.ndarray, *, seed: int = 0,
               backpressure: bool = False, p_valid: float | None = None,
               run_dir: Path | None = None,
               cache_dir: Path | None = None) -> tuple[np.ndarray, SimResult]:
    """Stream `x` (N frames of the dataflow input) through the stitched design.

    `backpressure`: the source stalls and the sink refuses words at random (60% duty).
    `p_valid` overrides the source's duty (used to offer input at the design's own rate).
    """
    first, last = layers[0], layers[-1]
    n = len(x)
    words = pack_frames(x, first.in_dt, first.in_epw)
    p = 0.6 if backpressure else 1.0
    res = simulate_instance(top, words, n * last.out_words, seed=seed,
                            p_valid=p if p_valid is None else p_valid, p_ready=p,
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


def size_fifos(layers: list[Layer], x: np.ndarray, out_dir: Path, cycles_per_frame: float, *,
               probe_depth: int = 0, cache_dir: Path | None = None) -> list[int]:
    """FIFO depths from a simulation at the design's throughput: peak occupancy + 1, at least 2.

    Layers are first connected through deep FIFOs (`probe_depth`, default: one frame of the
    producer's words) so that no layer is throttled by its successor, and input is offered at
    the bottleneck's rate (`cycles_per_frame`): offered faster, every FIFO in front of the
    bottleneck would just fill up. The peak number of words each FIFO held is then what it
    needs to absorb the layers' burstiness (window buffers filling, neuron folds).
    """
    probe = [probe_depth or max(16, layer.out_words + 2) for layer in layers]
    top = stitch([la.inst for la in layers], probe, out_dir / "sizing", monitor=True)
    run_dir = out_dir / "sizing"
    rate = min(1.0, layers[0].in_words / max(1.0, cycles_per_frame))
    run_frames(top, layers, x, p_valid=rate, run_dir=run_dir, cache_dir=cache_dir)
    peaks = dict.fromkeys(range(len(layers)), 0)
    for line in (run_dir / "fifo_occupancy.txt").read_text().split("\n"):
        if line.strip():
            i, peak = line.split()
            peaks[int(i)] = int(peak)
    return [max(DEFAULT_FIFO_DEPTH, peaks[i] + 1) for i in range(len(layers))]


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
        if layer.node.op_type.startswith(PASS_THROUGH):
            continue
        xin = np.stack([golden_tensor(model, g, layer.node.input[0]) for g in golden])
        want = np.stack([golden_tensor(model, g, layer.node.output[0]) for g in golden])
        words = pack_frames(xin, layer.in_dt, layer.in_epw)
        res = simulate_instance(layer.inst, words, len(golden) * layer.out_words,
                                watchdog=_watchdog([layer]), run_dir=out_dir / layer.name,
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
