"""The dataflow graph of a build, laid out by Graphviz `dot`, as inline SVG for the report page.

Each layer is a box (name, op, PE/SIMD, FINN's cycles/frame); each stream an edge labelled with
its width in bits and the depth of its FIFO. The bottleneck (FINN's estimate) is filled red.
The graph comes from the RTL manifest (`rtl/accelerator.json`): the streams, widths and FIFO
depths of the design that was simulated; a build without RTL (`--no-sim`) draws its folded
graph (`folded_manifest`: the same streams and widths, no FIFOs).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from qonnx.core.datatype import DataType

from onebit.errors import BuildError
from onebit.hw import proc
from onebit.hw.stitch import GRAPH


def _quote(s: str) -> str:
    """A DOT string; a newline is a centred line break."""
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def port_bits(port: dict) -> int:
    """Meaningful bits of a stream word: elements per word x the datatype's bits."""
    return int(port["epw"]) * DataType[port["dt"]].bitwidth()


def folded_manifest(model) -> dict:
    """The manifest's `layers`, `edges` and `depths` (0: no FIFO) of a folded dataflow graph
    (a qonnx `ModelWrapper` of FINN HW layers): each node's stream ports (weights and
    thresholds are no streams), one edge per tensor, the graph's input and output at GRAPH."""
    from finn.util.basic import getHWCustomOp

    layers, producer, consumer = [], {}, {}
    for i, node in enumerate(model.graph.node):
        op = getHWCustomOp(node)
        la = {"name": node.name, "op_type": node.op_type, "ins": [], "outs": []}
        for j, t in enumerate(node.input):
            if model.get_initializer(t) is None:
                consumer[t] = (i, len(la["ins"]))
                la["ins"].append({"tensor": t, "dt": op.get_input_datatype(j).name,
                                  "epw": int(op.get_folded_input_shape(j)[-1])})
        for k, t in enumerate(node.output):
            producer[t] = (i, k)
            la["outs"].append({"tensor": t, "dt": op.get_output_datatype(k).name,
                               "epw": int(op.get_folded_output_shape(k)[-1])})
        layers.append(la)
    producer[model.graph.input[0].name] = (GRAPH, 0)
    consumer[model.graph.output[0].name] = (GRAPH, 0)
    edges = [{"name": t, "src": list(src), "dst": list(consumer[t])}
             for t, src in producer.items() if t in consumer]
    return {"layers": layers, "edges": edges, "depths": [0] * len(edges)}


def dot_source(manifest: dict, folding: dict, cycles: dict, bottleneck: str | None) -> str:
    """Graphviz source of the design: `manifest` (`rtl/accelerator.json`), `folding`
    (folding.json: PE/SIMD per node), `cycles` (FINN's cycles per layer)."""
    layers = manifest["layers"]
    lines = ["digraph dataflow {", "  rankdir=TB; nodesep=0.3; ranksep=0.35;",
             '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", '
             'fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
             '  input [shape=cds, fillcolor="#dddddd", label="input"];',
             '  output [shape=cds, fillcolor="#dddddd", label="output"];']
    for i, la in enumerate(layers):
        fold = folding.get(la["name"], {})
        par = " · ".join(f"{k} {fold[k]}" for k in ("PE", "SIMD") if k in fold)
        text = [la["name"], la["op_type"]] + ([par] if par else [])
        if la["name"] in cycles:
            text.append(f"{cycles[la['name']]:,} cycles/frame")
        fill = ', fillcolor="#f6c4c4", color="#b22222", penwidth=2' if (
            la["name"] == bottleneck) else ""
        lines.append(f"  n{i} [label={_quote(chr(10).join(text))}{fill}];")
    for e, depth in zip(manifest["edges"], manifest["depths"], strict=True):
        (si, sp), (di, dp) = e["src"], e["dst"]
        src = "input" if si == GRAPH else f"n{si}"
        dst = "output" if di == GRAPH else f"n{di}"
        port = (layers[di]["ins"][dp] if si == GRAPH else layers[si]["outs"][sp])
        label = f"{port_bits(port)} b" + (f"\nFIFO {depth}" if depth else "")
        lines.append(f"  {src} -> {dst} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def dot_svg(source: str) -> str | None:
    """`dot -Tsvg` of `source`: the `<svg>` element alone (no XML prolog), or None when
    Graphviz is not installed."""
    dot = shutil.which("dot")
    if dot is None:
        return None
    with tempfile.TemporaryDirectory(prefix="onebit-dot-") as tmp:
        src = Path(tmp) / "dataflow.dot"
        src.write_text(source)
        res = proc.run([dot, "-Tsvg", str(src)])
    if res.returncode != 0 or "<svg" not in res.stdout:
        raise BuildError("report", f"dot -Tsvg failed: {res.stderr.strip()[:300]}")
    return res.stdout[res.stdout.index("<svg"):]
