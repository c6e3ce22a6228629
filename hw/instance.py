"""The typed artifact between RTL generation and stitching: one streaming RTL instance."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Canonical port roles of a single-input, single-output streaming block.
PORT_ROLES = ("clk", "rst_n", "s_tdata", "s_tvalid", "s_tready", "m_tdata", "m_tvalid", "m_tready")
# Extra roles of two-input (AddStreams: second input `s1_*`) and two-output (DuplicateStreams:
# second output `m1_*`) blocks; `s_*`/`m_*` are then input 0 / output 0.
PORT_ROLES_IN1 = ("s1_tdata", "s1_tvalid", "s1_tready")
PORT_ROLES_OUT1 = ("m1_tdata", "m1_tvalid", "m1_tready")

ONEBIT_PORTS = {
    "clk": "clk",
    "rst_n": "rst_n",
    "s_tdata": "s_axis_tdata",
    "s_tvalid": "s_axis_tvalid",
    "s_tready": "s_axis_tready",
    "m_tdata": "m_axis_tdata",
    "m_tvalid": "m_axis_tvalid",
    "m_tready": "m_axis_tready",
}
"""Port names of onebit's own modules (hw/rtl/onebit_*.sv)."""

FINN_PORTS = {
    "clk": "ap_clk",
    "rst_n": "ap_rst_n",
    "s_tdata": "in0_V_TDATA",
    "s_tvalid": "in0_V_TVALID",
    "s_tready": "in0_V_TREADY",
    "m_tdata": "out0_V_TDATA",
    "m_tvalid": "out0_V_TVALID",
    "m_tready": "out0_V_TREADY",
}
"""Port names of the Verilog wrappers FINN generates for its RTL nodes."""


@dataclass
class RtlInstance:
    """One streaming block of the accelerator: a module, its parameters and its sources.

    `in_width`/`out_width` are the widths of the tdata ports as declared by the module (FINN's
    wrappers round stream widths up to a multiple of 8; `in_bits`/`out_bits` are the meaningful
    low bits). `ports` maps each role of `PORT_ROLES` to the module's port name.
    """

    name: str
    module: str
    sources: list[Path]
    in_width: int
    out_width: int
    in_bits: int
    out_bits: int
    params: dict[str, int | str] = field(default_factory=dict)
    ports: dict[str, str] = field(default_factory=lambda: dict(ONEBIT_PORTS))
    op_type: str = ""
    in1_width: int = 0  # second input (`s1_*`) of a two-input block, 0 if none
    out1_width: int = 0  # second output (`m1_*`) of a two-output block, 0 if none
    tied: dict[str, str] = field(default_factory=dict)
    """Input ports beyond the stream roles and the constant each takes when nothing drives it
    (`onebit_mvau`'s memory write port)."""
    writable: dict | None = None
    """A runtime-writable layer's memories (`onebit.driver.weights.WritableLayer` as JSON,
    its window base not yet placed); None for a layer whose memories are fixed."""

    def out_port_bits(self, port: int) -> int:
        """Meaningful bits of output port 0 (`m_*`, maybe byte-padded) or 1 (`m1_*`)."""
        return self.out_bits if port == 0 else self.out1_width

    def port_widths(self) -> tuple[list[int], list[int]]:
        """tdata widths of the inputs (`s`, `s1`) and outputs (`m`, `m1`)."""
        ins = [self.in_width] + ([self.in1_width] if self.in1_width else [])
        outs = [self.out_width] + ([self.out1_width] if self.out1_width else [])
        return ins, outs
