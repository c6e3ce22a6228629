"""Yosys LUTs, FFs and LUT levels of width converters with `onebit_dwc` of each git revision.

    .venv/bin/python benchmarks/dwc_synth.py [--rev f82cda1 7606df8 WORKTREE] [--out ...]

`onebit_dwc` alone at the in -> out widths of `RATIOS` (TFC's and CNV's converters, a
non-divisible one, the upsizers that slowed robustness seed 479's simulation), synthesized by
Yosys (`onebit.hw.synth`, the default mapper) for a Zynq-7000 with the
`hw/rtl/onebit_dwc.sv` of each `--rev` (`WORKTREE`: as it is). The default revisions: before
session 16 (f82cda1), the landing loop over the shorter of fills and input slots (7606df8),
and the slot masks as generated assignments (87d133a on): the same logic written for a
simulator, so the figures should not move.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from mvau_synth import module_at

HERE = Path(__file__).resolve().parent
PART = "xc7z020clg400-1"
RATIOS = [(1, 64), (64, 49), (70, 7), (8, 12), (16, 8), (6, 9), (1, 300), (4, 256)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", nargs="+", default=["f82cda1", "7606df8", "WORKTREE"])
    ap.add_argument("--out", type=Path, default=HERE / "results" / "dwc_synth.json")
    a = ap.parse_args(argv)
    from onebit.hw import dwc, synth
    from onebit.hw.instance import RtlInstance

    rows = []
    with tempfile.TemporaryDirectory(prefix="onebit-dwc-synth-") as tmp:
        for rev in a.rev:
            module = module_at(rev, Path(tmp) / "rev" / rev, "onebit_dwc.sv")
            for i, o in RATIOS:
                inst = RtlInstance(name="dwc", module=dwc.MODULE, sources=[module], in_width=i,
                                   out_width=o, in_bits=i, out_bits=o,
                                   params={"IN_BITS": i, "OUT_BITS": o})
                r = synth.synthesize(inst, Path(tmp) / rev / f"{i}_{o}", PART)
                row = {"rev": rev, "in_bits": i, "out_bits": o,
                       **{k: r[k] for k in ("luts", "ffs", "lut_levels")},
                       "tool": r["tool"], "mapper": r["mapper"]}
                rows.append(row)
                print(json.dumps(row), flush=True)
    a.out.write_text(json.dumps({"part": PART, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
