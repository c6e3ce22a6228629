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

`--by-layer` (one revision): the model compiled with debug line information (`-g`, its
generated C++ kept) and each instruction counted where callgrind puts it, per line of the
generated C++; a line counts for the layer instance whose signals it names (Verilator's
`dut__DOT__u_<layer>__DOT__...`; a line naming none, for the last one named before it).
`"by_layer"` in the record: instructions a cycle per instance; `"inlined_helpers"`: those of
Verilator's helpers inlined into the model (popcounts, wide-word and signed operations: not
attributed to a layer); `"runtime"`: the rest (Verilator's runtime, the stream driver,
reading the memory files).

`--by-layer --perf`: time, not instructions. Instructions are not time (wide-word moves run
many a clock cycle, a popcount's chain of shifts few): the same debug model runs under
`perf record` (CPU-clock samples) and each sample counts for the layer of its generated C++
line as above; `"by_layer"` and the rest are percentages of the simulator's samples, the rest
by source file (`"elsewhere"`: Verilator's helpers and runtime, the driver, libc). Use more
frames than for callgrind (perf does not slow the model down): a run of seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
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


@contextlib.contextmanager
def debug_builds(cache: Path):
    """Verilator models built into `cache` with `-g`, their generated C++ kept (`obj/`)."""
    from onebit.hw import verilator

    keep = types.ModuleType("shutil")
    keep.__dict__.update(shutil.__dict__)
    keep.rmtree = lambda p, *a, **k: None if Path(p).name == "obj" else shutil.rmtree(p, *a, **k)
    saved = verilator._MAKEFLAGS, verilator.DEFAULT_CACHE_DIR, verilator.shutil
    verilator._MAKEFLAGS += ("OPT=-g",)
    verilator.DEFAULT_CACHE_DIR, verilator.shutil = cache, keep
    try:
        yield
    finally:
        verilator._MAKEFLAGS, verilator.DEFAULT_CACHE_DIR, verilator.shutil = saved


LAYER = re.compile(r"dut__DOT__(u_\w+?)__DOT__")
COST = re.compile(r"^\s*([\d,]+)\s+(.*)$")


def by_layer(out: Path, cache: Path, cycles: int) -> dict:
    """Instructions a cycle of callgrind profile `out` per layer instance of the generated C++
    (in `cache`, from `debug_builds`) and the rest (`"runtime"`)."""
    text = out.read_text()
    total = int(re.search(r"^summary:\s+(\d+)", text, re.M).group(1))
    # the model was compiled in a temporary folder, then renamed: link the old name to it
    files = sorted(set(re.findall(r"^c?f[lie]=\(\d+\) (\S+/obj/Vsim___024root__\S*\.cpp)$",
                                  text, re.M)))
    for f in {Path(f).parent.parent for f in files}:
        if not f.exists():
            entry = next(p for p in cache.glob(f"{f.name[1:].rsplit('-', 1)[0]}-*")
                         if (p / "obj").is_dir())
            f.symlink_to(entry)
    ann = subprocess.run(["callgrind_annotate", "--auto=no", "--show-percs=no",
                          "--context=1000000", str(out), *files],
                         capture_output=True, text=True, check=True).stdout
    layers: Counter = Counter()
    layer = "(none)"
    inside = False
    for line in ann.splitlines():
        if line.endswith(" events annotated"):  # the summary after the sources
            break
        if line.startswith("-- ") and not line.startswith("-- line "):
            inside = line.startswith("-- User-annotated source")
            continue
        m = COST.match(line)
        code = m.group(2) if m else line
        named = LAYER.findall(code)
        if named:
            layer = named[0]
        if inside and m and not code.startswith("=>"):
            layers[layer] += int(m.group(1).replace(",", ""))
    # Verilator's helpers inlined into the design's functions (popcounts, wide-word and
    # signed operations): callgrind counts them at the helper's header line
    inlined = sum(int(c.replace(",", "")) for c in re.findall(
        r"^\s*([\d,]+)\s+\S+/include/\S+:Vsim___024root___", ann, re.M))
    rows = {k: round(v / cycles, 1) for k, v in layers.most_common()}
    return {"by_layer": rows, "inlined_helpers": round(inlined / cycles, 1),
            "runtime": round((total - sum(layers.values()) - inlined) / cycles, 1)}


def _lines_by_layer(hits: dict[Path, Counter]) -> Counter:
    """The costs of lines of generated C++ files, summed per layer instance the lines name (a
    line naming none counts for the last one named before it)."""
    layers: Counter = Counter()
    for src, costs in hits.items():
        layer = "(none)"
        for i, code in enumerate(src.read_text().splitlines(), 1):
            named = LAYER.findall(code)
            if named:
                layer = named[0]
            if i in costs:
                layers[layer] += costs[i]
    return layers


SAMPLE = re.compile(r"^\s*([\d.]+)%\s+(\S+?)(?::(\d+))?$")


def perf_by_layer(data: Path, cache: Path) -> dict:
    """Percent of `perf record` profile `data`'s samples per layer instance of the generated
    C++ (in `cache`, from `debug_builds`), and the rest per source file."""
    rep = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort",
                          "srcline", "--stdio", "-F", "overhead,srcline"],
                         capture_output=True, text=True, check=True).stdout
    objs = [p for p in cache.rglob("obj") if p.is_dir()]
    hits: dict[Path, Counter] = {}
    elsewhere: Counter = Counter()
    for line in rep.splitlines():
        m = SAMPLE.match(line)  # (perf's "#" header lines do not match)
        if not m:
            continue
        pct, where, n = float(m.group(1)), m.group(2), m.group(3)
        src = next((o / where for o in objs if (o / where).is_file()), None)
        if n and src is not None and where.startswith("Vsim___024root"):
            hits.setdefault(src, Counter())[int(n)] += pct
        else:
            elsewhere[where if n else "(no line)"] += pct
    layers = _lines_by_layer(hits)
    return {"by_layer": {k: round(v, 2) for k, v in layers.most_common()},
            "elsewhere": {k: round(v, 2) for k, v in elsewhere.most_common() if v >= 0.1}}


def count(build: Path, rtl: Path, frames: int, perf: Path | None = None) -> dict:
    """Instructions (callgrind) of the stitched design's run on `frames` frames; with `perf`,
    its seconds, sampled by `perf record` into that file instead."""
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

    seconds = [0.0]

    def under_tool(cmd, **kw):  # the simulator's own run only
        if Path(cmd[0]).name == "sim":
            cmd = (["perf", "record", "-F", "4000", "-o", str(perf), "--", *cmd] if perf else
                   ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd])
            t0 = time.perf_counter()
            r = plain(cmd, **kw)
            seconds[0] = time.perf_counter() - t0
            return r
        return plain(cmd, **kw)

    sim.proc.run = under_tool
    try:
        got, res = run_frames(acc, acc.top, xin, run_dir=rtl)
    finally:
        sim.proc.run = plain
    if not (got.reshape(want.shape) == want).all():
        raise SystemExit(f"{rtl}: the simulation differs from FINN's golden model")
    if perf:
        return {"frames": frames, "cycles": int(res.cycles), "seconds": round(seconds[0], 3),
                "cycles_per_s": round(res.cycles / seconds[0])}
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
    ap.add_argument("--by-layer", action="store_true",
                    help="instructions a cycle per layer instance (one --rev)")
    ap.add_argument("--perf", action="store_true",
                    help="with --by-layer: percent of time (perf record), not instructions")
    a = ap.parse_args(argv)
    if a.by_layer and len(a.rev) != 1:
        ap.error("--by-layer takes one --rev")
    if a.perf and not a.by_layer:
        ap.error("--perf goes with --by-layer")
    tool = "perf" if a.perf else "valgrind"
    if not shutil.which(tool):
        raise SystemExit(f"{tool} is needed (Debian: apt install "
                         f"{'linux-perf' if a.perf else 'valgrind'})")
    rows = []
    for rev in a.rev:
        with tempfile.TemporaryDirectory(prefix="onebit-simcost-") as tmp:
            rtl = with_rtl(a.build, rev, Path(tmp))
            if a.by_layer:
                cache, data = Path(tmp) / "vcache", Path(tmp) / "perf.data"
                with debug_builds(cache):
                    r = count(a.build, rtl, a.frames, perf=data if a.perf else None)
                r.update(perf_by_layer(data, cache) if a.perf
                         else by_layer(rtl / "callgrind.out", cache, r["cycles"]))
            else:
                r = count(a.build, rtl, a.frames)
        rows.append({"rev": rev, **r})
        if a.perf:
            print(f"{rev:>12}: {r['cycles_per_s']:>10,} cycles/s ({r['cycles']} cycles, "
                  f"{r['seconds']} s, the model with -g)", flush=True)
            for k, pct in [*r["by_layer"].items(), *r["elsewhere"].items()]:
                print(f"{k:>40}: {pct:>6.2f} %")
            continue
        print(f"{rev:>12}: {r['per_cycle']:>10,.0f} instructions/cycle, "
              f"{r['per_frame']:>14,} /frame ({r['cycles']} cycles)", flush=True)
        for layer, n in r.get("by_layer", {}).items():
            print(f"{layer:>40}: {n:>10,.0f} /cycle")
        if "runtime" in r:
            print(f"{'inlined helpers':>40}: {r['inlined_helpers']:>10,.0f} /cycle")
            print(f"{'runtime, driver, memory files':>40}: {r['runtime']:>10,.0f} /cycle")
    name = a.name or a.build.resolve().name
    dest = HERE / "results" / f"sim_cost-{name}.json"
    dest.write_text(json.dumps({"build": str(a.build), "tool": "perf record" if a.perf
                                else "valgrind --tool=callgrind", "rows": rows}, indent=1) + "\n")
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
