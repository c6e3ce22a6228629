"""Mutation score of default builds: how many single faults their own check catches.

    .venv/bin/python benchmarks/mutation.py [--nets demo,tfc,cnv] [--mutants 64] [--jobs 2]

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


def measure(net: str, work: Path, mutants: int, jobs: int, seed: int) -> dict:
    out = work / net
    t0 = time.perf_counter()
    onebit(*NETS[net], "--out", str(out))
    build_s = time.perf_counter() - t0
    bdir = out / "build" if net == "demo" else out
    t0 = time.perf_counter()
    onebit("verify", str(bdir), "--mutants", str(mutants), "--jobs", str(jobs), "--seed",
           str(seed))
    report = json.loads((bdir / "report.json").read_text())
    m = report["mutation"]
    return {"net": net, "command": " ".join(["onebit", *NETS[net]]), "build_s": round(build_s, 1),
            "verify_s": round(time.perf_counter() - t0, 1), "vectors": m["vectors"],
            "injected": m["injected"], "caught": m["caught"], "score": m["score"],
            "equivalent": m["equivalent"], "layer_check": m["layer_check"],
            "layer_check_s": (report["sim"].get("layer_check") or {}).get("seconds"),
            "kinds": m["kinds"], "survivors": m["survivors"], "seed": seed}


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
    a = ap.parse_args()
    nets = a.nets.split(",")
    unknown = [n for n in nets if n not in NETS]
    if unknown:
        raise SystemExit(f"unknown net {unknown[0]!r}: one of {', '.join(NETS)}")
    path = RESULTS / "mutation.json"
    old = {r["net"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    for net in nets:
        old[net] = measure(net, a.work, a.mutants, a.jobs, a.seed)
        print(f"{net}: {old[net]['caught']}/{old[net]['injected']} caught "
              f"({old[net]['score']:.3f}) on {old[net]['vectors']} vectors", flush=True)
    records = [old[n] for n in NETS if n in old]
    path.write_text(json.dumps(records, indent=1) + "\n")
    (RESULTS / "mutation.md").write_text(table(records))


if __name__ == "__main__":
    main()
