"""`package_ip.tcl`: the shell with the accelerator packaged as a Vivado IP (`ipx::`), the
block the Zynq block design instantiates and, with Vitis kernel properties and the register
map, the RTL kernel `package_xo` turns into an `.xo`."""

from __future__ import annotations

from onebit.deploy import shell
from onebit.deploy.tcl import Raw, Script, obj
from onebit.driver.regmap import KERNEL_ARGS, OFF

HERE = Raw("$here")
IP_DIR = "vivado/ip"
OOC_XDC = "onebit_shell_ooc.xdc"


def here_path(rel: str) -> Raw:
    """`[file join $here a b]`: a path inside the bundle, wherever it was copied."""
    return Raw("[file join $here " + " ".join(rel.split("/")) + "]")


def preamble(s: Script) -> None:
    s.raw("set here [file dirname [file normalize [info script]]]")


def ooc_xdc(clock_mhz: float) -> str:
    """The clock constraint of the shell synthesized out of context (the IP's own runs)."""
    return (f"# onebit: the kernel clock at {clock_mhz:g} MHz, for out-of-context synthesis\n"
            f"create_clock -period {1000.0 / clock_mhz:.3f} -name {shell.CLOCK} "
            f"[get_ports {shell.CLOCK}]\n")


def package_ip(part: str, top: str, hdl: list[str], memory: list[str], kernel: bool) -> Script:
    """The packaging script: a project for `part` with the bundle's `rtl/` files, `top` (the
    kernel top around the shell) packaged into `vivado/ip` (with Vitis RTL kernel properties
    when `kernel`)."""
    s = Script()
    s.comment("onebit: package the system shell and the accelerator as an IP (generated)")
    preamble(s)
    s.cmd("create_project", "-force", "onebit_ip", here_path("vivado/ip_project"), "-part", part)
    s.cmd("add_files", "-norecurse", Raw("[list " + " ".join(
        here_path(f"rtl/{f}").text for f in hdl) + "]"))
    if memory:  # $readmemh files, found by their bare names
        s.cmd("add_files", "-norecurse", Raw("[list " + " ".join(
            here_path(f"rtl/{f}").text for f in memory) + "]"))
    s.cmd("add_files", "-fileset", "constrs_1", "-norecurse", here_path(OOC_XDC))
    s.cmd("set_property", "USED_IN", "synthesis out_of_context implementation",
          obj("get_files", OOC_XDC))
    s.cmd("set_property", "top", top, obj("current_fileset"))
    s.cmd("update_compile_order", "-fileset", "sources_1")
    s.cmd("ipx::package_project", "-root_dir", here_path(IP_DIR), "-vendor", shell.VENDOR,
          "-library", shell.LIBRARY, "-taxonomy", "/UserIP", "-import_files",
          "-set_current", "true")
    s.raw("set core [ipx::current_core]")
    core = Raw("$core")
    s.cmd("set_property", "version", shell.VERSION, core)
    s.cmd("set_property", "display_name", "onebit system shell", core)
    s.cmd("ipx::infer_bus_interfaces", "xilinx.com:interface:aximm_rtl:1.0", core)
    s.cmd("ipx::infer_bus_interfaces", "xilinx.com:signal:interrupt_rtl:1.0", core)
    for bus in (shell.MASTER, shell.CONTROL):
        s.cmd("ipx::associate_bus_interfaces", "-busif", bus, "-clock", shell.CLOCK, core)
    s.cmd("set_property", "value", "ACTIVE_LOW", obj(
        "ipx::get_bus_parameters", "POLARITY", "-of_objects",
        obj("ipx::get_bus_interfaces", shell.RESET, "-of_objects", core)))
    if kernel:
        _kernel_properties(s, core)
    s.cmd("ipx::create_xgui_files", core)
    s.cmd("ipx::update_checksums", core)
    s.cmd("ipx::check_integrity", *(["-kernel"] if kernel else []), core)
    s.cmd("ipx::save_core", core)
    s.cmd("close_project")
    return s


def _kernel_properties(s: Script, core: Raw) -> None:
    """Vitis RTL kernel: ap_ctrl_hs and the arguments as registers of `s_axi_control`."""
    s.cmd("set_property", "sdx_kernel", "true", core)
    s.cmd("set_property", "sdx_kernel_type", "rtl", core)
    s.cmd("set_property", "vitis_drc", "ctrl_protocol ap_ctrl_hs", core)
    s.cmd("set_property", "ipi_drc", "ignore_freq_hz true", core)
    s.raw(f"set block [ipx::get_address_blocks -of_objects [ipx::get_memory_maps "
          f"{shell.CONTROL} -of_objects $core]]")
    regs = [("CTRL", OFF["CTRL"], 32, ""), ("GIER", OFF["GIE"], 32, ""),
            ("IP_IER", OFF["IER"], 32, ""), ("IP_ISR", OFF["ISR"], 32, "")]
    regs += [(name, OFF[reg], 8 * size, shell.MASTER if kind == "pointer" else "")
             for name, reg, size, kind in KERNEL_ARGS]
    for name, off, size, busif in regs:
        s.cmd("ipx::add_register", name, Raw("$block"))
        reg = obj("ipx::get_registers", name, "-of_objects", Raw("$block"))
        s.cmd("set_property", "address_offset", f"0x{off:03X}", reg)
        s.cmd("set_property", "size", size, reg)
        if busif:
            s.cmd("ipx::add_register_parameter", "ASSOCIATED_BUSIF", reg)
            s.cmd("set_property", "value", busif, obj(
                "ipx::get_register_parameters", "ASSOCIATED_BUSIF", "-of_objects", reg))
