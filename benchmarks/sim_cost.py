"""Benchmark: the Verilator model's cost, in instructions per simulated cycle, by RTL revision.

    .venv/bin/python benchmarks/sim_cost.py BUILD [--frames 8] [--rev REV ...] [--name NAME]

Frames/s of a simulation depend on the machine and on whatever else runs on it; the
instructions the compiled model executes do not (valgrind's callgrind counts them, the same
on every run). For each `--rev` (a git revision of onebit; `WORKTREE` for the files as they
are), a copy of BUILD's RTL gets onebit's library files of that revision (`hw/rtl/*.sv` into
`rtl/lib/`; finn-rtllib's `swg_common.sv` replaced by `onebit_swg.sv` where the revision has
it), the stitched design is compiled and `--frames` frames of the build's vectors stream
through it under callgrind, checked bit-exactly against FINN's golden model. Records the
instructions, the cycles and instructions per cycle and per frame in
`benchmarks/results/sim_cost-<name>.json` (name: BUILD's directory name) and a table.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKTREE = "WORKTREE"


def rtl_at(rev: str, name: str) -> str | None:
    """onebit's `hw/rtl/<name>` at git revision `rev` (None where it has none)."""
    if rev == WORKTREE:
        p = ROOT / "hw" / "rtl" / name
        return p.read_text() if p.is_file() else None
    r = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:hw/rtl/{name}"],
                       capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def with_rtl(build: Path, rev: str, dest: Path) -> Path:
    """A copy of `build`'s rtl directory whose library files are onebit's of `rev`."""
    rtl = dest / "rtl"
    shutil.copytree(build / "rtl", rtl)
    for f in sorted((rtl / "lib").glob("*.sv")):
        name = "onebit_swg.sv" if f.name == "swg_common.sv" else f.name
        text = rtl_at(rev, name)
        if text is not None:
            f.write_text(text)
    return rtl


def count(build: Path, rtl: Path, frames: int) -> dict:
    """Instructions (callgrind) of the stitched design's run on `frames` frames."""
    from onebit.flows.build import load_intermediate
    from onebit.flows.golden import Golden
    from onebit.hw import sim
    from onebit.hw.accelerator import Accelerator, run_frames

    x = np.load(build / "vectors.npz")["x"]
    x = x[np.arange(frames) % len(x)]
    xin, want, _ = Golden(load_intermediate(build, "hw_layers"),
                          load_intermediate(build, "dataflow_golden"))(x)
    acc = Accelerator.load(rtl)
    out = rtl / "callgrind.out"
    plain = sim.proc.run

    def under_callgrind(cmd, **kw):  # the simulator's own run only
        if Path(cmd[0]).name == "sim":
            cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd]
        return plain(cmd, **kw)

    sim.proc.run = under_callgrind
    try:
        got, res = run_frames(acc, acc.top, xin, run_dir=rtl)
    finally:
        sim.proc.run = plain
    if not (got.reshape(want.shape) == want).all():
        raise SystemExit(f"{rtl}: the simulation differs from FINN's golden model")
    m = re.search(r"^summary:\s+(\d+)", out.read_text(), re.M)
    ir = int(m.group(1))
    return {"frames": frames, "cycles": int(res.cycles), "instructions": ir,
            "per_cycle": round(ir / res.cycles, 1), "per_frame": round(ir / frames)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("build", type=Path)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--rev", nargs="+", default=[WORKTREE])
    ap.add_argument("--name", help="results name (default: the build directory's name)")
    a = ap.parse_args(argv)
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is needed (Debian: apt install valgrind)")
    rows = []
    for rev in a.rev:
        with tempfile.TemporaryDirectory(prefix="onebit-simcost-") as tmp:
            r = count(a.build, with_rtl(a.build, rev, Path(tmp)), a.frames)
        rows.append({"rev": rev, **r})
        print(f"{rev:>12}: {r['per_cycle']:>10,.0f} instructions/cycle, "
              f"{r['per_frame']:>14,} /frame ({r['cycles']} cycles)", flush=True)
    name = a.name or a.build.resolve().name
    dest = HERE / "results" / f"sim_cost-{name}.json"
    dest.write_text(json.dumps({"build": str(a.build), "tool": "valgrind --tool=callgrind",
                                "rows": rows}, indent=1) + "\n")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
