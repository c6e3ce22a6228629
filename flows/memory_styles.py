"""`ram_style = "auto"` decided by a block-RAM budget: where each MVAU's weight memory lives.

FINN leaves "auto" to Vivado. onebit decides it at the fold step and writes the decision into
the graph (and so into `folding.json` and the RTL's `(* ram_style *)`), so that Yosys' figures
and a Vivado implementation build the same memories, and a binary network spends its block RAM
where it saves the most LUTs: a wide weight ROM built from LUTs costs about one LUT per bit per
64 words (a LUT6 per bit, more for deeper ones), while the same memory in block RAM costs no
LUTs. So:

- a weight memory of fewer than `MIN_DEPTH` words stays in LUTs ("distributed": a ROM bit of a
  few words is a small function that merges with the logic reading it);
- the others go to block RAM in order of LUTs saved per BRAM18 (`rom_luts` over FINN's own
  `bram_estimation` of the memory as block RAM) while the design's block RAM, as FINN
  estimates it for every other layer, stays within `SHARE` of the part's; the rest "distributed".

A style given by the user (a folding file's `ram_style` other than "auto") is kept and counted.
UltraScale+ parts with URAM are not filled by this rule: "ultra" is the user's choice.
"""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper

MIN_DEPTH = 32
"""Weight words below which a memory stays in LUTs."""
SHARE = 0.75
"""Fraction of the part's BRAM18s the weight memories may fill, with the other layers' block
RAM (FINN's estimate). BNN-PYNQ's CNV used about 90 % of a Zynq-7020's block RAM."""
INTERNAL = ("internal_embedded", "internal_decoupled")


def rom_luts(depth: int, width: int) -> int:
    """LUTs of a `depth` x `width` ROM built from LUT6s: each bit a function of the address,
    one LUT6 per 64 words."""
    return width * -(-depth // 64)


def _weight_memory(op) -> tuple[int, int]:
    """(words, bits per word) of an MVAU's weight memory."""
    g = op.get_nodeattr
    depth = (g("MH") // g("PE")) * (g("MW") // g("SIMD"))
    return depth, g("PE") * g("SIMD") * op.get_input_datatype(1).bitwidth()


def _bram(op, part: str) -> float:
    try:
        return float(op.bram_estimation(part) or 0)
    except Exception:  # a layer FINN has no estimate for (onebit's own): none counted
        return 0.0


def place_weight_memories(model: ModelWrapper, part: str, bram_18k: int,
                          share: float = SHARE) -> dict[str, str]:
    """Set `ram_style` of every MVAU whose weight memory is "auto" (see the module); returns
    {node: the style chosen} for those."""
    from finn.custom_op.fpgadataflow.hwcustomop import HWCustomOp
    from qonnx.custom_op.registry import getCustomOp

    used, candidates, chosen = 0.0, [], {}
    ops = {}
    for node in model.graph.node:
        try:
            op = getCustomOp(node)
        except Exception:  # a standard ONNX node (left in software)
            continue
        if not isinstance(op, HWCustomOp):
            continue
        ops[node.name] = op
        auto = (node.op_type.startswith("MVAU") and op.get_nodeattr("ram_style") == "auto"
                and op.get_nodeattr("mem_mode") in INTERNAL)
        if not auto:
            used += _bram(op, part)
            continue
        depth, width = _weight_memory(op)
        if depth < MIN_DEPTH:
            chosen[node.name] = "distributed"
            continue
        op.set_nodeattr("ram_style", "block")  # FINN's estimate of it as block RAM
        bram = max(_bram(op, part), 1.0)
        candidates.append((rom_luts(depth, width) / bram, bram, node.name))
    room = share * bram_18k - used
    for _, bram, name in sorted(candidates, key=lambda c: -c[0]):
        chosen[name] = "block" if bram <= room else "distributed"
        room -= bram if chosen[name] == "block" else 0
    for name, style in chosen.items():
        ops[name].set_nodeattr("ram_style", style)
    return chosen
