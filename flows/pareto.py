"""The throughput/resource Pareto front of an exploration (`flows/explore.py`) and its plot.

A point is on the front of a resource when no other bit-exact point is at least as fast with
at most as much of it, and better in one of the two. `pareto.svg`: one panel per resource
(LUTs, BRAM18), measured frame rate against the resource (Yosys' count with `--synth`, else
FINN's estimate), the front joined, the board's capacity as a line, points built from a
folding file labelled with its name.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from onebit.flows.report_plots import EST, svg

RESOURCES = {"luts": ("LUT", "LUTs"), "brams_18k": ("BRAM_18K", "BRAM18")}
"""Resource key of a point's `resources` -> (the board's capacity key, axis name)."""
FRONT, FOLDING_FILE, OVER = "#c0392b", "#2e8b57", "#7f7f7f"


def _ok(points: list[dict]) -> list[dict]:
    return [p for p in points if p["status"] == "ok" and p.get("bit_exact")]


def front(points: list[dict], resource: str) -> list[int]:
    """The `k` of the points on the Pareto front of fps against `resource`, by fps."""
    ok = _ok(points)

    def dominated(p: dict) -> bool:
        return any(q["fps"] >= p["fps"] and q["resources"][resource] <= p["resources"][resource]
                   and (q["fps"] > p["fps"] or q["resources"][resource]
                        < p["resources"][resource]) for q in ok)

    return [p["k"] for p in sorted(ok, key=lambda p: p["fps"]) if not dominated(p)]


def plot(result: dict) -> str:
    """The exploration's Pareto plot as an SVG document."""
    points = _ok(result["points"])
    source = {p["resources"]["source"] for p in points}
    with matplotlib.rc_context({"font.size": 9}):
        fig = Figure(figsize=(10, 4.2))
        axes = fig.subplots(1, len(RESOURCES))
        for ax, (key, (cap_key, name)) in zip(axes, RESOURCES.items(), strict=True):
            on = {k: i for i, k in enumerate(result["pareto"][key])}
            for p in points:
                face = FOLDING_FILE if "folding" in p["target"] else EST
                ring = {"edgecolors": FRONT if p["k"] in on else "none", "linewidths": 1.5}
                ax.scatter(p["fps"], p["resources"][key], s=40, color=face, zorder=3,
                           **(ring if p["fits"] else {"marker": "x"}))
                if "folding" in p["target"]:
                    ax.annotate(Path(p["target"]["folding"]).stem, (p["fps"], p["resources"][key]),
                                textcoords="offset points", xytext=(5, -11), fontsize=8,
                                color=FOLDING_FILE)
            line = sorted((p for p in points if p["k"] in on), key=lambda p: p["fps"])
            ax.plot([p["fps"] for p in line], [p["resources"][key] for p in line], color=FRONT,
                    lw=1, zorder=2, label="Pareto front")
            cap = result["capacity"][cap_key]
            ax.axhline(cap, color=OVER, ls="--", lw=1,
                       label=f"{result['board']} capacity ({cap:,} {name})")
            if points:
                ax.set_xscale("log")
            ax.set_ylim(bottom=0)  # linear from 0: the capacity line reads as a fraction
            ax.set_xlabel(f"frames/s at {result['clock_mhz']:g} MHz (simulated cycles/frame)")
            ax.set_ylabel(f"{name} ({' / '.join(sorted(source)) or 'none'})")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(loc="best", fontsize=8)
        fig.suptitle(f"{result['model']} on {result['board']} ({result['part']}): "
                     f"{len(points)} bit-exact points of {len(result['points'])}"
                     " (x: does not fit)")
        return svg(fig)


def write_plot(path: Path, result: dict) -> None:
    """`plot(result)` into `path`, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(plot(result))
    os.replace(tmp, path)
