"""Benchmark: bnn_pynq TFC-W1A1 and CNV-W1A1 at finn-examples' folding, built and simulated.

    .venv/bin/python benchmarks/bnn_pynq.py [--out build/bench] [--models tfc cnv]
                                            [--speed-frames 20000] [--cnv-frames 6] [--no-synth]

Per model: the onebit build (random weights, random uint8 vectors) with the folding of
`benchmarks/folding/<model>-w1a1.json` (finn-examples' PE/SIMD), bit-exact Verilator simulation,
simulated cycles/frame against FINN's analytic estimate, Yosys resources of the stitched design
(`onebit.hw.synth`), and for TFC the simulator's speed on many frames (`resimulate` of the
build on `--speed-frames` frames, timing the Verilator run apart from FINN's per-vector
Python golden execution). Results go to `benchmarks/results/bnn_pynq.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FOLDING = HERE / "folding"
RESULTS = HERE / "results" / "bnn_pynq.json"

# Published / reference figures the targets are measured against.
REFERENCE = {
    "cnv": {"bnn_pynq_luts": 26072, "finn_est_cycles_per_frame": 32768, "finn_est_luts": 24479},
    "tfc": {},
}
TARGETS = {"ratio_to_estimate_max": 1.05, "cnv_luts_vs_bnn_pynq_max": 0.9,
           "tfc_build_sim_s_max": 60.0, "tfc_sim_frames_per_s_min": 10_000}


def build_model(name: str, out: Path, frames: int) -> dict:
    """The onebit build of bnn_pynq:<name> with the benchmark's folding; the report."""
    from onebit.flows.build import BuildConfig, build
    from onebit.flows.inputs import resolve

    inp = resolve(f"bnn_pynq:{name}", vectors=frames)
    cfg = BuildConfig(out, folding=FOLDING / f"{name}-w1a1.json", vectors=frames,
                      sim_frames=frames)
    t0 = time.perf_counter()
    report = build(inp, cfg)
    report["wall_s"] = time.perf_counter() - t0
    return report


def sim_speed(out: Path, frames: int) -> dict:
    """Frames/s of the Verilator run of the build's design on `frames` frames.

    `resimulate` cycles over the build's stored vectors (FINN's golden runs once per distinct
    vector, every frame is checked bit-exactly); the Verilator run alone is timed by the
    harness (`sim_cycles_per_s`), the whole call (golden, packing, checking) by the wall clock.
    """
    from onebit.flows.build import resimulate

    t0 = time.perf_counter()
    report = resimulate(out, frames)
    wall = time.perf_counter() - t0
    sim = report["sim"]
    run_s = sim["total_cycles"] / sim["sim_cycles_per_s"]
    return {"frames": frames, "bit_exact": sim["bit_exact"],
            "cycles_per_frame": sim["cycles_per_frame"], "total_cycles": sim["total_cycles"],
            "sim_cycles_per_s": round(sim["sim_cycles_per_s"]),
            "verilator_run_s": round(run_s, 3), "frames_per_s": round(frames / run_s, 1),
            "wall_s": round(wall, 3), "frames_per_s_wall": round(frames / wall, 1)}


def synth(out: Path, jobs: int) -> dict:
    from onebit.hw.synth import synthesize_build

    return synthesize_build(out, jobs=jobs)


def summarize(name: str, report: dict) -> dict:
    est = report["estimate"]
    sim = report["sim"]
    return {
        "status": report["status"],
        "bit_exact": sim["bit_exact"],
        "frames": sim["frames"],
        "cycles_per_frame": sim["cycles_per_frame"],
        "latency_cycles": sim["latency_cycles"],
        "finn_est_cycles_per_frame": est["cycles_per_frame"],
        "finn_est_bottleneck": est["bottleneck"],
        "ratio_to_estimate": round(sim["ratio_to_estimate"], 4),
        "finn_est_luts": est["luts"],
        "finn_est_brams": est["brams"],
        "fifo_depths": sim["fifo_depths"],
        "build_sim_wall_s": round(report["wall_s"], 2),
        "timings_s": report["timings_s"],
        "folding": f"benchmarks/folding/{name}-w1a1.json",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench"))
    ap.add_argument("--models", nargs="+", default=["tfc", "cnv"], choices=["tfc", "cnv"])
    ap.add_argument("--tfc-frames", type=int, default=16)
    ap.add_argument("--cnv-frames", type=int, default=6)
    ap.add_argument("--speed-frames", type=int, default=20_000)
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--jobs", type=int, default=2, help="Yosys runs at a time")
    args = ap.parse_args(argv)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()}
    results["targets"] = TARGETS
    for name in args.models:
        out = args.out / name
        frames = args.tfc_frames if name == "tfc" else args.cnv_frames
        print(f"[{name}] build + sim ({frames} frames) ...", flush=True)
        report = build_model(name, out, frames)
        r = summarize(name, report) | {"reference": REFERENCE[name]}
        print(f"[{name}] {r['cycles_per_frame']:.0f} cycles/frame, estimate "
              f"{r['finn_est_cycles_per_frame']} (ratio {r['ratio_to_estimate']}), "
              f"build+sim {r['build_sim_wall_s']} s", flush=True)
        if name == "tfc":
            r["sim_speed"] = sim_speed(out, args.speed_frames)
            print(f"[{name}] sim speed {r['sim_speed']}", flush=True)
        if not args.no_synth:
            s = synth(out, args.jobs)
            r["yosys"] = {k: v for k, v in s.items() if k != "cells"}
            print(f"[{name}] yosys: {s['luts']} LUT, {s['ffs']} FF, {s['brams_18k']} BRAM18, "
                  f"{s['dsps']} DSP ({s['seconds_total']} s)", flush=True)
            if REFERENCE[name].get("bnn_pynq_luts"):
                r["luts_vs_bnn_pynq"] = round(s["luts"] / REFERENCE[name]["bnn_pynq_luts"], 3)
        results[name] = r
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1))
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
