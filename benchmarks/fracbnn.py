"""FracBNN (issue 17) vs an 8-bit first layer: the same network three ways, trained, built and
simulated.

    .venv/bin/python benchmarks/fracbnn.py --dataset fashion-mnist --epochs 3      # the table
    .venv/bin/python benchmarks/fracbnn.py --dataset digits --epochs 1 --vectors 4  # quick run

| config | recipe | arch | first layer | output layer |
|---|---|---|---|---|
| `int8` | bireal | cnv-wide, `io_weights="int8"` | 8-bit weights on pixels | 8-bit |
| `thermo` | bireal | cnv-wide-thermo, `io_weights="int8"` | XNOR on thermometer (r = 8) | 8-bit |
| `fracbnn` | fracbnn | fracnet-28 | XNOR on thermometer (r = 8) | PG binary |

`int8` is how docs/recipes.md's Fashion-MNIST 90.66 was measured (`benchmarks/accuracy.py
--recipes bireal --epochs 3 --io-weights int8`, cnv-wide). `thermo` changes only the first
layer (no precision gating: sign activations, Bi-Real's int8 shortcuts); `fracbnn` is the
FracBNN recipe (2-bit precision-gated activations, plain convs). All three have channels
(32, 64), fc (128,), two 2x2 pools. `--epochs` is per stage (bireal trains two stages).

For each: train (`onebit.models.recipes.train_recipe`, one torch thread, as `onebit train`;
CPU seconds per epoch measured without the test evaluation, scaled to the whole training set
under `--limit`), build
with RTL simulation (bit-exact required: a mismatch fails the build and is recorded), Yosys
per-layer counts (`--synth`: report.json "resources" "layers"), cycles/frame from the
simulation. "First layer" is every HW layer up to and including the first MVAU in stream
order (the thermometer encoder, padding and sliding window in front of the first conv count).

Writes benchmarks/results/fracbnn.{json,md} for the full Fashion-MNIST run only; any other run
is named after what it is, fracbnn-<dataset>[-limit<N>][-nobuild].{json,md} (the quick digits
run: fracbnn-digits), or `--out STEM`.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from onebit import data
from onebit.flows.build import BuildConfig, build
from onebit.flows.inputs import resolve
from onebit.hw.synth import TOP_TIMEOUT_S
from onebit.models.recipes import train_recipe
from onebit.models.train import evaluate, torch_threads

CONFIGS = {  # name -> (recipe, arch, io_weights, what)
    "int8": ("bireal", "cnv-wide", "int8", "8-bit first layer (pixels)"),
    "thermo": ("bireal", "cnv-wide-thermo", "int8", "binary first layer on thermometer"),
    "fracbnn": ("fracbnn", "fracnet-28", None, "FracBNN (thermometer + PG)"),
}
RESULTS = Path(__file__).parent / "results"


def first_layer(layers: dict[str, dict]) -> dict:
    """Sum of the per-layer Yosys counts up to and including the first MVAU (stream order)."""
    names = []
    for n in layers:
        names.append(n)
        if n.startswith("MVAU"):
            break
    tot = {k: sum(layers[n][k] for n in names) for k in ("luts", "ffs", "brams_18k", "dsps")}
    return {**tot, "layers": names}


def first_layer_synth(bdir: Path, part: str) -> dict:
    """Yosys counts of each layer up to and including the first MVAU (stream order), each
    synthesized as its own top (the whole design's synthesis is the slow part of a build)."""
    from onebit.hw.accelerator import Accelerator
    from onebit.hw.synth import REPORT_KEYS, synthesize

    layers = {}
    for la in Accelerator.load(bdir / "rtl").layers:
        r = synthesize(la.inst, bdir / "synth" / "layers" / la.name, part, root=bdir / "rtl")
        layers[la.name] = {k: r[k] for k in REPORT_KEYS if k in r}
        if la.name.startswith("MVAU"):
            break
    return {"layers": layers, "tool": r["tool"]}


def whole_synth(bdir: Path, report: dict, top_timeout: float) -> dict:
    """Yosys counts of the whole design and of every layer on its own, as the build's
    `--synth` records them (`--resynth --synth all` of a build made without it); past
    `top_timeout` s on the whole design, its totals are summed over its parts."""
    from onebit.hw.synth import layer_timing, synthesize_build

    res = synthesize_build(bdir, report["part"], per_layer=True, jobs=2,
                           top_timeout=top_timeout)
    res.update(layer_timing(res.pop("per_layer"), report.get("clock_mhz", 100.0)))
    return res


def one(name: str, a: argparse.Namespace, ds) -> dict:
    recipe, arch, io_weights, what = CONFIGS[name]
    out = a.work / a.dataset / name
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / f"{name}.pt"
    rec: dict = {"config": name, "what": what, "recipe": recipe, "arch": arch,
                 "io_weights": io_weights, "dataset": ds.name, "epochs_per_stage": a.epochs}
    c0, t0 = time.process_time(), time.perf_counter()
    net, r = train_recipe(recipe, ds, arch=arch, epochs=a.epochs, seed=a.seed, limit=a.limit,
                          progress=False, out=ckpt, io_weights=io_weights)  # fmt: skip
    train_s = time.perf_counter() - t0
    train_cpu_s = time.process_time() - c0
    c1 = time.process_time()
    with torch_threads(1):  # as in training
        evaluate(net, ds, "test")  # what each stage's end costs, taken out of the epoch time
    eval_cpu_s = time.process_time() - c1
    stages = len(r.stages)
    n_train = len(ds.x_train)
    seen = min(a.limit or n_train, n_train)
    # CPU seconds (one torch thread: the wall time of an idle core) of one epoch over the whole
    # training set: the training less its stages' test evaluations, per epoch, scaled to every
    # training image when --limit trained on fewer
    epoch_s = (train_cpu_s - stages * eval_cpu_s) / (a.epochs * stages) * n_train / seen
    rec.update({
        "test_accuracy": r.test_accuracy, "torch_accuracy": r.torch_accuracy,
        "fold_mismatches": r.fold_mismatches, "stages": stages,
        "train_images": seen, "train_s": round(train_s, 1), "train_cpu_s": round(train_cpu_s, 1),
        "eval_cpu_s": round(eval_cpu_s, 1), "s_per_epoch": round(epoch_s, 1),
        "s_per_epoch_extrapolated": seen < n_train,
    })  # fmt: skip
    print(f"[{name}] trained: {json.dumps(rec)}", flush=True)
    if not a.build:
        return rec
    return build_row(rec, ckpt, out / "build", a)


def build_row(rec: dict, ckpt: Path, bdir: Path, a: argparse.Namespace) -> dict:
    """`rec` with the build of checkpoint `ckpt` in `bdir` (simulated, see `finish`)."""
    t0 = time.perf_counter()
    try:
        inp = resolve(str(ckpt), vectors=a.vectors)
        report = build(inp, BuildConfig(bdir, sim=True, sim_frames=a.vectors, vectors=a.vectors,
                                        synth=a.synth == "all", directed=a.directed))
    except Exception as e:  # recorded, the other configurations still run
        rec["build_error"] = f"{type(e).__name__}: {e}".strip()[:2000]
        rec["bit_exact"] = False
        traceback.print_exc()
        return rec
    rec["build_s"] = round(time.perf_counter() - t0, 1)
    return finish(rec, bdir, report, a)


def finish(rec: dict, bdir: Path, report: dict, a: argparse.Namespace) -> dict:
    """`rec` with the verification and cycles of a build's report, and Yosys' counts (a Yosys
    failure recorded as `synth_error`: the simulation stands)."""
    sim = report.get("sim") or {}
    rec.update({
        "bit_exact": bool(sim.get("bit_exact")),
        "stages_verified": {k: v.get("status", v.get("ok")) if isinstance(v, dict) else v
                            for k, v in (report.get("stages") or {}).items()},
        "sim_frames": sim.get("frames"), "sim_distinct_vectors": sim.get("distinct_vectors"),
        "cycles_per_frame": sim.get("cycles_per_frame"),
        "estimated_cycles_per_frame": (report.get("estimate") or {}).get("cycles_per_frame"),
        "sim_ratio_to_estimate": sim.get("ratio_to_estimate"),
    })  # fmt: skip
    rec.pop("synth_error", None)
    try:
        if a.synth == "first":
            report["resources"] = first_layer_synth(bdir, report["part"])
        elif a.synth == "all" and (a.resynth or not report.get("resources")):
            report["resources"] = whole_synth(bdir, report, a.top_timeout)
    except Exception as e:
        rec["synth_error"] = f"{type(e).__name__}: {e}".strip()[:2000]
        traceback.print_exc()
    res = report.get("resources")
    if res:
        layers = res.get("layers", {})
        if a.synth == "all":
            rec["synth"] = {k: res.get(k) for k in ("tool", "part", "luts", "ffs", "brams_18k",
                                                     "dsps", "total_from")}  # fmt: skip
        rec["first_layer"] = first_layer(layers)
        rec["layers"] = layers
    return rec


def rebuild(r: dict, a: argparse.Namespace) -> dict:
    """Row `r` of an earlier run built again from its checkpoint (`--rebuild`: after a change
    of the RTL or the flow; training as recorded)."""
    rec = {k: v for k, v in r.items() if k not in ("build_error", "synth_error")}
    out = a.work / a.dataset / r["config"]
    return build_row(rec, out / f"{r['config']}.pt", out / "build", a)


def resynth(rows: list[dict], a: argparse.Namespace) -> list[dict]:
    """The rows of an earlier run with Yosys run again on its builds (`--resynth`): training
    and simulation as recorded there, in the builds' report.json."""
    out = []
    for r in rows:
        bdir = a.work / a.dataset / r["config"] / "build"
        report = bdir / "report.json"
        rep = json.loads(report.read_text()) if report.is_file() else {}
        if rep.get("status") != "ok":
            out.append(r)  # not built: nothing to synthesize
            continue
        rec = {k: v for k, v in r.items() if k != "build_error"}  # a Yosys failure, before
        out.append(finish(rec, bdir, rep, a))
    return out


def _row(r: dict) -> str:
    fl, syn = r.get("first_layer") or {}, r.get("synth") or {}
    if "bit_exact" not in r:
        bit = "-"  # not built (--no-build)
    else:
        bit = "yes" if r["bit_exact"] else f"NO ({r.get('build_error', 'no sim')[:80]})"
    if r.get("synth_error"):
        bit += f" (Yosys failed: {r['synth_error'][:80]})"
    io = " (int8 io)" if r["io_weights"] else ""
    total = f"{syn['luts']} / {syn['dsps']}" if syn else "-"
    if syn.get("total_from") == "parts":
        total += " (sum of parts)"  # Yosys did not finish the whole design in --top-timeout
    epoch = str(r["s_per_epoch"])
    if r["s_per_epoch_extrapolated"]:
        epoch += f" (scaled from {r['train_images']} images)"
    cells = [r["what"], f"{r['recipe']} / {r['arch']}{io}", f"{100 * r['test_accuracy']:.2f}",
             bit, fl.get("luts", "-"), fl.get("dsps", "-"), total,
             r.get("cycles_per_frame", "-"), epoch]  # fmt: skip
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(rows: list[dict], cmd: str, redone: list[str] = ()) -> str:
    """The table; `redone`: how rows were redone after the run (`--rebuild`, `--resynth`)."""
    lines = [f"`{cmd}`" + "".join(f", then `{r}`" for r in redone), "",
             "| config | recipe / arch | test acc. | bit-exact (sim) | first layer LUTs | "
             "first layer DSPs | total LUTs / DSPs | cycles/frame (sim) | CPU s/epoch |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    lines += [_row(r) for r in rows]
    firsts = [f"{r['config']}: {' + '.join(r['first_layer']['layers'])}"
              for r in rows if r.get("first_layer")]  # fmt: skip
    if firsts:
        lines += ["", "First layer (Yosys, summed): " + "; ".join(firsts) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist", help="fashion-mnist or digits")
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    p.add_argument("--epochs", type=int, default=3, help="epochs per stage")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vectors", type=int, default=16,
                   help="test vectors verified at every stage and simulated")
    p.add_argument("--directed", type=int, default=16, help="directed vectors (rtlsim)")
    p.add_argument("--limit", type=int,
                   help="train on the first N images only (timing: s/epoch is scaled to all)")
    p.add_argument("--synth", choices=("first", "all", "none"), default="first",
                   help="Yosys: the first layer's layers each on its own (default), the whole "
                   "design and every layer (the build's --synth: slow), or none")
    p.add_argument("--top-timeout", type=float, default=TOP_TIMEOUT_S,
                   help="--synth all: seconds Yosys may take on a whole design before it is "
                   "counted by its layers and FIFOs (onebit.hw.synth.TOP_TIMEOUT_S)")
    p.add_argument("--jobs", type=int, default=1, help="configurations run at a time")
    p.add_argument("--rebuild", action="store_true",
                   help="build the checkpoints of the results file this command writes again "
                   "(training as recorded) and rewrite it")
    p.add_argument("--resynth", action="store_true",
                   help="run Yosys again on the builds of the results file this command writes "
                   "(training and simulation as recorded) and rewrite it")
    p.add_argument("--no-build", dest="build", action="store_false",
                   help="train only (accuracy and s/epoch)")
    p.add_argument("--work", type=Path, default=Path("build/bench-fracbnn"))
    p.add_argument("--out", type=Path, help="results stem (default: results/fracbnn[-<dataset>])")
    a = p.parse_args()
    ds = data.load(a.dataset)
    # only the full Fashion-MNIST run is results/fracbnn; quick or partial runs are named so
    full = ds.name == "fashion-mnist" and not a.limit and a.build
    stem = a.out or RESULTS / "-".join(["fracbnn"] + [ds.name] * (not full)
                                       + [f"limit{a.limit}"] * bool(a.limit)
                                       + ["nobuild"] * (not a.build))  # fmt: skip
    cmd = "python benchmarks/fracbnn.py " + " ".join(
        [f"--dataset {a.dataset}", f"--epochs {a.epochs}", f"--vectors {a.vectors}",
         f"--directed {a.directed}", f"--configs {' '.join(a.configs)}"]
        + ([f"--limit {a.limit}"] if a.limit else []) + [f"--synth {a.synth}"]
        + ([] if a.build else ["--no-build"]))  # fmt: skip
    redone: list[str] = []  # how rows were redone after the run, in order
    if a.resynth or a.rebuild:
        prev = json.loads(stem.with_suffix(".json").read_text())
        old = {r["config"]: r for r in prev["rows"]}
        cmd, redone = prev["command"], prev.get("redone", [])
        todo = [old[c] for c in a.configs if c in old]
        if a.resynth:
            new = resynth(todo, a)
            redone.append(f"--resynth --configs {' '.join(a.configs)} --synth {a.synth} "
                          + f"--top-timeout {a.top_timeout:g} " * (a.synth == "all")
                          + "(Yosys again)")
        else:
            with ProcessPoolExecutor(a.jobs, mp_context=get_context("fork")) as pool:
                new = list(pool.map(rebuild, todo, [a] * len(todo)))
            redone.append(f"--rebuild --configs {' '.join(a.configs)} (built again from the "
                          "checkpoints)")
        old.update({r["config"]: r for r in new})
        rows = sorted(old.values(), key=lambda r: list(CONFIGS).index(r["config"]))
    else:
        with ProcessPoolExecutor(a.jobs, mp_context=get_context("fork")) as pool:
            rows = list(pool.map(one, a.configs, [a] * len(a.configs), [ds] * len(a.configs)))
    doc = {"command": cmd, "redone": redone,
           "machine": {"python": platform.python_version(), "cpu": platform.processor()},
           "rows": rows}
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".json").write_text(json.dumps(doc, indent=1))
    stem.with_suffix(".md").write_text(markdown(rows, cmd, redone))
    print(markdown(rows, cmd, redone))


if __name__ == "__main__":
    main()
