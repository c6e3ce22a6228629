"""Logic depth and an fmax estimate from a Yosys-mapped Xilinx netlist, without Vivado.

`analyse(netlist, family)` reads the JSON netlist that Yosys writes after `synth_xilinx`
(`write_json`) and walks every register-to-register path once (longest path over the
combinational cells in topological order). It returns

- `lut_levels`: the most LUTs on any path between timing start and end points;
- `delay_ns`, `fmax_mhz_est`: the slowest path under the family's `DelayModel`,
  fmax = 1000 / (overhead + path delay);
- `carry_cells`: the carry cells on that slowest path, and its endpoint net;
- `deepest_path`: the nets along one path with `lut_levels` LUTs, start to end (where a
  design misses its LUT-level budget, the place to look).

Counting rules (stated, not Vivado's):

- start points: flip-flop outputs, block RAM / URAM / DSP outputs (taken as registered), the
  registered output of an SRL, module inputs and constants; end points: the inputs of those
  cells (D, CE, reset, write data / enable) and module outputs;
- a LUT1..LUT6 is one level; a distributed RAM or SRL read (address -> data) is one level;
- a carry cell (CARRY4, CARRY8) adds no LUT level; its delay is `carry_in_ns` for entering the
  chain (S, DI, CYINIT -> O, CO) and `carry_ns` per cell along it (CI -> CO, O);
- MUXF7/8/9 add no level and `mux_ns`; INV/BUF are free (Vivado absorbs them into the next
  LUT or flip-flop); any other cell type is counted as a LUT and listed in `unmodelled`.

The delay model is not a timing signoff: placement and routing decide the net delays, and
Vivado retimes and replicates. The per-level figures are an assumption stated in
`DELAY_MODELS` (a LUT with a typical local net); `lut_levels` is the robust figure.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict, deque
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class DelayModel:
    """Per-element delays in ns for one family and speed grade (assumed, see `source`)."""

    family: str
    overhead_ns: float  # clock-to-out + setup + clock uncertainty of one register pair
    lut_ns: float  # one LUT level including its net to the next element
    mux_ns: float  # MUXF7/8/9
    carry_in_ns: float  # into a carry chain (S/DI -> O/CO) including the net to it
    carry_ns: float  # per further carry cell along the chain (CI -> CO/O)
    source: str


DELAY_MODELS = {
    # 7-series / Zynq-7000 at speed grade -1: a LUT (T_ILO ~0.1 ns in the data sheets) plus
    # a typical post-route local net (~0.9 ns, not a data sheet figure), clock-to-out and setup
    # plus 0.4 ns of clock uncertainty; CARRY4 CI -> CO ~0.1 ns per cell.
    "xc7": DelayModel("xc7", overhead_ns=1.0, lut_ns=1.0, mux_ns=0.3, carry_in_ns=0.6,
                      carry_ns=0.12, source="assumed: 7-series -1, LUT + typical net"),
    # UltraScale: between the two.
    "xcu": DelayModel("xcu", overhead_ns=0.7, lut_ns=0.65, mux_ns=0.2, carry_in_ns=0.4,
                      carry_ns=0.06, source="assumed: UltraScale -2, LUT + typical net"),
    # UltraScale+ at speed grade -2: faster LUTs and nets, CARRY8 (8 bits per cell).
    "xcup": DelayModel("xcup", overhead_ns=0.6, lut_ns=0.55, mux_ns=0.15, carry_in_ns=0.35,
                       carry_ns=0.05, source="assumed: UltraScale+ -2, LUT + typical net"),
}

_LUT_RE = re.compile(r"^LUT[1-6](_2)?$")
_SEQ_PREFIXES = ("FD", "LD", "RAMB", "FIFO18", "FIFO36", "URAM", "DSP48")
_CARRY = {"CARRY4", "CARRY8"}
_MUX = {"MUXF7", "MUXF8", "MUXF9"}
_FREE = {"INV", "BUF"}
_LUTRAM_RE = re.compile(r"^(RAM\d+X\d+[SD]|RAM\d+M\d*|SRLC?\d+E)$")
_CHAIN_IN = {"CI", "CI_TOP"}


def _comb_arcs(ctype: str, ports: dict[str, str]) -> tuple[list[str], list[str]] | None:
    """(input ports, output ports) of a cell's combinational arcs; None for a pure register."""
    if ctype.startswith(_SEQ_PREFIXES):
        return None
    ins = [p for p, d in ports.items() if d == "input"]
    outs = [p for p, d in ports.items() if d == "output"]
    if _LUTRAM_RE.match(ctype):  # read address -> data; the rest is a write (an end point)
        return [p for p in ins if p.startswith(("A", "DPRA"))], [p for p in outs if p != "Q31"]
    return ins, outs


def _step(ctype: str, port: str, model: DelayModel) -> tuple[float, int]:
    """(delay, LUT levels) from input `port` of a cell of type `ctype` to its outputs."""
    if ctype in _CARRY:
        return (model.carry_ns if port in _CHAIN_IN else model.carry_in_ns), 0
    if ctype in _MUX:
        return model.mux_ns, 0
    if ctype in _FREE:
        return 0.0, 0
    return model.lut_ns, 1


def analyse(netlist: dict, family: str, top: str | None = None) -> dict:
    """Logic depth and fmax estimate of module `top` (default: the only/first module with
    cells) of a Yosys JSON netlist; see the module docstring for the rules."""
    model = DELAY_MODELS[family]
    mods = netlist["modules"]
    if top is None:
        top = next(n for n, m in mods.items() if m.get("attributes", {}).get("top")) \
            if any(m.get("attributes", {}).get("top") for m in mods.values()) else \
            max(mods, key=lambda n: len(mods[n].get("cells", {})))
    mod = mods[top]
    cells = mod.get("cells", {})

    # combinational cells, the driver of every bit, the arcs into every cell
    comb: dict[str, tuple[str, list[tuple[str, int]], list[int]]] = {}
    driver: dict[int, str] = {}
    ends: list[int] = []
    end_reg: dict[int, int | None] = {}  # an end bit's register, by the bit it drives
    unmodelled: set[str] = set()
    for name, c in cells.items():
        ctype, ports, conn = c["type"], c.get("port_directions", {}), c["connections"]
        arcs = _comb_arcs(ctype, ports)
        if arcs is None:  # a register: its inputs end paths
            bits = [b for p, d in ports.items() if d == "input" for b in conn.get(p, [])
                    if isinstance(b, int)]
            ends += bits
            q = next((b for p, d in ports.items() if d == "output" for b in conn.get(p, [])
                      if isinstance(b, int)), None)
            for b in bits:
                end_reg.setdefault(b, q)
            continue
        ins, outs = arcs
        if not (ctype in _CARRY or ctype in _MUX or ctype in _FREE or _LUT_RE.match(ctype)
                or _LUTRAM_RE.match(ctype)):
            unmodelled.add(ctype)
        if _LUTRAM_RE.match(ctype):  # write side: end points
            ends += [b for p, d in ports.items() if d == "input" and p not in ins
                     for b in conn.get(p, []) if isinstance(b, int)]
        in_bits = [(p, b) for p in ins for b in conn.get(p, []) if isinstance(b, int)]
        out_bits = [b for p in outs for b in conn.get(p, []) if isinstance(b, int)]
        comb[name] = (ctype, in_bits, out_bits)
        for b in out_bits:
            driver[b] = name
    for port in mod.get("ports", {}).values():
        if port["direction"] in ("output", "inout"):
            ends += [b for b in port["bits"] if isinstance(b, int)]

    # Kahn's order over the combinational cells
    succ: dict[str, set[str]] = defaultdict(set)
    indeg = dict.fromkeys(comb, 0)
    for name, (_, in_bits, _) in comb.items():
        for d in {driver[b] for _, b in in_bits if b in driver}:
            if name not in succ[d]:
                succ[d].add(name)
                indeg[name] += 1
    delay: dict[int, float] = {}
    levels: dict[int, int] = {}
    carries: dict[int, int] = {}
    deepest_in: dict[int, int] = {}  # a bit's input bit on its deepest path
    queue = deque(n for n, k in indeg.items() if k == 0)
    done = 0
    while queue:
        name = queue.popleft()
        done += 1
        ctype, in_bits, out_bits = comb[name]
        d_out, l_out, c_out, via = 0.0, 0, 0, None
        for port, b in in_bits:
            dt, dl = _step(ctype, port, model)
            d = delay.get(b, 0.0) + dt
            if d > d_out:
                d_out, c_out = d, carries.get(b, 0) + (ctype in _CARRY)
            if via is None or levels.get(b, 0) + dl > l_out:
                l_out, via = levels.get(b, 0) + dl, b
        for b in out_bits:
            delay[b], levels[b], carries[b] = d_out, l_out, c_out
            if via is not None:
                deepest_in[b] = via
        for s in succ[name]:
            indeg[s] -= 1
            if indeg[s] == 0:
                queue.append(s)
    if done != len(comb):
        raise ValueError(f"{top}: combinational loop through {len(comb) - done} cells")

    worst_d, worst_bit = 0.0, None
    for b in ends:
        if delay.get(b, 0.0) > worst_d:
            worst_d, worst_bit = delay[b], b
    lut_levels = max((levels.get(b, 0) for b in ends), default=0)
    names: dict[int, tuple[bool, str]] = {}  # a bit's most readable net name
    for n, v in mod.get("netnames", {}).items():
        for b in v["bits"]:
            if isinstance(b, int):
                names[b] = min(names.get(b, (True, n)), (bool(v.get("hide_name")), n))
    net = names[worst_bit][1] if worst_bit in names else None
    deepest = max(ends, key=lambda b: levels.get(b, 0), default=None)
    path = []
    if end_reg.get(deepest) is not None:  # the register the path ends in, by its output
        path.append(names.get(end_reg[deepest], (True, "?"))[1] + " (register)")
    while deepest is not None:
        path.append(names.get(deepest, (True, f"bit {deepest}"))[1])
        deepest = deepest_in.get(deepest)
    period = model.overhead_ns + worst_d
    return {
        "lut_levels": lut_levels,
        "delay_ns": round(period, 3),
        "fmax_mhz_est": round(1000.0 / period, 1),
        "carry_cells": carries.get(worst_bit, 0) if worst_bit is not None else 0,
        "critical_net": net,
        "deepest_path": path[::-1],
        "unmodelled": sorted(unmodelled),
        "model": asdict(model),
    }


def analyse_file(path: Path, family: str, top: str | None = None) -> dict:
    """`analyse` of a Yosys JSON netlist file."""
    return analyse(json.loads(Path(path).read_text()), family, top)
