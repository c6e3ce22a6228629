"""Yosys' LUT mappers on the same stitched designs: the classic `abc` (onebit's default) and
ABC9 (synth_xilinx's default), for bnn_pynq TFC-W1A1 (LUT-level budget 6) and
CNV-W1A1 at finn-examples' folding.

    .venv/bin/python benchmarks/mappers.py                 # both models, ~30 min on 2 cores
    .venv/bin/python benchmarks/mappers.py --models tfc    # ~5 min

Per model and mapper: LUT levels, LUTs, FFs, BRAM18, DSPs, the deepest path's last nets and
the Yosys seconds. Writes benchmarks/results/mappers.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDING = HERE.parent / "tests" / "data" / "finn_examples"
MODELS = {"tfc": {"lut_levels": 6}, "cnv": {}}  # build options besides the folding


def run(model: str, work: Path, part: str) -> dict:
    from onebit.flows.build import BuildConfig, build
    from onebit.flows.inputs import resolve
    from onebit.hw import synth
    from onebit.hw.accelerator import Accelerator

    out = work / model
    build(resolve(f"bnn_pynq:{model}", vectors=2),
          BuildConfig(out, folding=FOLDING / f"{model}-w1a1.json", vectors=2, sim_frames=2,
                      top_k=1, layer_check=False, directed=0, **MODELS[model]))
    top = Accelerator.load(out / "rtl").top
    rec = {"folding": f"tests/data/finn_examples/{model}-w1a1.json", **MODELS[model]}
    for mapper in synth.MAPPERS:
        r = synth.synthesize(top, out / f"synth-{mapper}", part, cache_dir=work / "yosys-cache",
                             root=out / "rtl", mapper=mapper)
        rec[mapper] = {k: r[k] for k in ("lut_levels", "luts", "ffs", "brams_18k", "dsps",
                                         "seconds")}
        rec[mapper]["deepest_path_end"] = r["timing"]["deepest_path"][-3:]
        print(model, mapper, json.dumps(rec[mapper]), flush=True)
    return rec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--part", default="xc7z020clg400-1")
    p.add_argument("--out", type=Path, default=HERE / "results" / "mappers.json")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="onebit-mappers-") as work:
        res = {m: run(m, Path(work), a.part) for m in a.models}
    a.out.write_text(json.dumps({"part": a.part, "models": res}, indent=1))


if __name__ == "__main__":
    main()
