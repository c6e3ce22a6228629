"""An Alveo bundle: the shell packaged as a Vitis RTL kernel (`package_xo.tcl` -> `onebit.xo`,
its `kernel.xml` from the register map) and the `v++ --link` configuration that puts it on a
platform (`onebit.xclbin`)."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from onebit.deploy import shell
from onebit.deploy.ip import IP_DIR, here_path, preamble
from onebit.deploy.tcl import Script
from onebit.driver.regmap import KERNEL_ARGS, OFF

DEFAULT_PLATFORM = "xilinx_u250_gen3x16_xdma_4_1_202210_1"
XO, XCLBIN, KERNEL_XML, LINK_CFG = "vivado/onebit.xo", "onebit.xclbin", "kernel.xml", "link.cfg"
MEMORY = "DDR[0]"
PYNQ_MEMORY = "bank0"
"""PYNQ's name for the memory the kernel is linked to (`MEMORY` on the U250's platforms)."""


def cu(top: str) -> str:
    """The compute unit's name (`v++` numbers the instances of a kernel from 1)."""
    return f"{top}_1"


def package_xo(top: str) -> Script:
    s = Script()
    s.comment("onebit: the shell as a Vitis RTL kernel (generated)\n"
              "run: vivado -mode batch -source package_xo.tcl")
    preamble(s)
    s.cmd("source", here_path("package_ip.tcl"))
    s.cmd("package_xo", "-force", "-xo_path", here_path(XO), "-kernel_name", top,
          "-ip_directory", here_path(IP_DIR), "-kernel_xml", here_path(KERNEL_XML))
    return s


def kernel_xml(k: shell.ShellRtl, data_width: int) -> str:
    """The kernel description XRT reads: ap_ctrl_hs, the two AXI ports, the arguments."""
    def attrs(**kw) -> str:
        return " ".join(f"{k}={quoteattr(str(v))}" for k, v in kw.items())

    args = []
    for i, (name, reg, size, kind) in enumerate(KERNEL_ARGS):
        ptr = kind == "pointer"
        args.append("      <arg " + attrs(
            name=name, addressQualifier=1 if ptr else 0, id=i,
            port=shell.MASTER if ptr else shell.CONTROL, size=f"0x{size:X}",
            offset=f"0x{OFF[reg]:X}", type="void*" if ptr else "uint", hostOffset="0x0",
            hostSize=f"0x{size:X}") + "/>")
    return "\n".join([
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<root versionMajor="1" versionMinor="6">',
        "  <kernel " + attrs(name=k.top, language="ip_c", vlnv=k.vlnv, attributes="",
                             preferredWorkGroupSizeMultiple=0, workGroupSize=1,
                             interrupt="true", hwControlProtocol="ap_ctrl_hs") + ">",
        "    <ports>",
        "      <port " + attrs(name=shell.CONTROL, mode="slave", range=f"0x{k.ctrl_span:X}",
                               dataWidth=32, portType="addressable", base="0x0") + "/>",
        "      <port " + attrs(name=shell.MASTER, mode="master", range="0xFFFFFFFFFFFFFFFF",
                               dataWidth=data_width, portType="addressable", base="0x0") + "/>",
        "    </ports>",
        "    <args>", *args, "    </args>",
        "  </kernel>",
        "</root>", ""])


def link_cfg(top: str, clock_mhz: float) -> str:
    """`v++ --link --config link.cfg`: one compute unit, its master on DDR bank 0, its clock."""
    return "\n".join([
        "# onebit: v++ --link configuration (generated); the platform is given on the command",
        f"# line (--platform, default {DEFAULT_PLATFORM})",
        f"kernel_frequency={clock_mhz:g}",
        "",
        "[connectivity]",
        f"nk={top}:1:{cu(top)}",
        f"sp={cu(top)}.{shell.MASTER}:{MEMORY}",
        ""])
