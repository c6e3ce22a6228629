"""`onebit bitstream BUILD`: the deployment bundle `BUILD/deploy/`.

    deploy/
      bundle.json          board, part, clock, design id, frame geometry, memory layout
      rtl/                 shell + accelerator sources and memory files, one flat directory
      package_ip.tcl       the shell packaged as an IP (both flows)
      project.tcl          Zynq: block design -> onebit.bit + onebit.hwh
      package_xo.tcl, kernel.xml, link.cfg    Alveo: RTL kernel -> onebit.xo -> onebit.xclbin
      onebit_shell_ooc.xdc the kernel clock constraint
      build.sh             the vendor-tool commands, run where Vivado/Vitis is installed
      driver/, driver.py   the board driver (numpy + pynq or pyxrt) and its command line
      sim/rtl/             the build's RTL as saved (the driver's `sim` backend)
      vectors/             input frames of the build's vectors and the golden outputs
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from onebit.boards import Board, get_board
from onebit.deploy import alveo, ip, rtl, shell, zynq
from onebit.driver.bundle import BUNDLE_FILE, FORMAT, Io
from onebit.errors import UserInputError
from onebit.flows.builddir import claim
from onebit.hw.accelerator import MANIFEST

DEPLOY = "deploy"
ALVEO_WIDTH = 512
MAX_CLOCK_MHZ = {"zynq": 250.0, "alveo": 500.0}


@dataclass
class Plan:
    """A written bundle: where, the commands left to run (and where), and what they make."""

    root: Path
    board: Board
    clock_mhz: float
    tools: list[str]
    commands: list[str]
    outputs: list[str]
    notes: list[str] = field(default_factory=list)


def check_clock(board: Board, clock_mhz: float | None) -> float:
    mhz = board.clock_mhz if clock_mhz is None else float(clock_mhz)
    top = MAX_CLOCK_MHZ[board.shell]
    if not 10.0 <= mhz <= top:
        raise UserInputError(f"--clock-mhz {clock_mhz:g} is outside 10..{top:g} MHz for "
                             f"{board.name}")
    return mhz


def write_bundle(build: Path, board: str | None = None, clock_mhz: float | None = None,
                 platform: str | None = None) -> Plan:
    """Write `build/deploy/` for `board` (default: the build's) at `clock_mhz`."""
    build = Path(build)
    report = _finished_report(build)
    b = get_board(board or report["board"])
    mhz = check_clock(b, clock_mhz)
    if platform is not None and b.shell != "alveo":
        raise UserInputError(f"--platform names a Vitis platform: {b.name} is a Zynq board")
    with claim(build, fresh=False):
        root = build / DEPLOY
        if root.exists():
            shutil.rmtree(root)
        root.mkdir()
        width = zynq.BOARD_PARTS[b.name][1].hp_width if b.shell == "zynq" else ALVEO_WIDTH
        k = shell.shell_rtl(build, root / "shell_gen", width)
        hdl, memory = rtl.flatten(build, root / "rtl", k.sources)
        shutil.rmtree(root / "shell_gen", ignore_errors=True)
        _copy_driver(root)
        shutil.copytree(build / "rtl", root / "sim" / "rtl",
                        ignore=shutil.ignore_patterns("sizing"))
        meta = bundle_json(build, b, mhz, k, hdl, memory, width, platform)
        (root / BUNDLE_FILE).write_text(json.dumps(meta, indent=1))
        _vectors(build, root)
        (root / ip.OOC_XDC).write_text(ip.ooc_xdc(mhz))
        (root / "package_ip.tcl").write_text(
            ip.package_ip(b.part, k.top, hdl, memory, kernel=b.shell == "alveo").text())
        if b.shell == "zynq":
            (root / "project.tcl").write_text(zynq.project(b.name, b.part, mhz, k.vlnv).text())
            tools, cmds = ["vivado"], [_vivado("project.tcl")]
            outputs = [zynq.BITFILE, zynq.HWH]
        else:
            (root / "package_xo.tcl").write_text(alveo.package_xo(k.top).text())
            (root / alveo.KERNEL_XML).write_text(alveo.kernel_xml(k, width))
            (root / alveo.LINK_CFG).write_text(alveo.link_cfg(k.top, mhz))
            plat = platform or alveo.DEFAULT_PLATFORM
            tools = ["vivado", "v++"]
            cmds = [_vivado("package_xo.tcl"),
                    f'v++ --link --target hw --platform "${{PLATFORM:-{plat}}}" '
                    f"--config {alveo.LINK_CFG} --output {alveo.XCLBIN} {alveo.XO}"]
            outputs = [alveo.XCLBIN]
        _build_sh(root, b, tools, cmds)
    return Plan(root, b, mhz, tools, cmds, outputs)


def _vivado(script: str) -> str:
    return f"vivado -mode batch -nojournal -log vivado/{Path(script).stem}.log -source {script}"


def _finished_report(build: Path) -> dict:
    path = build / "report.json"
    if not path.is_file():
        raise UserInputError(f"{build} is not a onebit build (no report.json): run onebit build")
    try:
        report = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserInputError(f"{path}: unreadable report ({e})") from None
    if report.get("status") != "ok":
        raise UserInputError(f"{build}: its build {report.get('status')} at step "
                             f"'{report.get('failed_step')}'; build it again")
    if not (build / "rtl" / MANIFEST).is_file():
        raise UserInputError(f"{build} has no accelerator RTL (built with --no-sim): build it "
                             "without --no-sim, then run onebit bitstream")
    return report


def _shapes(build: Path) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per-frame shapes of the dataflow partition's input and output (batch axis dropped)."""
    from onebit.flows.build import load_intermediate

    m = load_intermediate(build, "dataflow_golden")
    return (tuple(m.get_tensor_shape(m.graph.input[0].name)[1:]),
            tuple(m.get_tensor_shape(m.graph.output[0].name)[1:]))


def bundle_json(build: Path, b: Board, mhz: float, k: shell.ShellRtl, hdl: list[str],
                memory: list[str], width: int, platform: str | None) -> dict:
    from onebit.hw.accelerator import Accelerator

    acc = Accelerator.load(build / "rtl")
    ishape, oshape = _shapes(build)
    first, last = acc.first, acc.last
    io_in = Io(first.dt.name, ishape, first.epw, first.epw * first.dt.bitwidth(), first.words)
    io_out = Io(last.dt.name, oshape, last.epw, acc.last_bits, last.words)
    for side, io in (("input", io_in), ("output", io_out)):
        if io.elems != io.words * io.elems_per_word:
            raise UserInputError(f"{build}: the {side} shape {io.shape} is not {io.words} "
                                 f"words of {io.elems_per_word}")
    report = json.loads((build / "report.json").read_text())
    return {
        "format": FORMAT,
        "board": b.name, "part": b.part, "shell": b.shell, "clock_mhz": mhz,
        "platform": (platform or alveo.DEFAULT_PLATFORM) if b.shell == "alveo" else None,
        "design_id": k.design_id,
        "model": report.get("model"),
        "bitfile": zynq.BITFILE if b.shell == "zynq" else alveo.XCLBIN,
        "ip_name": "shell" if b.shell == "zynq" else alveo.cu(k.top),
        "kernel": k.top,
        "memory": alveo.PYNQ_MEMORY if b.shell == "alveo" else "",
        "axi_data_width": width,
        "input": io_in.to_json(), "output": io_out.to_json(),
        "memory_layout": (
            "each stream word occupies word_bytes bytes (the smallest power of two holding "
            "word_bits), little-endian, element 0 in the least significant bits (BIPOLAR -1 -> "
            "0, +1 -> 1; signed two's complement); frames contiguous"),
        "software_nodes": report.get("software_nodes"),
        "rtl": {"hdl": hdl, "memory": memory, "top": k.top},
        "registers": "onebit.driver.regmap (ap_ctrl_hs layout)",
        "control_span": k.ctrl_span,
        "weights": [w.to_json() for w in acc.windows],
        "weights_layout": "onebit.driver.weights (windows above 0x1000, 32-bit parts)",
    }


def _copy_driver(root: Path) -> None:
    src = resources.files("onebit.driver")
    dest = root / "driver"
    dest.mkdir()
    for f in src.iterdir():
        if f.name.endswith(".py"):
            (dest / f.name).write_text(f.read_text())
    default = "pynq"
    (root / "driver.py").write_text(
        "#!/usr/bin/env python3\n"
        '"""Run this bundle\'s accelerator: python driver.py --help (onebit\'s driver/)."""\n'
        "import sys\nfrom pathlib import Path\n\n"
        "here = Path(__file__).resolve().parent\nsys.path.insert(0, str(here))\n"
        "from driver.cli import main  # noqa: E402\n\n"
        f'sys.exit(main(bundle_dir=here, default_backend="{default}"))\n')


def _vectors(build: Path, root: Path, n: int = 16) -> None:
    """The build's first `n` vectors as dataflow inputs, with the golden model's outputs."""
    from onebit.flows.build import VECTORS, golden_contexts, load_intermediate

    if not (build / VECTORS).is_file():
        return
    x = np.load(build / VECTORS)["x"][:n]
    parent = load_intermediate(build, "hw_layers")
    golden = load_intermediate(build, "dataflow_golden")
    xin, ctxs = golden_contexts(parent, golden, x)
    oname = golden.graph.output[0].name
    d = root / "vectors"
    d.mkdir()
    np.save(d / "input.npy", xin.reshape(len(x), *_shapes(build)[0]))
    np.save(d / "expected.npy",
            np.stack([c[oname] for c in ctxs]).reshape(len(x), *_shapes(build)[1]))


def _build_sh(root: Path, b: Board, tools: list[str], cmds: list[str]) -> None:
    text = "\n".join([
        "#!/usr/bin/env bash",
        f"# onebit: build the {' and '.join(tools)} outputs of this bundle ({b.name}, {b.part}).",
        "# Run where the tools are on PATH; the results land beside this script.",
        "set -euo pipefail",
        'cd "$(dirname "$0")"',
        "mkdir -p vivado",
        *cmds, ""])
    (root / "build.sh").write_text(text)
    (root / "build.sh").chmod(0o755)
