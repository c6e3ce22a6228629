"""The shell's memory layout of stream words (`packing.frames_to_bytes`): a round trip, and
the bytes are the words little-endian in power-of-two slots."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from qonnx.core.datatype import DataType

from onebit.errors import UserInputError
from onebit.hw import packing


@seed(15)
@settings(max_examples=200, deadline=None)
@given(word_bits=st.integers(1, 600), n=st.integers(0, 9), bits_seed=st.integers(0, 2**32))
def test_layout_round_trip(word_bits, n, bits_seed):
    words = np.random.default_rng(bits_seed).integers(0, 2, (n, word_bits)).astype(np.uint8)
    s = packing.word_bytes(word_bits)
    assert s & (s - 1) == 0 and 8 * s >= word_bits and (s == 1 or 4 * s < word_bits)
    img = packing.frames_to_bytes(words, word_bits)
    assert len(img) == n * s
    for i in range(n):  # word i: bytes [i*s, (i+1)*s), little-endian, high bits zero
        v = sum(int(b) << j for j, b in enumerate(words[i]))
        assert int.from_bytes(img[i * s : (i + 1) * s], "little") == v
    np.testing.assert_array_equal(packing.bytes_to_frames(img, word_bits, n), words)


def test_layout_of_packed_elements():
    """Element 0 in the low bits of the first byte, as the stream packing."""
    w = packing.pack(np.array([1, -1, 1, 1, -1, -1, -1, -1, 1, 1]), DataType["BIPOLAR"], 10)
    assert packing.frames_to_bytes(w, 10) == bytes([0b00001101, 0b11])
    w = packing.pack(np.array([-2, 3, 1]), DataType["INT4"], 3)  # 12 bits in 2 bytes
    assert packing.frames_to_bytes(w, 12) == bytes([0x3E, 0x01])


def test_layout_refuses_bad_words():
    with pytest.raises(UserInputError, match="past bit 3"):
        packing.frames_to_bytes(np.ones((2, 6), dtype=np.uint8), 4)
    with pytest.raises(UserInputError, match="at least 1 bit"):
        packing.word_bytes(0)
    with pytest.raises(UserInputError, match="fewer than 3 words"):
        packing.bytes_to_frames(b"\0" * 5, 12, 3)
