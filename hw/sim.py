"""Cycle-accurate stream simulation of streaming blocks (or a whole stitched accelerator).

The design under test has one or two AXI-Stream inputs and one or two outputs; its port names
come from a role -> name map (`onebit.hw.instance.PORT_ROLES`, plus `PORT_ROLES_IN1` /
`PORT_ROLES_OUT1` for a second input (AddStreams) or output (DuplicateStreams)). The design is
wrapped in a generated top `onebit_sim_top` with fixed port names (`s`, `s1`, `m`, `m1`), built
once (cached, see `onebit.hw.verilator`) with the C++ driver `hw/rtl/sim/stream_driver.cpp`,
and run on binary word files (uint32s a word, bit 0 first: no text either way). Stall
probabilities, seed and watchdog are runtime arguments, so one executable serves every run.

Every port has its own random valid (inputs) or ready (outputs) pattern. The driver checks the
AXI-Stream protocol on every output (tdata stable and tvalid held while `tvalid && !tready`),
fails when no port handshakes for `watchdog` cycles (naming the stuck side and each port's
progress), and, after the last expected word of every output, runs `tail` more cycles with
ready high and fails if the design offers an extra word.

One input and one output: `simulate_stream` / `simulate_instance` -> `SimResult`. One or two
of each: `simulate_multi` / `simulate_multi_instance` -> `MultiSimResult`; the same driver.

`taps` observe streams inside the design (a stitched accelerator's streams between layers):
the wrapper writes every handshake of each tapped stream to a file when the run asks for it
(`+taps=DIR`), and the result holds those words in `taps`, so one simulation checks every
layer's output, not only the design's. The same run counts, per tapped stream and the input,
its busy / stall / idle cycles in time windows (`Activity`: the pipeline timeline,
`hw/activity.py`).

>>> res = simulate_instance(inst, pack(x, DataType["BIPOLAR"], 8), n_out=4,  # doctest: +SKIP
...                         p_valid=0.7, p_ready=0.5, seed=3)
>>> res.out_words.shape, res.cycles  # doctest: +SKIP
((4, 8), 17)
>>> res = simulate_multi(srcs, "onebit_add_streams", [w0, w1], [n],  # doctest: +SKIP
...                      in_widths=[16, 8], out_widths=[18], p_valid=0.5, p_ready=0.5)
>>> res.out_words[0].shape  # doctest: +SKIP
(n, 18)
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypeVar

import numpy as np

from onebit.errors import OnebitError, UserInputError
from onebit.hw import coverage as rtl_coverage
from onebit.hw import packing, proc, verilator
from onebit.hw.instance import (
    ONEBIT_PORTS,
    PORT_ROLES,
    PORT_ROLES_IN1,
    PORT_ROLES_OUT1,
    RtlInstance,
)

SIM_TOP = "onebit_sim_top"
_IN_PREFIX = ("s", "s1")
_OUT_PREFIX = ("m", "m1")

_EXIT_REASONS = {
    1: "driver error",
    2: "watchdog",
    3: "protocol violation",
    4: "max_cycles reached",
    5: "extra output word",
    6: "$finish/$stop in the design",
}


class SimulationError(OnebitError):
    """The simulated design misbehaved: hang (watchdog), protocol violation, extra output."""

    def __init__(
        self, reason: str, message: str, partial: SimResult | MultiSimResult | None = None
    ):
        self.reason, self.partial, self.detail = reason, partial, message
        super().__init__(f"simulation failed ({reason}): {message}")

    def __reduce__(self):  # raised in a worker process, re-raised in the parent (no partial)
        return type(self), (self.reason, self.detail)


@dataclass(frozen=True)
class Tap:
    """A stream inside the design under test: `<signal>_tdata` (its low `bits` bits),
    `<signal>_tvalid` and `<signal>_tready`, hierarchical names below the design's top."""

    signal: str
    bits: int


@dataclass
class SimResult:
    """Outcome of one stream simulation.

    `out_words` is a (n_words, out_width) bit matrix (column 0 = LSB, as `packing.pack`);
    `in_cycles[i]`/`out_cycles[j]` are the cycles of the i-th input and j-th output handshake
    (cycle 0 = first rising edge after reset); `cycles` counts cycles up to and including the
    last output handshake.
    """

    out_words: np.ndarray
    in_cycles: np.ndarray
    out_cycles: np.ndarray
    cycles: int
    wall_s: float = 0.0
    taps: list[np.ndarray] = field(default_factory=list)  # words of each tap, in order
    activity: Activity | None = None  # with taps: each stream's busy/stall/idle cycles

    @property
    def cycles_per_s(self) -> float:
        """Simulation speed of the run (driver process wall time, including file I/O)."""
        return self.cycles / self.wall_s if self.wall_s > 0 else float("inf")


@dataclass
class MultiSimResult:
    """Outcome of one multi-port simulation.

    `out_words[j]`: (n_words, out_widths[j]) bit matrix of output j (column 0 = LSB);
    `in_cycles[i]`/`out_cycles[j]`: handshake cycles of input i / output j (cycle 0 = first
    rising edge after reset); `cycles`: cycles up to and including the last output handshake.
    """

    out_words: list[np.ndarray]
    in_cycles: list[np.ndarray]
    out_cycles: list[np.ndarray]
    cycles: int
    wall_s: float = 0.0
    taps: list[np.ndarray] = field(default_factory=list)
    activity: Activity | None = None


R = TypeVar("R", SimResult, MultiSimResult)


def driver_source() -> Path:
    """The C++ stream driver shipped with onebit."""
    return Path(str(resources.files("onebit.hw") / "rtl" / "sim" / "stream_driver.cpp"))


def sv_value(name: str, value: int | str) -> str:
    """Parameter `name`'s value as a SystemVerilog literal; `UserInputError` for a string SV
    cannot quote (a path with a quote or backslash) or a value neither int nor str."""
    if isinstance(value, str):
        if '"' in value or "\\" in value or "\n" in value:
            raise UserInputError(f"parameter {name}: string {value!r} cannot be quoted in SV")
        return f'"{value}"'
    if isinstance(value, bool | int | np.integer):
        v = int(value)
        return str(v) if v >= 0 else f"-{-v}"
    raise UserInputError(f"parameter {name}: {type(value).__name__} is not int or str")


def _port_widths(
    in_widths: int | Sequence[int], out_widths: int | Sequence[int]
) -> tuple[list[int], list[int]]:
    """Widths as lists (one int: one port), checked: 1 or 2 ports each side, widths >= 1."""
    ins = [int(in_widths)] if isinstance(in_widths, int | np.integer) else list(in_widths)
    outs = [int(out_widths)] if isinstance(out_widths, int | np.integer) else list(out_widths)
    if not (1 <= len(ins) <= 2 and 1 <= len(outs) <= 2):
        raise UserInputError(
            f"1 or 2 inputs and outputs are supported, got {len(ins)} in, {len(outs)} out"
        )
    if min(*ins, *outs) < 1:
        raise UserInputError(f"stream widths must be >= 1, got in={ins} out={outs}")
    return ins, outs


def wrapper_source(
    module: str,
    in_widths: int | Sequence[int],
    out_widths: int | Sequence[int],
    params: Mapping[str, int | str] | None = None,
    ports: Mapping[str, str] = ONEBIT_PORTS,
    tied: Mapping[str, str] | None = None,
    taps: Sequence[Tap] = (),
) -> str:
    """SystemVerilog text of `onebit_sim_top`: `module` with fixed port names for the driver.

    One width (or a list of one) per side gives the ports `s`, `m`; a second width adds `s1`
    (second input) or `m1` (second output). `tied`: further input ports and their constants.
    `taps`: streams inside `module` whose handshakes a run with `+taps=DIR` writes to
    `DIR/tap<k>.hex`.
    """
    ins, outs = _port_widths(in_widths, out_widths)
    roles = list(PORT_ROLES)
    roles += list(PORT_ROLES_IN1) if len(ins) == 2 else []
    roles += list(PORT_ROLES_OUT1) if len(outs) == 2 else []
    missing = [r for r in roles if r not in ports]
    if missing:
        raise UserInputError(f"port map of '{module}' lacks roles {missing}")
    decl = ["  input  logic clk", "  input  logic rst_n"]
    for p, w in zip(_IN_PREFIX, ins, strict=False):
        decl += [f"  input  logic [{w - 1}:0] {p}_tdata", f"  input  logic {p}_tvalid",
                 f"  output logic {p}_tready"]
    for p, w in zip(_OUT_PREFIX, outs, strict=False):
        decl += [f"  output logic [{w - 1}:0] {p}_tdata", f"  output logic {p}_tvalid",
                 f"  input  logic {p}_tready"]
    plist = ",\n".join(f"    .{k}({sv_value(k, v)})" for k, v in sorted((params or {}).items()))
    pblock = f" #(\n{plist}\n  )" if plist else ""
    conns = ",\n".join([f"    .{ports[r]}({r})" for r in roles]
                        + [f"    .{p}({v})" for p, v in (tied or {}).items()])
    return (
        "// Generated by onebit.hw.sim: fixed port names around the design under test.\n"
        f"module {SIM_TOP} (\n" + ",\n".join(decl) + "\n);\n"
        f"  {module}{pblock} dut (\n{conns}\n  );\n"
        + _tap_monitor(taps)
        + "endmodule\n"
    )


ACTIVITY_WINDOWS = 256
"""The most time windows the stream activity counters keep: when the run outgrows them, pairs
of windows merge (the window doubles), so any run ends with 129..256 windows (fewer if short)."""

ACTIVITY_FILE = "activity.txt"
BUSY, STALL, IDLE = 0, 1, 2  # a stream's cycle: valid & ready, valid & !ready, !valid


@dataclass
class Activity:
    """Per stream and time window, how many cycles it moved a word (valid & ready), stalled
    (valid & !ready) or was idle (!valid): `counts[s, w]` = (busy, stall, idle), each window
    `window` cycles (the last one may be shorter). Streams: the taps, then the input port."""

    window: int
    counts: np.ndarray  # (streams, windows, 3) cycles

    @property
    def totals(self) -> np.ndarray:
        """(streams, 3): busy, stall and idle cycles of each stream over the whole run."""
        return self.counts.sum(axis=1)


def read_activity(path: Path, n_streams: int) -> Activity:
    """The wrapper's activity file: `window windows`, then a line of `busy stall idle` per
    stream and window (stream-major)."""
    rows = np.loadtxt(path, dtype=np.int64, ndmin=2)
    window, n = (int(v) for v in rows[0, :2])
    counts = rows[1:].reshape(n_streams, n, 3) if n else np.zeros((n_streams, 0, 3), np.int64)
    return Activity(window, counts)


def _tap_monitor(taps: Sequence[Tap]) -> str:
    if not taps:
        return ""
    writes = "".join(
        f"    if (dut.{t.signal}_tvalid && dut.{t.signal}_tready)\n"
        f'      $fwrite(tap_fd[{k}], "%h\\n", dut.{t.signal}_tdata[{t.bits - 1}:0]);\n'
        for k, t in enumerate(taps))
    streams = [(f"dut.{t.signal}_tvalid", f"dut.{t.signal}_tready") for t in taps]
    streams.append(("s_tvalid", "s_tready"))
    counts = "".join(
        f"    act_n[{k}][act_i][{v} ? ({r} ? {BUSY} : {STALL}) : {IDLE}] += 1;\n"
        for k, (v, r) in enumerate(streams))
    return (
        "  // synthesis translate_off\n"
        f"  // stream taps: with +taps=DIR, each handshake of tap k is a line of DIR/tap<k>.hex\n"
        f"  int tap_fd [{len(taps)}];\n  bit tap_on = 1'b0;\n  string tap_dir;\n"
        "  initial if ($value$plusargs(\"taps=%s\", tap_dir)) begin\n"
        "    tap_on = 1'b1;\n"
        "    foreach (tap_fd[k]) tap_fd[k] = $fopen($sformatf(\"%s/tap%0d.hex\", tap_dir, k), "
        "\"w\");\n  end\n"
        f"  always @(posedge clk) if (tap_on && rst_n) begin\n{writes}  end\n"
        + _activity_counters(len(streams), counts)
        + "  final if (tap_on) foreach (tap_fd[k]) $fclose(tap_fd[k]);\n"
        "  // synthesis translate_on\n"
    )


def _activity_counters(n: int, counts: str) -> str:
    """Per stream, busy/stall/idle cycles in windows of `act_w` cycles; at ACTIVITY_WINDOWS
    windows, pairs merge and the window doubles. Written to DIR/activity.txt at the end."""
    half = ACTIVITY_WINDOWS // 2
    return (
        f"  // stream activity (+taps=DIR): DIR/{ACTIVITY_FILE}\n"
        f"  int unsigned act_n [{n}][{ACTIVITY_WINDOWS}][3];\n"
        "  int unsigned act_w = 1, act_i = 0, act_c = 0;  // window, its index, cycles in it\n"
        "  always @(posedge clk) if (tap_on && rst_n) begin\n"
        f"{counts}"
        "    act_c += 1;\n"
        "    if (act_c == act_w) begin\n"
        "      act_c = 0;\n"
        "      act_i += 1;\n"
        f"      if (act_i == {ACTIVITY_WINDOWS}) begin\n"
        f"        for (int s = 0; s < {n}; s++)\n"
        "          for (int k = 0; k < 3; k++) begin\n"
        f"            for (int i = 0; i < {half}; i++)\n"
        "              act_n[s][i][k] = act_n[s][2 * i][k] + act_n[s][2 * i + 1][k];\n"
        f"            for (int i = {half}; i < {ACTIVITY_WINDOWS}; i++) act_n[s][i][k] = 0;\n"
        "          end\n"
        f"        act_i = {half};\n"
        "        act_w = 2 * act_w;\n"
        "      end\n"
        "    end\n"
        "  end\n"
        "  final if (tap_on) begin\n"
        "    int fd;\n"
        "    int unsigned nw;\n"
        "    fd = $fopen($sformatf(\"%s/" + ACTIVITY_FILE + "\", tap_dir), \"w\");\n"
        "    nw = act_i + (act_c != 0 ? 1 : 0);\n"
        "    $fwrite(fd, \"%0d %0d 0\\n\", act_w, nw);\n"
        f"    for (int s = 0; s < {n}; s++)\n"
        "      for (int i = 0; i < nw; i++)\n"
        "        $fwrite(fd, \"%0d %0d %0d\\n\", act_n[s][i][0], act_n[s][i][1], act_n[s][i][2]);\n"
        "    $fclose(fd);\n"
        "  end\n"
    )


def build_multi_sim(
    sources: Sequence[Path | str],
    module: str,
    *,
    in_widths: Sequence[int],
    out_widths: Sequence[int],
    params: Mapping[str, int | str] | None = None,
    ports: Mapping[str, str] = ONEBIT_PORTS,
    tied: Mapping[str, str] | None = None,
    taps: Sequence[Tap] = (),
    trace: bool = False,
    coverage: bool = False,
    cache_dir: Path | str | None = None,
) -> Path:
    """Build (or find in the cache) the stream-driver executable for `module` (`trace`: one
    that can write a VCD waveform, `trace=FILE` at run time; `coverage`: one that counts
    Verilator's line and toggle coverage and onebit's functional points, `hw.coverage`)."""
    ins, outs = _port_widths(in_widths, out_widths)
    text = wrapper_source(module, ins, outs, params, ports, tied, taps)
    w = [*ins, 0][:2] + [*outs, 0][:2]
    with tempfile.TemporaryDirectory(prefix="onebit-wrap-") as tmp:
        wrap = Path(tmp) / f"{SIM_TOP}.sv"
        wrap.write_text(text)
        cflags = f"-DIN0_WIDTH={w[0]} -DIN1_WIDTH={w[1]} -DOUT0_WIDTH={w[2]} -DOUT1_WIDTH={w[3]}"
        return verilator.build(
            [*sources, wrap],
            SIM_TOP,
            harness=[driver_source()],
            extra_args=["-CFLAGS", cflags, "-Wno-DECLFILENAME", *(["--trace"] if trace else []),
                        *(rtl_coverage.VERILATOR_ARGS if coverage else ())],
            cache_dir=cache_dir,
        )


def build_stream_sim(
    sources: Sequence[Path | str],
    module: str,
    *,
    in_width: int,
    out_width: int,
    params: Mapping[str, int | str] | None = None,
    ports: Mapping[str, str] = ONEBIT_PORTS,
    tied: Mapping[str, str] | None = None,
    taps: Sequence[Tap] = (),
    trace: bool = False,
    coverage: bool = False,
    cache_dir: Path | str | None = None,
) -> Path:
    """`build_multi_sim` for a design with one input and one output."""
    return build_multi_sim(sources, module, in_widths=[in_width], out_widths=[out_width],
                           params=params, ports=ports, tied=tied, taps=taps, trace=trace,
                           coverage=coverage, cache_dir=cache_dir)


def _read_hex_fast(path: Path, n: int | None, width: int) -> np.ndarray:
    """The (n, width) bit matrix of a file of `n` hex words (None: as many as it holds)."""
    ndig = max(1, -(-width // 4))
    raw = path.read_bytes() if n != 0 else b""
    n = len(raw) // (ndig + 1) if n is None else n
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    buf = np.frombuffer(raw, dtype=np.uint8)
    if buf.size != n * (ndig + 1):
        raise SimulationError("driver error", f"malformed output file {path}")
    chars = buf.reshape(n, ndig + 1)[:, :ndig][:, ::-1]  # least significant digit first
    nib = np.where(chars >= ord("a"), chars - ord("a") + 10, chars - ord("0")).astype(np.uint8)
    bits = (nib[:, :, None] >> np.arange(4, dtype=np.uint8)) & 1
    return bits.reshape(n, ndig * 4)[:, :width].astype(np.uint8)


def _word_bytes(width: int) -> int:
    """Bytes of a binary word of the driver: max(2, ceil(width / 32)) uint32."""
    return 4 * max(2, -(-width // 32))


def _write_words(path: Path, words: np.ndarray, width: int) -> None:
    """A (n, <= width) bit matrix as the driver's binary words (`*.bin`): each word its
    uint32s, little-endian, bit 0 first."""
    full = np.zeros((len(words), 8 * _word_bytes(width)), dtype=np.uint8)
    full[:, : words.shape[1]] = words
    path.write_bytes(np.packbits(full, axis=1, bitorder="little").tobytes())


@dataclass(frozen=True)
class Packed:
    """Input words already in the driver's binary layout (`_word_bytes(width)` bytes a word, as
    `packing.encode_words` makes them with that stride): written as they are, a test set's
    images without a bit matrix."""

    image: np.ndarray  # (n_words, bytes) uint8

    @classmethod
    def of(cls, values: np.ndarray, dt, epw: int, width: int) -> Packed:
        """`values` (stream order) of datatype `dt`, `epw` a word, for a port `width` wide."""
        return cls(packing.encode_words(values, dt, epw, _word_bytes(width)))


def _write_input(path: Path, words: np.ndarray | Packed, width: int, i: int) -> None:
    """Input `i`'s words, a bit matrix or `Packed`, as the driver's binary file."""
    if not isinstance(words, Packed):
        _write_words(path, _fit(words, width, i), width)
    elif words.image.ndim != 2 or words.image.shape[1] != _word_bytes(width):
        raise UserInputError(f"input {i}: packed words of {words.image.shape[-1]} bytes, port "
                             f"of {width} bits takes {_word_bytes(width)}")
    else:
        path.write_bytes(np.ascontiguousarray(words.image, dtype=np.uint8).tobytes())


def _read_words(path: Path, n: int, width: int) -> np.ndarray:
    """The (n, width) bit matrix of the driver's `n` binary words in `path`."""
    nb = _word_bytes(width)
    raw = np.fromfile(path, dtype=np.uint8) if n else np.zeros(0, dtype=np.uint8)
    if raw.size != n * nb:
        raise SimulationError("driver error", f"malformed output file {path}")
    return np.unpackbits(raw.reshape(n, nb), axis=1, bitorder="little")[:, :width]


def _read_cycles(path: Path, n_ports: int) -> tuple[int, list[np.ndarray]]:
    """The driver's cycles file: total cycles, then per port its count and handshake cycles."""
    raw = np.fromfile(path, dtype="<u8").astype(np.int64)
    total, pos, out = int(raw[0]), 1, []
    for _ in range(n_ports):
        n = int(raw[pos])
        out.append(raw[pos + 1 : pos + 1 + n])
        pos += 1 + n
    return total, out


def _fit(words: np.ndarray, width: int, i: int) -> np.ndarray:
    w = np.asarray(words, dtype=np.uint8)
    if w.ndim != 2:
        raise UserInputError(f"input {i}: words must be a (n_words, bits) matrix, got {w.shape}")
    if w.shape[1] > width:
        if w[:, width:].any():
            raise UserInputError(f"input {i}: words have {w.shape[1]} bits, port has {width}")
        w = w[:, :width]
    return w


def _per_port(p: float | Sequence[float], n: int, what: str) -> list[float]:
    ps = [float(p)] * n if isinstance(p, int | float) else [float(v) for v in p]
    if len(ps) != n or not all(0 < v <= 1 for v in ps):
        raise UserInputError(f"{what}={p!r}: one or {n} probabilities in (0, 1] expected")
    return ps


def _single(res: MultiSimResult) -> SimResult:
    return SimResult(res.out_words[0], res.in_cycles[0], res.out_cycles[0], res.cycles, res.wall_s,
                     res.taps, res.activity)


def _run(
    exe: Path,
    in_words: Sequence[np.ndarray | Packed],
    n_out: Sequence[int],
    in_widths: Sequence[int],
    out_widths: Sequence[int],
    result: Callable[[MultiSimResult], R],
    *,
    seed: int = 0,
    p_valid: float | Sequence[float] = 1.0,
    p_ready: float | Sequence[float] = 1.0,
    watchdog: int = 10_000,
    max_cycles: int | None = None,
    tail: int = 16,
    run_dir: Path | str | None = None,
    taps: Sequence[Tap] = (),
    trace: Path | None = None,
    coverage: Path | None = None,
) -> R:
    """Run the driver; `result` shapes the outcome (also the partial one of a failure).
    `taps`: the executable's taps (as built), their words read back into the result; `trace`:
    the VCD file to write (an executable built with `trace`); `coverage`: the directory the
    run writes its coverage files to (an executable built with `coverage`)."""
    ins, outs = _port_widths(in_widths, out_widths)
    if len(in_words) != len(ins) or len(n_out) != len(outs):
        raise UserInputError(
            f"{len(in_words)} input streams / {len(n_out)} output counts for a design with "
            f"{len(ins)} inputs / {len(outs)} outputs"
        )
    pv = _per_port(p_valid, len(ins), "p_valid")
    pr = _per_port(p_ready, len(outs), "p_ready")
    with tempfile.TemporaryDirectory(prefix="onebit-sim-") as tmp:
        t = Path(tmp)
        cmd = [str(exe)]
        for i, (words, width) in enumerate(zip(in_words, ins, strict=True)):
            _write_input(t / f"in{i}.bin", words, width, i)
            cmd.append(f"in{i}={t / f'in{i}.bin'}")
        for j, n in enumerate(n_out):
            cmd += [f"out{j}={t / f'out{j}.bin'}", f"n_out{j}={int(n)}"]
        fcyc = t / "cycles.bin"
        cmd += [f"p_valid{i}={p!r}" for i, p in enumerate(pv)]
        cmd += [f"p_ready{j}={p!r}" for j, p in enumerate(pr)]
        cmd += [f"cycles={fcyc}", f"seed={seed}", f"watchdog={watchdog}", f"tail={tail}"]
        if max_cycles is not None:
            cmd.append(f"max_cycles={max_cycles}")
        if taps:
            cmd.append(f"+taps={t}")
        if trace is not None:
            cmd.append(f"trace={Path(trace).resolve()}")
        if coverage is not None:
            cmd.append(f"+coverage={rtl_coverage.prepare(coverage)}")
        t0 = time.perf_counter()
        res = proc.run(cmd, cwd=run_dir or t)
        wall = time.perf_counter() - t0
        partial = None
        if fcyc.exists():
            total, cyc = _read_cycles(fcyc, len(ins) + len(outs))
            words = [
                _read_words(t / f"out{j}.bin", len(c), w)
                for j, (c, w) in enumerate(zip(cyc[len(ins) :], outs, strict=True))
            ]
            tapped = [_read_hex_fast(t / f"tap{k}.hex", None, tap.bits)
                      for k, tap in enumerate(taps)]
            act = t / ACTIVITY_FILE
            activity = read_activity(act, len(taps) + 1) if taps and act.exists() else None
            partial = result(MultiSimResult(words, cyc[: len(ins)], cyc[len(ins) :], total, wall,
                                            tapped, activity))
        if res.returncode != 0 or partial is None:
            reason = _EXIT_REASONS.get(res.returncode, f"exit status {res.returncode}")
            msg = (res.stderr.strip() or res.stdout.strip()).splitlines()
            raise SimulationError(reason, "\n".join(msg[-10:]) or "no message", partial)
        return partial


def run_multi_sim(
    exe: Path,
    in_words: Sequence[np.ndarray | Packed],
    n_out: Sequence[int],
    *,
    in_widths: Sequence[int],
    out_widths: Sequence[int],
    **run_kw,
) -> MultiSimResult:
    """Run a built driver on `in_words[i]` per input; see `simulate_multi`.

    `run_kw`: seed, p_valid, p_ready (one value for every port or one per input / output
    port), watchdog, max_cycles, tail, run_dir, as in `simulate_stream`.
    """
    return _run(exe, in_words, n_out, in_widths, out_widths, lambda r: r, **run_kw)


def run_stream_sim(
    exe: Path,
    in_words: np.ndarray | Packed,
    n_out: int,
    *,
    in_width: int,
    out_width: int,
    seed: int = 0,
    p_valid: float = 1.0,
    p_ready: float = 1.0,
    watchdog: int = 10_000,
    max_cycles: int | None = None,
    tail: int = 16,
    run_dir: Path | str | None = None,
    taps: Sequence[Tap] = (),
    trace: Path | None = None,
    coverage: Path | None = None,
) -> SimResult:
    """Run a built one-input, one-output driver on `in_words`; see `simulate_stream`."""
    return _run(exe, [in_words], [n_out], [in_width], [out_width], _single, seed=seed,
                p_valid=p_valid, p_ready=p_ready, watchdog=watchdog, max_cycles=max_cycles,
                tail=tail, run_dir=run_dir, taps=taps, trace=trace, coverage=coverage)


def simulate_stream(
    sources: Sequence[Path | str],
    module: str,
    in_words: np.ndarray | Packed,
    n_out: int,
    *,
    in_width: int,
    out_width: int,
    params: Mapping[str, int | str] | None = None,
    ports: Mapping[str, str] = ONEBIT_PORTS,
    tied: Mapping[str, str] | None = None,
    taps: Sequence[Tap] = (),
    trace: Path | None = None,
    coverage: Path | None = None,
    cache_dir: Path | str | None = None,
    **run_kw,
) -> SimResult:
    """Simulate `module` fed with `in_words` until it has produced `n_out` output words.

    `in_words`: (n_words, bits) bit matrix as `packing.pack` returns (zero-padded to
    `in_width`), or `Packed` words. `run_kw` are `run_stream_sim`'s: `seed`;
    `p_valid`/`p_ready`, per-cycle probabilities that the source offers a word and that the sink
    is ready (1.0 = never stall); `watchdog`, `max_cycles`, `tail` (cycles); `run_dir`, the
    working directory of the simulation (where relative `$readmemh` paths resolve). Raises
    `SimulationError` on a hang, a protocol violation or an extra output word; `VerilatorError`
    when the design does not build. `taps`: streams inside `module` recorded into the result's
    `taps`; `trace`: a VCD file the run writes (every signal; an executable built for it, cached
    apart); `coverage`: a directory the run writes its coverage files to (`hw.coverage`; cached
    apart as well).
    """
    exe = build_stream_sim(sources, module, in_width=in_width, out_width=out_width,
                           params=params, ports=ports, tied=tied, taps=taps,
                           trace=trace is not None, coverage=coverage is not None,
                           cache_dir=cache_dir)
    return run_stream_sim(exe, in_words, n_out, in_width=in_width, out_width=out_width,
                          taps=taps, trace=trace, coverage=coverage, **run_kw)


def _of_instance(inst: RtlInstance) -> dict:
    """The keywords of a one-input, one-output `RtlInstance`: widths, params, ports, tied."""
    return {"in_width": inst.in_width, "out_width": inst.out_width, "params": inst.params,
            "ports": inst.ports, "tied": inst.tied}


def build_instance_sim(inst: RtlInstance, **kw) -> Path:
    """`build_stream_sim` for an `RtlInstance`."""
    return build_stream_sim(inst.sources, inst.module, **_of_instance(inst), **kw)


def simulate_instance(inst: RtlInstance, in_words: np.ndarray | Packed, n_out: int,
                      **kw) -> SimResult:
    """`simulate_stream` for an `RtlInstance` (its sources, module, widths, params and ports)."""
    return simulate_stream(inst.sources, inst.module, in_words, n_out, **_of_instance(inst),
                           **kw)


def simulate_multi(
    sources: Sequence[Path | str],
    module: str,
    in_words: Sequence[np.ndarray | Packed],
    n_out: Sequence[int],
    *,
    in_widths: Sequence[int],
    out_widths: Sequence[int],
    params: Mapping[str, int | str] | None = None,
    ports: Mapping[str, str] = ONEBIT_PORTS,
    tied: Mapping[str, str] | None = None,
    cache_dir: Path | str | None = None,
    **run_kw,
) -> MultiSimResult:
    """Simulate `module` fed with `in_words[i]` on input i until output j gave `n_out[j]` words.

    `in_widths`/`out_widths` (one or two each) are the tdata widths of the ports `s`, `s1` and
    `m`, `m1`; `run_kw` are `run_multi_sim`'s. Raises `SimulationError` as `simulate_stream`.
    """
    exe = build_multi_sim(sources, module, in_widths=in_widths, out_widths=out_widths,
                          params=params, ports=ports, tied=tied, cache_dir=cache_dir)
    return run_multi_sim(exe, in_words, n_out, in_widths=in_widths, out_widths=out_widths,
                         **run_kw)


def simulate_multi_instance(
    inst: RtlInstance,
    in_words: Sequence[np.ndarray | Packed],
    n_out: Sequence[int],
    *,
    in_widths: Sequence[int] | None = None,
    out_widths: Sequence[int] | None = None,
    **kw,
) -> MultiSimResult:
    """`simulate_multi` for an `RtlInstance`; widths default to `inst.port_widths()`."""
    ins, outs = inst.port_widths()
    return simulate_multi(inst.sources, inst.module, in_words, n_out,
                          in_widths=in_widths or ins, out_widths=out_widths or outs,
                          params=inst.params, ports=inst.ports, tied=inst.tied, **kw)
