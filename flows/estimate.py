"""Analytic estimates of a folded dataflow graph, from FINN's analysis passes."""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper


def estimate(model: ModelWrapper, part: str, clock_mhz: float) -> dict:
    """Cycles per layer, bottleneck, fps at `clock_mhz`, LUT/BRAM estimate (FINN's models)."""
    from finn.analysis.fpgadataflow.dataflow_performance import dataflow_performance
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer
    from finn.analysis.fpgadataflow.res_estimation import res_estimation

    cycles = {k: int(v) for k, v in model.analysis(exp_cycles_per_layer).items()}
    perf = model.analysis(dataflow_performance)
    res = res_estimation(model, part)
    res.update(padded_threshold_estimates(model, part))
    bottleneck = max(cycles, key=cycles.get)
    cpf = cycles[bottleneck]
    total = {k: sum(float(r.get(k, 0)) for r in res.values())
             for k in ("LUT", "BRAM_18K", "URAM", "DSP")}
    luts, brams = total["LUT"], total["BRAM_18K"]
    return {
        "cycles_per_frame": cpf,
        "bottleneck": bottleneck,
        "latency_cycles": int(perf["critical_path_cycles"]),
        "fps": clock_mhz * 1e6 / cpf,
        "luts": int(round(luts)),
        "brams": int(round(brams)),
        "resources": {k: round(v, 1) for k, v in total.items()},
        "cycles_per_layer": cycles,
        "resources_per_layer": {k: {kk: float(vv) for kk, vv in v.items()} for k, v in res.items()},
    }


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
