"""Stream packing and the memory layout: the one definition used by RTL generators, simulators
and the board driver. numpy only (runs on a board without onebit, qonnx or torch).

An element type is named as qonnx names it (`BIPOLAR`, `BINARY`, `TERNARY`, `UINT<n>`,
`INT<n>`) or given by width, signedness and range (`ElemType`). A stream word carries `epw`
elements; element `i` occupies bits `[i*b, (i+1)*b)` (element 0 in the least significant bits).
Elements are stored as their hardware code:

- BIPOLAR: -1 -> 0, +1 -> 1;
- signed integers: two's complement in `b` bits;
- unsigned integers: the value itself.

In memory (what the system shell's AXI master reads and writes) each word occupies
`word_bytes(word_bits)` bytes, the smallest power of two holding its bits, little-endian, unused
high bits zero; frames are contiguous.

>>> frames_to_bytes([[1, -1, 1, 1]], elem_type("BIPOLAR"), 4).hex()
'0d'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import PackingError


@dataclass(frozen=True)
class ElemType:
    """An integer element type: `bits` wide, values in [lo, hi]; `bipolar`: {-1, +1} as 0/1."""

    name: str
    bits: int
    signed: bool
    lo: int
    hi: int

    @property
    def bipolar(self) -> bool:
        return self.name == "BIPOLAR"


_FIXED = {
    "BIPOLAR": ElemType("BIPOLAR", 1, True, -1, 1),
    "BINARY": ElemType("BINARY", 1, False, 0, 1),
    "TERNARY": ElemType("TERNARY", 2, True, -1, 1),
}


def elem_type(name: str) -> ElemType:
    """The element type a qonnx datatype name stands for (integer types only)."""
    if name in _FIXED:
        return _FIXED[name]
    m = re.fullmatch(r"(U?)INT(\d+)", name)
    if not m or not 0 < int(m[2]) <= 62:
        raise PackingError(f"datatype {name} cannot be streamed (integer types only: BIPOLAR, "
                           "BINARY, TERNARY, UINT<n>, INT<n>)")
    b = int(m[2])
    if m[1]:
        return ElemType(name, b, False, 0, (1 << b) - 1)
    return ElemType(name, b, True, -(1 << (b - 1)), (1 << (b - 1)) - 1)


def encode(values, t: ElemType) -> np.ndarray:
    """Map values of type `t` to their unsigned hardware codes (int64)."""
    v = np.asarray(values, dtype=np.float64)
    if t.bipolar:
        ok = (v == 1) | (v == -1)
    else:
        ok = (v == np.rint(v)) & (v >= t.lo) & (v <= t.hi)
    if not ok.all():
        bad = int(np.flatnonzero(~ok.reshape(-1))[0])
        raise PackingError(f"value {v.reshape(-1)[bad]} at flat index {bad} is not a {t.name}")
    if t.bipolar:
        return (v > 0).astype(np.int64)
    iv = np.rint(v).astype(np.int64)
    return iv & ((1 << t.bits) - 1) if t.signed else iv


def decode(codes, t: ElemType) -> np.ndarray:
    """Inverse of `encode`: unsigned codes back to values (float32, as qonnx executes)."""
    c = np.asarray(codes, dtype=np.int64)
    if t.bipolar:
        return np.where(c & 1, 1.0, -1.0).astype(np.float32)
    if t.signed:
        c = np.where(c >= (1 << (t.bits - 1)), c - (1 << t.bits), c)
    return c.astype(np.float32)


def pack(values, t: ElemType, epw: int) -> np.ndarray:
    """Pack values (flattened in stream order) into words: a (n_words, epw * bits) bit matrix.

    Bit column `j` of the result is bit `j` of the word (column 0 is the LSB).
    """
    codes = encode(np.asarray(values).reshape(-1), t)
    if codes.size % epw:
        raise PackingError(f"{codes.size} elements do not fill words of {epw} elements")
    shifts = np.arange(t.bits, dtype=np.int64)
    elem_bits = ((codes[:, None] >> shifts) & 1).astype(np.uint8)  # (n, b), LSB first
    return elem_bits.reshape(-1, epw * t.bits)


def unpack(word_bits, t: ElemType, epw: int) -> np.ndarray:
    """Inverse of `pack`: a (n_words, width >= epw * bits) bit matrix to a flat array of values."""
    wb = np.asarray(word_bits, dtype=np.int64)
    if wb.ndim != 2 or wb.shape[1] < epw * t.bits:
        raise PackingError(f"words of {wb.shape[-1]} bits cannot hold {epw}x{t.bits} bits")
    elems = wb[:, : epw * t.bits].reshape(-1, t.bits)
    return decode((elems << np.arange(t.bits, dtype=np.int64)).sum(axis=1), t)


def word_bytes(word_bits: int) -> int:
    """Bytes a stream word of `word_bits` bits occupies in memory: a power of two, at least 1."""
    need = max(1, -(-int(word_bits) // 8))
    return 1 << (need - 1).bit_length()


def words_to_bytes(word_bits: np.ndarray) -> np.ndarray:
    """A (n_words, width) bit matrix to its memory image: (n_words, word_bytes(width)) uint8."""
    wb = np.asarray(word_bits, dtype=np.uint8)
    s = word_bytes(wb.shape[1])
    padded = np.zeros((wb.shape[0], 8 * s), dtype=np.uint8)
    padded[:, : wb.shape[1]] = wb
    return np.packbits(padded, axis=1, bitorder="little")


def bytes_to_words(data, width: int) -> np.ndarray:
    """Inverse of `words_to_bytes`: a memory image to a (n_words, width) bit matrix."""
    raw = np.frombuffer(bytes(data), dtype=np.uint8) if not isinstance(data, np.ndarray) \
        else np.asarray(data, dtype=np.uint8).reshape(-1)
    s = word_bytes(width)
    if raw.size % s:
        raise PackingError(f"{raw.size} bytes are not whole {s}-byte words")
    return np.unpackbits(raw.reshape(-1, s), axis=1, bitorder="little")[:, :width]


def frames_to_bytes(frames, t: ElemType, epw: int) -> np.ndarray:
    """Frames (any shape, stream order) to their memory image: a flat uint8 array."""
    return words_to_bytes(pack(frames, t, epw)).reshape(-1)


def bytes_to_frames(data, t: ElemType, epw: int, n_frames: int,
                    word_bits: int | None = None) -> np.ndarray:
    """A memory image of `n_frames` frames to their values, shape (n_frames, elements).

    `word_bits`: the stream word's width when it is wider than `epw * bits` (padding bits).
    """
    words = bytes_to_words(data, word_bits or epw * t.bits)
    if len(words) % n_frames:
        raise PackingError(f"{len(words)} words are not {n_frames} whole frames")
    return unpack(words, t, epw).reshape(n_frames, -1)
