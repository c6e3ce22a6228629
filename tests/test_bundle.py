"""`onebit bitstream`: the deployment bundle of a saved build, its Vivado/Vitis scripts run in
tclsh against recording stand-ins of the vendor commands (tests/tcl_standin/vivado.tcl), the
recorded block design compared with what it must contain."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from onebit.deploy import bundle, shell
from onebit.errors import ToolNotFoundError, UserInputError
from onebit.flows.build import BuildConfig, BuildInput, build

from nets import mlp, pixels
from standin import STANDIN, TCLSH, calls, needs_tclsh, standin

RTL_STEPS = ["export", "finn", "streamline", "hw_layers", "fold", "estimate", "rtl"]


@pytest.fixture(scope="module")
def saved_build(tmp_path_factory):
    """The mlp built through RTL generation (no rtlsim): a saved design with memory files."""
    out = tmp_path_factory.mktemp("deploy") / "b"
    # the inputs of test_accelerator's mlp build: the FIFO-sizing compile is shared (cache)
    report = build(BuildInput("mlp", pixels(8), torch_model=mlp()), BuildConfig(out, sim_frames=8),
                   steps=RTL_STEPS)
    assert report["status"] == "ok"
    return out


@pytest.fixture
def stub_shell(tmp_path, monkeypatch):
    """The kernel as `onebit.hw.shell.write_kernel` gives it (the shell RTL is written apart):
    top `onebit_kernel`, the shell's sources after the accelerator's, the manifest's hash."""
    src = tmp_path / "shell_src"
    src.mkdir()
    files = [src / f"{m}.sv" for m in ("onebit_shell", "onebit_kernel")]
    for f in files:
        f.write_text(f"module {f.stem}; endmodule\n")

    def shell_rtl(build, out_dir, data_width):
        from onebit.hw.accelerator import Accelerator

        acc = Accelerator.load(build / "rtl")
        did = hashlib.sha256((build / "rtl" / "accelerator.json").read_bytes()).digest()[:4]
        return shell.ShellRtl("onebit_kernel", [*acc.top.sources, *files],
                              int.from_bytes(did, "big"), 256)

    monkeypatch.setattr(shell, "shell_rtl", shell_rtl)


def copy_build(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "build"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("deploy"))
    return dst


def first(log, name):
    return next(i for i, c in enumerate(log) if c[0] == name)


ZYNQ = {  # board: (PS IP, clock property, HP port, GP port, PS clock, IRQ pin)
    "pynq-z2": ("processing_system7", "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ", "S_AXI_HP0",
                "M_AXI_GP0", "FCLK_CLK0", "IRQ_F2P"),
    "zcu104": ("zynq_ultra_ps_e", "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", "S_AXI_HP0_FPD",
               "M_AXI_HPM0_FPD", "pl_clk0", "pl_ps_irq0"),
    "ultra96v2": ("zynq_ultra_ps_e", "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ",
                  "S_AXI_HP0_FPD", "M_AXI_HPM0_FPD", "pl_clk0", "pl_ps_irq0"),
}


def check_packaging(log, part, root, meta, kernel):
    projects = calls(log, "create_project")
    assert projects[0][:4] == ["-force", "onebit_ip", str(root / "vivado" / "ip_project"),
                               "-part"] and projects[0][4] == part
    added = [p for c in calls(log, "add_files") for p in c[-1].split()]
    want = [str(root / "rtl" / f) for f in meta["rtl"]["hdl"] + meta["rtl"]["memory"]]
    assert set(want) <= set(added) and {"onebit_shell.sv", "onebit_kernel.sv"} <= set(
        meta["rtl"]["hdl"])
    assert len(meta["rtl"]["memory"]) == 5  # weights and thresholds of the mlp's MVAUs
    assert ["top", "onebit_kernel", "fileset:sources_1"] in calls(log, "set_property")
    pkg = calls(log, "ipx::package_project")[0]
    assert pkg[pkg.index("-vendor") + 1] == "onebit.org"
    assert ["-busif", "m_axi_gmem", "-clock", "ap_clk", "core:onebit_kernel"] in \
        calls(log, "ipx::associate_bus_interfaces")
    props = {c[0]: c[1] for c in calls(log, "set_property") if c[-1] == "core:onebit_kernel"}
    assert ("sdx_kernel" in props) == kernel
    assert first(log, "ipx::save_core") > first(log, "ipx::package_project")


@needs_tclsh
@pytest.mark.parametrize("board", list(ZYNQ))
def test_zynq_project_builds_the_block_design(board, saved_build, stub_shell, tmp_path):
    b = copy_build(saved_build, tmp_path)
    plan = bundle.write_bundle(b, board)
    root = plan.root
    meta = json.loads((root / "bundle.json").read_text())
    ps_ip, clk_prop, hp, gp, ps_clk, irq = ZYNQ[board]
    from onebit.boards import get_board

    part, mhz = get_board(board).part, get_board(board).clock_mhz
    assert (meta["board"], meta["part"], meta["clock_mhz"]) == (board, part, mhz)
    log = standin(root / "project.tcl", tmp_path)
    check_packaging(log, part, root, meta, kernel=False)
    assert calls(log, "create_project")[1][1:5] == ["onebit", str(root / "vivado" / "project"),
                                                     "-part", part]
    cells = {c[-1]: c[c.index("-vlnv") + 1].split(":")[2] for c in calls(log, "create_bd_cell")}
    assert cells == {"ps": ps_ip, "shell": "onebit_kernel", "rst": "proc_sys_reset",
                     "mem_ic": "smartconnect", "ctrl_ic": "axi_interconnect"}
    ps_cfg = next(c for c in calls(log, "set_property") if c[0] == "-dict" and c[-1] == "/ps")
    assert f"{clk_prop} {mhz:g}" in ps_cfg[1]
    assert any(c[-1] == "/ps" and "board_preset" in " ".join(c) for c in
               calls(log, "apply_bd_automation"))
    intf = {tuple(c) for c in calls(log, "connect_bd_intf_net")}
    assert intf == {("/shell/m_axi_gmem", "/mem_ic/S00_AXI"), ("/mem_ic/M00_AXI", f"/ps/{hp}"),
                    (f"/ps/{gp}", "/ctrl_ic/S00_AXI"), ("/ctrl_ic/M00_AXI", "/shell/s_axi_control")}
    nets = [set(c) for c in calls(log, "connect_bd_net")]
    clock = next(n for n in nets if f"/ps/{ps_clk}" in n)
    assert {"/shell/ap_clk", "/rst/slowest_sync_clk", "/mem_ic/aclk", "/ctrl_ic/ACLK"} <= clock
    assert {"/rst/peripheral_aresetn", "/shell/ap_rst_n", "/mem_ic/aresetn"} in \
        [n & {"/rst/peripheral_aresetn", "/shell/ap_rst_n", "/mem_ic/aresetn"} for n in nets]
    assert {"/shell/interrupt", f"/ps/{irq}"} in nets
    order = [first(log, n) for n in ("create_bd_design", "connect_bd_net", "assign_bd_address",
                                     "validate_bd_design", "make_wrapper", "launch_runs")]
    assert order == sorted(order)
    assert calls(log, "launch_runs") == [["synth_1", "-jobs", "4"],
                                         ["impl_1", "-to_step", "write_bitstream", "-jobs", "4"]]
    assert (root / "onebit.bit").is_file() and (root / "onebit.hwh").is_file()  # PYNQ's names
    xdc = (root / "onebit_shell_ooc.xdc").read_text()
    assert f"create_clock -period {1000 / mhz:.3f} -name ap_clk [get_ports ap_clk]" in xdc


@needs_tclsh
def test_clock_option_reaches_the_ps_and_the_constraint(saved_build, stub_shell, tmp_path):
    root = bundle.write_bundle(copy_build(saved_build, tmp_path), "pynq-z1", clock_mhz=125).root
    log = standin(root / "project.tcl", tmp_path)
    ps_cfg = next(c for c in calls(log, "set_property") if c[0] == "-dict" and c[-1] == "/ps")
    assert "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ 125" in ps_cfg[1]
    assert "-period 8.000" in (root / "onebit_shell_ooc.xdc").read_text()
    assert json.loads((root / "bundle.json").read_text())["clock_mhz"] == 125


@needs_tclsh
def test_u250_kernel_xo_xml_and_link(saved_build, stub_shell, tmp_path):
    plan = bundle.write_bundle(copy_build(saved_build, tmp_path), "u250")
    root = plan.root
    meta = json.loads((root / "bundle.json").read_text())
    log = standin(root / "package_xo.tcl", tmp_path)
    check_packaging(log, "xcu250-figd2104-2L-e", root, meta, kernel=True)
    regs = {}
    for c in calls(log, "set_property"):
        if c[-1].startswith("reg:"):
            regs.setdefault(c[-1][4:], {})[c[0]] = c[1]
    assert regs == {"CTRL": {"address_offset": "0x000", "size": "32"},
                    "GIER": {"address_offset": "0x004", "size": "32"},
                    "IP_IER": {"address_offset": "0x008", "size": "32"},
                    "IP_ISR": {"address_offset": "0x00C", "size": "32"},
                    "input": {"address_offset": "0x010", "size": "64"},
                    "output": {"address_offset": "0x01C", "size": "64"},
                    "frames": {"address_offset": "0x028", "size": "32"}}
    busif = [c for c in calls(log, "set_property") if c[-1].startswith("regparam:")]
    assert [(c[1], c[-1]) for c in busif] == [
        ("m_axi_gmem", "regparam:ASSOCIATED_BUSIF:reg:input"),
        ("m_axi_gmem", "regparam:ASSOCIATED_BUSIF:reg:output")]
    xo = calls(log, "package_xo")[0]
    assert xo[xo.index("-kernel_name") + 1] == "onebit_kernel"
    assert (root / "vivado" / "onebit.xo").is_file()
    k = ET.parse(root / "kernel.xml").getroot().find("kernel")
    assert k.get("hwControlProtocol") == "ap_ctrl_hs" and k.get("name") == "onebit_kernel"
    args = [(a.get("name"), a.get("offset"), a.get("size"), a.get("port")) for a in k.iter("arg")]
    assert args == [("input", "0x10", "0x8", "m_axi_gmem"), ("output", "0x1C", "0x8", "m_axi_gmem"),
                    ("frames", "0x28", "0x4", "s_axi_control")]
    master = next(p for p in k.iter("port") if p.get("name") == "m_axi_gmem")
    assert master.get("dataWidth") == str(meta["axi_data_width"]) == "512"
    control = next(p for p in k.iter("port") if p.get("name") == "s_axi_control")
    assert control.get("range") == "0x100"
    cfg = (root / "link.cfg").read_text()
    assert "kernel_frequency=200\n" in cfg
    assert "nk=onebit_kernel:1:onebit_kernel_1\nsp=onebit_kernel_1.m_axi_gmem:DDR[0]\n" in cfg
    assert (meta["kernel"], meta["ip_name"]) == ("onebit_kernel", "onebit_kernel_1")
    sh = (root / "build.sh").read_text()
    assert ('v++ --link --target hw --platform "${PLATFORM:-xilinx_u250_gen3x16_xdma_4_1_202210_1}"'
            " --config link.cfg --output onebit.xclbin vivado/onebit.xo") in sh
    other = bundle.write_bundle(root.parent, "u250", platform="xilinx_u250_gen3x16_xdma_shell_4_1")
    assert "PLATFORM:-xilinx_u250_gen3x16_xdma_shell_4_1}" in (other.root / "build.sh").read_text()


@needs_tclsh
def test_standin_fails_on_missing_files_and_wrong_order(saved_build, stub_shell, tmp_path):
    """The stand-ins are a real check: a missing file and a pin before its cell both fail."""
    root = bundle.write_bundle(copy_build(saved_build, tmp_path), "pynq-z2").root
    tcl = (root / "project.tcl").read_text()
    (root / "bad.tcl").write_text(tcl.replace("create_bd_cell -type ip -vlnv [onebit_vlnv "
                                              "xilinx.com:ip:proc_sys_reset] rst\n", ""))
    log = tmp_path / "x.log"
    r = subprocess.run([TCLSH, str(STANDIN), str(log), str(root / "bad.tcl")],
                       capture_output=True, text=True)
    assert r.returncode and "pin rst/slowest_sync_clk of a cell not yet created" in r.stderr
    next(root.glob("rtl/*.mem")).unlink()
    r = subprocess.run([TCLSH, str(STANDIN), str(log), str(root / "project.tcl")],
                       capture_output=True, text=True)
    assert r.returncode and "add_files: no such file" in r.stderr


def test_bundle_contents_and_vectors(saved_build, stub_shell, tmp_path):
    import numpy as np

    b = copy_build(saved_build, tmp_path)
    root = bundle.write_bundle(b, "pynq-z2").root
    meta = json.loads((root / "bundle.json").read_text())
    manifest = (b / "rtl" / "accelerator.json").read_bytes()
    assert meta["design_id"] == int.from_bytes(hashlib.sha256(manifest).digest()[:4], "big")
    assert meta["input"] == {"datatype": "UINT8", "shape": [64], "elems_per_word": 4,
                             "word_bits": 32, "word_bytes": 4, "words": 16, "frame_bytes": 64}
    assert meta["output"]["datatype"] == "INT8" and meta["output"]["words"] == 10
    # memory paths of the flattened RTL name files beside it, none reaches into a subfolder
    top = (root / "rtl" / "onebit_accel.sv").read_text()
    assert '"MVAU_hls_0_weights.mem"' in top and "/MVAU_hls_0_weights" not in top
    assert (root / "sim" / "rtl" / "accelerator.json").is_file()
    x, y = np.load(root / "vectors" / "input.npy"), np.load(root / "vectors" / "expected.npy")
    assert x.shape == (8, 64) and y.shape == (8, 10)
    assert os.access(root / "build.sh", os.X_OK)


def test_bundled_driver_needs_only_numpy(saved_build, stub_shell, tmp_path):
    """driver.py runs with onebit, qonnx and torch unimportable: it reads the bundle and stops
    in one line at the missing bitstream (pynq stand-in) or the missing simulator."""
    root = bundle.write_bundle(copy_build(saved_build, tmp_path), "pynq-z2").root
    code = ("import sys, types\n"
            "for m in ('onebit', 'qonnx', 'torch', 'finn'): sys.modules[m] = None\n"
            "sys.modules['pynq'] = types.ModuleType('pynq')\n"
            f"sys.argv = ['driver.py'] + sys.argv[1:]\n"
            f"exec(open({str(root / 'driver.py')!r}).read(), {{'__file__': "
            f"{str(root / 'driver.py')!r}, '__name__': '__main__'}})\n")
    for backend, msg in (("pynq", "onebit.bit is missing: build it with the bundle's build.sh"),
                         ("sim", "backend 'sim' needs onebit with its system simulation")):
        r = subprocess.run([sys.executable, "-c", code, "--input", "vectors/input.npy",
                            "--backend", backend], cwd=root, capture_output=True, text=True)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and msg in r.stderr, r.stderr


def _cli(args, env_path=None):
    from onebit.cli import cli

    env = {"PATH": env_path} if env_path else {"PATH": "/usr/bin:/bin"}
    return CliRunner().invoke(cli, args, env=env)


def test_cli_without_vivado_prints_the_commands(saved_build, stub_shell, tmp_path):
    b = copy_build(saved_build, tmp_path)
    r = _cli(["bitstream", str(b), "--board", "zcu104"])
    assert r.exit_code == 0, r.output
    assert "vivado not on PATH" in r.output
    assert "vivado -mode batch -nojournal -log vivado/project.log -source project.tcl" in r.output
    assert "--backend pynq" in r.output


@needs_tclsh
def test_cli_runs_vivado_when_on_path(saved_build, stub_shell, tmp_path):
    """A `vivado` on PATH (here: tclsh with the stand-ins) is run; its outputs are reported."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "vivado").write_text(
        f'#!/bin/sh\nfor a; do s="$a"; done\nexec {TCLSH} {STANDIN} vivado/standin.log "$s"\n')
    (bindir / "vivado").chmod(0o755)
    b = copy_build(saved_build, tmp_path)
    r = _cli(["bitstream", str(b)], env_path=f"{bindir}:/usr/bin:/bin")
    assert r.exit_code == 0, r.output
    assert f"wrote {b / 'deploy' / 'onebit.bit'}" in r.output
    assert (b / "deploy" / "onebit.hwh").is_file()


def test_bad_input_is_one_line(saved_build, stub_shell, tmp_path):
    b = copy_build(saved_build, tmp_path)
    with pytest.raises(UserInputError, match="unknown board 'zc706'"):
        bundle.write_bundle(b, "zc706")
    with pytest.raises(UserInputError, match="--clock-mhz 400 is outside 10..250 MHz"):
        bundle.write_bundle(b, "pynq-z2", clock_mhz=400)
    with pytest.raises(UserInputError, match="--platform names a Vitis platform"):
        bundle.write_bundle(b, "zcu104", platform="x")
    nosim = tmp_path / "nosim"
    nosim.mkdir()
    (nosim / "report.json").write_text(json.dumps({"status": "ok", "board": "pynq-z2"}))
    with pytest.raises(UserInputError, match="no accelerator RTL \\(built with --no-sim\\)"):
        bundle.write_bundle(nosim)
    with pytest.raises(UserInputError, match="not a onebit build"):
        bundle.write_bundle(tmp_path / "nothing")


def test_without_the_shell_rtl_bitstream_refuses(saved_build, tmp_path):
    try:
        from onebit.hw import shell as hw_shell  # noqa: F401
        pytest.skip("the shell is part of this onebit")
    except ImportError:
        pass
    with pytest.raises(ToolNotFoundError, match="system shell .* is not part of this onebit"):
        bundle.write_bundle(copy_build(saved_build, tmp_path), "pynq-z2")


def test_boards_lists_every_board():
    from onebit.boards import BOARDS

    r = _cli(["boards"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()[1:]
    assert len(lines) == len(BOARDS)
    for b, line in zip(BOARDS.values(), lines, strict=True):
        assert line.split()[:5] == [b.name, b.part, f"{b.clock_mhz:g}", "MHz", b.shell]
    assert "ultra96v2  xczu3eg-sbva484-1-e" in r.output


def test_bundle_driver_sim_backend_is_bit_exact(saved_build, tmp_path):
    """`python deploy/driver.py --backend sim` through the real shell and memory model gives
    the golden outputs (runs once the shell and its system simulation are in this onebit)."""
    pytest.importorskip("onebit.hw.system", reason="the shell's system simulation is not here")
    import numpy as np

    root = bundle.write_bundle(copy_build(saved_build, tmp_path), "pynq-z2").root
    r = subprocess.run([sys.executable, "driver.py", "--backend", "sim", "--input",
                        "vectors/input.npy", "--output", str(tmp_path / "y.npy"),
                        "--batchsize", "3"], cwd=root, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                  np.load(root / "vectors" / "expected.npy"))


@pytest.mark.verilator
def test_flattened_rtl_elaborates(saved_build, stub_shell, tmp_path):
    """deploy/rtl is complete on its own: Verilator elaborates the accelerator top from it."""
    from onebit.hw.verilator import lint

    root = bundle.write_bundle(copy_build(saved_build, tmp_path), "zcu104").root
    hdl = json.loads((root / "bundle.json").read_text())["rtl"]["hdl"]
    lint([root / "rtl" / f for f in hdl], "onebit_accel", extra_args=["-Wno-fatal"])
