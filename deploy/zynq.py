"""`project.tcl` for a Zynq board: the packaged shell in a block design with the processing
system, synthesized, implemented and written as `onebit.bit` + `onebit.hwh` (the names PYNQ's
`Overlay("onebit.bit")` looks for).

Block design: the PS with its board preset and a PL clock at the requested frequency;
proc_sys_reset; the shell's AXI master through a SmartConnect into an HP port (DDR), the
shell's control slave behind an AXI interconnect on a GP master port; its interrupt to the PS.
"""

from __future__ import annotations

from dataclasses import dataclass

from onebit.deploy import shell
from onebit.deploy.ip import IP_DIR, here_path, preamble
from onebit.deploy.tcl import Raw, Script, obj, props

PROJECT_DIR = "vivado/project"
BD = "onebit"
BITFILE, HWH = "onebit.bit", "onebit.hwh"


@dataclass(frozen=True)
class Ps:
    """A processing system IP: its names for the ports the block design uses."""

    ip: str
    rule: str
    automation: str
    clock: str
    reset: str
    gp: str
    gp_clock: str
    hp: str
    hp_clock: str
    irq: str
    hp_width: int  # data bits of the HP port (the shell's AXI master width)

    def config(self, mhz: float) -> dict:
        if self.ip == "processing_system7":
            return {"CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ": f"{mhz:g}",
                    "CONFIG.PCW_EN_CLK0_PORT": 1, "CONFIG.PCW_EN_RST0_PORT": 1,
                    "CONFIG.PCW_USE_M_AXI_GP0": 1, "CONFIG.PCW_USE_S_AXI_HP0": 1,
                    "CONFIG.PCW_S_AXI_HP0_DATA_WIDTH": self.hp_width,
                    "CONFIG.PCW_USE_FABRIC_INTERRUPT": 1, "CONFIG.PCW_IRQ_F2P_INTR": 1}
        return {"CONFIG.PSU__FPGA_PL0_ENABLE": 1,
                "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ": f"{mhz:g}",
                "CONFIG.PSU__USE__M_AXI_GP0": 1, "CONFIG.PSU__USE__M_AXI_GP1": 0,
                "CONFIG.PSU__USE__M_AXI_GP2": 0, "CONFIG.PSU__USE__S_AXI_GP2": 1,
                "CONFIG.PSU__SAXIGP2__DATA_WIDTH": self.hp_width, "CONFIG.PSU__USE__IRQ0": 1}


PS7 = Ps("processing_system7", "xilinx.com:bd_rule:processing_system7",
         'make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" '
         'Slave "Disable"', "FCLK_CLK0", "FCLK_RESET0_N", "M_AXI_GP0", "M_AXI_GP0_ACLK",
         "S_AXI_HP0", "S_AXI_HP0_ACLK", "IRQ_F2P", 64)
MPSOC = Ps("zynq_ultra_ps_e", "xilinx.com:bd_rule:zynq_ultra_ps_e", 'apply_board_preset "1"',
           "pl_clk0", "pl_resetn0", "M_AXI_HPM0_FPD", "maxihpm0_fpd_aclk", "S_AXI_HP0_FPD",
           "saxihp0_fpd_aclk", "pl_ps_irq0", 128)

BOARD_PARTS = {
    # board: (Vivado board part, processing system); pynq-z1/z2 and ultra96v2 need the
    # vendors' board files installed in Vivado (Digilent, TUL, Avnet board repositories)
    "pynq-z1": ("www.digilentinc.com:pynq-z1:part0:1.0", PS7),
    "pynq-z2": ("tul.com.tw:pynq-z2:part0:1.0", PS7),
    "zcu104": ("xilinx.com:zcu104:part0:1.1", MPSOC),
    "ultra96v2": ("avnet.com:ultra96v2:part0:1.2", MPSOC),
}


def _ipdef(name: str) -> Raw:
    """The newest version of a Xilinx IP in this Vivado (versions change between releases)."""
    return Raw(f"[onebit_vlnv xilinx.com:ip:{name}]")


def project(board: str, part: str, clock_mhz: float, vlnv: str) -> Script:
    """The Vivado project script for `board`: block design (the kernel IP `vlnv`) to bitstream
    and `.hwh`."""
    board_part, ps = BOARD_PARTS[board]
    s = Script()
    s.comment(f"onebit: Vivado project for {board} ({part}) at {clock_mhz:g} MHz (generated)\n"
              "run: vivado -mode batch -source project.tcl")
    preamble(s)
    s.raw("""
proc onebit_vlnv {name} {
    set defs [lsort -dictionary [get_ipdefs -all $name:*]]
    if {[llength $defs] == 0} { error "onebit: IP $name is not in this Vivado's catalog" }
    return [lindex $defs end]
}
set jobs [expr {[info exists ::env(ONEBIT_JOBS)] ? $::env(ONEBIT_JOBS) : 4}]""")
    s.cmd("source", here_path("package_ip.tcl"))
    s.cmd("create_project", "-force", BD, here_path(PROJECT_DIR), "-part", part)
    s.raw(f"""
if {{[llength [get_board_parts -quiet {board_part}]] == 0}} {{
    error "onebit: the board files of {board} ({board_part}) are not installed in this Vivado"
}}""")
    s.cmd("set_property", "board_part", board_part, obj("current_project"))
    s.cmd("set_property", "ip_repo_paths", here_path(IP_DIR), obj("current_project"))
    s.cmd("update_ip_catalog")
    s.cmd("create_bd_design", BD)
    _block_design(s, ps, clock_mhz, vlnv)
    s.cmd("assign_bd_address")
    s.cmd("validate_bd_design")
    s.cmd("save_bd_design")
    s.raw(f"set wrapper [make_wrapper -files [get_files {BD}.bd] -top]")
    s.cmd("add_files", "-norecurse", Raw("$wrapper"))
    s.cmd("set_property", "top", f"{BD}_wrapper", obj("current_fileset"))
    s.cmd("update_compile_order", "-fileset", "sources_1")
    for run, extra in (("synth_1", []), ("impl_1", ["-to_step", "write_bitstream"])):
        s.cmd("launch_runs", run, *extra, "-jobs", Raw("$jobs"))
        s.cmd("wait_on_run", run)
        s.raw(f"""
if {{[get_property PROGRESS [get_runs {run}]] ne "100%"}} {{
    error "onebit: {run} failed: see {PROJECT_DIR}/{BD}.runs/{run}"
}}""")
    s.raw(f"""
set proj [get_property DIRECTORY [current_project]]
file copy -force [file join $proj {BD}.runs impl_1 {BD}_wrapper.bit] [file join $here {BITFILE}]
set hwh [glob -nocomplain [file join $proj {BD}.gen sources_1 bd {BD} hw_handoff {BD}.hwh] \\
    [file join $proj {BD}.srcs sources_1 bd {BD} hw_handoff {BD}.hwh]]
if {{[llength $hwh] == 0}} {{ error "onebit: no {BD}.hwh was generated" }}
file copy -force [lindex $hwh 0] [file join $here {HWH}]
puts "onebit: wrote $here/{BITFILE} and $here/{HWH}\"""")
    return s


def _block_design(s: Script, ps: Ps, mhz: float, vlnv: str) -> None:
    def cell(name: str, vlnv) -> None:
        s.cmd("create_bd_cell", "-type", "ip", "-vlnv", vlnv, name)

    def pin(p: str) -> Raw:
        return obj("get_bd_pins", p)

    def intf(p: str) -> Raw:
        return obj("get_bd_intf_pins", p)

    cell("ps", _ipdef(ps.ip))
    s.cmd("apply_bd_automation", "-rule", ps.rule, "-config", Raw("{" + ps.automation + "}"),
          obj("get_bd_cells", "ps"))
    s.cmd("set_property", "-dict", props(ps.config(mhz)), obj("get_bd_cells", "ps"))
    cell("shell", vlnv)
    cell("rst", _ipdef("proc_sys_reset"))
    cell("mem_ic", _ipdef("smartconnect"))
    s.cmd("set_property", "-dict", props({"CONFIG.NUM_SI": 1, "CONFIG.NUM_MI": 1}),
          obj("get_bd_cells", "mem_ic"))
    cell("ctrl_ic", _ipdef("axi_interconnect"))
    s.cmd("set_property", "-dict", props({"CONFIG.NUM_SI": 1, "CONFIG.NUM_MI": 1}),
          obj("get_bd_cells", "ctrl_ic"))
    for a, b in ((f"shell/{shell.MASTER}", "mem_ic/S00_AXI"), ("mem_ic/M00_AXI", f"ps/{ps.hp}"),
                 (f"ps/{ps.gp}", "ctrl_ic/S00_AXI"),
                 ("ctrl_ic/M00_AXI", f"shell/{shell.CONTROL}")):
        s.cmd("connect_bd_intf_net", intf(a), intf(b))
    s.cmd("connect_bd_net", *(pin(p) for p in (
        f"ps/{ps.clock}", f"ps/{ps.gp_clock}", f"ps/{ps.hp_clock}", f"shell/{shell.CLOCK}",
        "rst/slowest_sync_clk", "mem_ic/aclk", "ctrl_ic/ACLK", "ctrl_ic/S00_ACLK",
        "ctrl_ic/M00_ACLK")))
    s.cmd("connect_bd_net", pin(f"ps/{ps.reset}"), pin("rst/ext_reset_in"))
    s.cmd("connect_bd_net", *(pin(p) for p in (
        "rst/peripheral_aresetn", f"shell/{shell.RESET}", "mem_ic/aresetn",
        "ctrl_ic/S00_ARESETN", "ctrl_ic/M00_ARESETN")))
    s.cmd("connect_bd_net", pin("rst/interconnect_aresetn"), pin("ctrl_ic/ARESETN"))
    s.cmd("connect_bd_net", pin(f"shell/{shell.INTERRUPT}"), pin(f"ps/{ps.irq}"))
