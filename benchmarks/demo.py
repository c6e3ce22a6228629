"""Record the demo's figures: digits accuracy, per-stage verification and timings, estimates, sim.

    .venv/bin/python benchmarks/demo.py [--epochs 15] [--arch tfc] [--no-sim]

Writes benchmarks/results/demo-<arch>.json and prints a summary. Every number comes from the
run itself (no constants).
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
    ap.add_argument("--vectors", type=int, default=64)
    ap.add_argument("--no-sim", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("build/bench-demo"))
    a = ap.parse_args()

    ds = data.load("digits")
    ckpt = a.out / f"{a.arch}.pt"
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    meta = train_checkpoint(a.arch, ds, ckpt, epochs=a.epochs, progress=False)
    train_s = time.perf_counter() - t0
    inp = resolve(str(ckpt), vectors=a.vectors)
    report = build(inp, BuildConfig(a.out / "build", sim=not a.no_sim, sim_frames=a.vectors,
                                    vectors=a.vectors))
    rec = {
        "arch": a.arch, "dataset": "digits", "epochs": a.epochs,
        "test_accuracy": meta["test_accuracy"], "train_s": round(train_s, 2),
        "stages": report["stages"], "timings_s": report["timings_s"],
        "estimate": {k: v for k, v in (report["estimate"] or {}).items()
                     if not k.endswith("_per_layer")},
        "sim": report.get("sim"),
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
    }
    out = Path(__file__).parent / "results" / f"demo-{a.arch}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rec, indent=2))
    print(json.dumps(rec, indent=2))


if __name__ == "__main__":
    main()
