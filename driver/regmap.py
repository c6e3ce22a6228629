"""The system shell's AXI4-Lite register map (Vitis `ap_ctrl_hs` layout).

One table, read by the driver, by the Vitis kernel description (`onebit.deploy.alveo`) and
checked against the shell's register file. Offsets in bytes; every register is 32 bits.
From `WINDOW_BASE` up lie the runtime-writable layers' weight windows (write-only), laid out
by `onebit.driver.weights` and listed per build in `bundle.json` "weights".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reg:
    name: str
    offset: int
    access: str  # "rw", "ro"
    doc: str


REGS = (
    Reg("CTRL", 0x00, "rw", "bit0 ap_start (HW clears), bit1 ap_done (clear on read), "
                            "bit2 ap_idle, bit3 ap_ready (clear on read), bit7 auto_restart"),
    Reg("GIE", 0x04, "rw", "global interrupt enable"),
    Reg("IER", 0x08, "rw", "interrupt enable: bit0 done, bit1 ready"),
    Reg("ISR", 0x0C, "rw", "interrupt status (toggle on write)"),
    Reg("IN_ADDR_LO", 0x10, "rw", "input frames' address, bits 31:0"),
    Reg("IN_ADDR_HI", 0x14, "rw", "input frames' address, bits 63:32"),
    Reg("OUT_ADDR_LO", 0x1C, "rw", "output frames' address, bits 31:0"),
    Reg("OUT_ADDR_HI", 0x20, "rw", "output frames' address, bits 63:32"),
    Reg("FRAMES", 0x28, "rw", "frames to run"),
    Reg("CYCLES_LO", 0x30, "ro", "clock cycles of the last run, bits 31:0"),
    Reg("CYCLES_HI", 0x34, "ro", "clock cycles of the last run, bits 63:32"),
    Reg("MAGIC", 0x40, "ro", "0x0B175E11"),
    Reg("DESIGN_ID", 0x44, "ro", "hash of the accelerator manifest"),
    Reg("IN_WORD_BYTES", 0x48, "ro", "bytes of one input stream word in memory"),
    Reg("OUT_WORD_BYTES", 0x4C, "ro", "bytes of one output stream word in memory"),
    Reg("IN_WORDS", 0x50, "ro", "input words per frame"),
    Reg("OUT_WORDS", 0x54, "ro", "output words per frame"),
)
OFF = {r.name: r.offset for r in REGS}
MAGIC = 0x0B175E11
WINDOW_BASE = 0x1000
"""The lowest address a weight window may take (the registers' span is 0x100)."""
AP_START, AP_DONE, AP_IDLE, AP_READY, AUTO_RESTART = 1, 2, 4, 8, 0x80

KERNEL_ARGS = (
    # (name, register, bytes, kind): the Vitis kernel's arguments, in call order
    ("input", "IN_ADDR_LO", 8, "pointer"),
    ("output", "OUT_ADDR_LO", 8, "pointer"),
    ("frames", "FRAMES", 4, "scalar"),
)
