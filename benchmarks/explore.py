"""Benchmark: the Pareto front of CNV-W1A1 (bnn_pynq:cnv, random weights) on pynq-z2.

    .venv/bin/python benchmarks/explore.py [--out build/explore-cnv] [--fps 2000:8000:3]
                                           [--workers 2] [--synth] [--frames 6]
    .venv/bin/python benchmarks/explore.py --add-yosys K [K ...]   # after a run without --synth

`onebit explore` over `--fps` (log-spaced SetFolding targets) plus finn-examples' folding
(`benchmarks/folding/cnv-w1a1.json`, marked on the plot): every point built from the shared
model steps, simulated bit-exact in Verilator, FINN's LUT/BRAM estimate (Yosys with
`--synth`). Writes `benchmarks/results/explore-cnv.json` (explore.json, the command and the
machine), `explore-cnv.md` (the table quoted in docs/results.md) and `explore-cnv.svg`
(pareto.svg). `--add-yosys K ...` synthesizes the whole design of points K of the last run
(Yosys, no per-layer runs), adds the counts beside FINN's estimate (`"yosys_design"`) and
draws the plot again from the results file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
FOLDING = HERE / "folding" / "cnv-w1a1.json"


def table(r: dict) -> str:
    """The markdown table of an exploration's points."""
    src = sorted({p["resources"]["source"] for p in r["points"] if p["status"] == "ok"})
    rows = [f"| point | target | cycles/frame (sim) | fps | LUT ({', '.join(src)}) | BRAM18 | "
            "fits | on front (LUT / BRAM) | bit-exact | Yosys LUT / FF / BRAM18 |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for p in r["points"]:
        t = p["target"]
        target = f"{t['fps']:,.0f} fps" if "fps" in t else f"`{Path(t['folding']).name}`"
        if p["status"] != "ok":
            why = (p["error"] or "").splitlines()[0] if p["error"] else ""
            rows.append(f"| {p['k']} | {target} | failed at {p['failed_step']}: {why} "
                        "| | | | | | | |")
            continue
        front = " / ".join("yes" if p["k"] in r["pareto"][k] else "no"
                           for k in ("luts", "brams_18k"))
        rows.append(f"| {p['k']} | {target} | {p['cycles_per_frame']:,.0f} | {p['fps']:,.0f} | "
                    f"{p['resources']['luts']:,} | {p['resources']['brams_18k']} | "
                    f"{'yes' if p['fits'] else 'no'} | {front} | {p['bit_exact']} | "
                    + (f"{y['luts']:,} / {y['ffs']:,} / {y['brams_18k']} |"
                       if (y := p.get("yosys_design")) else "not run |"))
    rec = r["recommendation"]
    rows.append("")
    rows.append(f"Fastest point that fits {r['board']}: "
                + ("none" if rec["fastest_fitting"] is None else f"point {rec['fastest_fitting']}")
                + f". Wall time {r['seconds']:.0f} s ({r['engine']['workers']} local workers).")
    return "\n".join(rows) + "\n"


def add_yosys(out: Path, ks: list[int]) -> dict:
    """Yosys counts of the whole design of points `ks` of the last run (in `out`)."""
    from onebit.flows import pareto
    from onebit.hw.synth import synthesize_build

    r = json.loads((RESULTS / "explore-cnv.json").read_text())
    for k in ks:
        s = synthesize_build(out / r["points"][k]["dir"], per_layer=False)
        r["points"][k]["yosys_design"] = {key: s[key] for key in (
            "tool", "luts", "lut_logic", "lut_memory", "ffs", "brams_18k", "dsps", "seconds")}
        print(f"point {k}: {s['luts']} LUT, {s['ffs']} FF, {s['brams_18k']} BRAM18 "
              f"({s['seconds']} s)", flush=True)
        (RESULTS / "explore-cnv.json").write_text(json.dumps(r, indent=1))
    (RESULTS / "explore-cnv.md").write_text(table(r))
    pareto.write_plot(RESULTS / "explore-cnv.svg", r)  # from the results file, as it is now
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("build/explore-cnv"))
    ap.add_argument("--fps", default="2000:8000:3")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--synth", action="store_true")
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--target-fps", type=float, default=3000.0)
    ap.add_argument("--add-yosys", type=int, nargs="+", metavar="K")
    args = ap.parse_args(argv)
    if args.add_yosys:
        print(table(add_yosys(args.out, args.add_yosys)))
        return 0
    from onebit.flows.explore import ExploreConfig, Target, explore, parse_fps
    from onebit.flows.inputs import resolve

    targets = [Target(fps=f) for f in parse_fps(args.fps)] + [Target(folding=FOLDING)]
    # the network's simulation checks every layer's stream on `frames` frames; directed
    # vectors and the per-layer check are left out to keep each CNV point to minutes
    cfg = ExploreConfig(args.out, targets, board="pynq-z2", synth=args.synth,
                        workers=args.workers, target_fps=args.target_fps, vectors=args.frames,
                        frames=args.frames, directed=0, layer_check=False)
    inp = resolve("bnn_pynq:cnv", vectors=args.frames)
    r = explore(inp, cfg, progress=lambda s: print(s, flush=True))
    r["command"] = " ".join(["benchmarks/explore.py", *(argv or sys.argv[1:])])
    r["options"] = {"vectors": args.frames, "frames": args.frames, "directed": 0,
                    "layer_check": False}
    r["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()}
    for p in r["points"]:  # the folding file as a repository path, not this machine's
        if "folding" in p["target"]:
            p["target"]["folding"] = str(FOLDING.relative_to(HERE.parent))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "explore-cnv.json").write_text(json.dumps(r, indent=1))
    (RESULTS / "explore-cnv.md").write_text(table(r))
    shutil.copyfile(args.out / "pareto.svg", RESULTS / "explore-cnv.svg")
    print(table(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
