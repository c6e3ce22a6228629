"""RTL generation for FINN's MVAU (matrix-vector-activation) nodes.

`generate` maps an `MVAU`/`MVAU_hls` node onto `hw/rtl/onebit_mvau.sv`: it derives the module
parameters, writes the weight and threshold memory files (layout in the module header) and
returns the `RtlInstance`. Supported arithmetic (the same as FINN's python `execute_node`):

- `binaryXnorMode=1` with BINARY input and weights, or BIPOLAR input and weights:
  acc = popcount(xnor(x, w)) in [0, MW];
- integer (UINTn/INTn/BINARY) or BIPOLAR input with BIPOLAR weights (acc = sum of +-x),
  BINARY weights (acc = sum of x where w = 1) or integer weights (INTn/UINTn: acc = sum of
  x * w; a binary network's first and last layers).

Then thresholds (out = #{t: acc >= thr_t} + ActVal; BIPOLAR output: bit 1 = +1) or, with
`noActivation=1`, the accumulator in `outputDataType`.

A node with the attribute `onebit_lut_levels` (`set_lut_levels`: the logic-depth budget of a
build, in LUT levels) is generated pipelined (`PIPE_LEVELS = pipe_levels(budget)`: adder-tree
levels between registers); its latency grows by `latency(params) - 4` cycles, its throughput
does not change.

A node with the zero-padding attributes of `onebit.flows.zero_pad` (`pad_rows`, `pad_cols`,
`pad_correction`) thresholds acc + corr[class(h, w)]: the module holds one threshold set
thr - corr per position class and the class tables (`OUT_ROWS`, `OUT_COLS`, `N_ROW_CLS`,
`N_COL_CLS`, `ROW_CLS_FILE`, `COL_CLS_FILE`).

A node with FracBNN's `gate_thresholds` (`onebit.flows.fracbnn_ops.GatedMVAU`, FINN's MVAU after
the fold step) computes `pg_accumulate` on its 2-bit codes: `GATED = 1`, two XNOR-popcount
lanes per PE (the codes' MSB and LSB planes) and the gate memory `GATE_FILE` (the gate
acc_m >= T as the MSB popcount's compare pc_m >= ceil((T + MW) / 2)); same cycles per vector,
`GATE_LAT` more latency.

An XNOR MVAU whose input comes from FracBNN's thermometer unit (`thermometer_levels`: through
padding, sliding windows, width converters and FIFOs, which move whole codes) and whose SIMD
holds whole codes of L levels looks up each code's matches with its weights as a function of
the number of levels on (`THERMO_LEVELS`, the table `THERMO_FILE`, `thermo_table`) instead of
counting L XNORs per PE: for up to `THERMO_MAX_WORDS` weight words, where the table is a
function of at most 8 bits. Same cycles and latency.

A node with the attribute `onebit_pack_dsp` (`set_pack_dsp`: the build's `--pack-dsp`, by
default on UltraScale(+) parts) whose
inputs and weights are multi-bit (an 8-bit first or last layer), with PE even and `resType`
auto or dsp, packs two rows' weights into one multiplier operand (`PACK_SHIFT`, `pack_shift`):
one DSP48 for two products, where the packed operand fits a DSP48E1's 25 x 18 multiplier. The
products are split before they are summed, so the sums take LUTs that DSP cascades would
otherwise hold on a DSP48E1 (docs/results.md has the trade).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import NodeProto
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import get_by_name

from onebit.driver.weights import WritableLayer, fold_rows, integer_thresholds, threshold_bits
from onebit.errors import UnsupportedOpError, UserInputError
from onebit.hw import rtl_source
from onebit.hw.instance import RtlInstance
from onebit.hw.packing import pack, to_hex
from onebit.hw.thresholding import output_code, thresholds_of

MODULE = "onebit_mvau"
MAX_WEIGHT_BITS = 16
LATENCY = 4
"""Cycles from issuing the last (nf, sf) step of a vector to its last output handshake,
unpipelined (`latency` for a pipelined instance)."""
LUT_LEVELS_ATTR = "onebit_lut_levels"
GATE_ATTR = "gate_thresholds"
"""FracBNN's gate thresholds on the MSB accumulator (`onebit.flows.fracbnn_ops.GatedMVAU`)."""
PACK_ATTR = "onebit_pack_dsp"
"""Two products per multiplier where the widths allow (`pack_shift`)."""
DSP_A_BITS, DSP_B_BITS = 25, 18
"""The DSP48E1's multiplier operands (DSP48E2: 27 x 18): packing keeps within them."""
THERMO_MAX_WORDS = 4
"""Weight words (NF * SF) up to which a layer on thermometer codes looks its matches up: the
table of a code is then a function of clog2(L + 1) + 2 bits, a few LUTs per output bit; with
more words the table outgrows the L-input popcount it replaces."""
CODE_MOVERS = ("FMPadding", "ConvolutionInputGenerator", "StreamingDataWidthConverter",
               "StreamingFIFO")
"""HW layers that pass thermometer codes on whole: they reorder, regroup or delay the code
bits of a pixel together, and padding adds code 0 (no level on: a code too)."""


def rtl_sources() -> list[Path]:
    """The SystemVerilog files of `onebit_mvau` (the module, its write port, trees, delays,
    FIFO and, in coverage builds only, its coverage points)."""
    return [rtl_source(MODULE), rtl_source("onebit_mvau_wport"), rtl_source("onebit_adder_tree"),
            rtl_source("onebit_delay"), rtl_source("onebit_fifo"),
            rtl_source("onebit_cov_both_ways")]


CFG_PORTS = {"cfg_we": "1'b0", "cfg_sel": "1'b0", "cfg_idx": "32'd0", "cfg_data": "32'd0"}
"""The memory write port of `onebit_mvau` and its value when nothing writes (every layer
that is not runtime-writable, and any layer simulated alone)."""


def pipe_levels(lut_levels: int) -> int:
    """`PIPE_LEVELS` (adder-tree levels between registers) for a budget of `lut_levels`.

    An adder level of the trees maps to one LUT level plus a carry chain (the carry counted
    as no level, `hw.timing`); a stage also holds the register's input logic (enable, reset:
    one level) and, after the last tree level, the accumulate or the output offset: the
    budget less two, at least one level.
    """
    if lut_levels < 1:
        raise ValueError(f"LUT level budget {lut_levels}: expected >= 1")
    return max(1, lut_levels - 2)


def _set_int_attr(node: NodeProto, name: str, value: int | None) -> None:
    """Set integer attribute `name` of `node` to `value` (None: remove it)."""
    from onnx import helper

    keep = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(keep)
    if value is not None:
        node.attribute.append(helper.make_attribute(name, int(value)))


def set_lut_levels(node: NodeProto, lut_levels: int | None) -> None:
    """Set (or with None, remove) the logic-depth budget attribute of MVAU `node`."""
    _set_int_attr(node, LUT_LEVELS_ATTR, lut_levels)


def set_pack_dsp(node: NodeProto, on: bool) -> None:
    """Ask for (or with False, withdraw) two products per multiplier on MVAU `node`."""
    _set_int_attr(node, PACK_ATTR, 1 if on else None)


def lut_levels_of(node: NodeProto) -> int | None:
    """The logic-depth budget attribute of `node`, or None."""
    return next((int(a.i) for a in node.attribute if a.name == LUT_LEVELS_ATTR), None)


def _clog2(n: int) -> int:
    return (n - 1).bit_length() if n > 1 else 0


def latency(params: dict) -> int:
    """Cycles from issuing a vector's last step to its last output handshake (as the RTL's
    LATENCY + 1): 4, plus the adder trees' registers when `PIPE_LEVELS` > 0, plus the
    precision gate's registers (`GATED`: 1, pipelined 2)."""
    k = int(params.get("PIPE_LEVELS", 0))
    gate = 0 if not params.get("GATED", 0) else 2 if k else 1
    if k == 0:
        return LATENCY + gate
    levels = int(params.get("THERMO_LEVELS", 0))
    multi = not params.get("XNOR", 1) and int(params.get("W_BITS", 1)) > 1
    terms = (int(params["SIMD"]) // levels if levels
             else int(params["SIMD"]) + int(int(params.get("PACK_SHIFT", 0)) > 0))
    dot = int(multi or levels > 0) + _clog2(terms) // k
    nt = int(params.get("N_THRES", 1))
    thr = 0 if nt == 0 else 1 + _clog2(nt) // k
    return LATENCY + dot + gate + thr


def _signed_bits(lo: int, hi: int) -> int:
    """Smallest two's complement width holding every integer in [lo, hi]."""
    b = 1
    while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
        b += 1
    return b


def _acc_range(idt: DataType, wdt: DataType, xnor: bool, mw: int) -> tuple[int, int]:
    """Worst-case accumulator bounds over every weight of `wdt` (each term's range contains 0)."""
    if xnor:
        return 0, mw
    corners = [int(x) * int(w) for x in (idt.min(), idt.max()) for w in (wdt.min(), wdt.max())]
    return mw * min(0, *corners), mw * max(0, *corners)


def acc_range(idt: DataType, w: np.ndarray, xnor: bool) -> tuple[int, int]:
    """Bounds of every partial and final accumulator value for the actual (MW, MH) weights `w`.

    Per output column the sum of each term's smallest (largest) value over `idt`'s inputs;
    every term's range contains 0, so every partial sum lies within the column's bounds too.
    XNOR-popcount counts matches: [0, MW].
    """
    if xnor:
        return 0, int(w.shape[0])
    w = np.asarray(w, dtype=np.int64)
    a, b = w * int(idt.min()), w * int(idt.max())
    return int(np.minimum(a, b).sum(axis=0).min()), int(np.maximum(a, b).sum(axis=0).max())


def _fail(node: NodeProto, why: str) -> UnsupportedOpError:
    return UnsupportedOpError(node.name, node.op_type, why)


def gates_of(node: NodeProto) -> np.ndarray | None:
    """The integer gate thresholds T (MH,) of a precision-gated MVAU, or None."""
    a = get_by_name(node.attribute, GATE_ATTR)
    return None if a is None else np.asarray(list(a.ints), dtype=np.int64)


def popcount_gates(gate: np.ndarray, mw: int) -> np.ndarray:
    """acc_m >= T as the MSB plane's popcount compare pc_m >= G (acc_m = 2 pc_m - MW):
    G = ceil((T + MW) / 2), clamped to [0, MW + 1] (the same decision for every pc_m)."""
    return np.clip(-((-(np.asarray(gate, dtype=np.int64) + mw)) // 2), 0, mw + 1)


def thermometer_levels(node: NodeProto, model: ModelWrapper) -> int | None:
    """L when the input of `node` is thermometer codes of L levels (a `ThermometerEncoder`'s
    output, through `CODE_MOVERS` only), else None."""
    from qonnx.custom_op.registry import getCustomOp

    from onebit.models.thermometer import thermometer_levels as levels

    prod = model.find_producer(node.input[0])
    while prod is not None and prod.op_type.startswith(CODE_MOVERS):
        prod = model.find_producer(prod.input[0])
    if prod is None or prod.op_type != "ThermometerEncoder":
        return None
    return levels(getCustomOp(prod).get_nodeattr("resolution"))


def thermo_table(words: np.ndarray, simd: int, pe: int, levels: int) -> np.ndarray:
    """The THERMO_FILE table of the weight memory's words ((NW, PE * SIMD) codes, `fold_rows`):
    (TG, NW2, Q2, PE) matches, entry [g, wa, q, pe] the XNOR matches of code g of word wa's
    row pe with a code of q levels on, #{k < q: w_k = 1} + #{k >= q: w_k = 0} (zero where
    q > L or wa >= NF * SF)."""
    words = np.asarray(words)
    nw, tg = words.shape[0], simd // levels
    w = words.reshape(nw, pe, tg, levels).astype(np.int64)
    ones = np.concatenate([np.zeros((nw, pe, tg, 1), np.int64), np.cumsum(w, -1)], -1)
    q = np.arange(levels + 1)
    m = ones + (levels - q) - (ones[..., -1:] - ones)  # (NW, PE, TG, L + 1)
    tm_w = _clog2(levels + 1)
    table = np.zeros((tg, 1 << max(1, _clog2(nw)), 1 << tm_w, pe), np.int64)
    table[:, :nw, : levels + 1, :] = m.transpose(2, 0, 3, 1)
    return table


def pack_shift(idt: DataType, wdt: DataType, pe: int, res_type: str) -> int:
    """G for two products per multiplier (`PACK_SHIFT`; 0: not packed): the two's complement
    width of any product of `idt` x `wdt`, when both are multi-bit, PE is even, `res_type`
    lets the tool use DSPs, and x (`idt` as signed) and the packed W_BITS + G + 1 bits fit a
    DSP48E1's operands."""
    if (res_type == "lut" or pe % 2 or wdt.bitwidth() < 2 or idt.bitwidth() < 2
            or idt == DataType["BIPOLAR"]):
        return 0
    corners = [int(x) * int(w) for x in (idt.min(), idt.max()) for w in (wdt.min(), wdt.max())]
    g = _signed_bits(min(corners), max(corners))
    x_bits = idt.bitwidth() + (0 if idt.signed() else 1)
    return g if x_bits <= DSP_B_BITS and wdt.bitwidth() + g + 1 <= DSP_A_BITS else 0


def pack_weights(wvals: np.ndarray, simd: int, pe: int, shift: int) -> np.ndarray:
    """(MH, MW) integer weights to packed operands in memory order: (NW, PE/2 * SIMD) values
    A = w[2q] * 2^shift + w[2q+1] of each row pair q and column."""
    words = fold_rows(np.asarray(wvals, dtype=np.int64), simd, pe)
    w = words.reshape(words.shape[0], pe // 2, 2, simd)
    return (w[:, :, 0, :] * (1 << shift) + w[:, :, 1, :]).reshape(words.shape[0], -1)


def _check_gated(node: NodeProto, gate: np.ndarray, idt: DataType, wdt: DataType, mh: int,
                 xnor_attr: bool, writable: bool, pad) -> None:
    if idt != DataType["UINT2"] or wdt != DataType["BIPOLAR"] or xnor_attr:
        raise _fail(node, f"gated MVAU with {idt.name} x {wdt.name} (binaryXnorMode="
                    f"{int(xnor_attr)}): expected UINT2 codes x BIPOLAR weights")
    if len(gate) != mh:
        raise _fail(node, f"{GATE_ATTR}: {len(gate)} values for MH={mh}")
    if writable or pad is not None:
        raise _fail(node, "runtime_writeable_weights=1 or zero padding on a gated MVAU: not "
                    "supported")


def mvau_params(node: NodeProto, model: ModelWrapper) -> dict:
    """Check `node` and compute the module parameters plus the integer weights/thresholds.

    Returns a dict with `params` (module parameters without file names), `weights` (MH, MW)
    weight codes, `thresholds` (NCLS * MH, T) int64 (class-major; NCLS = 1 without position
    classes) or None, `pad_rows`/`pad_cols` (class of each output row/column) or None,
    `gates` (MH,) popcount gates of a gated MVAU or None, `n_vectors`, and the stream
    datatypes.
    """
    from finn.util.basic import getHWCustomOp

    from onebit.flows.zero_pad import class_thresholds, node_correction

    if not node.op_type.startswith("MVAU") or node.op_type == "MVAU_rtl":
        raise _fail(node, "onebit_mvau implements MVAU / MVAU_hls nodes only")
    op = getHWCustomOp(node)
    g = op.get_nodeattr
    mw, mh, simd, pe = g("MW"), g("MH"), g("SIMD"), g("PE")
    if simd < 1 or pe < 1 or mw % simd or mh % pe:
        raise _fail(node, f"folding MW={mw} SIMD={simd} MH={mh} PE={pe}: need MW % SIMD == 0 "
                    "and MH % PE == 0")
    mem_mode = g("mem_mode")
    if mem_mode not in ("internal_embedded", "internal_decoupled"):
        raise _fail(node, f"mem_mode={mem_mode!r}: expected internal_embedded or "
                    "internal_decoupled (weights live in the module)")
    writable = bool(g("runtime_writeable_weights"))
    if "TH" in op.get_nodeattr_types() and g("TH") != 1:
        raise _fail(node, f"TH={g('TH')}: expected 1")

    idt, wdt, odt = (DataType[g(a)] for a in ("inputDataType", "weightDataType", "outputDataType"))
    one_bit = wdt in (DataType["BINARY"], DataType["BIPOLAR"])
    if not wdt.is_integer() or wdt.bitwidth() > MAX_WEIGHT_BITS:
        raise _fail(node, f"weightDataType={wdt.name}: expected BINARY, BIPOLAR or an integer "
                    f"type of at most {MAX_WEIGHT_BITS} bits")
    if not idt.is_integer():
        raise _fail(node, f"inputDataType={idt.name}: expected an integer or bipolar type")
    xnor_attr = bool(g("binaryXnorMode"))
    if xnor_attr and (idt != DataType["BINARY"] or wdt != DataType["BINARY"]):
        raise _fail(node, f"binaryXnorMode=1 with {idt.name} x {wdt.name}: expected BINARY "
                    "input and weights")
    both_bipolar = idt == DataType["BIPOLAR"] and wdt == DataType["BIPOLAR"]
    xnor = xnor_attr or both_bipolar

    w = model.get_initializer(node.input[1])
    if w is None or tuple(w.shape) != (mw, mh):
        raise _fail(node, f"weights {node.input[1]}: expected an initializer of shape ({mw}, {mh})")
    if not all(wdt.allowed(v) for v in np.unique(w)):
        raise _fail(node, f"weights {node.input[1]} hold values outside {wdt.name}")
    # (MH, MW) weight values of `wdt`; one-bit kinds as their code (1 = +1 or 1, 0 = -1 or 0)
    wvals = (np.asarray(w) > 0).astype(np.int64).T if one_bit else np.asarray(w).T

    # exact bounds from the actual weights: FINN sizes outputDataType (noActivation) from them;
    # a runtime-writable layer takes any weights of its datatype
    acc_lo, acc_hi = (_acc_range(idt, wdt, xnor, mw) if writable
                      else acc_range(idt, np.asarray(w), xnor))
    no_act = bool(g("noActivation"))
    thr = None
    pad = node_correction(node)
    gate = gates_of(node)
    if gate is not None:  # 2 acc_m + acc_l with a = 2 q - 3 in -3..3 and w = +-1
        _check_gated(node, gate, idt, wdt, mh, xnor_attr, writable, pad)
        acc_lo, acc_hi = -3 * mw, 3 * mw
    if writable and pad is not None:
        raise _fail(node, "runtime_writeable_weights=1 on a zero-padded conv: its threshold "
                    "correction depends on the weights; not supported yet")
    if pad is not None:
        nv = [int(v) for v in g("numInputVectors")]
        if no_act or int(np.prod(nv)) != len(pad[0]) * len(pad[1]) or nv[-2:] != [
                len(pad[0]), len(pad[1])]:
            raise _fail(node, f"zero-padding correction for {len(pad[0])}x{len(pad[1])} "
                        f"positions needs thresholds and numInputVectors [1, H, W], got "
                        f"noActivation={int(no_act)}, numInputVectors={nv}")
        if pad[2].shape[1] != mh:
            raise _fail(node, f"zero-padding correction for {pad[2].shape[1]} channels, MH={mh}")
    if no_act:
        if not (odt.min() <= acc_lo and acc_hi <= odt.max()):
            raise _fail(node, f"outputDataType={odt.name} cannot hold accumulators in "
                        f"[{acc_lo}, {acc_hi}]" + (" (any weights of runtime_writeable_weights="
                                                    "1)" if writable else ""))
        n_thres, out_bits, out_bias = 0, odt.bitwidth(), 0
        acc_bits = _signed_bits(acc_lo, acc_hi)
    else:
        t = thresholds_of(node, model, 2, mh)
        if pad is not None:  # acc + corr >= t  <=>  acc >= t - corr, one set per class
            t = class_thresholds(t, pad[2]).reshape(-1, t.shape[1])
        # integer accumulators: acc >= thr <=> acc >= ceil(thr); clamping to [lo, hi + 1]
        # keeps every comparison's result.
        thr = integer_thresholds(t, acc_lo, acc_hi)
        n_thres = t.shape[1]
        out_bits, out_bias = output_code(node, odt, n_thres, int(g("ActVal")))
        acc_bits = _signed_bits(min(acc_lo, int(thr.min())), max(acc_hi + 1, int(thr.max())))
    acc_bits = max(acc_bits, 2)
    if acc_bits > 64:
        raise _fail(node, f"accumulators need {acc_bits} bits, onebit_mvau supports 64")

    params = {
        "MW": mw,
        "MH": mh,
        "SIMD": simd,
        "PE": pe,
        "IN_BITS": idt.bitwidth(),
        "IN_SIGNED": int(idt.signed() and idt != DataType["BIPOLAR"]),
        "IN_BIPOLAR": int(idt == DataType["BIPOLAR"]),
        "W_BIPOLAR": int(wdt == DataType["BIPOLAR"]),
        "W_BITS": wdt.bitwidth(),
        "W_SIGNED": int(wdt.signed()),
        "XNOR": int(xnor),
        "ACC_BITS": acc_bits,
        "N_THRES": n_thres,
        "OUT_BITS": out_bits,
        "OUT_BIAS": out_bias,
    }
    if writable:
        params["WRITABLE"] = 1
    # synthesis attributes (FINN's ram_style / ram_style_thresholds / resType), only when set
    styles = {"RAM_STYLE": g("ram_style"), "RES_TYPE": g("resType")}
    if n_thres:
        styles["RAM_STYLE_THRES"] = g("ram_style_thresholds")
    params.update({k: v for k, v in styles.items() if v != "auto"})
    budget = lut_levels_of(node)
    if budget is not None:
        params["PIPE_LEVELS"] = pipe_levels(budget)
    if gate is not None:
        params["GATED"] = 1
    wants_pack = get_by_name(node.attribute, PACK_ATTR) is not None
    shift = (pack_shift(idt, wdt, pe, g("resType"))
             if wants_pack and not (xnor or writable or gate is not None) else 0)
    if shift:
        params["PACK_SHIFT"] = shift
    levels = thermometer_levels(node, model) if xnor and gate is None and not writable else None
    if levels and simd % levels == 0 and (mh // pe) * (mw // simd) <= THERMO_MAX_WORDS:
        params["THERMO_LEVELS"] = levels
    if pad is not None:
        params.update(OUT_ROWS=len(pad[0]), OUT_COLS=len(pad[1]),
                      N_ROW_CLS=max(pad[0]) + 1, N_COL_CLS=max(pad[1]) + 1)
    return {
        "params": params,
        "weights": wvals,
        "wdt": DataType["BINARY"] if one_bit else wdt,
        "thresholds": thr,
        "gates": None if gate is None else popcount_gates(gate, mw),
        "pad_rows": None if pad is None else pad[0],
        "pad_cols": None if pad is None else pad[1],
        "n_vectors": int(np.prod(g("numInputVectors"))),
        "idt": idt,
        "odt": odt,
        "writable": WritableLayer(node.name, mw, mh, simd, pe, wdt.name, n_thres, acc_bits,
                                  acc_lo, acc_hi) if writable else None,
    }


def write_thermo_table(path: Path, words: np.ndarray, params: dict) -> None:
    """Write the THERMO_FILE of an instance with `params` for its weight words `words`."""
    levels, pe = int(params["THERMO_LEVELS"]), int(params["PE"])
    table = thermo_table(words, int(params["SIMD"]), pe, levels)
    _write_mem(path, pack(table.reshape(-1), DataType[f"UINT{_clog2(levels + 1)}"], pe))


def check(node: NodeProto, model: ModelWrapper) -> None:
    """Raise `UnsupportedOpError` if `generate` would refuse `node`; writes nothing."""
    mvau_params(node, model)


def weight_words(wvals: np.ndarray, simd: int, pe: int,
                 wdt: DataType = DataType["BINARY"]) -> np.ndarray:
    """(MH, MW) weights of `wdt` to the weight memory: (NF*SF, PE*SIMD*bits) bit matrix."""
    return pack(fold_rows(wvals, simd, pe).reshape(-1), wdt, pe * simd)


def threshold_words(thr: np.ndarray, pe: int, acc_bits: int) -> np.ndarray:
    """(MH, T) integer thresholds to the threshold memory: (NF, PE*T*ACC_BITS) bit matrix.

    (NCLS * MH, T) class-major thresholds give NCLS * NF words, word cls * NF + nf.
    """
    try:
        return threshold_bits(thr, pe, acc_bits)
    except ValueError as e:
        raise UserInputError(str(e)) from None


def _write_mem(path: Path, words: np.ndarray) -> None:
    path.write_text("".join(w + "\n" for w in to_hex(words)))


def generate(
    node: NodeProto, model: ModelWrapper, out_dir: Path | str, *, absolute_paths: bool = True
) -> RtlInstance:
    """Write the memory files of MVAU `node` into `out_dir` and return its `RtlInstance`.

    Memory files are `<node>_weights.mem`, with thresholds `<node>_thres.mem`, gated
    `<node>_gates.mem`, on thermometer codes `<node>_thermo.mem`. With
    `absolute_paths=False` the parameters name them relative to `out_dir` (simulate with
    `run_dir=out_dir`), so an identical layer in another directory reuses cached builds.
    Raises `UnsupportedOpError` for attribute combinations onebit_mvau cannot honour.
    """
    info = mvau_params(node, model)
    p = dict(info["params"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "_-" else "_" for c in node.name) or "mvau"
    wfile = out / f"{stem}_weights.mem"
    if "PACK_SHIFT" in p:
        bits = p["W_BITS"] + p["PACK_SHIFT"] + 1
        packed = pack_weights(info["weights"], p["SIMD"], p["PE"], p["PACK_SHIFT"])
        _write_mem(wfile, pack(packed.reshape(-1), DataType[f"INT{bits}"],
                               p["PE"] // 2 * p["SIMD"]))
    else:
        _write_mem(wfile, weight_words(info["weights"], p["SIMD"], p["PE"], info["wdt"]))

    def ref(f: Path) -> str:
        return str(f.resolve()) if absolute_paths else f.name

    p["WEIGHT_FILE"] = ref(wfile)
    if info["thresholds"] is not None:
        tfile = out / f"{stem}_thres.mem"
        _write_mem(tfile, threshold_words(info["thresholds"], p["PE"], p["ACC_BITS"]))
        p["THRES_FILE"] = ref(tfile)
    if "THERMO_LEVELS" in p:
        tfile = out / f"{stem}_thermo.mem"
        write_thermo_table(tfile, fold_rows(info["weights"], p["SIMD"], p["PE"]), p)
        p["THERMO_FILE"] = ref(tfile)
    if info["gates"] is not None:
        gfile = out / f"{stem}_gates.mem"
        _write_mem(gfile, threshold_words(info["gates"][:, None], p["PE"], p["ACC_BITS"]))
        p["GATE_FILE"] = ref(gfile)
    if info["pad_rows"] is not None:
        for key, name in (("ROW_CLS_FILE", "pad_rows"), ("COL_CLS_FILE", "pad_cols")):
            f = out / f"{stem}_{name}.mem"
            f.write_text("".join(f"{v:x}\n" for v in info[name]))
            p[key] = ref(f)
    width_in = p["SIMD"] * p["IN_BITS"]
    width_out = p["PE"] * p["OUT_BITS"]
    return RtlInstance(
        name=node.name,
        module=MODULE,
        sources=rtl_sources(),
        in_width=width_in,
        out_width=width_out,
        in_bits=width_in,
        out_bits=width_out,
        params=p,
        op_type=node.op_type,
        tied=dict(CFG_PORTS),
        writable=None if info["writable"] is None else info["writable"].to_json(),
    )


def cycles_per_vector(inst: RtlInstance) -> int:
    """Steady-state cycles per input vector: NF * SF."""
    p = inst.params
    return (int(p["MH"]) // int(p["PE"])) * (int(p["MW"]) // int(p["SIMD"]))


def expected_cycles(inst: RtlInstance, n_vectors: int = 1) -> int:
    """Cycles from reset release to the last output handshake without stalls."""
    return n_vectors * cycles_per_vector(inst) + latency(inst.params)
