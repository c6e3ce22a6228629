"""RTL instance of FINN's `Pool` node with Function MaxPool (`Pool_hls` after SpecializeLayers).

InferPool lowers MaxPool to Im2Col (depthwise) + Pool; the Im2Col becomes a depthwise
ConvolutionInputGenerator, whose stream carries, per output pixel, the window of each group of
PE channels as K = KH*KW consecutive words: layout (N, OH, OW, C/PE, K, PE). `onebit_pool`
reads that stream (as finn-hlslib's Pool_batch does) and writes (N, OH, OW, C/PE, PE).

Note the tensor FINN's Python execution gives the Pool input is ordered (..., K, C), not
(..., C/PE, K, PE): the two agree only when PE == C. `window_stream_order` converts.

>>> inst = generate(node, model, Path("build/rtl"))  # doctest: +SKIP
>>> inst.module, inst.params  # doctest: +SKIP
('onebit_pool', {'PE': 4, 'ELEM_BITS': 1, 'SIGNED': 0, 'K': 4})
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import NodeProto
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UnsupportedOpError
from onebit.hw import rtl_source
from onebit.hw.instance import ONEBIT_PORTS, RtlInstance

MODULE = "onebit_pool"
OP_TYPES = ("Pool_hls", "Pool")


def window_stream_order(x: np.ndarray, k: int, channels: int, pe: int) -> np.ndarray:
    """Reorder a (..., K*C) window tensor, (K, C) innermost, into the depthwise stream order.

    Returns the flat values in stream order (..., C/PE, K, PE), the order in which a depthwise
    SWG emits them and `onebit_pool` consumes them.
    """
    a = np.asarray(x).reshape(-1, k, channels // pe, pe)
    return a.transpose(0, 2, 1, 3).reshape(-1)


def generate(node: NodeProto, model: ModelWrapper, out_dir: Path) -> RtlInstance:
    """Describe the `onebit_pool` instance of a MaxPool `Pool`/`Pool_hls` node.

    Nothing is written to `out_dir` (the module is parameterised, not generated). Raises
    `UnsupportedOpError` for other pool functions and non-integer datatypes.
    """
    from finn.util.basic import getHWCustomOp

    if node.op_type not in OP_TYPES:
        raise UnsupportedOpError(node.name, node.op_type, f"pool generates only {OP_TYPES}")
    op = getHWCustomOp(node)
    fxn = op.get_nodeattr("Function")
    if fxn != "MaxPool":
        raise UnsupportedOpError(node.name, node.op_type, f"Function {fxn} (only MaxPool)")
    idt = DataType[op.get_nodeattr("InputDataType")]
    odt = DataType[op.get_nodeattr("OutputDataType")]
    if not idt.is_integer():
        raise UnsupportedOpError(node.name, node.op_type, f"InputDataType {idt.name}")
    if odt != idt:
        raise UnsupportedOpError(
            node.name, node.op_type, f"OutputDataType {odt.name} differs from {idt.name}"
        )
    ch, pe = int(op.get_nodeattr("Channels")), int(op.get_nodeattr("PE"))
    if pe < 1 or ch % pe:
        raise UnsupportedOpError(node.name, node.op_type, f"PE={pe} does not divide Channels={ch}")
    k = int(np.prod(op.get_nodeattr("KernelSize")))
    bits = idt.bitwidth()
    # BIPOLAR codes (-1 -> 0, +1 -> 1) order like unsigned bits: the max is the OR.
    signed = idt.signed() and idt != DataType["BIPOLAR"]
    width = pe * bits
    return RtlInstance(
        name=node.name,
        module=MODULE,
        sources=[rtl_source(MODULE)],
        in_width=width,
        out_width=width,
        in_bits=width,
        out_bits=width,
        params={"PE": pe, "ELEM_BITS": bits, "SIGNED": int(signed), "K": k},
        ports=dict(ONEBIT_PORTS),
        op_type=node.op_type,
    )
