"""`onebit report BUILD`: the build as one self-contained page, `BUILD/report.html`.

`render` is a pure function of the build's files (`report.json`, the RTL manifest
`rtl/accelerator.json`, `folding.json`): sections with stable ids (`summary`, `graph`,
`cycles`, `timeline`, `resources`, `verification`, `model`), the dataflow graph laid out by
Graphviz (`flows/report_graph.py`), plots by matplotlib (`flows/report_plots.py`), all inline
SVG; inline CSS, no script, nothing loaded from elsewhere. A section whose data the build does
not hold (no simulation, no `--synth`, no mutation run) says so in one line: the page claims
nothing the build did not check.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jinja2

from onebit.errors import UserInputError
from onebit.flows import report_graph, report_plots

PAGE = "report.html"
TEMPLATE = "report.html.j2"


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def load(build_dir: Path) -> tuple[dict, dict | None, dict]:
    """The build's report, RTL manifest (None without RTL) and folding (empty without)."""
    path = Path(build_dir) / "report.json"
    if not path.is_file():
        raise UserInputError(f"{build_dir} is not a onebit build (no report.json; run onebit "
                             "build)")
    try:
        report = json.loads(path.read_text())
        manifest = _read_json(Path(build_dir) / "rtl" / "accelerator.json")
        folding = _read_json(Path(build_dir) / "folding.json") or {}
    except (OSError, json.JSONDecodeError) as e:
        raise UserInputError(f"{build_dir}: unreadable build file ({e})") from None
    return report, manifest, folding


def layer_names(report: dict, manifest: dict | None) -> list[str]:
    """The dataflow layers in graph order: the RTL's, else those FINN estimated."""
    if manifest is not None:
        return [la["name"] for la in manifest["layers"]]
    return list((report.get("estimate") or {}).get("cycles_per_layer") or {})


def rate(clock_mhz: float, cycles: float | None) -> dict | None:
    """Frames per second and microseconds per `cycles` at `clock_mhz`."""
    if not cycles:
        return None
    return {"cycles": cycles, "fps": clock_mhz * 1e6 / cycles, "us": cycles / clock_mhz}


def performance(report: dict) -> list[dict]:
    """Throughput and latency at the board clock: FINN's estimate, the simulation's."""
    clk, rows = report["clock_mhz"], []
    est, sim = report.get("estimate"), report.get("sim")
    if est:
        rows.append({"source": "FINN estimate", "frame": rate(clk, est["cycles_per_frame"]),
                     "latency": rate(clk, est.get("latency_cycles"))})
    if sim:
        rows.append({"source": f"Verilator ({sim['frames']} frames"
                               f"{', backpressure' if sim.get('backpressure') else ''})",
                     "frame": rate(clk, sim["cycles_per_frame"]),
                     "latency": rate(clk, sim["latency_cycles"])})
    return rows


def layer_rows(report: dict, manifest: dict | None, folding: dict) -> list[dict]:
    """One row per layer: PE/SIMD, FINN's cycles and resources, the simulation's
    per-frame cycle classes, Yosys' counts."""
    est = report.get("estimate") or {}
    act = ((report.get("sim") or {}).get("activity") or {}).get("layers", {})
    yosys = (report.get("resources") or {}).get("layers", {})
    return [{"name": n, "pe": folding.get(n, {}).get("PE"),
             "simd": folding.get(n, {}).get("SIMD"),
             "cycles": (est.get("cycles_per_layer") or {}).get(n),
             "est": (est.get("resources_per_layer") or {}).get(n, {}),
             "sim": act.get(n), "yosys": yosys.get(n)}
            for n in layer_names(report, manifest)]


def capacity_rows(report: dict) -> list[dict]:
    """Per resource: FINN's estimate, Yosys' count (with --synth) and the part's capacity."""
    fit = (report.get("fit") or {}).get("resources", {})
    res = report.get("resources") or {}
    yosys = {"LUT": res.get("luts"), "BRAM_18K": res.get("brams_18k"), "URAM": res.get("urams"),
             "DSP": res.get("dsps")}
    return [{"name": k, "estimate": v["estimate"], "yosys": yosys.get(k),
             "capacity": v["capacity"],
             "used": max(v["estimate"], yosys.get(k) or 0) / v["capacity"] if v["capacity"]
             else None}
            for k, v in fit.items()]


def context(report: dict, manifest: dict | None, folding: dict,
            folded: dict | None = None) -> dict:
    """Everything the page shows, plots and graph rendered; `folded`: the graph to draw
    without RTL (`report_graph.folded_manifest`)."""
    est, sim = report.get("estimate"), report.get("sim")
    names = layer_names(report, manifest)
    activity = (sim or {}).get("activity")
    drawn = manifest or folded
    graph = None
    if drawn is not None:
        graph = report_graph.dot_svg(report_graph.dot_source(
            drawn, folding, (est or {}).get("cycles_per_layer") or {},
            (est or {}).get("bottleneck")))
    res = report.get("resources")
    return {
        "r": report, "est": est, "sim": sim, "activity": activity, "graph": graph,
        "has_rtl": manifest is not None, "has_graph": drawn is not None,
        "layers": layer_rows(report, manifest, folding),
        "performance": performance(report), "capacity": capacity_rows(report),
        "cycles_svg": report_plots.cycles_plot(
            names, est["cycles_per_layer"], est.get("bottleneck"),
            (sim or {}).get("cycles_per_frame"), activity) if est and names else None,
        "timeline_svg": report_plots.timeline_plot(activity) if activity else None,
        "resources_svg": report_plots.resources_plot(
            names, est.get("resources_per_layer") or {}, (res or {}).get("layers"))
        if est and names else None,
        "meta": {k: v for k, v in (report.get("meta") or {}).items()
                 if not isinstance(v, dict | list)},
    }


def _environment() -> jinja2.Environment:
    """Autoescaped; a key a report lacks (an older build, a step not run) is empty."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("onebit.flows", "templates"),
                             autoescape=True, undefined=jinja2.ChainableUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["n"] = lambda v, d=0: "-" if _absent(v) else f"{v:,.{d}f}"
    env.filters["pct"] = lambda v: "-" if _absent(v) else f"{v:.1%}"
    env.filters["v"] = lambda v: "-" if _absent(v) else f"{v:.4g}" if isinstance(v, float) else v
    return env


def _absent(v) -> bool:
    return v is None or isinstance(v, jinja2.Undefined)


def render(build_dir: Path) -> str:
    """The page of the build in `build_dir` (HTML text)."""
    report, manifest, folding = load(build_dir)
    folded = None
    if manifest is None and list((Path(build_dir) / "intermediate").glob("*_dataflow_folded.onnx")):
        from onebit.flows.build import load_intermediate

        folded = report_graph.folded_manifest(load_intermediate(build_dir, "dataflow_folded"))
    page = context(report, manifest, folding, folded)
    return _environment().get_template(TEMPLATE).render(**page)


def write(build_dir: Path) -> Path:
    """Write `BUILD/report.html` (atomically, holding the build directory: never the page of a
    build in progress); returns its path."""
    from onebit.flows.builddir import claim

    path = Path(build_dir) / PAGE
    load(build_dir)  # one line for a directory that is no build, before claiming it
    with claim(build_dir, fresh=False):
        tmp = path.with_suffix(".html.tmp")
        try:
            tmp.write_text(render(build_dir))
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise UserInputError(f"cannot write {path}: {e.strerror}") from None
    return path
