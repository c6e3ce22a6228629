"""Whole-accelerator RTL simulation, checked bit-exactly against FINN's golden execution.

`make_layers` turns a folded, specialized FINN dataflow graph into RTL instances and the
streams (edges) between them; `size_fifos` finds the smallest FIFO on every stream that keeps
the simulated throughput; `stitch` (hw/stitch.py) writes the top; `run_frames` streams frames
through it in Verilator, recording every stream between layers on the way (`sim.Tap`), and
`stream_mismatch` compares each stream with FINN's golden tensor: a wrong layer is named even
where a later layer masks its error (a top-1 label), with its first differing element.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UserInputError, VerificationError
from onebit.hw import codegen, mvau, packing
from onebit.hw.instance import RtlInstance
from onebit.hw.sim import (
    SIM_TOP,
    Packed,
    SimResult,
    SimulationError,
    Tap,
    run_stream_sim,
    simulate_instance,
)
from onebit.hw.stitch import GRAPH, Edge, stitch, stream_taps, windows

PASS_THROUGH = ("StreamingDataWidthConverter", "StreamingFIFO")
DEFAULT_FIFO_DEPTH = 2
SIZING_SLACK = 1 / 16
"""A searched FIFO depth may exceed the smallest good one by this fraction of itself (the
search stops there: a 10,000-word shortcut is not worth 10 more simulations for its last 5 %)."""
SIZING_BUDGET = 32.0
"""The FIFO sizing probes together simulate at most this many times the deep run's cycles."""
SIZING_MAX_WORK = 1_000_000_000
"""... and at most this much work in all: simulated cycles times the design's width, the sum of
its layers' `_sim_words` (a simulator's cost grows with both; a few minutes of Verilator). A
design of millions of cycles a run (PE = SIMD = 1 on a wide convolution; robustness seed 115,
49 layers, 5.3M cycles a run, ran past 30 min with a bound in cycles alone) or with a very wide
layer (seed 479: a 31 x 1547 XNOR layer beside 153,062 cycles a frame, past an hour with a
bound in layer-cycles) keeps its deep run's peak fills for the streams the probes do not
reach, instead of simulating for an hour."""
MANIFEST = "accelerator.json"


@dataclass
class Port:
    """One stream port of a layer: the FINN tensor it carries and its word geometry."""

    tensor: str
    dt: DataType
    epw: int  # elements per word
    words: int  # words per frame

    def to_json(self) -> dict:
        return {**asdict(self), "dt": self.dt.name}

    @classmethod
    def from_json(cls, d: dict) -> Port:
        return cls(**{**d, "dt": DataType[d["dt"]]})


@dataclass
class Layer:
    """One node of the dataflow graph with its RTL and its input/output ports."""

    name: str
    op_type: str
    inst: RtlInstance
    ins: list[Port]
    outs: list[Port]

    def to_json(self, root: Path) -> dict:
        """The layer as JSON, its sources named relative to `root`."""
        return {"name": self.name, "op_type": self.op_type, "inst": _inst_json(self.inst, root),
                "ins": [p.to_json() for p in self.ins], "outs": [p.to_json() for p in self.outs]}

    @classmethod
    def from_json(cls, d: dict, root: Path) -> Layer:
        return cls(d["name"], d["op_type"], _inst_from_json(d["inst"], root),
                   [Port.from_json(p) for p in d["ins"]], [Port.from_json(p) for p in d["outs"]])


def _inst_json(inst: RtlInstance, root: Path) -> dict:
    return {**asdict(inst), "sources": [str(p.relative_to(root)) for p in inst.sources]}


def _inst_from_json(d: dict, root: Path) -> RtlInstance:
    """An instance whose sources (relative to `root`) must lie inside `root`."""
    paths = [root / p for p in d["sources"]]
    outside = [str(p) for p in paths if not p.resolve().is_relative_to(root)]
    if outside:
        raise UserInputError(f"{root / MANIFEST} names sources outside the build "
                             f"({outside[0]}): build it again with this onebit")
    return RtlInstance(**{**d, "sources": paths})


@dataclass
class Accelerator:
    """The generated design: layers, the streams between them, FIFO depths, the stitched top."""

    layers: list[Layer]
    edges: list[Edge]
    depths: list[int]
    top: RtlInstance | None = None

    @property
    def first(self) -> Port:
        e = next(e for e in self.edges if e.src[0] == GRAPH)
        return self.layers[e.dst[0]].ins[e.dst[1]]

    @property
    def last(self) -> Port:
        e = next(e for e in self.edges if e.dst[0] == GRAPH)
        return self.layers[e.src[0]].outs[e.src[1]]

    @property
    def last_bits(self) -> int:
        e = next(e for e in self.edges if e.dst[0] == GRAPH)
        return self.layers[e.src[0]].inst.out_port_bits(e.src[1])

    @property
    def windows(self):
        """The runtime-writable layers with their weight windows (`driver.weights`)."""
        return windows([la.inst for la in self.layers])

    def fifo_depths(self) -> dict[str, int]:
        """Depth of each stream's FIFO, keyed 'producer->consumer' ('in'/'out': the top)."""
        def name(i: int, top: str) -> str:
            return top if i == GRAPH else self.layers[i].name

        return {f"{name(e.src[0], 'in')}->{name(e.dst[0], 'out')}": d
                for e, d in zip(self.edges, self.depths, strict=True) if d}

    def taps(self) -> list[tuple[int, Tap]]:
        """Every stream a layer emits: (edge index, its tap in the stitched top)."""
        return stream_taps([la.inst for la in self.layers], self.edges)

    def stitch(self, out_dir: Path, depths: list[int] | None = None,
               monitor: bool = False) -> RtlInstance:
        return stitch([la.inst for la in self.layers], self.edges, depths or self.depths,
                      out_dir, monitor)

    def save(self, out_dir: Path) -> Path:
        """Record the design so it can be re-simulated (`onebit sim`), from any directory.

        Localizes the design first (`localize`): the manifest names every file relative to
        `out_dir`, and simulations of it run with `out_dir` as their working directory.
        """
        out_dir = Path(out_dir).resolve()
        localize(self, out_dir)
        path = out_dir / MANIFEST
        path.write_text(json.dumps({
            "top": _inst_json(self.top, out_dir),
            "depths": self.depths,
            "edges": [asdict(e) for e in self.edges],
            "layers": [la.to_json(out_dir) for la in self.layers],
            "writable_layers": [w.to_json() for w in self.windows],
        }, indent=1))
        return path

    @classmethod
    def load(cls, out_dir: Path) -> Accelerator:
        """The design saved in `out_dir`; its sources resolved there (they must lie inside)."""
        out_dir = Path(out_dir).resolve()
        d = json.loads((out_dir / MANIFEST).read_text())
        edges = [Edge(e["name"], tuple(e["src"]), tuple(e["dst"])) for e in d["edges"]]
        return cls([Layer.from_json(x, out_dir) for x in d["layers"]], edges, d["depths"],
                    _inst_from_json(d["top"], out_dir))


LIBRARY = "lib"
"""Where `localize` copies the library sources (onebit's and finn-rtllib's) a design uses."""


def localize(acc: Accelerator, root: Path) -> None:
    """Make the design under `root` self-contained and relocatable, in place.

    Library sources outside `root` are copied into `root/lib/`; every absolute path into
    `root` in generated sources and string parameters (memory files for `$readmemh`) becomes
    relative to `root`. A moved or copied design then reads only its own files, when it is
    simulated (or synthesized) with `root` as the working directory.
    """
    root = Path(root).resolve()
    prefix = f"{root}/"
    lib = root / LIBRARY
    copied: dict[str, Path] = {}

    def local(p: Path) -> Path:
        p = Path(p).resolve()
        if p.is_relative_to(root):
            return p
        dest = lib / p.name
        if copied.setdefault(p.name, p) != p:
            raise RuntimeError(f"two library sources named {p.name}: {copied[p.name]}, {p}")
        if not dest.exists():
            lib.mkdir(exist_ok=True)
            shutil.copyfile(p, dest)
        return dest

    insts = [la.inst for la in acc.layers] + [acc.top]
    for inst in insts:
        inst.sources = [local(p) for p in inst.sources]
        inst.params = {k: v.replace(prefix, "") if isinstance(v, str) else v
                       for k, v in inst.params.items()}
    generated = {p for inst in insts for p in inst.sources if not p.is_relative_to(lib)}
    for p in sorted(generated):
        text = p.read_text()
        if prefix in text:
            p.write_text(text.replace(f'"{prefix}', '"'))
    leftover = [str(p) for p in generated if prefix in p.read_text()]
    if leftover:
        raise RuntimeError(f"absolute paths into {root} left in {leftover}")


def _ports(op, node, model, which: str) -> list[Port]:
    tensors = node.input if which == "in" else node.output
    ports = []
    for i, t in enumerate(tensors):
        if model.get_initializer(t) is not None:
            continue  # weights and thresholds are baked into the RTL
        if which == "in":
            shape, dt = op.get_folded_input_shape(i), op.get_input_datatype(i)
        else:
            shape, dt = op.get_folded_output_shape(i), op.get_output_datatype(i)
        ports.append(Port(t, dt, int(shape[-1]), int(np.prod(shape[:-1]))))
    return ports


def make_layers(model: ModelWrapper, out_dir: Path) -> Accelerator:
    """Generate the RTL of every node of a dataflow graph and the streams between them."""
    from finn.util.basic import getHWCustomOp

    layers = []
    for node in model.graph.node:
        op = getHWCustomOp(node)
        layers.append(Layer(node.name, node.op_type, codegen.generate(node, model, out_dir),
                            _ports(op, node, model, "in"), _ports(op, node, model, "out")))
    consumers = {p.tensor: (i, k) for i, la in enumerate(layers) for k, p in enumerate(la.ins)}
    gin, gout = model.graph.input[0].name, model.graph.output[0].name
    if gin not in consumers:
        raise VerificationError("rtlsim", f"no layer reads the graph input '{gin}'")
    edges = [Edge(gin, (GRAPH, 0), consumers.pop(gin))]
    for i, la in enumerate(layers):
        for k, p in enumerate(la.outs):
            if p.tensor == gout:
                edges.append(Edge(p.tensor, (i, k), (GRAPH, 0)))
            elif p.tensor in consumers:
                edges.append(Edge(p.tensor, (i, k), consumers.pop(p.tensor)))
            else:
                raise VerificationError(
                    "rtlsim", f"output '{p.tensor}' feeds no layer or several (fan-out needs "
                    "DuplicateStreams)", la.name)
    if consumers:
        raise VerificationError("rtlsim", f"inputs without a producer: {sorted(consumers)}")
    return Accelerator(layers, edges, [DEFAULT_FIFO_DEPTH] * len(edges))


def pack_frames(frames: np.ndarray, dt: DataType, epw: int) -> np.ndarray:
    """(N, ...) tensors in stream (C) order to one bit matrix of words."""
    return packing.pack(np.asarray(frames).reshape(-1), dt, epw)


def unpack_frames(words: np.ndarray, dt: DataType, epw: int, n: int) -> np.ndarray:
    return packing.unpack(words, dt, epw).reshape(n, -1)


def frame_words(acc: Accelerator, top: RtlInstance, x: np.ndarray) -> Packed:
    """The input words of `x` (N frames of the dataflow input) for the stitched design `top`,
    in the driver's layout: `acc.first.words` rows a frame (slice them to run part of `x`)."""
    first = acc.first
    return Packed.of(x, first.dt, first.epw, top.in_width)


def run_frames(acc: Accelerator, top: RtlInstance, x: np.ndarray | Packed, *, seed: int = 0,
               backpressure: bool = False, run_dir: Path | None = None,
               cache_dir: Path | None = None, max_cycles: int | None = None,
               taps: bool = False, trace: Path | None = None,
               coverage: Path | None = None,
               exe: Path | None = None) -> tuple[np.ndarray, SimResult]:
    """Stream `x` (N frames of the dataflow input, or their `frame_words`) through the
    stitched design `top`.

    `backpressure`: the source stalls and the sink refuses words at random (60% duty).
    `taps`: also record every stream between layers (`SimResult.taps`, in `acc.taps()` order).
    `trace`: write a VCD waveform of the run there (`waveform_view` names its signals).
    `coverage`: the directory the run writes its coverage files to (`hw.coverage`).
    `exe`: `top`'s simulator as `build_instance_sim` returned it (plain, no taps, trace or
    coverage), for many runs of one design: found once, not per run.
    """
    last = acc.last
    words = x if isinstance(x, Packed) else frame_words(acc, top, x)
    n = len(words.image) // acc.first.words
    p = 0.6 if backpressure else 1.0
    run = dict(seed=seed, p_valid=p, p_ready=p, watchdog=watchdog(acc.layers),
               max_cycles=max_cycles, run_dir=run_dir)
    if exe is not None:
        if taps or trace is not None or coverage is not None:
            raise ValueError("run_frames: a prebuilt exe runs without taps, trace or coverage")
        res = run_stream_sim(exe, words, n * last.words, in_width=top.in_width,
                             out_width=top.out_width, **run)
    else:
        res = simulate_instance(top, words, n * last.words, cache_dir=cache_dir,
                                taps=[t for _, t in acc.taps()] if taps else (), trace=trace,
                                coverage=coverage, **run)
    out = unpack_frames(res.out_words[:, : acc.last_bits], last.dt, last.epw, n)
    return out, res


def _compute_cycles(la: Layer) -> int:
    """Cycles an MVAU computes per frame (each input vector is read MH/PE times); 0 otherwise."""
    p = la.inst.params
    if la.inst.module != mvau.MODULE:
        return 0
    return la.ins[0].words * (int(p["MH"]) // int(p["PE"]))


def _sim_words(la: Layer) -> int:
    """A layer's width for the cost of simulating it: 64-bit words of its widest datapath (an
    MVAU's weight word, PE x SIMD x weight bits; else its widest stream), at least 1."""
    p = la.inst.params
    bits = max(la.inst.in_width, la.inst.out_width, la.inst.in1_width, la.inst.out1_width)
    if la.inst.module == mvau.MODULE:
        bits = max(bits, int(p["PE"]) * int(p["SIMD"]) * int(p["W_BITS"]))
    return max(1, -(-bits // 64))


def watchdog(layers: list[Layer]) -> int:
    # The longest silent stretch of a sound design is bounded by a frame's worth of work of
    # the slowest layer (e.g. a sliding window filling its buffer) or, behind folded MVAUs
    # (SIMD = PE = 1: MW * MH cycles a frame), by a frame's way through all of them; allow
    # generously more.
    words = sum(max(p.words for p in la.ins + la.outs) for la in layers)
    return 10_000 + 32 * words + 2 * sum(_compute_cycles(la) for la in layers)


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


def size_fifos(acc: Accelerator, x: np.ndarray, out_dir: Path, *, probe_depth: int = 0,
               tolerance: float = 0.005, cache_dir: Path | None = None,
               budget: float = SIZING_BUDGET) -> tuple[list[int], dict]:
    """FIFO depths within `SIZING_SLACK` of the smallest that keep the throughput of deep FIFOs.

    One simulation-only top connects the layers through deep FIFOs (`probe_depth`, default
    one frame of the stream's words: always enough, even for a residual shortcut) whose fill
    level is capped at run time by `fifo_limits.hex`. With every cap at the probe depth the
    design runs at its own bottleneck rate (input offered as fast as it is taken), and each
    stream's peak fill is a cap that never binds. Most streams need the minimum: one probe
    tries every stream at the minimum together, and a failing group is halved until the
    streams that need more are found (`_settle_at_minimum`); each of those is searched for
    the smallest cap that keeps the steady-state cycles/frame within `tolerance`
    (`_smallest_cap`: bisection on a log scale). Each probe is a run of the same executable,
    stopped after 1.5 times the cycles of the deep run: a cap that deadlocks (e.g. a residual
    shortcut shallower than what its branch holds back) or slows the design that much counts
    as too small without waiting for the watchdog. The probes together simulate at most
    `budget` times the deep run's cycles; where that runs out, the streams not yet searched
    keep their peak fill (a cap that never binds); so do they past `SIZING_MAX_WORK`
    simulated cycles times words.

    Returns the depths (0 for the graph's input stream) and `{"probes", "streams",
    "searched", "complete"}`: probes run, streams whose cap could bind, how many of them were
    searched, and whether all were.
    """
    sized = [e.src[0] != GRAPH for e in acc.edges]
    deep = [probe_depth or max(16, acc.layers[e.src[0]].outs[e.src[1]].words + 2)
            if s else 0 for e, s in zip(acc.edges, sized, strict=True)]
    run_dir = Path(out_dir) / "sizing"
    top = acc.stitch(run_dir, deep, monitor=True)
    frames = max(4, len(x))
    xs = np.asarray(x)[np.arange(frames) % len(x)]
    bound: list[int | None] = [None]  # max cycles of a probe, set by the deep run

    def run(limits: list[int]) -> tuple[float, list[int], int]:
        (run_dir / "fifo_limits.hex").write_text("".join(f"{v:x}\n" for v in limits))
        try:
            _, res = run_frames(acc, top, xs, run_dir=run_dir, cache_dir=cache_dir,
                                max_cycles=bound[0])
        except SimulationError as e:
            if e.reason not in ("watchdog", "max_cycles reached"):
                raise
            return float("inf"), [], 0  # too shallow: deadlocked or far too slow
        peaks = [0] * len(acc.edges)
        for line in (run_dir / "fifo_occupancy.txt").read_text().split("\n"):
            if line.strip():
                k, peak = line.split()
                peaks[int(k)] = int(peak)
        return frame_timing(res, acc.last.words, frames)["cycles_per_frame"], peaks, res.cycles

    best, peaks, total = run(deep)
    if not peaks:
        raise SimulationError("watchdog", "the design deadlocks even with one-frame FIFOs")
    bound[0] = 3 * int(total) // 2 + 1_000
    budget = min(budget, SIZING_MAX_WORK / max(total * sum(map(_sim_words, acc.layers)), 1))
    slowest = best * (1 + tolerance)
    # caps above the deep run's peak fill never bind: that run's trace, its throughput
    limits = [max(DEFAULT_FIFO_DEPTH, p + 1) if s else 0 for p, s in zip(peaks, sized, strict=True)]
    spent = [0, 0.0]  # probes, their simulated cycles in deep runs

    def fits(caps: dict[int, int]) -> list[int] | None:
        """The peak fills of a run with `caps`, None when it is too slow."""
        if spent[1] >= budget:
            raise _OutOfProbes
        cycles, fills, ran = run([caps.get(k, d) for k, d in enumerate(limits)])
        spent[0] += 1
        spent[1] += (ran or bound[0]) / total
        return fills if cycles <= slowest else None

    def probe(k: int, d: int) -> int | None:
        fills = fits({k: d})  # a cap above the run's peak fill never bound: as good as d
        return None if fills is None else max(DEFAULT_FIFO_DEPTH + 1, min(d, fills[k] + 1))

    binding = [k for k, d in enumerate(limits) if d > DEFAULT_FIFO_DEPTH]
    settled: list[int] = []  # fitted together at the minimum, even if the budget runs out
    searched = 0
    try:
        _settle_at_minimum(binding, lambda ks: fits(dict.fromkeys(ks, DEFAULT_FIFO_DEPTH))
                           is not None, settled)  # fmt: skip
    except _OutOfProbes:
        pass
    for k in settled:
        limits[k] = DEFAULT_FIFO_DEPTH
    searched = len(settled)
    try:
        for k in binding:
            if limits[k] > DEFAULT_FIFO_DEPTH:  # the minimum is known too small
                limits[k] = _smallest_cap(lambda d, k=k: probe(k, d), DEFAULT_FIFO_DEPTH + 1,
                                          limits[k])
                searched += 1
    except _OutOfProbes:  # the streams not searched keep caps that never bind
        pass
    return limits, {"probes": spent[0], "streams": len(binding), "searched": searched,
                    "complete": searched == len(binding)}


class _OutOfProbes(Exception):
    """The FIFO sizing budget is spent."""


def _settle_at_minimum(keys: list[int], fits, settled: list[int] | None = None) -> list[int]:
    """The keys that can take the minimum, by group testing: `fits(group)` says whether the
    design keeps its throughput with every key of `group` (and those settled before) at the
    minimum; a group that does not is halved. One call when all fit; about
    (number that do not) x log2(len(keys)) calls otherwise. Appended to `settled` (returned)
    as they are found, so an interrupted search keeps what it found."""
    settled = [] if settled is None else settled

    def settle(group: list[int]) -> None:
        if not group:
            return
        if fits(settled + group):
            settled.extend(group)
        elif len(group) > 1:
            settle(group[: len(group) // 2])
            settle(group[len(group) // 2 :])

    settle(list(keys))
    return settled


def _smallest_cap(probe, lo: int, hi: int, slack: float = SIZING_SLACK) -> int:
    """A good cap in [lo, hi] at most `slack` x itself above the smallest good one.

    `probe(d)` is None when cap d is too small, else a cap known to be as good as d and at
    most d (the run's peak fill plus one: a cap it never reached did not bind); good caps are
    monotonic and `hi` is known good. Bisection on a log scale while `hi` is many times the
    largest cap known too small, then plain bisection: a few probes whether the stream needs
    3 words or 10,000 (a residual shortcut).
    """
    bad = lo - 1  # >= 1: caps start at the minimum depth
    while hi - bad > max(1, int(hi * slack)):
        mid = math.isqrt(bad * hi) if hi > 4 * bad else (bad + hi) // 2
        mid = min(max(mid, bad + 1), hi - 1)
        good = probe(mid)
        if good is None:
            bad = mid
        else:
            hi = max(good, bad + 1)
    return hi


def golden_tensor(model: ModelWrapper, ctx: dict, name: str) -> np.ndarray:
    """A tensor of the golden context, looking through width converters and FIFOs."""
    while name not in ctx:
        prod = model.find_producer(name)
        if prod is None or not prod.op_type.startswith(PASS_THROUGH):
            raise KeyError(name)
        name = prod.input[0]
    return ctx[name]


def waveform_view(acc: Accelerator, vcd: str) -> str:
    """A GTKWave save file for a VCD of `run_frames(..., trace=)`: the accelerator's input,
    then each layer's output stream (tvalid, tready, tdata) under the layer's name."""
    top, dut = f"TOP.{SIM_TOP}", f"TOP.{SIM_TOP}.dut"
    first = acc.layers[next(e for e in acc.edges if e.src[0] == GRAPH).dst[0]]
    groups = [("input", top, "s", first.inst.in_width, None)]
    groups += [(acc.layers[acc.edges[k].src[0]].name, dut, tap.signal, tap.bits, k)
               for k, tap in sorted(acc.taps(), key=lambda t: acc.edges[t[0]].src)]
    lines = [f'[dumpfile] "{vcd}"', "[timestart] 0", "@28", f"{top}.clk", f"{top}.rst_n"]
    for name, scope, sig, bits, k in groups:
        lines += ["@200", f"-{name}", "@28", f"{scope}.{sig}_tvalid", f"{scope}.{sig}_tready",
                  "@22", f"{scope}.{sig}_tdata[{bits - 1}:0]"]
        if k is not None and acc.depths[k]:  # the stream's FIFO: words held (decimal)
            level = max(1, (acc.depths[k]).bit_length())  # onebit_fifo's $clog2(DEPTH + 1)
            lines += ["@24", f"{dut}.u_fifo_{k}.words[{level - 1}:0]"]
    return "\n".join(lines) + "\n"


def streamed(model: ModelWrapper, layer: Layer, values: np.ndarray) -> np.ndarray:
    """FINN's output tensors of `layer` (one frame a row) in the order its stream carries
    them. They agree but for a depthwise sliding window (feeding a pool): it streams SIMD
    channels of one kernel position after another, each channel fold in turn."""
    if not (layer.op_type.startswith("ConvolutionInputGenerator")
            and _attr(model, layer, "depthwise")):
        return values
    simd, ch = _attr(model, layer, "SIMD"), _attr(model, layer, "IFMChannels")
    k = int(np.prod(_attr(model, layer, "ConvKernelDim")))
    n = len(values)
    return values.reshape(n, -1, k, ch // simd, simd).transpose(0, 1, 3, 2, 4).reshape(n, -1)


def _attr(model: ModelWrapper, layer: Layer, name: str):
    from qonnx.custom_op.registry import getCustomOp

    return getCustomOp(model.get_node_from_name(layer.name)).get_nodeattr(name)


def stream_mismatch(acc: Accelerator, model: ModelWrapper, golden: list[dict],
                    tapped: list[np.ndarray]) -> VerificationError | None:
    """The first layer, in dataflow order, whose output stream (`tapped`, the words of
    `acc.taps()` over len(golden) frames) differs from FINN's golden context `golden[f]` of
    frame f; None when every stream is right. `model`: the folded graph naming the tensors."""
    n = len(golden)
    streams = sorted(zip(acc.taps(), tapped, strict=True), key=lambda t: acc.edges[t[0][0]].src)
    for (k, _), words in streams:
        i, port = acc.edges[k].src
        layer, p = acc.layers[i], acc.layers[i].outs[port]
        want = streamed(model, layer, np.stack([golden_tensor(model, g, p.tensor)
                                                for g in golden]).reshape(n, -1))
        # A layer may run ahead into a next frame (more words), and the run stops once the
        # output is complete, before a layer hands on the tail of a frame the next one does
        # not need (a window's unused last rows): fewer words. Compare what was streamed.
        m = min(len(words), n * p.words)
        got = packing.unpack(words[:m], p.dt, p.epw)
        bad = np.flatnonzero(got != want.reshape(-1)[: got.size])
        if len(bad):
            f, j = divmod(int(bad[0]), want.shape[1])
            return VerificationError(
                "rtlsim", f"output {port}, frame {f}: got {got[bad[0]]:g}, FINN golden "
                f"{want[f, j]:g} ({len(bad)} of {got.size} streamed values differ)", layer.name,
                (f, j))
    return None
