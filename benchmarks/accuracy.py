"""Accuracy of every recipe vs the full-precision same network and the sign/STE baseline.

    python benchmarks/accuracy.py --datasets digits --epochs 100 --jobs 2 \
        --out benchmarks/results/accuracy-digits
    python benchmarks/accuracy.py --datasets fashion-mnist --epochs 3 --jobs 2 \
        --out benchmarks/results/accuracy-fashion-mnist
    python benchmarks/accuracy.py --datasets fashion-mnist --recipes fp bireal --epochs 6 \
        --jobs 2 --out benchmarks/results/accuracy-fashion-mnist-goal
    python benchmarks/accuracy.py --datasets fashion-mnist --recipes fp ste bireal siman \
        real2bin ftbnn irnet --epochs 3 --jobs 2 --io-weights int8 \
        --out benchmarks/results/accuracy-fashion-mnist-int8io

Writes <out>.json and <out>.md: per dataset and recipe the test accuracy of the network that
the hardware computes (after folding; torch-only variants: the trained torch network), the
accuracy before folding, epochs per stage x stages, and CPU seconds (process time; 1 torch
thread per process unless --threads).
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from multiprocessing import get_context
from pathlib import Path

from onebit import data
from onebit.models.recipes import RECIPES, train_recipe

DEFAULT = ["fp", "ste", "bireal", "siman", "real2bin", "real2bin-gated", "ftbnn", "ftbnn-free",
           "ftbnn-grouped", "irnet"]  # fmt: skip


def one(name: str, dataset: str, epochs: int, limit: int | None, arch: str, seed: int,
        lr: float, threads: int = 1, io_weights: str | None = None) -> dict:  # fmt: skip
    """Trains one recipe; its table row."""
    ds = data.load(dataset)
    c0, w0 = time.process_time(), time.perf_counter()
    _, r = train_recipe(name, ds, arch=arch, epochs=epochs, limit=limit, seed=seed, lr=lr,
                        progress=False, num_threads=threads, io_weights=io_weights)  # fmt: skip
    row = {
        "dataset": ds.name, "recipe": name, "arch": arch, "io_weights": io_weights,
        "hardware": RECIPES[name].deployable,
        "test_accuracy": r.test_accuracy, "torch_accuracy": r.torch_accuracy,
        "train_accuracy": r.train_accuracy[-1] if r.train_accuracy else None,
        "fold_mismatches": r.fold_mismatches,
        "stages": len(r.stages), "epochs_per_stage": epochs,
        "cpu_s": round(time.process_time() - c0, 1),
        "wall_s": round(time.perf_counter() - w0, 1),
        "train_limit": limit, "seed": seed, "lr": lr, "threads": threads,
    }  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def run(dataset: str, recipes: list[str], epochs: int, limit: int | None, arch: str,
        seed: int, lr: float, jobs: int = 1, threads: int = 1,
        io_weights: str | None = None) -> list[dict]:  # fmt: skip
    """Rows of every recipe on `dataset`, in `recipes` order; `jobs` processes at a time."""
    f = partial(one, dataset=dataset, epochs=epochs, limit=limit, arch=arch, seed=seed, lr=lr,
                threads=threads, io_weights=io_weights)  # fmt: skip
    if jobs <= 1:
        return [f(n) for n in recipes]
    # longest first (stages), so that the pool's last job is short
    order = sorted(recipes, key=lambda n: -len(RECIPES[n].stages))
    with get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
        done = dict(zip(order, pool.map(f, order, chunksize=1), strict=True))
    return [done[n] for n in recipes]


def markdown(rows: list[dict]) -> str:
    lines = ["| dataset | arch | train images | recipe | hardware | test acc. | vs fp | vs ste "
             "| epochs | CPU s |", "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ref = {x["recipe"]: x["test_accuracy"] for x in rows if x["dataset"] == r["dataset"]}
        d = {k: f"{100 * (r['test_accuracy'] - ref[k]):+.1f}" if k in ref else "-"
             for k in ("fp", "ste")}  # fmt: skip
        hw = "yes" if r["hardware"] else "torch only"
        ep = f"{r['stages']}x{r['epochs_per_stage']}"
        n = r["train_limit"] or "all"
        acc = f"{100 * r['test_accuracy']:.2f}"
        arch = r["arch"] + (f" ({r['io_weights']} io)" if r.get("io_weights") else "")
        lines.append(f"| {r['dataset']} | {arch} | {n} | {r['recipe']} | {hw} | {acc} "
                     f"| {d['fp']} | {d['ste']} | {ep} | {r['cpu_s']:.0f} |")  # fmt: skip
    total = sum(r["cpu_s"] for r in rows)
    lines.append(f"\nTotal CPU: {total:.0f} s ({total / 60:.1f} min).")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=["digits"])
    p.add_argument("--recipes", nargs="+", default=DEFAULT)
    p.add_argument("--epochs", type=int, default=100, help="epochs per stage")
    p.add_argument("--limit", type=int, help="train on the first N samples only")
    p.add_argument("--arch", default="cnv-wide")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=1, help="recipes trained in parallel processes")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads per process (results are reproducible per thread count; "
                        "CPU s then counts every thread)")  # fmt: skip
    p.add_argument("--io-weights", choices=["int8"],
                   help="first and output layer weights (default: the recipe's binary ones)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/accuracy"))
    a = p.parse_args()
    rows = []
    for ds in a.datasets:
        rows += run(ds, a.recipes, a.epochs, a.limit, a.arch, a.seed, a.lr, a.jobs, a.threads,
                    a.io_weights)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    a.out.with_suffix(".md").write_text(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
