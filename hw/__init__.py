"""onebit.hw: SystemVerilog library, RTL generation, stitching and Verilator simulation."""

from importlib import resources
from pathlib import Path


def rtl_source(module: str) -> Path:
    """The SystemVerilog file of one of onebit's modules (`hw/rtl/<module>.sv`)."""
    return Path(str(resources.files("onebit.hw") / "rtl" / f"{module}.sv"))
