"""RTL instance of FINN's `LabelSelect` node (`LabelSelect_hls` after SpecializeLayers).

`onebit_label_select` reads Labels/PE words of PE class scores per vector (element 0 in the
LSBs, label index = word * PE + element) and writes K words, each one label index of
`outputDataType` bits, best first; equal scores keep the lower index first, as the ONNX TopK
of FINN's Python execution does.

A node with the attribute `onebit_lut_levels` (`onebit.hw.mvau.set_lut_levels`, the build's
`--lut-levels`) and PE > 1 is `onebit_label_select_lanes` (`MODULE_LANES`): one top-K list per
PE lane, merged after each vector's last word in a pipelined compare-exchange tree
(`MERGE_LAYERS = merge_layers(budget)` layers between registers), so no path inserts more than
one score: the same outputs and throughput, `merge_latency(params)` more cycles of latency.
Without the attribute (or at PE 1) it is `onebit_label_select`, as before.

Unlike FINN's HLS LabelSelect (whose cppsim feeds the scores with `reverse_inner=False`, i.e.
element 0 in the MSBs), the input follows onebit's single packing convention.

>>> inst = generate(node, model, Path("build/rtl"))  # doctest: +SKIP
>>> inst.params  # doctest: +SKIP
{'PE': 2, 'ELEM_BITS': 8, 'SIGNED': 1, 'LABELS': 10, 'K': 3, 'OUT_BITS': 8}
"""

from __future__ import annotations

from pathlib import Path

from onnx import NodeProto
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UnsupportedOpError
from onebit.hw import rtl_source
from onebit.hw.instance import ONEBIT_PORTS, RtlInstance
from onebit.hw.mvau import lut_levels_of

MODULE = "onebit_label_select"
MODULE_LANES = "onebit_label_select_lanes"
OP_TYPES = ("LabelSelect_hls", "LabelSelect")


def merge_layers(lut_levels: int) -> int:
    """`MERGE_LAYERS` (compare-exchange layers of the merge between registers) for a budget of
    `lut_levels`: a layer maps to three LUT levels (the key comparison, partly in LUTs before
    its carry chain, then the 2:1 select of the keys; measured with Yosys synth_xilinx, 16-bit
    scores), so a third of the budget, at least one layer.
    """
    if lut_levels < 1:
        raise ValueError(f"LUT level budget {lut_levels}: expected >= 1")
    return max(1, lut_levels // 3)


def merge_latency(params: dict) -> int:
    """Cycles the merge of the lanes' lists adds to the latency (0 for `onebit_label_select`,
    no `MERGE_LAYERS`): its registers, one per `MERGE_LAYERS` of the clog2(PE) * (1 +
    clog2(KP)) layers, KP = K rounded up to a power of two."""
    if "MERGE_LAYERS" not in params:
        return 0
    pe, k = int(params["PE"]), int(params["K"])
    layers = (pe - 1).bit_length() * (1 + (k - 1).bit_length())  # clog2
    per = int(params["MERGE_LAYERS"])
    return -(-layers // per)


def cycles_per_vector(params: dict) -> int:
    """Steady-state cycles per vector without stalls: a word per cycle, but a vector's last
    word waits until the K indices of the one before have been sent (K + 1 cycles). The same
    with and without a budget; FINN's `get_exp_cycles` (the build's estimate) is Labels/PE."""
    return max(int(params["LABELS"]) // int(params["PE"]), int(params["K"]) + 1)


def expected_cycles(inst: RtlInstance, n_vectors: int = 1) -> int:
    """Cycles from reset release to the last output handshake without stalls: the first
    vector's words, the merge, its K outputs, then `cycles_per_vector` for each further one."""
    p = inst.params
    words, k = int(p["LABELS"]) // int(p["PE"]), int(p["K"])
    return words + merge_latency(p) + k + (n_vectors - 1) * cycles_per_vector(p)


def generate(node: NodeProto, model: ModelWrapper, out_dir: Path) -> RtlInstance:
    """Describe the `onebit_label_select` instance of a `LabelSelect`/`LabelSelect_hls` node
    (`onebit_label_select_lanes` with a LUT-level budget and PE > 1).

    Nothing is written to `out_dir`. Raises `UnsupportedOpError` for non-integer scores, an
    output datatype that cannot hold the largest index, or PE not dividing Labels.
    """
    from finn.util.basic import getHWCustomOp

    if node.op_type not in OP_TYPES:
        raise UnsupportedOpError(node.name, node.op_type, f"labelselect generates {OP_TYPES}")
    op = getHWCustomOp(node)
    labels, pe, k = (int(op.get_nodeattr(a)) for a in ("Labels", "PE", "K"))
    idt = op.get_input_datatype()
    odt = op.get_output_datatype()
    if not idt.is_integer():
        raise UnsupportedOpError(node.name, node.op_type, f"inputDataType {idt.name}")
    if pe < 1 or labels % pe:
        raise UnsupportedOpError(node.name, node.op_type, f"PE={pe} does not divide {labels}")
    if not 1 <= k <= labels:
        raise UnsupportedOpError(node.name, node.op_type, f"K={k} not in 1..Labels={labels}")
    if not odt.is_integer() or odt.signed() or odt.max() < labels - 1:
        raise UnsupportedOpError(
            node.name, node.op_type, f"outputDataType {odt.name} cannot hold index {labels - 1}"
        )
    bits = idt.bitwidth()
    signed = idt.signed() and idt != DataType["BIPOLAR"]
    out_bits = odt.bitwidth()
    params = {"PE": pe, "ELEM_BITS": bits, "SIGNED": int(signed), "LABELS": labels, "K": k,
              "OUT_BITS": out_bits}
    budget = lut_levels_of(node)
    module = MODULE
    if budget is not None and pe > 1:
        module = MODULE_LANES
        params["MERGE_LAYERS"] = merge_layers(budget)
    return RtlInstance(
        name=node.name,
        module=module,
        sources=[rtl_source(module)],
        in_width=pe * bits,
        out_width=out_bits,
        in_bits=pe * bits,
        out_bits=out_bits,
        params=params,
        ports=dict(ONEBIT_PORTS),
        op_type=node.op_type,
    )
