"""What the bundle needs from the system shell (`onebit_shell`, hw/rtl/): its sources for a
build, the design id it reports, and its fixed interface names.

The shell RTL is written apart from the bundle code; until `onebit.hw.shell` is in this onebit,
`shell_sources` refuses in one line.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from onebit.errors import ToolNotFoundError
from onebit.hw.accelerator import MANIFEST

TOP = "onebit_shell"
CLOCK, RESET = "ap_clk", "ap_rst_n"
MASTER, CONTROL, INTERRUPT = "m_axi_gmem", "s_axi_control", "interrupt"
VENDOR, LIBRARY, VERSION = "onebit.org", "onebit", "1.0"
VLNV = f"{VENDOR}:{LIBRARY}:{TOP}:{VERSION}"


def design_id(build: Path) -> int:
    """The 32-bit id the shell reports at 0x44: the first 4 bytes of the manifest's SHA-256."""
    data = (Path(build) / "rtl" / MANIFEST).read_bytes()
    return int.from_bytes(hashlib.sha256(data).digest()[:4], "big")


def shell_sources(build: Path, out_dir: Path, data_width: int) -> list[Path]:
    """The shell's HDL sources for `build` (its top `onebit_shell` around the accelerator),
    with an AXI master of `data_width` bits, written under `out_dir` where generated."""
    try:
        from onebit.hw import shell
    except ImportError:
        shell = None
    if shell is not None and hasattr(shell, "sources"):
        return [Path(p) for p in shell.sources(build, out_dir, data_width=data_width)]
    rtl = resources.files("onebit.hw") / "rtl"
    if not (rtl / f"{TOP}.sv").is_file():
        raise ToolNotFoundError(
            f"the system shell RTL (hw/rtl/{TOP}.sv) is not part of this onebit yet: "
            "`onebit bitstream` needs it to wrap the accelerator (issue 15, item 1)")
    raise ToolNotFoundError(f"hw/rtl/{TOP}.sv is here but onebit.hw.shell.sources is not: "
                            "this onebit cannot generate the shell for a build")
