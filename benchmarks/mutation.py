"""Mutation score of default builds: how many single faults their own check catches.

    .venv/bin/python benchmarks/mutation.py [--nets demo,tfc,cnv] [--mutants 64] [--jobs 2]
        [--vectors N] [--no-layer-check]   # variants of the bnn_pynq builds: 4x the vectors,
                                           # the check without its per-layer part

Each network is built as a user builds it (`onebit demo`; `onebit build bnn_pynq:<net>` at the
default folding, vectors and frames), then `onebit verify BUILD --mutants N` injects N faults
(weight bit flips, threshold steps, PE lane swaps: `onebit.flows.mutation`) into copies of the
design's memories and runs the build's verification vectors through each. Writes
benchmarks/results/mutation.{json,md}; every figure comes from the run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

NETS = {"demo": ["demo"], "tfc": ["build", "bnn_pynq:tfc"], "cnv": ["build", "bnn_pynq:cnv"]}
RESULTS = Path(__file__).parent / "results"


def onebit(*args: str) -> None:
    exe = Path(sys.executable).parent / "onebit"  # the command line of this environment
    r = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"onebit {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


def variant(net: str, vectors: int | None, layer_check: bool) -> tuple[str, list[str]]:
    """The record's key and the extra build options of a measured variant of `net`."""
    args = [] if vectors is None else ["--vectors", str(vectors), "--frames", str(vectors)]
    args += [] if layer_check else ["--no-layer-check"]
    key = net + ("" if vectors is None else f"-v{vectors}") + ("" if layer_check else "-nolc")
    return key, args


def measure(net: str, work: Path, mutants: int, jobs: int, seed: int,
            vectors: int | None = None, layer_check: bool = True) -> dict:
    key, extra = variant(net, vectors, layer_check)
    if extra and net == "demo":
        raise SystemExit("--vectors / --no-layer-check apply to the onebit build networks")
    out = work / key
    t0 = time.perf_counter()
    onebit(*NETS[net], "--out", str(out), *extra)
    build_s = time.perf_counter() - t0
    bdir = out / "build" if net == "demo" else out
    t0 = time.perf_counter()
    onebit("verify", str(bdir), "--mutants", str(mutants), "--jobs", str(jobs), "--seed",
           str(seed))
    report = json.loads((bdir / "report.json").read_text())
    m = report["mutation"]
    return {"net": key, "command": " ".join(["onebit", *NETS[net], *extra]),
            "build_s": round(build_s, 1),
            "verify_s": round(time.perf_counter() - t0, 1), "vectors": m["vectors"],
            "injected": m["injected"], "caught": m["caught"], "score": m["score"],
            "equivalent": m["equivalent"], "layer_check": m["layer_check"],
            "layer_check_s": (report.get("layer_check") or {}).get("seconds"),
            "kinds": m["kinds"], "survivors": m["survivors"],
            "equivalent_faults": m["equivalent_faults"], "seed": seed}


def table(records: list[dict]) -> str:
    rows = ["| build | vectors | per-layer check | injected | equivalent | caught | score | "
            "weight_bit | threshold_step | pe_swap |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        k = r["kinds"]
        cell = [f"{k[x]['caught']}/{k[x]['injected'] - k[x].get('equivalent', 0)}"
                if x in k else "-" for x in ("weight_bit", "threshold_step", "pe_swap")]
        rows.append(f"| `{r['command']}` | {r['vectors']} | "
                    f"{'yes' if r.get('layer_check') else 'no'} | {r['injected']} | "
                    f"{r.get('equivalent', 0)} | {r['caught']} | {r['score']:.3f} | "
                    + " | ".join(cell) + " |")
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="demo,tfc,cnv", help=f"comma list of {', '.join(NETS)}")
    ap.add_argument("--mutants", type=int, default=64)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("build/bench-mutation"))
    ap.add_argument("--vectors", type=int,
                    help="Build with this many verification vectors (and frames) instead of "
                         "the default 16 (recorded as <net>-v<N>).")
    ap.add_argument("--no-layer-check", action="store_true",
                    help="Build without the per-layer check (recorded as <net>-nolc).")
    a = ap.parse_args()
    nets = a.nets.split(",")
    unknown = [n for n in nets if n not in NETS]
    if unknown:
        raise SystemExit(f"unknown net {unknown[0]!r}: one of {', '.join(NETS)}")
    path = RESULTS / "mutation.json"
    old = {r["net"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    for net in nets:
        r = measure(net, a.work, a.mutants, a.jobs, a.seed, a.vectors, not a.no_layer_check)
        old[r["net"]] = r
        print(f"{r['net']}: {r['caught']}/{r['injected']} caught ({r['score']:.3f}) on "
              f"{r['vectors']} vectors", flush=True)
    records = sorted(old.values(), key=lambda r: (list(NETS).index(r["net"].split("-")[0]),
                                                  r["net"]))
    path.write_text(json.dumps(records, indent=1) + "\n")
    (RESULTS / "mutation.md").write_text(table(records))


if __name__ == "__main__":
    main()
