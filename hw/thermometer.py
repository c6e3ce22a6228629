"""RTL of FracBNN's `ThermometerEncoder` HW layer (`onebit.flows.fracbnn_ops`):
`hw/rtl/onebit_thermometer.sv`, PE pixels in and PE * L level bits out per cycle.

The level thresholds are `onebit.models.thermometer.thermometer_thresholds(resolution)` (the
one definition the torch module and the graph op use), written as `<node>_levels.mem`.

>>> inst = generate(node, model, Path("build/rtl"))  # doctest: +SKIP
>>> inst.params  # doctest: +SKIP
{'PE': 1, 'IN_BITS': 8, 'LEVELS': 32, 'LEVEL_FILE': '.../Thermometer_0_levels.mem'}
"""

from __future__ import annotations

from pathlib import Path

from onnx import NodeProto
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UnsupportedOpError
from onebit.hw import rtl_source
from onebit.hw.instance import RtlInstance
from onebit.models.thermometer import thermometer_thresholds

MODULE = "onebit_thermometer"
OUTPUT_TYPES = ("BINARY", "BIPOLAR")  # {0,1} codes, or +-1 as codes: the same bits


def _params(node: NodeProto) -> tuple[dict, list[int]]:
    """Check `node`; its module parameters (without the file) and its level thresholds."""
    from qonnx.custom_op.registry import getCustomOp

    op = getCustomOp(node)
    g = op.get_nodeattr
    ch, pe = int(g("NumChannels")), int(g("PE"))
    if pe < 1 or ch % pe:
        raise UnsupportedOpError(node.name, node.op_type, f"PE={pe} does not divide "
                                 f"NumChannels={ch}")
    idt = DataType[g("inputDataType")]
    if not idt.is_integer() or idt.signed() or idt == DataType["BIPOLAR"]:
        raise UnsupportedOpError(node.name, node.op_type, f"inputDataType={idt.name}: expected "
                                 "unsigned integer pixels (UINTn)")
    if g("outputDataType") not in OUTPUT_TYPES:
        raise UnsupportedOpError(node.name, node.op_type, f"outputDataType="
                                 f"{g('outputDataType')}: expected one of {OUTPUT_TYPES}")
    bits = idt.bitwidth()
    # a level above the input's range is never on: 2**IN_BITS (IN_BITS + 1 bits hold it)
    thr = [min(t, 1 << bits) for t in thermometer_thresholds(int(g("resolution")))]
    return {"PE": pe, "IN_BITS": bits, "LEVELS": len(thr)}, thr


def check(node: NodeProto, model: ModelWrapper) -> None:
    """Raise `UnsupportedOpError` if `generate` would refuse `node`; writes nothing."""
    _params(node)


def generate(node: NodeProto, model: ModelWrapper, out_dir: Path | str, *,
             absolute_paths: bool = True) -> RtlInstance:
    """Write `<node>_levels.mem` into `out_dir` and return the instance (file relative to
    `out_dir` with `absolute_paths=False`)."""
    p, thr = _params(node)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "_-" else "_" for c in node.name) or "thermometer"
    f = out / f"{stem}_levels.mem"
    f.write_text("".join(f"{t:x}\n" for t in thr))
    p["LEVEL_FILE"] = str(f.resolve()) if absolute_paths else f.name
    width_in, width_out = p["PE"] * p["IN_BITS"], p["PE"] * p["LEVELS"]
    sources = [rtl_source(s) for s in (MODULE, "onebit_fifo", "onebit_cov_both_ways")]
    return RtlInstance(name=node.name, module=MODULE, sources=sources, in_width=width_in,
                       out_width=width_out, in_bits=width_in, out_bits=width_out, params=p,
                       op_type=node.op_type)  # fmt: skip

