"""Stitch RtlInstances into one accelerator top: a FIFO on every edge of the dataflow graph.

The graph is given as instances plus edges; an edge runs from an output port of one instance
(or the top's input) to an input port of another (or the top's output). Port 0 of an instance
is its `s_*`/`m_*` roles, port 1 its `s1_*`/`m1_*` roles (residual forks and adds).

The top has a weight write port `cfg_we`/`cfg_addr`/`cfg_data` (the shell's AXI-Lite writes
above its registers; `cfg_addr` as wide as the control address). Runtime-writable layers
(`RtlInstance.writable`) get a window each (`windows`, `onebit.driver.weights.place`), decoded
from it into the layer's memory write port; without them the port is unused. Other layers'
extra inputs take their `tied` constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from onebit.driver.weights import WritableLayer, address_bits, place
from onebit.errors import BuildError
from onebit.hw import rtl_source
from onebit.hw.instance import ONEBIT_PORTS, RtlInstance
from onebit.hw.sim import Tap, sv_value

TOP = "onebit_accel"
GRAPH = -1  # the top level's own port, in place of an instance index


@dataclass(frozen=True)
class Edge:
    """A stream from (instance, output port) to (instance, input port); GRAPH = the top."""

    name: str
    src: tuple[int, int]
    dst: tuple[int, int]


def in_bits(inst: RtlInstance, port: int) -> tuple[int, int]:
    """(meaningful, declared) bits of an input port."""
    return (inst.in_bits, inst.in_width) if port == 0 else (inst.in1_width, inst.in1_width)


def windows(insts: list[RtlInstance]) -> list[WritableLayer]:
    """The runtime-writable layers of `insts`, in order, with their window bases."""
    return place([WritableLayer.from_json(i.writable) for i in insts if i.writable])


CFG_TIED = {"cfg_we": "1'b0", "cfg_addr": "'0", "cfg_data": "32'd0"}
"""The stitched top's weight write port, idle (a top simulated on its own)."""


def _cfg_decode(k: int, la: WritableLayer) -> tuple[str, dict[str, str]]:
    """Wires selecting layer `la`'s window (instance k) from the top's write port."""
    size_b = la.size.bit_length() - 1
    half_b = la.half.bit_length() - 1
    hit = f"cfg_hit_{k}"
    text = (f"  wire {hit} = cfg_we && cfg_addr[CFG_AW-1:{size_b}] == "
            f"(CFG_AW-{size_b})'({la.base >> size_b});")
    sel = f"cfg_addr[{half_b}]" if la.n_thres else "1'b0"
    idx = f"32'(cfg_addr[{half_b - 1}:2])" if half_b > 2 else "32'd0"
    return text, {"cfg_we": hit, "cfg_sel": sel, "cfg_idx": idx, "cfg_data": "cfg_data"}


def stream_taps(insts: list[RtlInstance], edges: list[Edge]) -> list[tuple[int, Tap]]:
    """Every stream a block emits, as (edge index, `sim.Tap` of its producer side `e<k>_p`)."""
    return [(k, Tap(f"e{k}_p", insts[e.src[0]].out_port_bits(e.src[1])))
            for k, e in enumerate(edges) if e.src[0] != GRAPH]


def chain_edges(n: int) -> list[Edge]:
    """The edges of a linear chain of `n` instances."""
    return [Edge(f"e{i}", (i - 1, 0) if i else (GRAPH, 0), (i, 0) if i < n else (GRAPH, 0))
            for i in range(n + 1)]


def has_fifo(e: Edge, depth: int) -> bool:
    """Whether `stitch` puts a FIFO of `depth` on edge `e` (never on the top's input)."""
    return depth > 0 and e.src[0] != GRAPH


def edge_fifos(insts: list[RtlInstance], edges: list[Edge],
               fifo_depths: list[int]) -> list[RtlInstance]:
    """The stream FIFOs `stitch` places (`fifo_<k>` for edge k), as instances of their own (to
    synthesize a design part by part)."""
    fifos = []
    for k, e in enumerate(edges):
        if has_fifo(e, fifo_depths[k]):
            bits = insts[e.src[0]].out_port_bits(e.src[1])
            fifos.append(RtlInstance(f"fifo_{k}", "onebit_fifo", [rtl_source("onebit_fifo")],
                                     bits, bits, bits, bits,
                                     {"WIDTH": bits, "DEPTH": fifo_depths[k]},
                                     dict(ONEBIT_PORTS), "StreamingFIFO"))
    return fifos


def stitch(insts: list[RtlInstance], edges: list[Edge], fifo_depths: list[int], out_dir: Path,
           monitor: bool = False) -> RtlInstance:
    """Write `onebit_accel.sv` connecting `insts` along `edges`, one FIFO per edge.

    `fifo_depths[k]` is the depth of edge k's FIFO (0: a direct connection; the edge from the
    top's input is always direct). With `monitor`, a simulation-only top: each FIFO's fill
    level is capped at run time by `fifo_limits.hex` (one hex word per edge) and a `final`
    block writes each FIFO's peak occupancy to `fifo_occupancy.txt`.
    """
    if len(fifo_depths) != len(edges):
        raise BuildError("stitch", f"{len(edges)} edges but {len(fifo_depths)} FIFO depths")
    first = next(e for e in edges if e.src[0] == GRAPH)
    last = next(e for e in edges if e.dst[0] == GRAPH)
    top_in = in_bits(insts[first.dst[0]], first.dst[1])[1]
    top_out = insts[last.src[0]].out_port_bits(last.src[1])
    conns: list[dict[str, str]] = [{"clk": "clk", "rst_n": "rst_n"} for _ in insts]
    body = [f"  int limit [{len(edges)}];\n  initial $readmemh(\"fifo_limits.hex\", limit);"
            ] if monitor else []
    for k, e in enumerate(edges):
        if e.src[0] == GRAPH:
            src = ("s_axis_tdata", "s_axis_tvalid", "s_axis_tready")
            bits = top_in
        else:
            inst = insts[e.src[0]]
            bits = inst.out_port_bits(e.src[1])
            w = inst.port_widths()[1][e.src[1]]
            p = f"e{k}_p"
            body.append(f"  logic [{w - 1}:0] {p}_tdata;\n  logic {p}_tvalid, {p}_tready;")
            role = "m" if e.src[1] == 0 else "m1"
            conns[e.src[0]].update({f"{role}_tdata": f"{p}_tdata", f"{role}_tvalid": f"{p}_tvalid",
                                    f"{role}_tready": f"{p}_tready"})
            src = (f"{p}_tdata[{bits - 1}:0]", f"{p}_tvalid", f"{p}_tready")
        dst = src
        if has_fifo(e, fifo_depths[k]):
            body.append(_fifo(k, bits, fifo_depths[k], src, monitor))
            dst = (f"e{k}_c_tdata", f"e{k}_c_tvalid", f"e{k}_c_tready")
        if e.dst[0] == GRAPH:
            body.append(f"  assign m_axis_tdata = {dst[0]};\n  assign m_axis_tvalid = {dst[1]};\n"
                        f"  assign {dst[2]} = m_axis_tready;")
            continue
        inst = insts[e.dst[0]]
        need, declared = in_bits(inst, e.dst[1])
        if need != bits:
            raise BuildError("stitch", f"edge {e.name}: '{inst.name}' takes {need}-bit words, "
                             f"its producer emits {bits} bits (a width converter is missing)")
        data = dst[0]
        if declared > bits:
            body.append(f"  wire [{declared - 1}:0] e{k}_in = {{{declared - bits}'b0, {dst[0]}}};")
            data = f"e{k}_in"
        role = "s" if e.dst[1] == 0 else "s1"
        conns[e.dst[0]].update({f"{role}_tdata": data, f"{role}_tvalid": dst[1],
                                f"{role}_tready": dst[2]})
    placed = {la.name: la for la in windows(insts)}
    cfg_aw = address_bits(list(placed.values()))
    if placed:
        body.append(f"  localparam int unsigned CFG_AW = {cfg_aw};")
    body.append("  logic unused_cfg;  // no runtime-writable layer; byte lanes of a word\n"
                + ("  assign unused_cfg = ^cfg_addr[1:0];" if placed else
                   "  assign unused_cfg = ^{cfg_we, cfg_addr, cfg_data};"))
    for k, (inst, c) in enumerate(zip(insts, conns, strict=True)):
        if inst.writable:
            text, cfg = _cfg_decode(k, placed[inst.name])
            body.append(text)
            c.update(cfg)
        c.update({p: v for p, v in inst.tied.items() if p not in c})
        body.append(f"  // {inst.name} ({inst.op_type or inst.module})\n" + _instance(inst, c))
    if monitor:
        body.append(
            "  // synthesis translate_off\n  final begin\n    int fd;\n"
            '    fd = $fopen("fifo_occupancy.txt", "w");\n'
            + "".join(f'    $fdisplay(fd, "{k} %0d", peak_{k});\n'
                      for k, e in enumerate(edges) if has_fifo(e, fifo_depths[k]))
            + "    $fclose(fd);\n  end\n  // synthesis translate_on"
        )
    lines = [
        f"// {TOP}: generated by onebit; {len(insts)} blocks, {len(edges)} streams.",
        f"module {TOP} (",
        "  input  logic clk,",
        "  input  logic rst_n,",
        f"  input  logic [{top_in - 1}:0] s_axis_tdata,",
        "  input  logic s_axis_tvalid,",
        "  output logic s_axis_tready,",
        f"  output logic [{top_out - 1}:0] m_axis_tdata,",
        "  output logic m_axis_tvalid,",
        "  input  logic m_axis_tready,",
        "  input  logic cfg_we,",
        f"  input  logic [{cfg_aw - 1}:0] cfg_addr,",
        "  input  logic [31:0] cfg_data",
        ");",
        *body,
        "endmodule",
        "",
    ]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    top = out_dir / f"{TOP}.sv"
    top.write_text("\n".join(lines))
    sources = [rtl_source("onebit_fifo")]
    for inst in insts:
        sources += [s for s in inst.sources if s not in sources]
    return RtlInstance(TOP, TOP, sources + [top], top_in, top_out,
                       in_bits(insts[first.dst[0]], first.dst[1])[0], top_out, {},
                       dict(ONEBIT_PORTS), "accelerator", tied=dict(CFG_TIED))


def _instance(inst: RtlInstance, conns: dict[str, str]) -> str:
    missing = [r for r in [*inst.ports, *inst.tied] if r not in conns]
    if missing:
        raise BuildError("stitch", f"'{inst.name}' has unconnected ports: {', '.join(missing)}")
    params = ""
    if inst.params:
        params = " #(\n" + ",\n".join(
            f"    .{k}({sv_value(k, v)})" for k, v in inst.params.items()) + "\n  )"
    ports = ",\n".join(f"    .{inst.ports.get(role, role)}({sig})" for role, sig in conns.items())
    return f"  {inst.module}{params} u_{inst.name} (\n{ports}\n  );\n"


def _fifo(k: int, bits: int, depth: int, src: tuple[str, str, str], monitor: bool) -> str:
    """The FIFO of edge k (with the sizing monitor's run-time cap when `monitor`)."""
    c = f"e{k}_c"
    valid, ready = src[1], src[2]
    text = f"  logic [{bits - 1}:0] {c}_tdata;\n  logic {c}_tvalid, {c}_tready;\n"
    if monitor:
        text += (
            f"  int occ_{k} = 0, peak_{k} = 0;\n"
            f"  logic e{k}_s_tvalid, e{k}_s_tready;\n"
            f"  wire e{k}_open = occ_{k} < limit[{k}];\n"
            f"  assign e{k}_s_tvalid = {src[1]} && e{k}_open;\n"
            f"  assign {src[2]} = e{k}_s_tready && e{k}_open;\n"
            f"  always_ff @(posedge clk) if (rst_n) begin\n"
            f"    occ_{k} <= occ_{k} + int'(e{k}_s_tvalid && e{k}_s_tready)"
            f" - int'({c}_tvalid && {c}_tready);\n"
            f"    if (occ_{k} > peak_{k}) peak_{k} <= occ_{k};\n"
            f"  end\n"
        )
        valid, ready = f"e{k}_s_tvalid", f"e{k}_s_tready"
    return text + (
        f"  onebit_fifo #(.WIDTH({bits}), .DEPTH({depth})) u_fifo_{k} (\n"
        f"    .clk(clk), .rst_n(rst_n),\n"
        f"    .s_axis_tdata({src[0]}), .s_axis_tvalid({valid}), .s_axis_tready({ready}),\n"
        f"    .m_axis_tdata({c}_tdata), .m_axis_tvalid({c}_tvalid), .m_axis_tready({c}_tready)\n"
        f"  );"
    )
