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
    capacity: dict[str, int]  # the part's LUT, BRAM_18K, URAM, DSP (AMD data sheets)

    def fit(self, used: dict[str, float]) -> dict:
        """Whether `used` (FINN's LUT/BRAM_18K/URAM/DSP estimate) fits the part, per resource."""
        rows = {k: {"estimate": float(used.get(k, 0.0)), "capacity": cap}
                for k, cap in self.capacity.items()}
        return {"fits": all(r["estimate"] <= r["capacity"] for r in rows.values()),
                "resources": rows}


def over_capacity(fit: dict) -> str:
    """The resources of a `Board.fit` result over capacity, e.g. 'LUT 263,112 > 53,200'."""
    return ", ".join(f"{k} {v['estimate']:,.0f} > {v['capacity']:,}"
                     for k, v in fit["resources"].items() if v["estimate"] > v["capacity"])


# DS190 (Zynq-7000), DS891 (Zynq UltraScale+ MPSoC), DS962 (Alveo U250).
_Z7020 = {"LUT": 53_200, "BRAM_18K": 280, "URAM": 0, "DSP": 220}
_ZU3EG = {"LUT": 70_560, "BRAM_18K": 432, "URAM": 0, "DSP": 360}
_ZU7EV = {"LUT": 230_400, "BRAM_18K": 624, "URAM": 96, "DSP": 1_728}
_VU13P = {"LUT": 1_728_000, "BRAM_18K": 5_376, "URAM": 1_280, "DSP": 12_288}

BOARDS = {
    b.name: b
    for b in [
        Board("pynq-z1", "xc7z020clg400-1", 100.0, "zynq", _Z7020),
        Board("pynq-z2", "xc7z020clg400-1", 100.0, "zynq", _Z7020),
        Board("zcu104", "xczu7ev-ffvc1156-2-e", 187.5, "zynq", _ZU7EV),
        Board("ultra96v2", "xczu3eg-sbva484-1-e", 150.0, "zynq", _ZU3EG),
        Board("u250", "xcu250-figd2104-2L-e", 200.0, "alveo", _VU13P),
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
