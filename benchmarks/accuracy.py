"""Accuracy of every recipe vs the full-precision same network and the sign/STE baseline.

    python benchmarks/accuracy.py --datasets digits --epochs 20 --out benchmarks/results/accuracy
    python benchmarks/accuracy.py --datasets fashion-mnist --epochs 10 --limit 20000

Writes <out>.json and <out>.md: per dataset and recipe the test accuracy of the network that
the hardware computes (after folding; torch-only variants: the trained torch network), the
accuracy before folding, epochs per stage x stages, and CPU seconds (process time, 1 thread).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from onebit import data
from onebit.models.recipes import RECIPES, train_recipe

DEFAULT = ["fp", "ste", "bireal", "siman", "real2bin", "real2bin-gated", "ftbnn", "ftbnn-free",
           "irnet"]  # fmt: skip


def run(dataset: str, recipes: list[str], epochs: int, limit: int | None, arch: str,
        seed: int, lr: float) -> list[dict]:  # fmt: skip
    ds = data.load(dataset)
    rows = []
    for name in recipes:
        c0, w0 = time.process_time(), time.perf_counter()
        _, r = train_recipe(name, ds, arch=arch, epochs=epochs, limit=limit, seed=seed, lr=lr,
                            progress=False)  # fmt: skip
        rows.append({
            "dataset": ds.name, "recipe": name, "arch": arch,
            "hardware": RECIPES[name].deployable,
            "test_accuracy": r.test_accuracy, "torch_accuracy": r.torch_accuracy,
            "fold_mismatches": r.fold_mismatches,
            "stages": len(r.stages), "epochs_per_stage": epochs,
            "cpu_s": round(time.process_time() - c0, 1),
            "wall_s": round(time.perf_counter() - w0, 1),
            "train_limit": limit, "seed": seed,
        })  # fmt: skip
        print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| dataset | recipe | hardware | test acc. | vs fp | vs ste | epochs | CPU s |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ref = {x["recipe"]: x["test_accuracy"] for x in rows if x["dataset"] == r["dataset"]}
        d = lambda k: (f"{100 * (r['test_accuracy'] - ref[k]):+.1f}" if k in ref else "-")  # noqa: E731
        hw = "yes" if r["hardware"] else "torch only"
        ep = f"{r['stages']}x{r['epochs_per_stage']}"
        lines.append(f"| {r['dataset']} | {r['recipe']} | {hw} | {100 * r['test_accuracy']:.2f} "
                     f"| {d('fp')} | {d('ste')} | {ep} | {r['cpu_s']:.0f} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["digits"])
    p.add_argument("--recipes", nargs="+", default=DEFAULT)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--limit", type=int, help="train on the first N samples only")
    p.add_argument("--arch", default="cnv")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/accuracy"))
    a = p.parse_args()
    rows = []
    for ds in a.datasets:
        rows += run(ds, a.recipes, a.epochs, a.limit, a.arch, a.seed, a.lr)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    a.out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
