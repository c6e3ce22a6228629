"""`onebit.driver.packing` (the one packing definition) and `onebit.hw.packing` over it."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.core.datatype import DataType

from onebit.driver import packing as dp
from onebit.driver.errors import PackingError
from onebit.errors import UserInputError
from onebit.hw import packing


@pytest.mark.parametrize("name", ["BIPOLAR", "BINARY", "TERNARY", "UINT2", "UINT8", "INT3",
                                  "INT8", "UINT16"])
def test_elem_type_matches_qonnx(name):
    dt, t = DataType[name], dp.elem_type(name)
    assert (t.bits, t.signed, t.lo, t.hi) == (dt.bitwidth(), dt.signed(), dt.min(), dt.max())
    assert packing.elem(dt) == t


@pytest.mark.parametrize("word_bits,nbytes", [(1, 1), (8, 1), (9, 2), (16, 2), (17, 4),
                                              (24, 4), (33, 8), (64, 8), (65, 16), (600, 128)])
def test_word_bytes_is_the_next_power_of_two(word_bits, nbytes):
    assert dp.word_bytes(word_bits) == nbytes == packing.word_bytes(word_bits)


@pytest.mark.parametrize("name,epw", [("BIPOLAR", 20), ("INT3", 5), ("UINT8", 3), ("INT8", 1),
                                      ("TERNARY", 7)])
def test_frames_in_memory_round_trip_and_layout(name, epw):
    dt, t = DataType[name], dp.elem_type(name)
    rng = np.random.default_rng(0)
    vals = rng.integers(int(dt.min()), int(dt.max()) + 1, size=(3, 4 * epw))
    if name == "BIPOLAR":
        vals = np.where(vals > 0, 1, -1)
    raw = dp.encode_frames(vals, t, epw)
    b = dt.bitwidth()
    s = dp.word_bytes(epw * b)
    assert raw == packing.frames_to_bytes(packing.pack(vals, dt, epw), epw * b)
    assert len(raw) == 3 * 4 * s
    # word k as a little-endian integer holds element j at bits [j*b, (j+1)*b)
    for k in range(12):
        w = int.from_bytes(raw[k * s : (k + 1) * s], "little")
        codes = [(w >> (j * b)) & ((1 << b) - 1) for j in range(epw)]
        assert codes == list(packing.encode(vals.reshape(-1)[k * epw : (k + 1) * epw], dt))
        assert w >> (epw * b) == 0
    np.testing.assert_array_equal(dp.decode_frames(raw, t, epw, 3, 4), vals.astype(np.float32))
    # a word wider than its elements (padding bits) still decodes
    wide = dp.frames_to_bytes(np.pad(dp.pack(vals, t, epw), ((0, 0), (0, 3))), epw * b + 3)
    np.testing.assert_array_equal(dp.decode_frames(wide, t, epw, 3, 4, epw * b + 3), vals)


@pytest.mark.parametrize("name,epw", [("BIPOLAR", 20), ("INT3", 5), ("UINT8", 49), ("INT8", 3),
                                      ("UINT16", 3), ("INT16", 2), ("UINT32", 3), ("INT32", 1)])
@pytest.mark.parametrize("extra", [0, 5])
def test_encode_words_is_the_memory_image_of_the_bit_matrix(name, epw, extra):
    """The words' memory image straight from the values (whole-byte elements without a bit
    matrix) is the bit matrix's, at any stride that holds a word."""
    dt, t = DataType[name], dp.elem_type(name)
    vals = np.random.default_rng(1).integers(int(dt.min()), int(dt.max()) + 1, size=(4, 2 * epw))
    if name == "BIPOLAR":
        vals = np.where(vals > 0, 1, -1)
    bits = epw * dt.bitwidth()
    stride = -(-bits // 8) + extra
    full = np.zeros((8, 8 * stride), dtype=np.uint8)
    full[:, :bits] = dp.pack(vals.astype(np.float32), t, epw)
    want = np.packbits(full, axis=1, bitorder="little")
    np.testing.assert_array_equal(dp.encode_words(vals.astype(np.float32), t, epw, stride), want)
    assert dp.encode_frames(vals, t, epw) == dp.frames_to_bytes(dp.pack(vals, t, epw), bits)
    with pytest.raises(PackingError, match="do not fit"):
        dp.encode_words(vals, t, epw, -(-bits // 8) - 1)
    with pytest.raises(UserInputError, match="not a"):
        packing.encode_words(np.full(epw, dt.max() + 1), dt, epw)


def test_errors_are_packing_errors_here_and_user_errors_in_onebit():
    with pytest.raises(PackingError, match="value 2.0 at flat index 1 is not a BINARY"):
        dp.encode([1, 2], dp.elem_type("BINARY"))
    with pytest.raises(UserInputError, match="value 2.0 at flat index 1 is not a BINARY"):
        packing.encode(np.array([1, 2]), DataType["BINARY"])
    with pytest.raises(UserInputError, match="do not fill words"):
        packing.pack(np.zeros(5), DataType["UINT8"], 2)
    with pytest.raises(UserInputError, match="do not fill words"):
        packing.encode_words(np.zeros(5), DataType["UINT8"], 2)
    with pytest.raises(PackingError, match="cannot be streamed"):
        dp.elem_type("FLOAT32")
    with pytest.raises(UserInputError, match="fewer than 3 words"):
        packing.bytes_to_frames(b"\0" * 5, 12, 3)
    with pytest.raises(UserInputError, match="past bit 3"):
        packing.frames_to_bytes(np.ones((2, 6), dtype=np.uint8), 4)
    with pytest.raises(UserInputError, match="at least 1 bit"):
        packing.word_bytes(0)


@pytest.mark.parametrize("name", ["BINARY", "BIPOLAR", "UINT2", "INT3", "UINT8", "INT8", "UINT9",
                                  "INT16", "UINT17", "INT31", "UINT33", "INT50"])
def test_pack_puts_code_bit_j_of_element_i_at_column_i_bits_plus_j(name):
    """Element i's code at bits [i*b, (i+1)*b) of the flattened bit matrix, LSB first, for
    widths within and across bytes (pack reads the codes' little-endian bytes)."""
    t = dp.elem_type(name)
    rng = np.random.default_rng(1)
    v = (2 * rng.integers(0, 2, 60) - 1 if t.bipolar
         else rng.integers(t.lo, t.hi, 60, endpoint=True))
    bits = dp.pack(v, t, 3)
    codes = dp.encode(v, t)
    assert bits.shape == (20, 3 * t.bits) and bits.dtype == np.uint8
    want = (codes[:, None] >> np.arange(t.bits)) & 1
    np.testing.assert_array_equal(bits.reshape(60, t.bits), want)
