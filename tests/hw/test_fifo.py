"""onebit_fifo: scoreboard under random stalls, occupancy bound, full throughput, lint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from onebit.hw import sim, verilator

FIFO = Path(__file__).resolve().parents[2] / "hw" / "rtl" / "onebit_fifo.sv"

pytestmark = pytest.mark.verilator


def _occupancy(res: sim.SimResult) -> np.ndarray:
    """Words held after each cycle's edge, from the handshake cycles."""
    n = res.cycles + 1
    ins = np.bincount(res.in_cycles, minlength=n)[:n].cumsum()
    outs = np.bincount(res.out_cycles, minlength=n)[:n].cumsum()
    return ins - outs


@pytest.mark.parametrize("depth", [2, 3, 16])
def test_fifo_scoreboard_and_throughput(depth, vcache):
    width = 12
    rng = np.random.default_rng(depth)
    words = rng.integers(0, 2, (2000, width)).astype(np.uint8)
    exe = sim.build_stream_sim([FIFO], "onebit_fifo", in_width=width, out_width=width,
                               params={"WIDTH": width, "DEPTH": depth}, cache_dir=vcache)
    for seed, pv, pr in [(1, 0.5, 0.5), (2, 1.0, 0.3), (3, 0.3, 1.0), (4, 0.8, 0.8)]:
        res = sim.run_stream_sim(exe, words, len(words), in_width=width, out_width=width,
                                 seed=seed, p_valid=pv, p_ready=pr)
        assert (res.out_words == words).all(), f"seed {seed}: data mismatch"
        occ = _occupancy(res)
        assert occ.max() <= depth
        if pr < pv:  # a slow sink fills the FIFO completely
            assert occ.max() == depth
    res = sim.run_stream_sim(exe, words, len(words), in_width=width, out_width=width)
    assert (np.diff(res.in_cycles) == 1).all() and (np.diff(res.out_cycles) == 1).all()
    assert res.cycles == len(words) + 1


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_fifo_handshakes_follow_its_fill_level(depth, vcache):
    """Cycle for cycle, whatever the implementation (DEPTH = 2 is a skid buffer, deeper ones a
    ring buffer): with a source that always offers, a word is taken exactly in the cycles that
    start with fewer than DEPTH words held; with a sink that is always ready, a word leaves
    exactly in the cycles that start with a word held (one cycle from input to output)."""
    width = 5
    words = np.random.default_rng(depth).integers(0, 2, (400, width)).astype(np.uint8)
    exe = sim.build_stream_sim([FIFO], "onebit_fifo", in_width=width, out_width=width,
                               params={"WIDTH": width, "DEPTH": depth}, cache_dir=vcache)
    for pv, pr in [(1.0, 0.3), (0.3, 1.0), (1.0, 0.7)]:
        res = sim.run_stream_sim(exe, words, len(words), in_width=width, out_width=width,
                                 seed=depth, p_valid=pv, p_ready=pr)
        assert (res.out_words == words).all()
        n = res.cycles + 1
        held = np.concatenate([[0], _occupancy(res)[:-1]])  # words held as cycle c starts
        fired_in = np.zeros(n, bool)
        fired_in[res.in_cycles] = True
        fired_out = np.zeros(n, bool)
        fired_out[res.out_cycles] = True
        if pv == 1.0:
            last = res.in_cycles[-1]
            assert (fired_in[: last + 1] == (held[: last + 1] < depth)).all()
        if pr == 1.0:
            assert (fired_out == (held > 0)).all()


def test_fifo_lint_clean():
    for depth in (2, 7, 64):
        assert verilator.lint([FIFO], "onebit_fifo", {"WIDTH": 1, "DEPTH": depth}) == ""


def test_fifo_rejects_depth_1():
    with pytest.raises(verilator.VerilatorError, match="DEPTH must be >= 2"):
        verilator.lint([FIFO], "onebit_fifo", {"WIDTH": 4, "DEPTH": 1})
