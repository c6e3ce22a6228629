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

>>> encode_frames([[1, -1, 1, 1]], elem_type("BIPOLAR"), 4).hex()
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


def _code_dtype(t: ElemType) -> np.dtype | None:
    """The narrowest numpy integer type holding every value of `t` (None: over 32 bits)."""
    for bits in (8, 16, 32):
        if t.bits <= bits:
            return np.dtype(f"{'i' if t.signed else 'u'}{bits // 8}")
    return None


def _in_range_codes(v: np.ndarray, t: ElemType, dtype) -> np.ndarray | None:
    """The codes of `v` (integers, floats of at most 24 bits) if every value is an integer of
    `t`, else None. The common case at speed: the range by two reductions in `v`'s own dtype,
    then one cast to the narrowest type and, for floats, one compare back (a fraction does not
    survive the cast); no int64 temporaries of the whole array."""
    if not v.size or v.dtype.kind not in "iuf" or (v.dtype.kind == "f" and t.bits > 24):
        return None
    lo, hi = v.min(), v.max()
    if not (lo >= t.lo and hi <= t.hi):  # NaN fails too
        return None
    narrow = _code_dtype(t) or np.dtype(np.int64)
    iv = v.astype(narrow)
    if v.dtype.kind == "f" and not np.array_equal(iv, v):
        return None
    if t.signed:  # two's complement in t.bits
        code_t = np.dtype(f"u{narrow.itemsize}")
        return (iv.view(code_t) & code_t.type((1 << t.bits) - 1)).astype(dtype, copy=False)
    return iv.astype(dtype, copy=False)


def encode(values, t: ElemType, dtype=np.int64) -> np.ndarray:
    """Map values of type `t` to their unsigned hardware codes (`dtype`: int64, or any integer
    type that holds `t.bits`)."""
    v = np.asarray(values)
    if not t.bipolar:
        codes = _in_range_codes(v, t, dtype)
        if codes is not None:
            return codes
    v = np.asarray(values, dtype=np.float64)
    if t.bipolar:
        ok = (v == 1) | (v == -1)
    else:
        ok = (v == np.rint(v)) & (v >= t.lo) & (v <= t.hi)
    if not ok.all():
        bad = int(np.flatnonzero(~ok.reshape(-1))[0])
        raise PackingError(f"value {v.reshape(-1)[bad]} at flat index {bad} is not a {t.name}")
    if t.bipolar:
        return (v > 0).astype(dtype)
    iv = np.rint(v).astype(np.int64)
    return (iv & ((1 << t.bits) - 1) if t.signed else iv).astype(dtype, copy=False)


def decode(codes, t: ElemType) -> np.ndarray:
    """Inverse of `encode`: unsigned codes back to values (float32, as qonnx executes)."""
    c = np.asarray(codes, dtype=np.int64)
    if t.bipolar:
        return np.where(c & 1, 1.0, -1.0).astype(np.float32)
    if t.signed:
        c = np.where(c >= (1 << (t.bits - 1)), c - (1 << t.bits), c)
    return c.astype(np.float32)


def _word_codes(values, t: ElemType, epw: int, dtype=np.int64) -> np.ndarray:
    """The codes of values (flattened in stream order) that fill whole words of `epw`."""
    codes = encode(np.asarray(values).reshape(-1), t, dtype)
    if codes.size % epw:
        raise PackingError(f"{codes.size} elements do not fill words of {epw} elements")
    return codes


def pack(values, t: ElemType, epw: int) -> np.ndarray:
    """Pack values (flattened in stream order) into words: a (n_words, epw * bits) bit matrix.

    Bit column `j` of the result is bit `j` of the word (column 0 is the LSB).
    """
    codes = _word_codes(values, t, epw)
    nbytes = 1 << max(0, (t.bits - 1) // 8).bit_length()  # 1, 2, 4 or 8 bytes a code
    le = codes.astype(f"<u{nbytes}").view(np.uint8)  # each code's little-endian bytes
    # unpacked flat (along a short axis 1 numpy is ~10x slower), then each code's low b bits
    elem_bits = np.unpackbits(le, bitorder="little").reshape(-1, 8 * nbytes)[:, : t.bits]
    return elem_bits.reshape(-1, epw * t.bits)


def unpack(word_bits, t: ElemType, epw: int) -> np.ndarray:
    """Inverse of `pack`: a (n_words, width >= epw * bits) bit matrix to a flat array of values."""
    wb = np.asarray(word_bits, dtype=np.int64)
    if wb.ndim != 2 or wb.shape[1] < epw * t.bits:
        raise PackingError(f"words of {wb.shape[-1]} bits cannot hold {epw}x{t.bits} bits")
    elems = wb[:, : epw * t.bits].reshape(-1, t.bits)
    return decode((elems << np.arange(t.bits, dtype=np.int64)).sum(axis=1), t)


def word_bytes(word_bits: int) -> int:
    """Bytes a stream word of `word_bits` bits takes in memory: the smallest power of two that
    holds it (at least 1)."""
    if word_bits < 1:
        raise PackingError(f"a stream word has at least 1 bit, got {word_bits}")
    need = -(-int(word_bits) // 8)
    return 1 << (need - 1).bit_length()


def frames_to_bytes(words, word_bits: int) -> bytes:
    """Words as `pack` returns them ((n_words, >= word_bits) bit matrix) to their memory image.

    Word `i` occupies bytes `[i*S, (i+1)*S)`, S = `word_bytes(word_bits)`, bit `j` of the word
    in bit `j % 8` of byte `j // 8` (little-endian); bits past `word_bits` are 0.
    """
    wb = np.asarray(words, dtype=np.uint8)
    if wb.ndim != 2 or wb.shape[1] < word_bits:
        raise PackingError(f"words must be a (n_words, {word_bits}) bit matrix, got {wb.shape}")
    if wb[:, word_bits:].any():
        raise PackingError(f"words have bits set past bit {word_bits - 1}")
    s = word_bytes(word_bits)
    full = np.zeros((wb.shape[0], 8 * s), dtype=np.uint8)
    full[:, :word_bits] = wb[:, :word_bits]
    return np.packbits(full, axis=1, bitorder="little").tobytes()


def bytes_to_frames(data, word_bits: int, n_words: int) -> np.ndarray:
    """Inverse of `frames_to_bytes`: the first `n_words` words of a memory image as a
    (n_words, word_bits) bit matrix (what `unpack` takes)."""
    s = word_bytes(word_bits)
    if isinstance(data, np.ndarray):
        raw = data.astype(np.uint8, copy=False).reshape(-1)
    else:
        raw = np.frombuffer(bytes(data), dtype=np.uint8)
    if raw.size < n_words * s:
        raise PackingError(f"{raw.size} bytes hold fewer than {n_words} words of {s} bytes")
    img = raw[: n_words * s].reshape(n_words, s)
    return np.unpackbits(img, axis=1, bitorder="little")[:, :word_bits]


def encode_words(values, t: ElemType, epw: int, stride: int | None = None) -> np.ndarray:
    """Values (flattened in stream order) to their words' memory image, one row a word:
    (n_words, stride) uint8, each word little-endian, bits past its elements zero; `stride`
    (bytes a word) defaults to `word_bytes(epw * bits)`. Elements of 8, 16 or 32 bits are their
    codes' own bytes, without the bit matrix `pack` makes (a byte for every bit)."""
    need = -(-epw * t.bits // 8)
    stride = word_bytes(epw * t.bits) if stride is None else int(stride)
    if stride < need:
        raise PackingError(f"words of {epw}x{t.bits} bits do not fit in {stride} bytes")
    if t.bits in (8, 16, 32):
        codes = _word_codes(values, t, epw, np.dtype(f"<u{t.bits // 8}"))
        img = codes.view(np.uint8).reshape(-1, need)
    else:
        img = np.packbits(pack(values, t, epw), axis=1, bitorder="little")
    if stride == need:
        return img
    out = np.zeros((len(img), stride), dtype=np.uint8)
    out[:, :need] = img
    return out


def encode_frames(frames, t: ElemType, epw: int) -> bytes:
    """Frames of values (any shape, stream order) to their memory image."""
    return encode_words(frames, t, epw).tobytes()


def decode_frames(data, t: ElemType, epw: int, n_frames: int, words: int,
                  word_bits: int | None = None) -> np.ndarray:
    """The memory image of `n_frames` frames of `words` words each to values, shape
    (n_frames, elements); `word_bits`: the word's width if wider than its elements."""
    bits = bytes_to_frames(data, word_bits or epw * t.bits, n_frames * words)
    return unpack(bits, t, epw).reshape(n_frames, -1)
