"""The `onebit` command line: datasets, boards, train, export, build, explore, sim, report,
bitstream, demo."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from onebit import __version__
from onebit.errors import OnebitError

log = logging.getLogger("onebit")


class _Ctx:
    verbose: int = 0
    quiet: bool = False


def _echo(ctx: _Ctx, msg: str) -> None:
    if not ctx.quiet:
        click.echo(msg)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="onebit")
@click.option("-v", "--verbose", count=True, help="More output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """onebit: binary neural networks to verified FPGA dataflow accelerators."""
    o = ctx.ensure_object(_Ctx)
    o.verbose, o.quiet = verbose, quiet
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else
                                         logging.INFO if verbose else logging.WARNING)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # FINN narrates its passes (folding limits, reverted PEs) as warnings: shown with -v; the
    # summary reports what was reached
    logging.getLogger("finn_logger").setLevel(level if verbose else logging.ERROR)


@cli.command()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Where user datasets live.")
@click.pass_obj
def datasets(o: _Ctx, data_dir: Path | None) -> None:
    """List the datasets onebit knows and whether their files are present."""
    from onebit.data import list_datasets

    for info in list_datasets(data_dir):
        mark = "yes" if info.available else "no "
        click.echo(f"{info.name:14s} {mark}  {info.where if info.available else info.hint}")


@cli.command()
@click.option("--arch", default="tfc", show_default=True, help="Network architecture.")
@click.option("--dataset", default="digits", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.option("--recipe", default="ste", show_default=True,
              help="Training method: ste, bireal, siman, real2bin, ftbnn, irnet, "
                   "fracbnn (--arch fracnet-28 or fracnet-32).")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=1e-2, show_default=True,
              type=click.FloatRange(min=0, min_open=True, max=1e3))
@click.option("--seed", default=0, show_default=True)
@click.option("--io-weights", type=click.Choice(["int8"]),
              help="First and output layer weights as 8-bit integers (the papers keep them "
                   "real-valued) instead of binary.")
@click.option("--resume", is_flag=True,
              help="Skip the stages whose checkpoint (OUT stem.STAGE.pt) exists.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Checkpoint file to write (.pt).")
@click.pass_obj
def train(o: _Ctx, arch, dataset, data_dir, recipe, epochs, batch_size, lr, seed, io_weights,
          resume, out) -> None:  # fmt: skip
    """Train a binary network and write a checkpoint with its metadata."""
    _check_out_file(out)
    result = _train(o, arch, dataset, data_dir, recipe, epochs, batch_size, lr, seed, out,
                    io_weights, resume)  # fmt: skip
    _echo(o, f"test accuracy {result['test_accuracy']:.4f}; checkpoint {out}")


def _check_out_file(out: Path) -> None:
    """A file to write: not a directory; its folder is created if missing (not under a file)."""
    from onebit.errors import UserInputError

    if out.is_dir():
        raise UserInputError(f"--out {out} is a directory; name the file to write (e.g. "
                             f"{out / 'model.pt'})")
    parent = next((p for p in out.parents if p.exists()), Path("."))
    if not parent.is_dir():
        raise UserInputError(f"--out {out}: {parent} is a file, not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)


def _train(o, arch, dataset, data_dir, recipe, epochs, batch_size, lr, seed, out,
           io_weights=None, resume=False) -> dict:  # fmt: skip
    from onebit import data
    from onebit.models.train import train_checkpoint

    ds = data.load(dataset, data_dir)
    return train_checkpoint(arch, ds, out, recipe, epochs, batch_size, lr, seed,
                            progress=not o.quiet, io_weights=io_weights,
                            resume=resume)  # fmt: skip


@cli.command()
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="QONNX file.")
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.option("--vectors", default=16, show_default=True, type=click.IntRange(min=1),
              help="Test images to verify on.")
@click.pass_obj
def export(o: _Ctx, checkpoint: Path, out: Path, data_dir, vectors: int) -> None:
    """Export a checkpoint to QONNX, verified bit-exact against torch on real test images."""
    from onebit.errors import UserInputError
    from onebit.export import export_qonnx, verify_export
    from onebit.flows.inputs import resolve

    if checkpoint.suffix.lower() not in (".pt", ".pth", ".ckpt"):
        raise UserInputError(f"export takes a onebit checkpoint (.pt), not {checkpoint.name}; "
                             "an ONNX/QONNX file is built directly: onebit build "
                             f"{checkpoint} --out DIR")
    _check_out_file(out)
    inp = resolve(str(checkpoint), vectors=vectors, data_dir=data_dir)
    # written beside `out` and renamed only once verified: no unverified file is ever `out`
    tmp = out.with_name(f".{out.name}.unverified")
    try:
        model = export_qonnx(inp.torch_model, tuple(inp.x.shape[1:]), tmp)
        check = verify_export(inp.torch_model, model, inp.x)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    _echo(o, f"{out}: QONNX equals torch on {check.vectors} test images")


class FrameRate(click.ParamType):
    """A frame rate: a finite number in (0, 1e12] (NaN and inf are refused too)."""

    name = "fps"
    MAX = 1e12

    def convert(self, value, param, ctx):
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not 0 < v <= self.MAX:  # also False for NaN
            self.fail(f"{value} is not a frame rate in (0, {self.MAX:g}]", param, ctx)
        return v


def _build_options(f):
    for opt in reversed([
        click.option("--out", type=click.Path(path_type=Path), required=True,
                     help="Build directory."),
        click.option("--board", default="pynq-z2", show_default=True,
                     help="pynq-z1, pynq-z2, zcu104, ultra96v2, u250 (onebit boards)."),
        click.option("--target-fps", type=FrameRate(), help="Fold for this frame rate."),
        click.option("--folding", type=click.Path(path_type=Path),
                     help="Folding JSON ({node: {PE, SIMD}})."),
        click.option("--dataset", help="Dataset for the verification vectors."),
        click.option("--input-datatype",
                     help="Datatype of an ONNX graph's unannotated input (UINT8, INT8, "
                          "BIPOLAR, ...): the accelerator's input, the range of random vectors."),
        click.option("--data-dir", type=click.Path(path_type=Path)),
        click.option("--weights", type=click.Path(path_type=Path),
                     help="state_dict for a bnn_pynq model."),
        click.option("--top-k", type=click.IntRange(min=1),
                     help="Output the indices of the K best classes (FINN's LabelSelect), "
                          "as finn-examples' accelerators do."),
        click.option("--vectors", default=16, show_default=True,
                     type=click.IntRange(min=1, max=100_000),
                     help="Vectors each stage is verified on."),
        click.option("--sim/--no-sim", default=True, show_default=True,
                     help="Simulate the accelerator in Verilator."),
        click.option("--frames", default=16, show_default=True,
                     type=click.IntRange(min=1, max=1_000_000), help="Frames to simulate."),
        click.option("--directed", default=16, show_default=True,
                     type=click.IntRange(min=0, max=10_000),
                     help="Also simulate up to N inputs, chosen from 4N candidates, that bring "
                          "layers' accumulators onto their thresholds (0: none)."),
        click.option("--layer-check/--no-layer-check", default=True, show_default=True,
                     help="Also simulate each MVAU alone on inputs that put every channel's "
                          "accumulator on each threshold and one step below."),
        click.option("--backpressure", is_flag=True, help="Random stalls in simulation."),
        click.option("--coverage", is_flag=True,
                     help="Measure RTL coverage in the simulation (line, toggle, weights, "
                          "thresholds both ways; per layer in report.json, files in "
                          "OUT/coverage/)."),
        click.option("--synth", is_flag=True,
                     help="Yosys resource counts of the stitched design and of each layer (needs "
                          "--sim); a design Yosys takes over 30 min on is counted by its "
                          "layers and FIFOs."),
        click.option("--lut-levels", type=click.IntRange(min=1),
                     help="Pipeline the MVAUs and LabelSelect for this logic depth (LUT "
                          "levels between registers); default: unpipelined."),
        click.option("--pack-dsp/--no-pack-dsp", default=None,
                     help="Two products per DSP in multi-bit (8-bit) layers where the widths "
                          "allow. Default: on for UltraScale(+) parts (DSP48E2: half the DSPs "
                          "for a few LUTs), off for Zynq-7000 (the sums then leave the DSP "
                          "cascade for LUTs)."),
        click.option("--strict", is_flag=True,
                     help="Fail when the estimate does not fit the board (default: warn)."),
        click.option("--seed", default=0, show_default=True),
        click.option("--report/--no-report", "page", default=False, show_default=True,
                     help="Also write OUT/report.html: graph, cycles, pipeline timeline, "
                          "resources, verification (as onebit report OUT)."),
    ]):
        f = opt(f)
    return f


@cli.command()
@click.argument("model")
@_build_options
@click.pass_obj
def build(o: _Ctx, model: str, out: Path, board, target_fps, folding, dataset, input_datatype,
          data_dir, weights, top_k, vectors, sim, frames, directed, layer_check, backpressure,
          coverage, synth, lut_levels, pack_dsp, strict, seed, page) -> None:
    """Build MODEL (checkpoint .pt, QONNX .onnx or bnn_pynq:<tfc|sfc|lfc|cnv>[-w1a2]) into OUT."""
    from onebit.boards import get_board
    from onebit.errors import UserInputError
    from onebit.flows.build import BuildConfig
    from onebit.flows.builddir import check_writable
    from onebit.flows.inputs import resolve

    get_board(board)
    if synth and not sim:
        raise UserInputError("--synth synthesizes the simulated RTL: drop --no-sim")
    if coverage and not sim:
        raise UserInputError("--coverage is measured in the simulation: drop --no-sim")
    if folding is not None and target_fps is not None:
        raise UserInputError("--folding fixes every PE/SIMD: give it or --target-fps, not both")
    if folding is not None and not folding.is_file():
        raise UserInputError(f"--folding {folding}: no such file")
    check_writable(out)
    inp = resolve(model, vectors=max(vectors, frames), dataset=dataset, data_dir=data_dir,
                  weights=weights, seed=seed, input_datatype=input_datatype)
    cfg = BuildConfig(out, board=board, target_fps=target_fps, folding=folding, vectors=vectors,
                      sim=sim, sim_frames=frames, backpressure=backpressure, synth=synth,
                      strict=strict, seed=seed, top_k=top_k, lut_levels=lut_levels,
                      pack_dsp=pack_dsp, directed=directed, layer_check=layer_check,
                      coverage=coverage)
    report = _run_build(o, inp, cfg)
    _summary(o, report, out, _page(out) if page else None)


@cli.command()
@click.argument("model")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Exploration directory: explore.json, pareto.svg, base/, points/<k>/.")
@click.option("--board", default="pynq-z2", show_default=True, help="Target board.")
@click.option("--fps", "fps_spec",
              help="Frame rates to fold for: A:B:N (N log-spaced from A to B) or X,Y,...")
@click.option("--folding", "foldings", multiple=True, type=click.Path(path_type=Path),
              help="Also a point at this folding JSON (repeatable).")
@click.option("--synth", is_flag=True, help="Yosys resource counts of every point.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1),
              help="Processes of the local Dask cluster (one point each at a time).")
@click.option("--cluster", help="Address of a running Dask scheduler (tcp://host:8786) instead; "
                                "its workers must see --out at the same path.")
@click.option("--target-fps", type=FrameRate(),
              help="Recommend the cheapest point that meets this frame rate.")
@click.option("--dataset", help="Dataset for the verification vectors.")
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.option("--weights", type=click.Path(path_type=Path), help="state_dict for a bnn_pynq model.")
@click.option("--input-datatype", help="Datatype of an ONNX graph's unannotated input.")
@click.option("--top-k", type=click.IntRange(min=1), help="Output the K best classes' indices.")
@click.option("--vectors", default=16, show_default=True, type=click.IntRange(min=1, max=100_000),
              help="Vectors each stage is verified on.")
@click.option("--frames", default=16, show_default=True, type=click.IntRange(min=1, max=1_000_000),
              help="Frames each point simulates.")
@click.option("--directed", default=16, show_default=True, type=click.IntRange(min=0, max=10_000),
              help="Directed vectors (as onebit build).")
@click.option("--layer-check/--no-layer-check", default=True, show_default=True,
              help="Each point's MVAUs also simulated alone on their thresholds.")
@click.option("--seed", default=0, show_default=True)
@click.pass_obj
def explore(o: _Ctx, model: str, out: Path, board, fps_spec, foldings, synth, workers, cluster,
            target_fps, dataset, data_dir, weights, input_datatype, top_k, vectors, frames,
            directed, layer_check, seed) -> None:  # fmt: skip
    """Build MODEL at many foldings, every point simulated bit-exact, on a Dask cluster: the
    frame rate / LUT / BRAM Pareto front (OUT/explore.json, OUT/pareto.svg) and a
    recommendation."""
    from onebit.flows.builddir import check_writable
    from onebit.flows.explore import ExploreConfig, Target, check_config, explore, parse_fps
    from onebit.flows.inputs import resolve

    targets = [Target(fps=f) for f in (parse_fps(fps_spec) if fps_spec else [])]
    targets += [Target(folding=f) for f in foldings]
    cfg = ExploreConfig(out, targets, board=board, synth=synth, workers=workers,
                        cluster=cluster, target_fps=target_fps, vectors=vectors, frames=frames,
                        directed=directed, layer_check=layer_check, seed=seed, top_k=top_k)
    check_config(cfg)
    check_writable(out)
    inp = resolve(model, vectors=max(vectors, frames), dataset=dataset, data_dir=data_dir,
                  weights=weights, seed=seed, input_datatype=input_datatype)
    r = explore(inp, cfg, progress=lambda s: _echo(o, s))
    same = [f"--{k.replace('_', '-')} {v}" for k, v in (
        ("dataset", dataset), ("data_dir", data_dir), ("weights", weights),
        ("input_datatype", input_datatype), ("top_k", top_k)) if v is not None]
    same += [f"--{k} {v}" for k, v, default in (("vectors", vectors, 16), ("frames", frames, 16),
                                                ("directed", directed, 16), ("seed", seed, 0))
             if v != default]
    _explore_summary(o, r, " ".join([model, *same]), out)


def _explore_summary(o: _Ctx, r: dict, model: str, out: Path) -> None:
    if o.quiet:
        return
    click.echo(f"{r['model']} on {r['board']} ({r['part']}, {r['clock_mhz']:g} MHz): "
               f"{len(r['points'])} points in {r['seconds']:.0f} s")
    click.echo(f"  {'k':>3} {'target':>16} {'cycles/frame':>12} {'fps':>12} {'LUT':>8} "
               f"{'BRAM18':>6} fits  status")
    for p in r["points"]:
        target = (f"{p['target']['fps']:,.0f} fps" if "fps" in p["target"]
                  else Path(p["target"]["folding"]).name)
        if p["status"] == "ok":
            res = p["resources"]
            front = "*" if p["k"] in r["pareto"]["luts"] else " "
            click.echo(f"  {p['k']:>3} {target:>16} {p['cycles_per_frame']:>12,.0f} "
                       f"{p['fps']:>12,.0f} {res['luts']:>8,} {res['brams_18k']:>6} "
                       f"{'yes' if p['fits'] else 'no ':4s} bit-exact{front}")
        else:
            why = (p["error"] or "").splitlines()[0] if p["error"] else ""
            click.echo(f"  {p['k']:>3} {target:>16} FAILED at {p['failed_step']}: {why}")
    src = {p["resources"]["source"] for p in r["points"] if p["status"] == "ok"}
    click.echo(f"  (* on the LUT Pareto front; resources: {', '.join(sorted(src)) or '-'})")
    rec = r["recommendation"]

    def show(what: str, k: int | None, none: str) -> None:
        if k is None:
            click.echo(f"  {what}: {none}")
            return
        p = r["points"][k]
        click.echo(f"  {what}: point {k}, {p['fps']:,.0f} fps, {p['resources']['luts']:,} LUT, "
                   f"{p['resources']['brams_18k']} BRAM18: onebit build {model} --out "
                   f"build/point{k} --board {r['board']} --folding {out / p['folding']}")

    show("fastest that fits", rec["fastest_fitting"], "no point fits the board")
    if rec["target_fps"] is not None:
        show(f"cheapest at >= {rec['target_fps']:,.0f} fps", rec["cheapest_meeting"],
             "no point reaches it")
    click.echo(f"  results: {out / 'explore.json'}, plot: {out / 'pareto.svg'}")


def _page(out: Path) -> Path:
    """Write the build's report page (`flows/report_html.py`)."""
    from onebit.flows.report_html import write

    return write(out)


def _run_build(o: _Ctx, inp, cfg) -> dict:
    from rich.progress import Progress

    from onebit.flows.build import build, default_steps

    steps = default_steps(cfg)
    if not o.quiet and not sys.stderr.isatty():  # a log (CI): one line per step, no redraws
        def log(step: str) -> None:  # on stdout: stderr stays the one line of an error
            click.echo(f"build: {step} ({steps.index(step) + 1}/{len(steps)})")

        return build(inp, cfg, steps=steps, progress=log)
    with Progress(disable=o.quiet, transient=True) as bar:
        task = bar.add_task("build", total=len(steps))

        def progress(step: str) -> None:
            bar.update(task, description=f"build: {step}", completed=steps.index(step))

        return build(inp, cfg, steps=steps, progress=progress)


def _summary(o: _Ctx, r: dict, out: Path, page: Path | None = None) -> None:
    if o.quiet:
        return
    click.echo(f"model {r['model']} -> {r['board']} ({r['part']}, {r['clock_mhz']:g} MHz)")
    if r.get("test_accuracy") is not None:
        click.echo(f"  test accuracy (torch)   {r['test_accuracy']:.4f}")
    for stage, s in r["stages"].items():
        ok = "bit-exact" if s["max_abs_diff"] == 0 else f"max |diff| {s['max_abs_diff']:.2g}"
        click.echo(f"  {stage:12s} verified vs {s['reference']:8s} on {s['vectors']} vectors: {ok}")
    e = r.get("estimate")
    if e:
        click.echo(f"  estimate: {e['cycles_per_frame']} cycles/frame ({e['bottleneck']}), "
                   f"{e['fps']:,.0f} fps, ~{e['luts']} LUT, {e['brams']} BRAM18")
    fit = r.get("fit")
    if fit and not fit["fits"]:
        from onebit.boards import over_capacity

        click.echo(f"  warning: the estimate does not fit {r['part']} ({over_capacity(fit)})")
    s = r.get("sim")
    if s:
        click.echo(f"  rtlsim: {'bit-exact' if s['bit_exact'] else 'MISMATCH'} on {s['frames']} "
                   f"frames ({s['distinct_vectors']} distinct vectors), "
                   f"{s['cycles_per_frame']:.0f} cycles/frame "
                   f"({s['ratio_to_estimate']:.3f}x estimate), "
                   f"latency {s['latency_cycles']} cycles")
        layers = (r.get("layer_check") or {}).get("layers") or {}
        if layers:
            hit = sum(e["hit"] for e in layers.values())
            events = sum(e["events"] for e in layers.values())
            click.echo(f"  layersim: {len(layers)} MVAUs alone, each channel on each threshold "
                       f"and one step below: {hit} of {events} boundaries hit, bit-exact")
        a = s.get("activity")
        if a and a["bottleneck"] == "input":
            click.echo("  pipeline: no stream stalls: the input is the limit (measured)")
        elif a:
            click.echo(f"  pipeline: bottleneck {a['bottleneck']} (measured: the stream into it "
                       "stalls)")
    cov = (r.get("coverage") or {}).get("rtl")
    if cov:
        click.echo(f"  rtl coverage: {_coverage_line(cov)}")
    res = r.get("resources")
    if res:
        click.echo(f"  yosys ({res['family']}): {res['luts']} LUT, {res['ffs']} FF, "
                   f"{res['brams_18k']} BRAM18, {res['dsps']} DSP")
        w = res.get("worst_layer")
        if w:
            click.echo(f"  timing: worst layer {w['name']}: {w['lut_levels']} LUT levels, "
                       f"~{w['fmax_mhz_est']:g} MHz (estimate, hw.timing)")
        for name in res.get("below_clock", []):
            la = res["layers"][name]
            click.echo(f"  warning: {name} estimated at {la['fmax_mhz_est']:g} MHz "
                       f"({la['lut_levels']} LUT levels) < the {r['clock_mhz']:g} MHz clock")
    click.echo(f"  report: {out / 'report.json'}")
    if page is not None:
        click.echo(f"  page:   {page}")


@cli.command()
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.pass_obj
def report(o: _Ctx, build_dir: Path) -> None:
    """Write BUILD_DIR/report.html: one self-contained page (dataflow graph, cycles per layer,
    pipeline timeline, resources, verification, training), viewable offline."""
    _echo(o, f"wrote {_page(build_dir)}")


def _coverage_line(cov: dict) -> str:
    """The RTL coverage summary: the total over onebit's RTL, then the worst layer."""
    def fractions(e: dict) -> str:
        keys = ("line", "toggle", "weights_exercised", "thresholds_both_ways")
        return ", ".join(f"{k.replace('_', ' ')} {e[k]:.2f}" for k in keys
                         if e.get(k) is not None)

    text = fractions(cov["total"])
    w = cov.get("worst")
    if w:
        text += (f"; worst layer {w['layer']} ({w['key'].replace('_', ' ')} {w['value']:.2f}: "
                 f"{fractions(cov['layers'][w['layer']])})")
    return text


@cli.command()
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option("--frames", default=16, show_default=True, type=click.IntRange(min=1),
              help="Frames to stream through (cycling over the build's stored vectors).")
@click.option("--backpressure", is_flag=True, help="Random input stalls and output backpressure.")
@click.option("--seed", default=0, show_default=True)
@click.option("--system", is_flag=True,
              help="The whole system: frames from memory through the AXI shell and back, driven "
                   "through its registers against a random-latency AXI memory model.")
@click.option("--data-width", default=64, show_default=True,
              type=click.Choice(["32", "64", "128", "256", "512"]),
              help="AXI data width of the shell (with --system).")
@click.option("--trace", is_flag=True,
              help="Write the waveform (BUILD/trace.vcd) and a GTKWave view of every layer's "
                   "stream (BUILD/trace.gtkw): gtkwave BUILD/trace.gtkw.")
@click.option("--test-set", is_flag=True,
              help="Stream the whole test split (of --dataset, default the build's) through "
                   "the design, every output checked: the hardware's accuracy.")
@click.option("--dataset", help="Dataset of --test-set.")
@click.option("--data-dir", type=click.Path(path_type=Path))
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N test images.")
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1),
              help="Processes for --test-set (each a slice of the images).")
@click.option("--coverage", is_flag=True,
              help="Measure RTL coverage (line, toggle, weights, thresholds both ways) per "
                   "layer into report.json; files in BUILD/coverage/.")
@click.pass_obj
def sim(o: _Ctx, build_dir: Path, frames: int, backpressure: bool, seed: int, system: bool,
        data_width: str, trace: bool, coverage: bool, test_set: bool, dataset, data_dir, limit,
        jobs) -> None:
    """Re-simulate a build's accelerator in Verilator, bit-exact against FINN's golden."""
    from onebit.errors import UserInputError
    from onebit.flows.build import resimulate

    page = (build_dir / "report.html").is_file()  # rewritten below: the run replaces the report
    if not test_set and (dataset or data_dir or limit):
        raise UserInputError("--dataset, --data-dir and --limit go with --test-set")
    if test_set:
        from onebit.flows.testset import run_test_set

        if system or trace or backpressure:
            raise UserInputError("--test-set streams the images without stalls: drop "
                                 "--system, --trace and --backpressure")
        if coverage:
            raise UserInputError("--coverage measures the build's own simulation, not "
                                 "--test-set")
        t = run_test_set(build_dir, dataset=dataset, data_dir=data_dir, limit=limit, jobs=jobs)
        torch = (f"; torch {t['torch_accuracy']:.4f}: "
                 f"{'the same' if t['matches_torch'] else 'DIFFERENT'}"
                 if t["torch_accuracy"] is not None else "")
        _echo(o, f"test set ({t['dataset']}): {t['frames']} images, every output bit-exact; "
                 f"hardware accuracy {t['accuracy']:.4f}{torch}")
        _echo(o, f"  {t['frames_per_s']:,.0f} frames/s with the golden model and check "
                 f"({t['jobs']} processes, {t['slices']} slices; golden {t['golden_s']:.1f} s, "
                 f"Verilator {t['sim_s']:.1f} s of process time)")
        _echo(o, f"  report: {build_dir / 'report.json'}")
        if page:
            _echo(o, f"  page:   {_page(build_dir)}")
        return
    if system:
        from onebit.flows.system import simulate_system

        if backpressure:
            raise UserInputError("--backpressure is the stream simulation's; the system "
                                 "simulation's memory model always stalls at random")
        if trace:
            raise UserInputError("--trace records the stream simulation (without --system)")
        if coverage:
            raise UserInputError("--coverage measures the stream simulation (without --system)")
        r = simulate_system(build_dir, frames, seed=seed, data_width=int(data_width))
        _echo(o, f"system sim: bit-exact on {r['frames']} frames ({r['distinct_vectors']} "
                 f"distinct vectors), {r['cycles_per_frame']:.1f} cycles/frame at the memory "
                 f"interface ({r['cycles']} cycles from ap_start to ap_done, "
                 f"{r['data_width']}-bit AXI, seed {r['seed']})")
        _echo(o, f"  report: {build_dir / 'report.json'}")
        if page:
            _echo(o, f"  page:   {_page(build_dir)}")
        return
    report = resimulate(build_dir, frames, seed=seed, backpressure=backpressure, trace=trace,
                        coverage=coverage)
    _summary(o, report, build_dir, _page(build_dir) if page else None)
    if trace:
        _echo(o, f"  waveform: {build_dir / 'trace.vcd'} (gtkwave {build_dir / 'trace.gtkw'})")


@cli.command()
def boards() -> None:
    """List the target boards: FPGA part, default clock, shell, capacity."""
    from onebit.boards import BOARDS

    click.echo(f"{'board':10s} {'part':22s} {'clock':>9s}  {'shell':6s} capacity")
    for b in BOARDS.values():
        cap = ", ".join(f"{k} {v:,}" for k, v in b.capacity.items())
        click.echo(f"{b.name:10s} {b.part:22s} {b.clock_mhz:5g} MHz  {b.shell:6s} {cap}")


@cli.command()
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option("--board", help="Target board (default: the build's; onebit boards).")
@click.option("--clock-mhz", type=float, help="Fabric clock (default: the board's).")
@click.option("--platform", help="Alveo: the Vitis platform to link for (default "
                                 "xilinx_u250_gen3x16_xdma_4_1_202210_1).")
@click.pass_obj
def bitstream(o: _Ctx, build_dir: Path, board, clock_mhz, platform) -> None:
    """Write BUILD_DIR/deploy: Vivado/Vitis scripts, RTL and the board driver; run the vendor
    tools when they are on PATH, else print the commands to run where they are."""
    from onebit.deploy.bundle import write_bundle
    from onebit.deploy.tools import missing_tools, run_tools

    plan = write_bundle(build_dir, board, clock_mhz, platform)
    b = plan.board
    _echo(o, f"bundle {plan.root} for {b.name} ({b.part}, {plan.clock_mhz:g} MHz)")
    missing = missing_tools(plan)
    if not missing:
        _echo(o, f"running {' and '.join(plan.tools)} (log: {plan.root / 'vivado'})")
        for f in run_tools(plan):
            _echo(o, f"  wrote {plan.root / f}")
    else:
        _echo(o, f"{', '.join(missing)} not on PATH: run these where {' and '.join(plan.tools)} "
                 "are installed:")
        _echo(o, f"  cd {plan.root} && ./build.sh")
        for c in plan.commands:
            _echo(o, f"      {c}")
    backend = "pynq" if b.shell == "zynq" else "xrt"
    _echo(o, f"then on the board (copy {plan.root} there): python3 driver.py --exec_mode "
             f"execute --input vectors/input.npy --output y.npy --backend {backend}")


@cli.command()
@click.argument("build_dir", type=click.Path(path_type=Path))
@click.option("--mutants", default=32, show_default=True, type=click.IntRange(min=1),
              help="Single faults injected into copies of the design's memories.")
@click.option("--vectors", type=click.IntRange(min=1),
              help="Vectors each mutant runs (default: the build's verification vectors).")
@click.option("--seed", default=0, show_default=True)
@click.option("--jobs", default=2, show_default=True, type=click.IntRange(min=1))
@click.pass_obj
def verify(o: _Ctx, build_dir: Path, mutants: int, vectors, seed: int, jobs: int) -> None:
    """Mutation score of a build's check: how many injected faults its vectors catch."""
    from onebit.flows.mutation import verify_build

    page = (build_dir / "report.html").is_file()  # rewritten below: the run replaces the report
    m = verify_build(build_dir, mutants, seed=seed, jobs=jobs, vectors=vectors)
    score = "n/a" if m["score"] is None else f"{m['score']:.1%}"
    eq = f", {m['equivalent']} equivalent faults left out" if m["equivalent"] else ""
    check = " + each layer's directed check" if m.get("layer_check") else ""
    _echo(o, f"mutation score {m['caught']}/{m['injected'] - m['equivalent']} ({score}) on "
             f"{m['vectors']} vectors{check}{eq}")
    for kind, c in m["kinds"].items():
        q = f" ({c['equivalent']} equivalent)" if c["equivalent"] else ""
        _echo(o, f"  {kind:<15} {c['caught']}/{c['injected']} caught{q}")
    for f in m["survivors"][:10]:
        _echo(o, f"  survivor: {f['layer']} {f['kind']} word {f['word']} {f['detail']}")
    if len(m["survivors"]) > 10:
        _echo(o, f"  ... {len(m['survivors']) - 10} more survivors in report.json")
    if page:
        _echo(o, f"  page:   {_page(build_dir)}")


@cli.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("build/demo"),
              show_default=True)
@click.option("--epochs", default=30, show_default=True, type=click.IntRange(min=1))
@click.option("--arch", default="tfc", show_default=True)
@click.option("--sim/--no-sim", default=True, show_default=True)
@click.option("--synth/--no-synth", default=True, show_default=True,
              help="Yosys resource counts (first run compiles Yosys: ~1 min).")
@click.option("--report/--no-report", "page", default=True, show_default=True,
              help="Write the build's report page (OUT/build/report.html).")
@click.pass_obj
def demo(o: _Ctx, out: Path, epochs: int, arch: str, sim: bool, synth: bool,
         page: bool) -> None:
    """Train a small BNN on digits, export, build, simulate, and report."""
    from onebit.flows.build import BuildConfig
    from onebit.flows.inputs import resolve

    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / f"{arch}-digits.pt"
    _echo(o, f"[1/2] training {arch} on digits ({epochs} epochs)")
    _train(o, arch, "digits", None, "ste", epochs, 64, 1e-2, 0, ckpt)
    _echo(o, "[2/2] building")
    inp = resolve(str(ckpt), vectors=64)
    report = _run_build(o, inp, BuildConfig(out / "build", sim=sim, sim_frames=64, vectors=64,
                                            synth=synth and sim))
    _summary(o, report, out / "build", _page(out / "build") if page else None)


def main() -> None:
    """Entry point: one line per error, non-zero exit; SIGTERM is an interruption like Ctrl-C."""
    import signal
    import warnings

    from onebit.errors import Interrupted

    def on_term(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_term)
    warnings.filterwarnings("ignore", message="fast_hadamard_transform")
    try:
        cli(standalone_mode=False)
    except OnebitError as e:
        click.echo(f"onebit: error: {e}", err=True)
        sys.exit(1)
    except (click.exceptions.Abort, KeyboardInterrupt) as e:
        cause = e if isinstance(e, KeyboardInterrupt) else e.__cause__
        name = cause.signal if isinstance(cause, Interrupted) else "SIGINT"
        click.echo(f"onebit: interrupted ({name})", err=True)
        sys.exit(128 + signal.Signals[name].value)
    except click.ClickException as e:
        click.echo(f"onebit: error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
