"""The report page's plots (matplotlib, Agg, no pyplot state): each returns an inline `<svg>`.

- `cycles_plot`: per layer FINN's cycles/frame estimate (the estimated bottleneck red, the
  simulated cycles/frame as a line) beside what the simulation measured on its output
  stream per frame: busy (valid & ready), stall (valid & !ready), idle (!valid);
- `timeline_plot`: the pipeline timeline, one row per stream (`hw.activity`), each time window
  coloured by its busy / stall / idle fractions: fill, steady state, drain and the bottleneck;
- `resources_plot`: per layer FINN's LUT estimate beside Yosys' count.
"""

from __future__ import annotations

import io

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from onebit.hw.activity import fractions

BUSY, STALL, IDLE = "#2e8b57", "#e07b00", "#e4e4e4"
EST, BOTTLENECK, YOSYS = "#6a8cc7", "#c0392b", "#8e6bbf"
_RC = {"svg.fonttype": "none", "svg.hashsalt": "onebit", "font.size": 9}


def svg(fig: Figure) -> str:
    """`fig` as an inline `<svg>` element: text as text, no metadata, no XML prolog."""
    buf = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight",
                    metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _height(rows: int) -> float:
    return 1.0 + 0.32 * rows


def cycles_plot(layers: list[str], est: dict, est_bottleneck: str | None,
                measured_cpf: float | None, activity: dict | None) -> str:
    """FINN's estimate per layer and, with `activity`, the measured per-frame cycle classes
    of each layer's output stream; `measured_cpf`: the simulated cycles/frame."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(10, _height(len(layers))))
        axes = fig.subplots(1, 2 if activity else 1, sharey=True, squeeze=False)[0]
        y = np.arange(len(layers))
        ax = axes[0]
        ax.barh(y, [est.get(n, 0) for n in layers],
                color=[BOTTLENECK if n == est_bottleneck else EST for n in layers])
        if measured_cpf:
            ax.axvline(measured_cpf, color="black", ls="--", lw=1,
                       label=f"simulated {measured_cpf:,.0f} cycles/frame")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_yticks(y, layers)
        ax.invert_yaxis()
        ax.set_xlabel("FINN estimate (cycles/frame)")
        if activity:
            ax = axes[1]
            left = np.zeros(len(layers))
            for key, colour in (("busy", BUSY), ("stall", STALL), ("idle", IDLE)):
                v = np.array([activity["layers"][n][key] for n in layers])
                ax.barh(y, v, left=left, color=colour, label=key)
                left += v
            ax.set_xlabel("simulated, output stream (cycles/frame)")
            ax.legend(loc="lower right", fontsize=8)
            for label in axes[0].get_yticklabels():
                if label.get_text() == activity["bottleneck"]:
                    label.set_color(BOTTLENECK)
                    label.set_fontweight("bold")
        fig.tight_layout()
    return svg(fig)


def timeline_plot(activity: dict) -> str:
    """One row per stream (named by its producer), one column per window; colour = the mix
    of busy (green), stall (orange) and idle (grey) cycles in it."""
    streams = activity["streams"]
    colours = np.array([matplotlib.colors.to_rgb(c) for c in (BUSY, STALL, IDLE)])
    image = np.stack([fractions(s) @ colours for s in streams])
    names = [f"{s['producer']} \u2192 {s['consumer']}" for s in streams]
    cycles = activity["cycles"]
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(10, _height(len(streams))))
        ax = fig.subplots()
        ax.imshow(image, aspect="auto", interpolation="nearest",
                  extent=(0, cycles, len(streams) - 0.5, -0.5))
        ax.set_yticks(np.arange(len(streams)), names)
        for label, s in zip(ax.get_yticklabels(), streams, strict=True):
            if s["consumer"] == activity["bottleneck"]:
                label.set_color(BOTTLENECK)
                label.set_fontweight("bold")
        ax.set_xlabel(f"cycle ({activity['window_cycles']} cycles per column)")
        handles = [matplotlib.patches.Patch(color=c, label=k)
                   for c, k in ((BUSY, "busy: valid & ready"), (STALL, "stall: valid & !ready"),
                                (IDLE, "idle: !valid"))]
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
                  fontsize=8, frameon=False)
        fig.tight_layout()
    return svg(fig)


def resources_plot(layers: list[str], est: dict, yosys: dict | None) -> str:
    """LUTs per layer: FINN's estimate and, where Yosys ran (`--synth`), its count."""
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(10, _height(len(layers))))
        ax = fig.subplots()
        y = np.arange(len(layers))
        h = 0.4 if yosys else 0.8
        ax.barh(y - (h / 2 if yosys else 0), [est.get(n, {}).get("LUT", 0) for n in layers],
                height=h, color=EST, label="FINN estimate")
        if yosys:
            ax.barh(y + h / 2, [yosys.get(n, {}).get("luts", 0) for n in layers], height=h,
                    color=YOSYS, label="Yosys synth_xilinx")
        ax.set_yticks(y, layers)
        ax.invert_yaxis()
        ax.set_xlabel("LUTs")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
    return svg(fig)
