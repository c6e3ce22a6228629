"""Record the demo's figures: digits accuracy, per-stage verification and timings, estimates, sim.

    .venv/bin/python benchmarks/demo.py [--epochs 15] [--arch tfc] [--recipe ste]
        [--io-weights int8] [--no-sim] [--synth]

Writes benchmarks/results/demo-<arch>[-<recipe>][-int8io].json and prints a summary. Every
number comes from the run itself (no constants); `--synth` adds Yosys' LUT/FF/DSP/BRAM counts.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from onebit import data
from onebit.flows.build import BuildConfig, build
from onebit.flows.inputs import resolve
from onebit.models.train import train_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--arch", default="tfc")
    ap.add_argument("--recipe", default="ste")
    ap.add_argument("--io-weights", choices=["int8"])
    ap.add_argument("--synth", action="store_true", help="Yosys resource counts")
    ap.add_argument("--vectors", type=int, default=64)
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("build/bench-demo"))
    a = ap.parse_args()

    ds = data.load("digits")
    name = "-".join([a.arch] + [a.recipe] * (a.recipe != "ste") + ["int8io"] * bool(a.io_weights))
    ckpt = a.out / f"{name}.pt"
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    meta = train_checkpoint(a.arch, ds, ckpt, a.recipe, epochs=a.epochs, progress=False,
                            io_weights=a.io_weights)  # fmt: skip
    train_s = time.perf_counter() - t0
    inp = resolve(str(ckpt), vectors=a.vectors)
    bdir = a.out / f"build-{name}"
    report = build(inp, BuildConfig(bdir, sim=not a.no_sim, sim_frames=a.vectors,
                                    vectors=a.vectors))
    rec = {
        "arch": a.arch, "recipe": a.recipe, "io_weights": a.io_weights, "dataset": "digits",
        "epochs": a.epochs,
        "test_accuracy": meta["test_accuracy"], "train_s": round(train_s, 2),
        "stages": report["stages"], "timings_s": report["timings_s"],
        "estimate": {k: v for k, v in (report["estimate"] or {}).items()
                     if not k.endswith("_per_layer")},
        "sim": report.get("sim"),
        "synth": _synth(bdir) if a.synth else None,
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
    }
    out = Path(__file__).parent / "results" / f"demo-{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rec, indent=2))
    print(json.dumps(rec, indent=2))


def _synth(build_dir: Path) -> dict:
    from onebit.hw.synth import synthesize_build

    r = synthesize_build(build_dir, per_layer=False)
    return {k: r[k] for k in ("tool", "part", "luts", "ffs", "brams_18k", "dsps")}


if __name__ == "__main__":
    main()
