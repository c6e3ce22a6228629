"""onebit_shell in Verilator against the AXI memory model: random latency and stalls, bursts
split at 4 KiB, 32/64/512-bit buses, odd frame sizes, the ap_ctrl_hs registers.

The accelerator is a stand-in (`onebit_accel`: a width converter that inverts the bits and
stalls its input at random), so the expected memory image is known exactly. One compiled model
per bus width serves every case: seeds, latencies, addresses and frame counts are run time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from onebit.errors import UserInputError
from onebit.hw import packing, rtl_source, shell, verilator
from onebit.hw.shell import (
    AP_DONE,
    AP_IDLE,
    AP_READY,
    AP_START,
    AUTO_RESTART,
    IRQ_DONE,
    IRQ_READY,
    MAGIC,
    REGISTERS,
    Geometry,
)
from onebit.hw.sim import SimulationError
from onebit.hw.system import SystemSim, build_system, host_run

pytestmark = pytest.mark.verilator

R = REGISTERS
PAGE = 4096

STANDIN = """// stand-in accelerator: a width converter whose output is the inverted input bits
module onebit_accel (
  input  logic clk,
  input  logic rst_n,
  input  logic [{ib}:0] s_axis_tdata,
  input  logic s_axis_tvalid,
  output logic s_axis_tready,
  output logic [{ob}:0] m_axis_tdata,
  output logic m_axis_tvalid,
  input  logic m_axis_tready,
  input  logic cfg_we,
  input  logic [7:0] cfg_addr,
  input  logic [31:0] cfg_data
);
  logic unused_cfg;  // no runtime-writable layers
  assign unused_cfg = ^{{cfg_we, cfg_addr, cfg_data}};
  logic [15:0] lfsr;  // takes an input word in about 3 cycles of 4
  always_ff @(posedge clk)
    if (!rst_n) lfsr <= 16'hACE1;
    else lfsr <= {{lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]}};
  wire gate = lfsr[0] | lfsr[7];
  logic ready;
  logic [{ob}:0] data;
  onebit_dwc #(.IN_BITS({ib} + 1), .OUT_BITS({ob} + 1)) u_dwc (
    .clk, .rst_n, .s_axis_tdata, .s_axis_tvalid(s_axis_tvalid && gate), .s_axis_tready(ready),
    .m_axis_tdata(data), .m_axis_tvalid, .m_axis_tready
  );
  assign s_axis_tready = ready && gate;
  assign m_axis_tdata = ~data;
endmodule
"""


@dataclass
class Config:
    data_width: int
    in_bits: int
    in_words: int
    out_bits: int
    out_words: int


CONFIGS = {
    # 24-bit input words in 4 bytes, 20 bytes a frame: frames straddle bus words; 15-byte
    # output frames end mid bus word (strobes)
    64: Config(64, 24, 5, 8, 15),
    # 40-bit input words take 8 bytes: one word is two bus beats; 12-bit outputs in 2 bytes
    32: Config(32, 40, 3, 12, 10),
    # 75 one-byte input words a frame; 100-bit outputs in 16 bytes, 3 a frame (48 of 64 bytes)
    512: Config(512, 4, 75, 100, 3),
}


def kernel(c: Config, tmp: Path) -> shell.Kernel:
    src = tmp / "onebit_accel.sv"
    src.write_text(STANDIN.format(ib=c.in_bits - 1, ob=c.out_bits - 1))
    g = Geometry(c.in_bits, c.out_bits, c.in_words, c.out_words, c.in_bits)
    return shell.write_kernel_for([src], g, 0x5EED0000 + c.data_width, tmp, c.data_width)


# the 64-bit bus in the default suite; 32 and 512 bits (one compile each) with --runslow
WIDTHS = [pytest.param(32, marks=pytest.mark.slow), 64, pytest.param(512, marks=pytest.mark.slow)]


@pytest.fixture(scope="module", params=WIDTHS)
def kern(request, tmp_path_factory, vcache):
    k = kernel(CONFIGS[request.param], tmp_path_factory.mktemp(f"k{request.param}"))
    build_system(k, vcache)  # compiled once; every SystemSim of this module reuses it
    return k


def expected(words: np.ndarray, c: Config) -> np.ndarray:
    """The stand-in's outputs: the input bit sequence cut into output words, inverted."""
    return 1 - words.reshape(-1).reshape(-1, c.out_bits)


def frames_in(c: Config, n: int, rng) -> np.ndarray:
    return rng.integers(0, 2, size=(n * c.in_words, c.in_bits)).astype(np.uint8)


def one_run(sim: SystemSim, c: Config, n: int, in_addr: int, out_addr: int, rng) -> int:
    words = frames_in(c, n, rng)
    g = sim.kernel.geometry
    sim.mem_write(in_addr, packing.frames_to_bytes(words, c.in_bits))
    sim.allocate(out_addr, n * g.out_frame_bytes)  # exactly: a stray strobe fails the run
    cycles = host_run(sim, in_addr, out_addr, n, 2_000_000)
    got = packing.bytes_to_frames(sim.mem_read(out_addr, n * g.out_frame_bytes), c.out_bits,
                                  n * c.out_words)
    np.testing.assert_array_equal(got, expected(words, c))
    return cycles


@pytest.mark.parametrize("seed, lat, p", [
    (0, (1, 1), 1.0),       # no stalls: the fastest the shell goes
    (1, (20, 120), 0.5),    # long latency: several reads in flight
    (2, (0, 8), 0.25),      # ready/valid mostly low
])
def test_frames_through_memory_bit_exact(kern, seed, lat, p, tmp_path, vcache):
    c = CONFIGS[kern.data_width]
    rng = np.random.default_rng(seed)
    bb = c.data_width // 8
    with SystemSim(kern, seed=seed, read_latency=lat, write_latency=lat, p_ready=p, p_valid=p,
                   p_lite=p, run_dir=tmp_path, cache_dir=vcache) as sim:
        # input starts just below the 4 GiB line (a 4 KiB boundary, and the high address word
        # changes); output starts just below a 4 KiB boundary: bursts must split there
        n = 37
        in_addr = 0x1_0000_0000 - 5 * bb
        out_addr = 0x2000_0000 + PAGE - 3 * bb
        start = sim.cycle
        cycles = one_run(sim, c, n, in_addr, out_addr, rng)
        assert 0 < cycles < sim.cycle - start  # the hardware counter: ap_start to ap_done
        # a second run on the same hardware: nothing is left over from the first
        one_run(sim, c, 3, 0x3000_0000 + 7 * bb, 0x4000_0000 + PAGE - bb, rng)
        st = sim.stats()
    assert st["bursts_ending_at_4k"] >= 2
    assert st["write_responses"] == st["write_bursts"]
    if lat[0] >= 20:
        assert st["max_reads_outstanding"] >= 2


def test_long_run_uses_full_bursts(tmp_path, vcache):
    """900 frames (18 KB) in one run: full 256-beat bursts, exact."""
    c = CONFIGS[64]
    k = kernel(c, tmp_path)
    with SystemSim(k, seed=5, read_latency=(5, 30), write_latency=(5, 30), p_ready=0.9,
                   p_valid=0.9, run_dir=tmp_path, cache_dir=vcache) as sim:
        one_run(sim, c, 900, 0x1000_0000, 0x1800_0000, np.random.default_rng(5))
        st = sim.stats()
    assert st["read_beats"] == -(-900 * 20 // 8)
    assert st["read_bursts"] < st["read_beats"] / 200  # mostly 256-beat bursts


def _ctrl(sim: SystemSim) -> int:
    return sim.read_reg(R["CTRL"])


def test_registers(tmp_path, vcache):
    c = CONFIGS[64]
    k = kernel(c, tmp_path)
    with SystemSim(k, seed=3, run_dir=tmp_path, cache_dir=vcache) as sim:
        g = k.geometry
        assert sim.read_reg(R["MAGIC"]) == MAGIC == 0x0B175E11
        assert sim.read_reg(R["DESIGN_ID"]) == k.design_id
        assert [sim.read_reg(R[n]) for n in ("IN_WORD_BYTES", "OUT_WORD_BYTES", "IN_WORDS",
                                             "OUT_WORDS")] == [4, 1, 5, 15]
        assert g.in_frame_bytes == 20 and g.out_frame_bytes == 15
        assert _ctrl(sim) == AP_IDLE
        for name, v in (("IN_ADDR_LO", 0x89ABCDE0), ("IN_ADDR_HI", 0x1234567),
                        ("OUT_ADDR_LO", 0xFFFFF000), ("OUT_ADDR_HI", 0x1), ("FRAMES", 77)):
            sim.write_reg(R[name], v)
            assert sim.read_reg(R[name]) == v
        sim.write_reg(R["FRAMES"], 0)
        sim.write_reg(R["CYCLES_LO"], 5)  # read only
        assert sim.read_reg(R["CYCLES_LO"]) == 0
        assert sim.read_reg(0x60) == 0 and sim.read_reg(0xFC) == 0  # unmapped

        # ISR: a written 1 toggles, a 0 keeps; the interrupt needs GIE and IER
        sim.write_reg(R["ISR"], 0b11)
        assert sim.read_reg(R["ISR"]) == 0b11
        sim.write_reg(R["ISR"], 0b01)
        assert sim.read_reg(R["ISR"]) == 0b10
        sim.write_reg(R["IER"], IRQ_READY)
        assert not sim.wait_irq(20)  # GIE off
        sim.write_reg(R["GIE"], 1)
        assert sim.wait_irq(20)
        sim.write_reg(R["ISR"], 0b10)
        assert sim.read_reg(R["ISR"]) == 0 and not sim.wait_irq(20)

        # a run of 0 frames: accepted (ap_ready, ap_start cleared), done, nothing moved
        sim.write_reg(R["IER"], IRQ_DONE)
        sim.write_reg(R["CTRL"], AP_START)
        assert sim.wait_irq(100)
        assert sim.read_reg(R["ISR"]) == IRQ_DONE  # ready not enabled: not flagged
        v = _ctrl(sim)
        assert v & (AP_DONE | AP_READY | AP_IDLE) == AP_DONE | AP_READY | AP_IDLE
        assert not v & AP_START
        assert _ctrl(sim) == AP_IDLE  # ap_done and ap_ready clear on read
        assert sim.read_reg(R["CYCLES_LO"]) > 0 and sim.read_reg(R["CYCLES_HI"]) == 0
        assert sim.stats()["read_bursts"] == 0

        # auto_restart: the run repeats until the host clears it
        rng = np.random.default_rng(0)
        words = frames_in(c, 2, rng)
        sim.mem_write(0x10_0000, packing.frames_to_bytes(words, c.in_bits))
        sim.allocate(0x20_0000, 30)
        for name, v in (("IN_ADDR_LO", 0x10_0000), ("IN_ADDR_HI", 0), ("OUT_ADDR_LO", 0x20_0000),
                        ("OUT_ADDR_HI", 0), ("FRAMES", 2), ("ISR", IRQ_DONE)):
            sim.write_reg(R[name], v)
        sim.write_reg(R["CTRL"], AP_START | AUTO_RESTART)
        assert sim.wait_done(20_000)
        assert sim.wait_done(20_000)  # again, without a new ap_start
        assert _ctrl(sim) & (AUTO_RESTART | AP_START) == AUTO_RESTART | AP_START
        sim.write_reg(R["CTRL"], 0)  # auto_restart off: the run in progress is the last
        sim.run(5000)
        assert _ctrl(sim) & (AP_IDLE | AP_START | AUTO_RESTART) == AP_IDLE
        reads = sim.stats()["read_bursts"]
        sim.run(2000)
        assert sim.stats()["read_bursts"] == reads  # stopped
        got = packing.bytes_to_frames(sim.mem_read(0x20_0000, 30), c.out_bits, 30)
        np.testing.assert_array_equal(got, expected(words, c))


@pytest.mark.parametrize("in_addr, out_addr, error", [
    (0x10_0000, 0x3000_0000, "write at 0x30000000 outside allocated"),  # wrong output address
    (0x10_0000, 0x20_0008, "write at 0x20003c outside allocated"),  # past the buffer
    (0x10_0004, 0x20_0000, "address 0x100004 not aligned to the bus"),
])
def test_bad_buffers_fail_the_run(in_addr, out_addr, error, tmp_path, vcache):
    """Faults of the host's buffers are hard failures of the memory model."""
    k = kernel(CONFIGS[64], tmp_path)
    with SystemSim(k, run_dir=tmp_path, cache_dir=vcache) as sim:
        sim.mem_write(in_addr, bytes(4 * 20))
        sim.allocate(0x20_0000, 4 * 15)
        with pytest.raises(SimulationError, match=error):
            host_run(sim, in_addr, out_addr, 4, 100_000)
        with pytest.raises(SimulationError, match="closed"):
            sim.read_reg(0)


MUTANTS = {  # a fault in the shell -> what the memory model says
    "no 4 KiB split": ("onebit_axi_burst", "cap   = to_4k > 13'd256 ? 13'd256 : to_4k",
                       "cap   = 13'd256", "crosses a 4 KiB boundary"),
    "done before responses": ("onebit_shell", "!reader_busy && !writer_busy &&",
                              "!reader_busy &&", "idle\\) with [0-9]+ write responses outstanding"),
}


@pytest.mark.slow
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_memory_model_catches_a_faulty_shell(mutant, tmp_path, vcache):
    """The protocol checks are real: a shell with one fault fails the run, by name."""
    module, old, new, error = MUTANTS[mutant]
    k = kernel(CONFIGS[64], tmp_path)
    src = tmp_path / f"{module}.sv"
    text = rtl_source(module).read_text()
    assert old in text
    src.write_text(text.replace(old, new))
    k.sources = [src if p.name == src.name else p for p in k.sources]
    with SystemSim(k, seed=4, write_latency=(200, 300), run_dir=tmp_path,
                   cache_dir=vcache) as sim:
        with pytest.raises(SimulationError, match=error):
            one_run(sim, CONFIGS[64], 37, 0x1_0000_0000 - 40, 0x2000_0000, np.random.default_rng(0))


@pytest.mark.parametrize("dw", sorted(CONFIGS))  # lint is quick: every width
def test_shell_lints_clean(dw, tmp_path):
    k = kernel(CONFIGS[dw], tmp_path)
    assert verilator.lint(k.sources, k.top, extra_args=["-Wno-DECLFILENAME"]) == ""


def test_bad_parameters_are_refused(tmp_path):
    k = kernel(CONFIGS[64], tmp_path)
    with pytest.raises(UserInputError, match="AXI data width 48"):
        shell.write_kernel_for(k.sources[-2:-1], k.geometry, 0, tmp_path, 48)
    with pytest.raises(verilator.VerilatorError, match="OUT_WORD_BYTES"):
        verilator.lint(k.sources[:-1], "onebit_shell", {"OUT_BITS": 9, "OUT_WORD_BYTES": 1})
    with pytest.raises(UserInputError, match="not a onebit build"):
        SystemSim(tmp_path)
    assert rtl_source("onebit_shell").is_file()
