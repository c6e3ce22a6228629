"""RTL instance of FINN's `Thresholding` node (`Thresholding_rtl` after SpecializeLayers).

`onebit_thresholding` counts, per channel, the thresholds an input reaches, by a pipelined
binary search (FINN's RTL thresholding searches too): the thresholds of a channel, made
integer (x >= t <=> x >= ceil(t)), clamped to [min x, max x + 1] (each comparison keeps its
result; max x + 1 is never reached) and sorted (a count does not depend on their order), are
padded with max x + 1 to 2^S - 1 values; stage s of the search holds level s of the implicit
tree, node j at sorted position (2j + 1) * 2^(S-1-s) - 1. Lane p's memory of stage s is the
file `<prefix>threshs_<p>_<s>.dat` (the names finn-rtllib uses, so that `flows.mutation` finds
them), line nf * 2^s + j, one value a line in T_BITS-bit offset binary (value + 2^(T_BITS-1),
hex: the RTL compares unsigned).

>>> inst = generate(node, model, Path("build/rtl/Thresholding_rtl_0"))  # doctest: +SKIP
>>> inst.module, inst.params["STAGES"]  # doctest: +SKIP
('onebit_thresholding', 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import NodeProto
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from onebit.driver.weights import integer_thresholds
from onebit.errors import UnsupportedOpError
from onebit.hw import rtl_source
from onebit.hw.instance import ONEBIT_PORTS, RtlInstance

MODULE = "onebit_thresholding"
OP_TYPES = ("Thresholding_rtl",)


def _reject(node: NodeProto, why: str) -> UnsupportedOpError:
    return UnsupportedOpError(node.name, node.op_type, why)


def _layer(node: NodeProto, model: ModelWrapper) -> dict:
    """The node's attributes and its (C, T) integer thresholds, clamped to the input's range;
    raises `UnsupportedOpError` for what `onebit_thresholding` cannot compute."""
    from finn.util.basic import getHWCustomOp

    if node.op_type not in OP_TYPES:
        raise _reject(node, f"thresholding generates only {', '.join(OP_TYPES)}")
    op = getHWCustomOp(node)
    for attr in ("runtime_writeable_weights", "mlo_max_iter", "bodies"):
        if op.get_nodeattr(attr) != 0:
            raise _reject(node, f"attribute {attr}={op.get_nodeattr(attr)!r} is not supported "
                          "(expected (0,))")
    idt = op.get_input_datatype(0)
    if not idt.is_integer() or idt == DataType["BIPOLAR"]:
        raise _reject(node, f"input datatype {idt.name} (onebit supports integer inputs)")
    ch, pe = int(op.get_nodeattr("NumChannels")), int(op.get_nodeattr("PE"))
    if pe < 1 or ch % pe:
        raise _reject(node, f"PE={pe} does not divide NumChannels={ch}")
    t = thresholds_of(node, model, 1, ch)
    odt = DataType[op.get_nodeattr("outputDataType")]
    bias = int(op.get_nodeattr("ActVal"))
    if odt == DataType["BIPOLAR"] and bias != 0:  # FINN's execution: 2 * (count + bias) - 1
        raise _reject(node, f"BIPOLAR output needs ActVal=0, got {bias}")
    out_bits, bias = output_code(node, odt, t.shape[1], bias)
    lo, hi = int(idt.min()), int(idt.max())
    thr = np.sort(integer_thresholds(t, lo, hi), axis=1)
    return {"idt": idt, "channels": ch, "pe": pe, "thresholds": thr, "hi": hi,
            "out_bits": out_bits, "bias": bias,
            "triggers": (int(op.get_nodeattr("depth_trigger_uram")),
                         int(op.get_nodeattr("depth_trigger_bram")))}


def thresholds_of(node: NodeProto, model: ModelWrapper, k: int, rows: int) -> np.ndarray:
    """Input `k` of `node`, its thresholds, as a (rows, T) float64 matrix (a (1, T) initializer
    serves every row); raises `UnsupportedOpError` for another shape or NaN."""
    t = model.get_initializer(node.input[k]) if len(node.input) > k else None
    if t is None or t.ndim != 2 or t.shape[0] not in (1, rows) or t.shape[1] < 1:
        raise _reject(node, f"thresholds: expected an initializer of shape ({rows}, T) or (1, T)")
    t = np.broadcast_to(np.asarray(t, dtype=np.float64), (rows, t.shape[1]))
    if np.isnan(t).any():
        raise _reject(node, "thresholds contain NaN")
    return t


def output_code(node: NodeProto, odt: DataType, n: int, bias: int) -> tuple[int, int]:
    """(bits, bias) of the codes an activation of `n` thresholds emits as `odt`: BIPOLAR is the
    count itself (one threshold, no bias); an integer type must hold [bias, bias + n]."""
    if odt == DataType["BIPOLAR"]:
        if n != 1:
            raise _reject(node, f"BIPOLAR output with {n} thresholds: expected 1")
        return 1, 0
    if not odt.is_integer() or not (odt.min() <= bias and bias + n <= odt.max()):
        raise _reject(node, f"outputDataType={odt.name} cannot hold outputs in "
                      f"[{bias}, {bias + n}]")
    return odt.bitwidth(), bias


def check(node: NodeProto, model: ModelWrapper) -> None:
    """Raise `UnsupportedOpError` if `generate` would refuse `node`; writes nothing."""
    _layer(node, model)


def search_levels(thr: np.ndarray, hi: int) -> list[np.ndarray]:
    """(C, T) ascending thresholds -> per stage s, the (C, 2^s) thresholds of tree level s
    (S stages: 2^S - 1 >= T; padded with hi + 1, which no input reaches)."""
    c, n = thr.shape
    stages = max(1, int(n).bit_length())  # 2^S - 1 >= n
    pad = np.full((c, (1 << stages) - 1 - n), hi + 1, dtype=np.int64)
    full = np.concatenate([thr, pad], axis=1)
    return [full[:, (2 * np.arange(1 << s) + 1) * (1 << (stages - 1 - s)) - 1]
            for s in range(stages)]


def generate(node: NodeProto, model: ModelWrapper, out_dir: Path) -> RtlInstance:
    """Write the threshold memories of `node` into `out_dir` and describe its instance."""
    layer = _layer(node, model)
    idt, pe, ch = layer["idt"], layer["pe"], layer["channels"]
    nf, bits = ch // pe, idt.bitwidth()
    # two's complement bits of [min x, max x + 1], where the thresholds lie
    t_bits = 1 + max((layer["hi"] + 1).bit_length(), (-int(idt.min()) - 1).bit_length())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prefix = out / f"{node.name}_"
    levels = search_levels(layer["thresholds"], layer["hi"])
    offset, digits = 1 << (t_bits - 1), -(-t_bits // 4)
    for s, level in enumerate(levels):
        # lane p, channel nf * PE + p: its 2^s nodes at lines nf * 2^s ..
        by_lane = level.reshape(nf, pe, -1).transpose(1, 0, 2).reshape(pe, -1)
        for p in range(pe):
            Path(f"{prefix}threshs_{p}_{s}.dat").write_text(
                "".join(f"{int(v) + offset:0{digits}x}\n" for v in by_lane[p]))
    uram, bram = layer["triggers"]
    return RtlInstance(
        name=node.name,
        module=MODULE,
        sources=[rtl_source(MODULE), rtl_source("onebit_fifo")],
        in_width=pe * bits,
        out_width=pe * layer["out_bits"],
        in_bits=pe * bits,
        out_bits=pe * layer["out_bits"],
        params={"PE": pe, "NF": nf, "IN_BITS": bits,
                "IN_SIGNED": int(idt.signed()), "STAGES": len(levels), "T_BITS": t_bits,
                "OUT_BITS": layer["out_bits"], "OUT_BIAS": layer["bias"],
                "THRES_PREFIX": str(prefix.resolve()),
                "DEPTH_TRIGGER_URAM": uram, "DEPTH_TRIGGER_BRAM": bram},
        ports=dict(ONEBIT_PORTS),
        op_type=node.op_type,
    )
