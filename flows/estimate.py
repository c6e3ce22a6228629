"""Analytic estimates of a folded dataflow graph, from FINN's analysis passes.

FINN's analyses see only FINN's HW layers: onebit's own (FracBNN's `ThermometerEncoder`) get
their cycles from the op (`get_exp_cycles`) and their LUTs from `ONEBIT_LUTS`; a
precision-gated MVAU (FINN's MVAU carrying `gate_thresholds`) is FINN's model of what
onebit_mvau builds for it (`gated_mvau_estimates`). A buffered sliding-window generator's
cycles come from the model of its RTL (`hw/swg.py`), FINN's upper bound kept beside
them (`finn_cycles`).
"""

from __future__ import annotations

import math
from copy import deepcopy

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import get_by_name


def estimate(model: ModelWrapper, part: str, clock_mhz: float) -> dict:
    """Cycles per layer, bottleneck, fps at `clock_mhz`, LUT/BRAM estimate (FINN's models)."""
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation

    from onebit.flows.folding import finn_layers_only

    cycles = {k: int(v) for k, v in model.analysis(exp_cycles_per_layer).items()}
    finn_cycles = {}
    for name, exact in window_estimates(model).items():
        finn_cycles[name], cycles[name] = cycles[name], exact
    perf = finn_layers_only(model, lambda m: m.analysis(dataflow_performance))
    res = res_estimation(model, part)
    res.update(padded_threshold_estimates(model, part))
    res.update(gated_mvau_estimates(model, part))
    own_cycles, own_res = onebit_layer_estimates(model)
    cycles.update(own_cycles)
    res.update(own_res)
    latency = int(perf["critical_path_cycles"]) + sum(own_cycles.values())  # at the input
    bottleneck = max(cycles, key=cycles.get)
    cpf = cycles[bottleneck]
    total = {k: sum(float(r.get(k, 0)) for r in res.values())
             for k in ("LUT", "BRAM_18K", "URAM", "DSP")}
    luts, brams = total["LUT"], total["BRAM_18K"]
    return {
        "cycles_per_frame": cpf,
        "bottleneck": bottleneck,
        "latency_cycles": latency,
        "fps": clock_mhz * 1e6 / cpf,
        "luts": int(round(luts)),
        "brams": int(round(brams)),
        "resources": {k: round(v, 1) for k, v in total.items()},
        "cycles_per_layer": cycles,
        "finn_cycles": finn_cycles,
        "resources_per_layer": {k: {kk: float(vv) for kk, vv in v.items()} for k, v in res.items()},
    }


def window_estimates(model: ModelWrapper) -> dict[str, int]:
    """Cycles per frame of each buffered-style RTL sliding-window generator, from the model of
    its registers (FINN's formula overestimates overlapping reads and writes)."""
    from onebit.hw.swg import default_style, window_cycles

    out = {}
    for node in model.graph.node:
        if node.op_type == "ConvolutionInputGenerator_rtl":
            inst = getCustomOp(node)
            # the model runs three frames in Python (~1 M cycles/s): beyond ~1 M cycles a
            # frame (an ImageNet-sized map) FINN's upper bound stays
            if default_style(inst) and inst.get_exp_cycles() <= WINDOW_MODEL_CYCLES:
                out[node.name] = window_cycles(inst)
    return out


WINDOW_MODEL_CYCLES = 1 << 20
"""Frames up to this many cycles (FINN's bound) get the sliding-window model's cycles."""


def padded_threshold_estimates(model: ModelWrapper, part: str) -> dict[str, dict]:
    """FINN's resource model of each zero-padded conv's MVAU with its true threshold memory:
    one threshold set per position class (`flows/zero_pad.py`: NCLS = row classes x column
    classes) where FINN's `calc_tmem` counts one."""
    from finn.util.basic import getHWCustomOp

    from onebit.flows.zero_pad import node_correction

    out = {}
    for node in model.graph.node:
        pad = node_correction(node) if node.op_type.startswith("MVAU") else None
        if pad is None or len(pad[2]) == 1:
            continue
        inst = getHWCustomOp(node)
        one_set, ncls = inst.calc_tmem, len(pad[2])
        inst.calc_tmem = lambda n=ncls, one=one_set: n * one()
        out[node.name] = inst.node_res_estimation(part)
    return out


def thermometer_luts(inst) -> int:
    """`onebit_thermometer`: per pixel lane, LEVELS compares of an IN_BITS-bit pixel with a
    constant, each a function of IN_BITS inputs (one LUT6, then one more per 5 inputs)."""
    from qonnx.core.datatype import DataType

    bits = DataType[inst.get_nodeattr("inputDataType")].bitwidth()
    per_bit = max(1, math.ceil((bits - 1) / 5))
    return inst.get_nodeattr("PE") * inst.get_normal_output_shape()[-1] // inst.get_nodeattr(
        "NumChannels") * per_bit


ONEBIT_LUTS = {"ThermometerEncoder": thermometer_luts}
"""LUT models of onebit's own HW layers (no BRAM, URAM or DSP), by op type."""


def onebit_layer_estimates(model: ModelWrapper) -> tuple[dict[str, int], dict[str, dict]]:
    """Cycles and resources of the HW layers of onebit's domains that FINN's analyses skip."""
    cycles, res = {}, {}
    for node in model.graph.node:
        backend = get_by_name(node.attribute, "backend")
        if not node.domain.startswith("onebit.") or backend is None or node.op_type not in \
                ONEBIT_LUTS:
            continue
        inst = getCustomOp(node)
        cycles[node.name] = int(inst.get_exp_cycles())
        res[node.name] = {"BRAM_18K": 0, "BRAM_efficiency": 1, "URAM": 0, "URAM_efficiency": 1,
                          "DSP": 0, "LUT": ONEBIT_LUTS[node.op_type](inst)}
    return cycles, res


def gated_mvau_estimates(model: ModelWrapper, part: str) -> dict[str, dict]:
    """FINN's resource model of each precision-gated MVAU as onebit_mvau builds it: two 1-bit
    XNOR-popcount lanes per PE (the codes' MSB and LSB planes) are FINN's binary XNOR MVAU
    with twice the rows and twice the PE (its weights and thresholds counted as for those
    rows); FINN's own model would price one 2-bit x 1-bit product per lane."""
    from finn.util.basic import getHWCustomOp

    out = {}
    for node in model.graph.node:
        if not node.op_type.startswith("MVAU") or get_by_name(node.attribute,
                                                              "gate_thresholds") is None:
            continue
        planes = deepcopy(node)
        op = getHWCustomOp(planes)
        op.set_nodeattr("inputDataType", "BINARY")
        op.set_nodeattr("weightDataType", "BINARY")
        op.set_nodeattr("binaryXnorMode", 1)
        for attr in ("PE", "MH"):
            op.set_nodeattr(attr, 2 * op.get_nodeattr(attr))
        out[node.name] = op.node_res_estimation(part)
    return out
