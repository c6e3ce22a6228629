"""Benchmark: per-layer LUT levels, fmax estimate and resources of bnn_pynq TFC-W1A1.

    .venv/bin/python benchmarks/timing.py [--out build/timing] [--model tfc]
                                          [--board pynq-z2] [--lut-levels N]

Builds `bnn_pynq:<model>` with finn-examples' folding (`tests/data/finn_examples/
<model>-w1a1.json`, label output `--top-k 1`), bit-exact in Verilator, then synthesizes
every layer on its own with Yosys `synth_xilinx` (`onebit.hw.synth`) and measures its
longest register-to-register path (`onebit.hw.timing`: LUT levels, fmax under the stated
delay model). `--lut-levels N` builds the MVAUs pipelined for a depth budget of N LUT levels
(`onebit.hw.mvau`); without it, the unpipelined datapath. Results:
`benchmarks/results/timing-<model>[-L<N>].json` and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDING = HERE.parent / "tests" / "data" / "finn_examples"


def run(model: str, out: Path, board: str, lut_levels: int | None) -> dict:
    from onebit.flows.build import BuildConfig, build
    from onebit.flows.inputs import resolve

    inp = resolve(f"bnn_pynq:{model}", vectors=4)
    kw = {} if lut_levels is None else {"lut_levels": lut_levels}
    cfg = BuildConfig(out, board=board, folding=FOLDING / f"{model}-w1a1.json", vectors=4,
                      sim_frames=4, top_k=1, synth=True, **kw)
    t0 = time.perf_counter()
    report = build(inp, cfg)
    wall = time.perf_counter() - t0
    if report["status"] != "ok":
        raise SystemExit(f"build failed at {report.get('failed_step')}: see {out}/report.json")
    res = report["resources"]
    return {
        "model": f"bnn_pynq:{model}-w1a1",
        "folding": f"tests/data/finn_examples/{model}-w1a1.json",
        "board": report["board"],
        "part": report["part"],
        "clock_mhz": report["clock_mhz"],
        "lut_levels_budget": lut_levels,
        "bit_exact": report["sim"]["bit_exact"],
        "cycles_per_frame": report["sim"]["cycles_per_frame"],
        "latency_cycles": report["sim"]["latency_cycles"],
        "total": {k: res[k] for k in ("luts", "ffs", "brams_18k", "dsps", "lut_levels",
                                      "fmax_mhz_est")},
        "layers": res["layers"],
        "worst_layer": res["worst_layer"],
        "below_clock": res["below_clock"],
        "delay_model": res["timing"]["model"],
        "tool": res["tool"],
        "build_wall_s": round(wall, 1),
        "host": platform.node(),
    }


def table(r: dict) -> str:
    rows = [f"{'layer':28s} {'LUT':>7s} {'FF':>7s} {'BRAM18':>6s} {'DSP':>4s} {'levels':>6s} "
            f"{'fmax~':>7s}"]
    for name, la in [*r["layers"].items(), ("(stitched top)", r["total"])]:
        rows.append(f"{name:28s} {la['luts']:>7} {la['ffs']:>7} {la['brams_18k']:>6} "
                    f"{la['dsps']:>4} {la['lut_levels']:>6} {la['fmax_mhz_est']:>7}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/timing"))
    ap.add_argument("--model", default="tfc", choices=["tfc", "cnv"])
    ap.add_argument("--board", default="pynq-z2")
    ap.add_argument("--lut-levels", type=int, default=None)
    a = ap.parse_args(argv)
    tag = a.model + ("" if a.lut_levels is None else f"-L{a.lut_levels}")
    r = run(a.model, a.out / tag, a.board, a.lut_levels)
    dest = HERE / "results" / f"timing-{tag}.json"
    dest.write_text(json.dumps(r, indent=2) + "\n")
    print(table(r))
    print(f"cycles/frame {r['cycles_per_frame']:.0f}, latency {r['latency_cycles']} cycles; "
          f"worst layer {r['worst_layer']['name']} ~{r['worst_layer']['fmax_mhz_est']} MHz; "
          f"below {r['clock_mhz']:g} MHz: {r['below_clock'] or 'none'}")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
