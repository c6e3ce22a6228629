"""Target boards: FPGA part and default fabric clock."""

from __future__ import annotations

from dataclasses import dataclass

from onebit.errors import UserInputError


@dataclass(frozen=True)
class Board:
    name: str
    part: str
    clock_mhz: float
    shell: str  # "zynq" (PYNQ overlay) or "alveo" (Vitis platform)


BOARDS = {
    b.name: b
    for b in [
        Board("pynq-z1", "xc7z020clg400-1", 100.0, "zynq"),
        Board("pynq-z2", "xc7z020clg400-1", 100.0, "zynq"),
        Board("zcu104", "xczu7ev-ffvc1156-2-e", 187.5, "zynq"),
        Board("u250", "xcu250-figd2104-2L-e", 200.0, "alveo"),
    ]
}


def get_board(name: str) -> Board:
    """The board called `name`, or a one-line error listing the known ones."""
    try:
        return BOARDS[name.lower()]
    except KeyError:
        raise UserInputError(
            f"unknown board '{name}' (known: {', '.join(sorted(BOARDS))})"
        ) from None
