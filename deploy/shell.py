"""What the bundle takes from the system shell (`onebit.hw.shell`): the kernel top written
for a build (the shell `onebit_shell` with this design's parameters), its sources, the design
id its registers report and the control port's address span; plus the interface names the
block design and the kernel description use.

Until `onebit.hw.shell` is in this onebit, `shell_rtl` refuses in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onebit.errors import ToolNotFoundError

CLOCK, RESET = "ap_clk", "ap_rst_n"
MASTER, CONTROL, INTERRUPT = "m_axi_gmem", "s_axi_control", "interrupt"
VENDOR, LIBRARY, VERSION = "onebit.org", "onebit", "1.0"


@dataclass(frozen=True)
class ShellRtl:
    """The kernel of one build: its top module, every HDL source, the design id, the number of
    bytes the control port decodes."""

    top: str
    sources: list[Path]
    design_id: int
    ctrl_span: int

    @property
    def vlnv(self) -> str:
        return f"{VENDOR}:{LIBRARY}:{self.top}:{VERSION}"


def shell_rtl(build: Path, out_dir: Path, data_width: int) -> ShellRtl:
    """Write the kernel top of `build` into `out_dir` for an AXI master of `data_width` bits."""
    try:
        from onebit.hw import shell
    except ImportError:
        raise ToolNotFoundError(
            "the system shell (onebit.hw.shell, hw/rtl/onebit_shell.sv) is not part of this "
            "onebit yet: onebit bitstream needs it to wrap the accelerator") from None
    k = shell.write_kernel(Path(build) / "rtl", data_width, Path(out_dir))
    return ShellRtl(k.top, [Path(p) for p in k.sources], k.design_id,
                    1 << k.ctrl_addr_width)
