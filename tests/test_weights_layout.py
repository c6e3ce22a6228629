"""The weight windows' layout (`onebit.driver.weights`): placement, 32-bit parts of a memory
word, and the same memory contents as the build's `.mem` files (`onebit.hw.mvau`)."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.core.datatype import DataType

from onebit.driver.errors import DriverError
from onebit.driver.weights import WINDOW_BASE, Memory, WritableLayer, address_bits, place
from onebit.hw import mvau


def _layer(name="L", mw=64, mh=32, simd=8, pe=4, wt="BIPOLAR", n_thres=1, acc_bits=15):
    return WritableLayer(name, mw, mh, simd, pe, wt, n_thres, acc_bits, -(1 << 14), 1 << 13)


def test_windows_are_aligned_to_their_size_in_order():
    a, b, c = place([_layer("a"), _layer("b", simd=64, pe=32), _layer("c", n_thres=0)])
    assert a.base == WINDOW_BASE and a.size == 512  # weights 64 x 32 bits: 256 bytes, x 2
    assert b.weights.width == 64 * 32 and b.weights.stride == 64 and b.base % b.size == 0
    assert b.base >= a.base + a.size and c.base >= b.base + b.size and c.thresholds is None
    assert a.thresholds.base == a.base + a.half
    assert address_bits([a, b, c]) == (c.base + c.size - 1).bit_length()
    assert address_bits([]) == 8


def test_a_word_is_written_as_its_32_bit_parts_last_part_last():
    m = Memory(0x2000, 3, 70)  # 3 parts a word, 4 addresses apart
    bits = np.zeros((3, 70), dtype=np.uint8)
    bits[1, 0] = bits[1, 33] = bits[1, 69] = 1
    w = m.writes(bits)
    assert [a for a, _ in w] == [0x2000 + 4 * (i * 4 + p) for i in range(3) for p in range(3)]
    assert w[3:6] == [(0x2010, 1), (0x2014, 2), (0x2018, 1 << 5)]
    assert m.span == 64
    with pytest.raises(DriverError, match="memory of 3 x 70 bits"):
        m.writes(bits[:2])


@pytest.mark.parametrize("wt, simd, pe", [("BIPOLAR", 8, 4), ("BINARY", 16, 2), ("INT8", 4, 8)])
def test_memory_contents_are_the_builds_mem_files(wt, simd, pe):
    rng = np.random.default_rng(0)
    la = _layer(wt=wt, simd=simd, pe=pe, acc_bits=17)
    dt = DataType[wt]
    w = rng.integers(int(dt.min()), int(dt.max()) + 1, size=(la.mw, la.mh))
    if wt == "BIPOLAR":
        w = np.where(w > 0, 1, -1)
    codes = (w > 0).astype(np.int64).T if wt in ("BIPOLAR", "BINARY") else w.T
    want = mvau.weight_words(codes, simd, pe, DataType["BINARY"] if dt.bitwidth() == 1 else dt)
    np.testing.assert_array_equal(la.weight_bits(w), want)
    t = rng.integers(-9000, 9000, size=(la.mh, 1)) - 0.5
    np.testing.assert_array_equal(
        la.threshold_bits(t), mvau.threshold_words(np.ceil(t).astype(np.int64), pe, 17))
