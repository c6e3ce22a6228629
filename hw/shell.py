"""The system shell around a saved accelerator: its register map and its generated top.

`onebit_shell` (hw/rtl/onebit_shell.sv) makes the stitched accelerator a memory-mapped kernel:
an AXI4-Lite control slave in the Vitis `ap_ctrl_hs` layout (`REGISTERS`), an AXI4 master
(`m_axi_gmem`) reading input frames from memory and writing output frames back, an interrupt.
`write_kernel` writes the thin top `onebit_kernel` that sets the shell's parameters for one
build (bus width, stream geometry, design id). `REGISTERS` is the one register map the RTL, the
drivers and the kernel description share (docs/shell.md).

>>> k = write_kernel(Path("build/rtl"), data_width=64)  # doctest: +SKIP
>>> k.top, k.geometry.in_word_bytes, hex(k.design_id)  # doctest: +SKIP
('onebit_kernel', 1, '0x5e2c...')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from onebit.driver import regmap
from onebit.driver.weights import WritableLayer, address_bits
from onebit.errors import UserInputError
from onebit.hw import packing, rtl_source

REGISTERS = dict(regmap.OFF)
"""Register offsets of the control slave (32-bit registers): the driver's table
(`onebit.driver.regmap`), the one register map of RTL, drivers and kernel description."""

AP_START, AP_DONE, AP_IDLE, AP_READY, AUTO_RESTART = (
    regmap.AP_START, regmap.AP_DONE, regmap.AP_IDLE, regmap.AP_READY, regmap.AUTO_RESTART)
"""CTRL bits. ap_done and ap_ready clear when CTRL is read."""
IRQ_DONE, IRQ_READY = 0x1, 0x2
"""IER / ISR bits."""
MAGIC = regmap.MAGIC
"""What the MAGIC register reads: this is a onebit shell."""

DATA_WIDTHS = (32, 64, 128, 256, 512)
KERNEL = "onebit_kernel"
CTRL_ADDR_WIDTH = 8
"""Address bits of the control port without weight windows (a 256-byte span); with
runtime-writable layers it decodes every window too (`Kernel.ctrl_addr_width`)."""
SOURCES = ("onebit_axi_burst", "onebit_axi_reader", "onebit_axi_writer", "onebit_axil_ctrl",
           "onebit_dwc", "onebit_fifo", "onebit_shell")
"""onebit's modules the shell is made of (besides the accelerator's own sources)."""


@dataclass(frozen=True)
class Geometry:
    """The accelerator's streams as the shell and the drivers see them.

    `in_bits`/`out_bits`: meaningful bits of an input/output word (the memory layout's word
    bits); `in_port`: the accelerator's declared input tdata width; `*_words`: words per frame.
    """

    in_bits: int
    out_bits: int
    in_words: int
    out_words: int
    in_port: int

    @property
    def in_word_bytes(self) -> int:
        return packing.word_bytes(self.in_bits)

    @property
    def out_word_bytes(self) -> int:
        return packing.word_bytes(self.out_bits)

    @property
    def in_frame_bytes(self) -> int:
        return self.in_words * self.in_word_bytes

    @property
    def out_frame_bytes(self) -> int:
        return self.out_words * self.out_word_bytes


@dataclass
class Kernel:
    """A written kernel top: what to compile and what the registers will say."""

    top: str
    sources: list[Path]
    data_width: int
    geometry: Geometry
    design_id: int
    windows: tuple[WritableLayer, ...] = ()
    """The runtime-writable layers and their windows in the control address space."""

    @property
    def ctrl_addr_width(self) -> int:
        return address_bits(list(self.windows), CTRL_ADDR_WIDTH)


def accelerator_geometry(acc) -> Geometry:
    """The `Geometry` of an `onebit.hw.accelerator.Accelerator`."""
    first, last = acc.first, acc.last
    return Geometry(in_bits=first.epw * packing.bits(first.dt), out_bits=acc.last_bits,
                    in_words=first.words, out_words=last.words, in_port=acc.top.in_width)


def design_id(manifest: bytes) -> int:
    """The 32-bit design id of an accelerator manifest (`accelerator.json`'s bytes): the first
    four bytes of its SHA-256, big-endian."""
    return int.from_bytes(hashlib.sha256(manifest).digest()[:4], "big")


def _check_width(data_width: int) -> None:
    if data_width not in DATA_WIDTHS:
        raise UserInputError(f"AXI data width {data_width}: one of "
                             f"{', '.join(map(str, DATA_WIDTHS))} bits")


def kernel_source(geometry: Geometry, data_width: int, design: int,
                  windows: tuple[WritableLayer, ...] = ()) -> str:
    """SystemVerilog text of `onebit_kernel`: onebit_shell with this design's parameters
    (with `windows`, a control port that also decodes the weight windows)."""
    _check_width(data_width)
    g = geometry
    if g.out_bits > 8 * g.out_word_bytes or g.in_port > 8 * g.in_word_bytes:
        raise UserInputError(f"stream ports wider than their memory words: {g}")
    aw = address_bits(list(windows), CTRL_ADDR_WIDTH)
    params = {"C_M_AXI_DATA_WIDTH": data_width, "C_M_AXI_ADDR_WIDTH": 64,
              "C_S_AXI_CONTROL_ADDR_WIDTH": aw, "IN_BITS": g.in_port,
              "OUT_BITS": g.out_bits, "IN_WORD_BYTES": g.in_word_bytes,
              "OUT_WORD_BYTES": g.out_word_bytes, "IN_WORDS": g.in_words,
              "OUT_WORDS": g.out_words}
    plist = ",\n".join([f"    .{k}({v})" for k, v in params.items()]
                       + [f"    .DESIGN_ID(32'h{design:08x})"])
    ports = ",\n".join(f"  {d} logic {f'[{w - 1}:0] ' if w > 1 else ''}{n}"
                       for d, w, n in _ports(data_width, aw))
    return (f"// {KERNEL}: generated by onebit.hw.shell; the accelerator in onebit_shell.\n"
            "/* verilator lint_off SYMRSVDWORD */  // `interrupt`: Vitis' name\n"
            f"module {KERNEL} (\n{ports}\n);\n"
            f"  onebit_shell #(\n{plist}\n  ) u_shell (.*);\nendmodule\n")


def _ports(dw: int, a: int) -> list[tuple[str, int, str]]:
    """(direction, width, name) of the kernel's ports, Vitis' names; `a` control address bits."""
    i, o = "input ", "output"
    m, s = "m_axi_gmem_", "s_axi_control_"
    return [
        (i, 1, "ap_clk"), (i, 1, "ap_rst_n"),
        (o, 64, f"{m}araddr"), (o, 8, f"{m}arlen"), (o, 3, f"{m}arsize"), (o, 2, f"{m}arburst"),
        (o, 4, f"{m}arcache"), (o, 3, f"{m}arprot"), (o, 1, f"{m}arvalid"),
        (i, 1, f"{m}arready"), (i, dw, f"{m}rdata"), (i, 2, f"{m}rresp"), (i, 1, f"{m}rlast"),
        (i, 1, f"{m}rvalid"), (o, 1, f"{m}rready"),
        (o, 64, f"{m}awaddr"), (o, 8, f"{m}awlen"), (o, 3, f"{m}awsize"), (o, 2, f"{m}awburst"),
        (o, 4, f"{m}awcache"), (o, 3, f"{m}awprot"), (o, 1, f"{m}awvalid"),
        (i, 1, f"{m}awready"), (o, dw, f"{m}wdata"), (o, dw // 8, f"{m}wstrb"),
        (o, 1, f"{m}wlast"), (o, 1, f"{m}wvalid"), (i, 1, f"{m}wready"), (i, 2, f"{m}bresp"),
        (i, 1, f"{m}bvalid"), (o, 1, f"{m}bready"),
        (i, a, f"{s}awaddr"), (i, 1, f"{s}awvalid"), (o, 1, f"{s}awready"),
        (i, 32, f"{s}wdata"), (i, 4, f"{s}wstrb"), (i, 1, f"{s}wvalid"), (o, 1, f"{s}wready"),
        (o, 2, f"{s}bresp"), (o, 1, f"{s}bvalid"), (i, 1, f"{s}bready"),
        (i, a, f"{s}araddr"), (i, 1, f"{s}arvalid"), (o, 1, f"{s}arready"),
        (o, 32, f"{s}rdata"), (o, 2, f"{s}rresp"), (o, 1, f"{s}rvalid"), (i, 1, f"{s}rready"),
        (o, 1, "interrupt"),
    ]


def shell_sources(accel_sources: list[Path]) -> list[Path]:
    """The shell's modules plus the accelerator's sources; a module the accelerator already
    brings (its localized copy in `rtl/lib/`) is taken from there, once."""
    have = {Path(p).name for p in accel_sources}
    return [rtl_source(m) for m in SOURCES if f"{m}.sv" not in have] + list(accel_sources)


def write_kernel_for(sources: list[Path], geometry: Geometry, design: int, out_dir: Path,
                     data_width: int = 64, windows: tuple[WritableLayer, ...] = ()) -> Kernel:
    """Write `onebit_kernel.sv` into `out_dir` for an accelerator (`onebit_accel`) given by its
    sources, geometry and weight windows."""
    text = kernel_source(geometry, data_width, design, tuple(windows))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    top = out_dir / f"{KERNEL}.sv"
    top.write_text(text)
    return Kernel(KERNEL, shell_sources(sources) + [top], data_width, geometry, design,
                  tuple(windows))


def write_kernel(rtl_dir: Path, data_width: int = 64, out_dir: Path | None = None) -> Kernel:
    """Write the kernel top of the accelerator saved in `rtl_dir` (a build's `rtl/`).

    The top goes to `out_dir` (default `rtl_dir`); the design id is `design_id` of the
    manifest.
    """
    from onebit.hw.accelerator import MANIFEST, Accelerator

    rtl_dir = Path(rtl_dir)
    if not (rtl_dir / MANIFEST).is_file():
        raise UserInputError(f"{rtl_dir} holds no accelerator ({MANIFEST} missing); run "
                             "onebit build")
    acc = Accelerator.load(rtl_dir)
    return write_kernel_for(acc.top.sources, accelerator_geometry(acc),
                            design_id((rtl_dir / MANIFEST).read_bytes()), out_dir or rtl_dir,
                            data_width, tuple(acc.windows))
