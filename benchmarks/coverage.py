"""RTL coverage of default builds: what their own simulation exercises, per layer.

    .venv/bin/python benchmarks/coverage.py [--nets demo,tfc,cnv]

Each network is built as a user builds it (`onebit demo --no-synth`; `onebit build
bnn_pynq:<net>` at the default folding, vectors and frames), then `onebit sim BUILD --coverage
--frames F` repeats the build's own simulation (F = its frames, seed 0, its stored vectors) in
a coverage build (`onebit.hw.coverage`: Verilator line/branch/toggle, weight words read,
weights exercised, thresholds seen both ways), and once more on a single frame, the weakest
run, for contrast (`first_sim_s` includes compiling the coverage model when the Verilator
cache does not hold it yet; `coverage_sim_s` reuses it; `compile_s`: the stitched top compiled
into an empty cache, plain and with coverage). Writes
benchmarks/results/coverage.{json,md}; every figure comes from the runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NETS = {"demo": ["demo", "--no-synth"], "tfc": ["build", "bnn_pynq:tfc"],
        "cnv": ["build", "bnn_pynq:cnv"]}
RESULTS = Path(__file__).parent / "results"
KEYS = ("line", "branch", "toggle", "weight_words_read", "weights_exercised",
        "thresholds_both_ways")


def onebit(*args: str) -> None:
    exe = Path(sys.executable).parent / "onebit"  # the command line of this environment
    r = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"onebit {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


def fractions(e: dict) -> dict:
    return {k: e.get(k) for k in KEYS}


def simulate(bdir: Path, frames: int) -> tuple[dict, float]:
    t0 = time.perf_counter()
    onebit("sim", str(bdir), "--coverage", "--frames", str(frames))
    report = json.loads((bdir / "report.json").read_text())
    return report, round(time.perf_counter() - t0, 1)


def compile_seconds(bdir: Path) -> dict:
    """Seconds to compile the build's stitched top into an empty Verilator cache (runtime
    objects included), plain and as a coverage build."""
    from onebit.hw.accelerator import Accelerator
    from onebit.hw.sim import build_instance_sim

    acc = Accelerator.load(bdir / "rtl")
    top = acc.top
    out = {}
    for name, coverage in (("plain", False), ("coverage", True)):
        with tempfile.TemporaryDirectory() as cache:
            t0 = time.perf_counter()
            build_instance_sim(top, taps=[t for _, t in acc.taps()], coverage=coverage,
                               cache_dir=cache)
            out[name] = round(time.perf_counter() - t0, 1)
    return out


def measure(net: str, work: Path) -> dict:
    out = work / net
    t0 = time.perf_counter()
    onebit(*NETS[net], "--out", str(out))
    build_s = round(time.perf_counter() - t0, 1)
    bdir = out / "build" if net == "demo" else out
    plain = json.loads((bdir / "report.json").read_text())["sim"]
    frames = plain["frames"]
    weak, weak_s = simulate(bdir, 1)  # compiles the coverage model unless it is cached
    report, sim_s = simulate(bdir, frames)
    cov, one = report["coverage"]["rtl"], weak["coverage"]["rtl"]
    return {"net": net, "command": " ".join(["onebit", *NETS[net]]), "build_s": build_s,
            "first_sim_s": weak_s, "compile_s": compile_seconds(bdir), "coverage_sim_s": sim_s,
            "sim_cycles_per_s": round(plain["sim_cycles_per_s"]),
            "coverage_sim_cycles_per_s": round(report["sim"]["sim_cycles_per_s"]),
            "frames": frames, "distinct_vectors": report["sim"]["distinct_vectors"],
            "total": fractions(cov["total"]), "one_frame_total": fractions(one["total"]),
            "stream_fifos": fractions(cov["stream_fifos"]), "worst": cov["worst"],
            "layers": {n: {"rtl": e["rtl"], **fractions(e)} for n, e in cov["layers"].items()},
            "points": cov["total"]["points"]}


def _cell(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def table(records: list[dict]) -> str:
    head = ["build", "layer", "frames", *KEYS]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        lines = [(n, r["frames"], e) for n, e in r["layers"].items()]
        lines += [("stream FIFOs", r["frames"], r["stream_fifos"]),
                  ("**total** (onebit RTL)", r["frames"], r["total"]),
                  ("total, 1 frame", 1, r["one_frame_total"])]
        for name, frames, e in lines:
            rtl = f" ({e['rtl']})" if e.get("rtl") not in (None, "onebit") else ""
            rows.append(f"| `{r['command']}` | {name}{rtl} | {frames} | "
                        + " | ".join(_cell(e.get(k)) for k in KEYS) + " |")
    return "\n".join(rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="demo,tfc", help=f"comma list of {', '.join(NETS)}")
    ap.add_argument("--work", type=Path, default=Path("build/bench-coverage"))
    a = ap.parse_args()
    nets = a.nets.split(",")
    unknown = [n for n in nets if n not in NETS]
    if unknown:
        raise SystemExit(f"unknown net {unknown[0]!r}: one of {', '.join(NETS)}")
    path = RESULTS / "coverage.json"
    old = {r["net"]: r for r in json.loads(path.read_text())} if path.exists() else {}
    for net in nets:
        old[net] = r = measure(net, a.work)
        print(f"{net}: thresholds both ways {_cell(r['total']['thresholds_both_ways'])} "
              f"(1 frame: {_cell(r['one_frame_total']['thresholds_both_ways'])}), toggle "
              f"{_cell(r['total']['toggle'])}, worst {r['worst']}", flush=True)
    records = [old[n] for n in NETS if n in old]
    path.write_text(json.dumps(records, indent=1) + "\n")
    (RESULTS / "coverage.md").write_text(table(records))


if __name__ == "__main__":
    main()
