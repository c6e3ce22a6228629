"""benchmarks/sim_cost.py's attribution of profile costs to layers (no simulator run)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import sim_cost  # noqa: E402


def test_lines_count_for_the_layer_they_name_or_the_last_one_named(tmp_path):
    src = tmp_path / "Vsim___024root__0.cpp"
    src.write_text("\n".join([
        "void f() {",                                                  # 1: (none)
        "  x = vlSelf->top__DOT__dut__DOT__u_MVAU_hls_0__DOT__acc;",   # 2: MVAU_hls_0
        "  y = x + 1;",                                                # 3: still MVAU_hls_0
        "  z = vlSelf->top__DOT__dut__DOT__u_fifo_3__DOT__words;",     # 4: fifo_3
        "}",                                                           # 5: fifo_3
    ]))
    layers = sim_cost._lines_by_layer({src: Counter({1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0, 5: 5.0})})
    assert layers == {"(none)": 1.0, "u_MVAU_hls_0": 5.0, "u_fifo_3": 9.0}


def test_perf_report_lines_parse():
    m = sim_cost.SAMPLE.match("    14.31%  Vsim___024root__0.cpp:1400")
    assert m and (m.group(1), m.group(2), m.group(3)) == ("14.31", "Vsim___024root__0.cpp",
                                                           "1400")
    m = sim_cost.SAMPLE.match("     5.06%  pthread_mutex_trylock.c:102")
    assert m and m.group(2) == "pthread_mutex_trylock.c"
    m = sim_cost.SAMPLE.match("     0.30%  [unknown]")
    assert m and m.group(2) == "[unknown]" and m.group(3) is None
