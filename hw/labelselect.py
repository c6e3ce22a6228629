"""RTL instance of FINN's `LabelSelect` node (`LabelSelect_hls` after SpecializeLayers).

`onebit_label_select` reads Labels/PE words of PE class scores per vector (element 0 in the
LSBs, label index = word * PE + element) and writes K words, each one label index of
`outputDataType` bits, best first; equal scores keep the lower index first, as the ONNX TopK
of FINN's Python execution does.

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

MODULE = "onebit_label_select"
OP_TYPES = ("LabelSelect_hls", "LabelSelect")


def generate(node: NodeProto, model: ModelWrapper, out_dir: Path) -> RtlInstance:
    """Describe the `onebit_label_select` instance of a `LabelSelect`/`LabelSelect_hls` node.

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
    return RtlInstance(
        name=node.name,
        module=MODULE,
        sources=[rtl_source(MODULE)],
        in_width=pe * bits,
        out_width=out_bits,
        in_bits=pe * bits,
        out_bits=out_bits,
        params={
            "PE": pe,
            "ELEM_BITS": bits,
            "SIGNED": int(signed),
            "LABELS": labels,
            "K": k,
            "OUT_BITS": out_bits,
        },
        ports=dict(ONEBIT_PORTS),
        op_type=node.op_type,
    )
