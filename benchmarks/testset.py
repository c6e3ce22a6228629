"""Whole test sets through the simulated accelerator: hardware accuracy and frames/s.

    .venv/bin/python benchmarks/testset.py [--nets demo,tfc,tfc-fast,cnv,bnn-tfc,bnn-cnv]
                                           [--jobs 2] [--repeat 3]
                                           [--epochs 1] [--reuse-builds]

Each network is trained as a user trains it (`onebit demo`: tfc on digits; `onebit train
--arch {tfc,cnv} --dataset fashion-mnist --epochs E`) and built at the default folding
(`tfc-fast`: `--target-fps 1e6`; `bnn-tfc`, `bnn-cnv`: see BNN); then `onebit sim BUILD
--test-set --jobs J` streams the whole test split through the RTL, every output checked
against FINN's golden model, `--repeat` times: the fastest run is recorded (as timeit does:
other load on the machine only slows a run down), the runs' median frames/s beside it. Records
the hardware accuracy beside torch's, frames/s end to end (from loading the design to the last
output checked: the simulator found or compiled, the golden model, the Verilator runs and the
check; the command's imports and the dataset's loading not included) and the golden and
Verilator parts apart.
Writes benchmarks/results/testset.{json,md}; every figure comes from the run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
NETS = {"demo": "digits", "tfc": "fashion-mnist", "tfc-fast": "fashion-mnist",
        "cnv": "fashion-mnist", "bnn-tfc": "fashion-mnist", "bnn-cnv": "cifar10"}
BUILD_ARGS = {"tfc-fast": ["--target-fps", "1000000"]}  # the fastest folding FINN finds
FOLDING = Path(__file__).parent.parent / "tests" / "data" / "finn_examples"
BNN = {net: [f"bnn_pynq:{net[4:]}", "--folding", str(FOLDING / f"{net[4:]}-w1a1.json"),
              "--top-k", "1"] for net in ("bnn-tfc", "bnn-cnv")}
"""`bnn-tfc`, `bnn-cnv`: FINN's TFC-W1A1 and CNV-W1A1 as `benchmarks/timing.py` builds them
(bnn_pynq, random weights, finn-examples' folding), TFC on the 10,000 Fashion-MNIST test images
(MNIST's format; no MNIST here), CNV on 10,000 random 32x32x3 images written in CIFAR-10's
format (no CIFAR-10 here): the accuracy means nothing, the speed and the check of every output
do."""


def random_cifar(folder: Path, n: int = 10_000, seed: int = 0) -> Path:
    """A CIFAR-10 python-format folder of `n` random test images (and a small train batch)."""
    import pickle

    import numpy as np

    d = folder / "cifar-10-batches-py"
    if not (d / "test_batch").is_file():
        d.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        for name, k in (("data_batch_1", 100), ("test_batch", n)):
            batch = {b"data": rng.integers(0, 256, (k, 3072), dtype=np.uint8),
                     b"labels": rng.integers(0, 10, k).tolist()}
            (d / name).write_bytes(pickle.dumps(batch))
    return folder


def onebit(*args: str) -> None:
    exe = Path(sys.executable).parent / "onebit"
    r = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"onebit {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


def measure(net: str, work: Path, jobs: int, epochs: int, reuse: bool = False,
            repeat: int = 1) -> dict:
    out = work / net
    t0 = time.perf_counter()
    sim_args: list[str] = []
    if reuse and (out / "build" / "report.json").is_file():
        bdir = out / "build"  # built before (--reuse-builds): its build time is not measured
    elif net in BNN:
        bdir = out / "build"
        onebit("-q", "build", *BNN[net], "--out", str(bdir))
    elif net == "demo":
        onebit("demo", "--out", str(out))
        bdir = out / "build"
    else:
        arch = net.split("-")[0]
        ckpt = work / f"{arch}-{NETS[net]}.pt"  # shared by the variants of one network
        if not ckpt.exists():
            onebit("-q", "train", "--arch", arch, "--dataset", NETS[net], "--epochs",
                   str(epochs), "--out", str(ckpt))
        bdir = out / "build"
        onebit("-q", "build", str(ckpt), "--out", str(bdir), *BUILD_ARGS.get(net, []))
    build_s = time.perf_counter() - t0
    if net == "bnn-cnv":
        sim_args = ["--dataset", "cifar10", "--data-dir", str(random_cifar(work / "cifar10"))]
    elif net == "bnn-tfc":
        sim_args = ["--dataset", "fashion-mnist"]
    runs = []
    for _ in range(repeat):  # the fastest run: other load on the machine only slows one down
        onebit("sim", str(bdir), "--test-set", "--jobs", str(jobs), *sim_args)
        report = json.loads((bdir / "report.json").read_text())
        runs.append(report["sim"]["test_set"])
    t = min(runs, key=lambda r: r["seconds"])
    median = statistics.median(r["frames_per_s"] for r in runs)
    return {"net": net, "dataset": t["dataset"], "frames": t["frames"],
            "accuracy": t["accuracy"], "torch_accuracy": t["torch_accuracy"],
            "matches_torch": t["matches_torch"], "jobs": t["jobs"],
            "frames_per_s": t["frames_per_s"], "frames_per_s_median": median,
            "seconds": t["seconds"], "slices": t.get("slices"),
            "golden_s": t["golden_s"], "sim_s": t["sim_s"],
            "sim_frames_per_s": t["sim_frames_per_s"], "golden_batched": t["golden_batched"],
            "compile_s": t["compile_s"], "frames_per_s_steady": t["frames_per_s_steady"],
            "cycles_per_frame": report["sim"]["cycles_per_frame"],
            "build_s": round(build_s, 1), "build_reused": reuse and build_s < 1,
            "runs": repeat, "cpus": os.cpu_count(),
            "load_avg_1min": round(os.getloadavg()[0], 2)}  # other work on the machine


def table(records: list[dict]) -> str:
    rows = ["| network | test set | images | hardware accuracy | torch | frames/s (all) | "
            "median of runs | frames/s after compiling | compile s | Verilator frames/s | "
            "golden s | sim s | cycles/frame |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        torch = "-" if r["torch_accuracy"] is None else f"{r['torch_accuracy']:.4f}"
        steady, median = r.get("frames_per_s_steady"), r.get("frames_per_s_median")
        rows.append(f"| {r['net']} | {r['dataset']} | {r['frames']} | {r['accuracy']:.4f} | "
                    f"{torch} | {r['frames_per_s']:,.0f} | "
                    f"{'-' if median is None else f'{median:,.0f}'} | "
                    f"{'-' if steady is None else f'{steady:,.0f}'} | "
                    f"{r.get('compile_s', 0):.1f} | {r['sim_frames_per_s']:,.0f} | "
                    f"{r['golden_s']:.1f} | {r['sim_s']:.1f} | {r['cycles_per_frame']:.0f} |")
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="demo,tfc,tfc-fast,cnv",
                    help=f"comma list of {', '.join(NETS)}")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("build/bench-testset"))
    ap.add_argument("--repeat", type=int, default=3,
                    help="test-set runs of each build; the fastest is recorded")
    ap.add_argument("--reuse-builds", action="store_true",
                    help="simulate the builds already in --work instead of building again")
    a = ap.parse_args()
    nets = a.nets.split(",")
    unknown = [n for n in nets if n not in NETS]
    if unknown:
        raise SystemExit(f"unknown net {unknown[0]!r}: one of {', '.join(NETS)}")
    path = RESULTS / "testset.json"
    old = {r["net"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    for net in nets:
        old[net] = r = measure(net, a.work, a.jobs, a.epochs, a.reuse_builds, a.repeat)
        print(f"{net}: {r['frames']} images, accuracy {r['accuracy']:.4f} (torch "
              f"{r['torch_accuracy']}), {r['frames_per_s']:,.0f} frames/s", flush=True)
        records = [old[n] for n in NETS if n in old]
        path.write_text(json.dumps(records, indent=1) + "\n")
        (RESULTS / "testset.md").write_text(table(records))


if __name__ == "__main__":
    main()
