"""RTL instance of FINN's `StreamingDataWidthConverter` (`_rtl`/`_hls` after SpecializeLayers).

FINN's DWC changes the stream width and nothing else: its Python execution is the identity,
and the stream is one bit sequence cut into `inWidth`-bit words on the way in and
`outWidth`-bit words on the way out (element 0 in the LSBs). InsertDWC puts one between two
layers whose words hold different numbers of elements; the widths need not divide each other
(a 6-element producer feeding a 9-element consumer) and the ratio can be large (1 -> 576 bits
in front of a fully parallel MVAU).

onebit builds every DWC as `onebit_dwc` (hw/rtl/onebit_dwc.sv), not finn-rtllib's `dwc_axi`:
its `vpc` core crashes Verilator 5.48 ("Unexpected Call") once the output is more than ~256
times the input, and one converter for every ratio, at one word per cycle on its narrow side,
is simpler than choosing between two. The module works on the unpadded widths.

>>> inst = generate(node, model, Path("build/rtl"))  # doctest: +SKIP
>>> inst.module, inst.params  # doctest: +SKIP
('onebit_dwc', {'IN_BITS': 6, 'OUT_BITS': 9})
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import NodeProto
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UnsupportedOpError
from onebit.hw import rtl_source
from onebit.hw.instance import ONEBIT_PORTS, RtlInstance

MODULE = "onebit_dwc"
OP_TYPES = (
    "StreamingDataWidthConverter",
    "StreamingDataWidthConverter_rtl",
    "StreamingDataWidthConverter_hls",
)


def check(node: NodeProto, model: ModelWrapper) -> tuple[int, int]:
    """The (input, output) stream widths of the converter `node`, checked.

    Raises `UnsupportedOpError` when a frame is not a whole number of words on both sides (the
    converter would hold a partial word across frames) or when the input and output shapes
    hold different numbers of elements.
    """
    from finn.util.basic import getHWCustomOp

    if node.op_type not in OP_TYPES:
        raise UnsupportedOpError(node.name, node.op_type, f"dwc generates only {OP_TYPES}")
    op = getHWCustomOp(node)
    in_bits, out_bits = int(op.get_instream_width()), int(op.get_outstream_width())
    for attr, bits in (("inWidth", in_bits), ("outWidth", out_bits)):
        if bits < 1:
            raise UnsupportedOpError(node.name, node.op_type, f"{attr}={bits} (must be >= 1)")
    n_in = int(np.prod(op.get_nodeattr("inShape")))
    n_out = int(np.prod(op.get_nodeattr("outShape")))
    if n_in != n_out:
        raise UnsupportedOpError(
            node.name, node.op_type, f"inShape has {n_in} elements but outShape has {n_out}"
        )
    frame_bits = n_in * op.get_input_datatype().bitwidth()
    for attr, bits in (("inWidth", in_bits), ("outWidth", out_bits)):
        if frame_bits % bits:
            raise UnsupportedOpError(
                node.name, node.op_type,
                f"{attr}={bits} does not divide the {frame_bits} bits of a frame",
            )
    return in_bits, out_bits


def generate(node: NodeProto, model: ModelWrapper, out_dir: Path) -> RtlInstance:
    """Describe the `onebit_dwc` instance of a StreamingDataWidthConverter node (`check`ed).

    Nothing is written to `out_dir` (the module is parameterised).
    """
    in_bits, out_bits = check(node, model)
    return RtlInstance(
        name=node.name,
        module=MODULE,
        sources=[rtl_source(MODULE)],
        in_width=in_bits,
        out_width=out_bits,
        in_bits=in_bits,
        out_bits=out_bits,
        params={"IN_BITS": in_bits, "OUT_BITS": out_bits},
        ports=dict(ONEBIT_PORTS),
        op_type=node.op_type,
    )
