"""RTL instances of the two blocks of a residual connection: stream fork and stream add.

A residual (shortcut) connection in a FINN HW graph is a `DuplicateStreams` node (one stream
copied to `NumOutputStreams` outputs, inserted by `InferDuplicateStreamsLayer` wherever a
tensor has two consumers) and, where the branches meet, an `ElementwiseAdd` node with two
streamed inputs of one shape (made by `InferElementwiseBinaryOperation` from an ONNX `Add`;
finn-plus 1.6.1 no longer has an `AddStreams` op). After SpecializeLayers they are
`DuplicateStreams_hls` and `ElementwiseAdd_hls` (the `_rtl` add is chosen only for float
operands on Versal). Both stream in the folded layout (..., C/PE, PE), element 0 in the LSBs.

- `onebit_duplicate_streams` (PE, ELEM_BITS): input `s_*`, outputs `m_*` and `m1_*`;
- `onebit_add_streams` (PE, IN0_BITS, IN1_BITS, IN0/1_SIGNED, IN0/1_BIPOLAR, OUT_BITS): inputs
  `s_*` (lhs) and `s1_*` (rhs), output `m_*`.

The second port's role is `s1_*` / `m1_*` (`onebit.hw.instance.PORT_ROLES_IN1`/`_OUT1`);
`RtlInstance.port_widths()` gives the tdata width of every port (an add's inputs may differ).

>>> inst = generate(node, model, Path("build/rtl"))  # doctest: +SKIP
>>> inst.module, inst.port_widths()  # doctest: +SKIP
('onebit_add_streams', ([32, 16], [36]))
"""

from __future__ import annotations

from pathlib import Path

from onnx import NodeProto
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UnsupportedOpError
from onebit.hw import rtl_source
from onebit.hw.instance import ONEBIT_PORTS, RtlInstance

DUP_MODULE = "onebit_duplicate_streams"
ADD_MODULE = "onebit_add_streams"
DUP_OP_TYPES = ("DuplicateStreams", "DuplicateStreams_hls")
ADD_OP_TYPES = ("ElementwiseAdd", "ElementwiseAdd_hls")
OP_TYPES = DUP_OP_TYPES + ADD_OP_TYPES

DUP_PORTS = {
    **ONEBIT_PORTS,
    "m1_tdata": "m1_axis_tdata",
    "m1_tvalid": "m1_axis_tvalid",
    "m1_tready": "m1_axis_tready",
}
"""Port map of `onebit_duplicate_streams`: output 0 `m_*`, output 1 `m1_*`."""

ADD_PORTS = {
    **ONEBIT_PORTS,
    "s1_tdata": "s1_axis_tdata",
    "s1_tvalid": "s1_axis_tvalid",
    "s1_tready": "s1_axis_tready",
}
"""Port map of `onebit_add_streams`: input 0 (lhs) `s_*`, input 1 (rhs) `s1_*`."""


def _name(node: NodeProto) -> str:
    """Instance name: the node's name, or (InferElementwiseBinaryOperation leaves it empty)
    one made from its op type and first output."""
    return node.name or f"{node.op_type}_{node.output[0]}"


def _lane_kind(dt: DataType) -> tuple[int, int]:
    """(SIGNED, BIPOLAR) parameter bits of an input lane of datatype `dt`."""
    if dt == DataType["BIPOLAR"]:
        return 0, 1
    return int(dt.signed()), 0


def _generate_duplicate(node: NodeProto, op) -> RtlInstance:
    n_out = int(op.get_nodeattr("NumOutputStreams"))
    if n_out != 2 or len(node.output) != 2:
        raise UnsupportedOpError(
            node.name, node.op_type,
            f"NumOutputStreams={n_out} with {len(node.output)} outputs (only 2; chain "
            "two-output forks for more)",
        )
    ch, pe = int(op.get_nodeattr("NumChannels")), int(op.get_nodeattr("PE"))
    if pe < 1 or ch % pe:
        raise UnsupportedOpError(
            node.name, node.op_type, f"PE={pe} does not divide NumChannels={ch}"
        )
    bits = DataType[op.get_nodeattr("inputDataType")].bitwidth()
    width = pe * bits
    return RtlInstance(
        name=_name(node),
        module=DUP_MODULE,
        sources=[rtl_source(DUP_MODULE)],
        in_width=width,
        out_width=width,
        in_bits=width,
        out_bits=width,
        params={"PE": pe, "ELEM_BITS": bits},
        ports=dict(DUP_PORTS),
        op_type=node.op_type,
        out1_width=width,
    )


def _generate_add(node: NodeProto, op) -> RtlInstance:
    def bad(why: str) -> UnsupportedOpError:
        return UnsupportedOpError(node.name, node.op_type, why)

    styles = (op.get_nodeattr("lhs_style"), op.get_nodeattr("rhs_style"))
    if styles != ("input", "input"):
        raise bad(f"lhs_style/rhs_style {styles}: only two streamed inputs (no constant operand)")
    shapes = [list(op.get_nodeattr(a)) for a in ("lhs_shape", "rhs_shape", "out_shape")]
    if not shapes[0] == shapes[1] == shapes[2]:
        raise bad(f"lhs_shape {shapes[0]}, rhs_shape {shapes[1]}, out_shape {shapes[2]}: "
                  "broadcasting is not supported, shapes must be equal")
    lhs, rhs = DataType[op.get_nodeattr("lhs_dtype")], DataType[op.get_nodeattr("rhs_dtype")]
    out = DataType[op.get_nodeattr("out_dtype")]
    for what, dt in (("lhs_dtype", lhs), ("rhs_dtype", rhs), ("out_dtype", out)):
        if not dt.is_integer():
            raise bad(f"{what} {dt.name} is not an integer type")
    if out == DataType["BIPOLAR"]:
        raise bad("out_dtype BIPOLAR")
    lo, hi = lhs.min() + rhs.min(), lhs.max() + rhs.max()
    if lo < out.min() or hi > out.max():
        raise bad(f"out_dtype {out.name} cannot hold sums in [{lo}, {hi}] of {lhs.name} + "
                  f"{rhs.name}")
    ch, pe = int(shapes[2][-1]), int(op.get_nodeattr("PE"))
    if pe < 1 or ch % pe:
        raise bad(f"PE={pe} does not divide the last axis ({ch})")
    s0, b0 = _lane_kind(lhs)
    s1, b1 = _lane_kind(rhs)
    params = {
        "PE": pe,
        "IN0_BITS": lhs.bitwidth(),
        "IN1_BITS": rhs.bitwidth(),
        "IN0_SIGNED": s0,
        "IN1_SIGNED": s1,
        "IN0_BIPOLAR": b0,
        "IN1_BIPOLAR": b1,
        "OUT_BITS": out.bitwidth(),
    }
    return RtlInstance(
        name=_name(node),
        module=ADD_MODULE,
        sources=[rtl_source(ADD_MODULE)],
        in_width=pe * lhs.bitwidth(),
        out_width=pe * out.bitwidth(),
        in_bits=pe * lhs.bitwidth(),
        out_bits=pe * out.bitwidth(),
        params=params,
        ports=dict(ADD_PORTS),
        op_type=node.op_type,
        in1_width=pe * rhs.bitwidth(),
    )


def generate(node: NodeProto, model: ModelWrapper, out_dir: Path) -> RtlInstance:
    """Describe the RTL instance of a `DuplicateStreams[_hls]` or `ElementwiseAdd[_hls]` node.

    Nothing is written to `out_dir` (the modules are parameterised). Raises
    `UnsupportedOpError` naming the node for other op types, more than two duplicate outputs,
    a constant or broadcast add operand, non-integer datatypes, or an `out_dtype` too narrow
    for the exact sum (FINN's minimised type for BIPOLAR + BIPOLAR is INT2, which is).
    """
    from finn.util.basic import getHWCustomOp

    if node.op_type not in OP_TYPES:
        raise UnsupportedOpError(node.name, node.op_type, f"residual generates only {OP_TYPES}")
    op = getHWCustomOp(node)
    if node.op_type in DUP_OP_TYPES:
        return _generate_duplicate(node, op)
    return _generate_add(node, op)


def exp_cycles(inst: RtlInstance, n_words: int) -> int:
    """Cycles of `n_words` words through the instance without stalls (to the last output)."""
    latency = 2 if inst.module == ADD_MODULE else 1
    return n_words + latency
