"""Stream packing: the one bit-level layout shared by the RTL simulator and the board drivers.

A stream word carries `n` elements of one qonnx `DataType`; element `i` occupies bits
`[i*b, (i+1)*b)` (element 0 in the least significant bits, as FINN's streams with
`reverse_inner=True`). Elements are stored as their hardware code:

- BIPOLAR: -1 -> 0, +1 -> 1;
- signed integers: two's complement in `b` bits;
- unsigned integers: the value itself.

Words are handled as bit matrices so packing is vectorised; text form is one hexadecimal word
per line (what `$readmemh` reads).

>>> from qonnx.core.datatype import DataType
>>> to_hex(pack(np.array([1, -1, 1, 1]), DataType["BIPOLAR"], 4))
['d']
"""

from __future__ import annotations

import numpy as np
from qonnx.core.datatype import DataType

from onebit.errors import UserInputError


def bits(dt: DataType) -> int:
    """Width in bits of one element of `dt` on a stream."""
    return dt.bitwidth()


def encode(values: np.ndarray, dt: DataType) -> np.ndarray:
    """Map values of datatype `dt` to their unsigned hardware codes (int64)."""
    v = np.asarray(values, dtype=np.float64)
    if dt == DataType["BIPOLAR"]:
        ok = (v == 1) | (v == -1)
    else:
        ok = (v == np.rint(v)) & (v >= dt.min()) & (v <= dt.max())
    if not ok.all():
        bad = int(np.flatnonzero(~ok.reshape(-1))[0])
        raise UserInputError(f"value {v.reshape(-1)[bad]} at flat index {bad} is not a {dt.name}")
    if dt == DataType["BIPOLAR"]:
        return (v > 0).astype(np.int64)
    iv = np.rint(v).astype(np.int64)
    if dt.signed():
        iv = iv & ((1 << bits(dt)) - 1)
    return iv


def decode(codes: np.ndarray, dt: DataType) -> np.ndarray:
    """Inverse of `encode`: unsigned codes back to values (float32, as qonnx executes)."""
    c = np.asarray(codes, dtype=np.int64)
    if dt == DataType["BIPOLAR"]:
        return np.where(c & 1, 1.0, -1.0).astype(np.float32)
    b = bits(dt)
    if dt.signed():
        c = np.where(c >= (1 << (b - 1)), c - (1 << b), c)
    return c.astype(np.float32)


def pack(values: np.ndarray, dt: DataType, elems_per_word: int) -> np.ndarray:
    """Pack values (flattened in stream order) into words: a (n_words, width) bit matrix.

    Bit column `j` of the result is bit `j` of the word (column 0 is the LSB).
    """
    codes = encode(np.asarray(values).reshape(-1), dt)
    if codes.size % elems_per_word:
        raise UserInputError(
            f"{codes.size} elements do not fill words of {elems_per_word} elements"
        )
    b = bits(dt)
    shifts = np.arange(b, dtype=np.int64)
    elem_bits = ((codes[:, None] >> shifts) & 1).astype(np.uint8)  # (n, b), LSB first
    return elem_bits.reshape(-1, elems_per_word * b)


def unpack(word_bits: np.ndarray, dt: DataType, elems_per_word: int) -> np.ndarray:
    """Inverse of `pack`: a (n_words, width) bit matrix to a flat array of values."""
    b = bits(dt)
    wb = np.asarray(word_bits, dtype=np.int64)
    if wb.ndim != 2 or wb.shape[1] < elems_per_word * b:
        raise UserInputError(f"words of {wb.shape[-1]} bits cannot hold {elems_per_word}x{b} bits")
    elems = wb[:, : elems_per_word * b].reshape(-1, b)
    codes = (elems << np.arange(b, dtype=np.int64)).sum(axis=1)
    return decode(codes, dt)


def to_hex(word_bits: np.ndarray) -> list[str]:
    """Bit matrix (n_words, width) to one hex string per word, most significant digit first."""
    wb = np.asarray(word_bits, dtype=np.uint8)
    width = wb.shape[1]
    ndig = max(1, -(-width // 4))
    padded = np.zeros((wb.shape[0], ndig * 4), dtype=np.uint8)
    padded[:, :width] = wb
    nibbles = (padded.reshape(-1, ndig, 4) << np.arange(4, dtype=np.uint8)).sum(axis=2)
    digits = np.array(list("0123456789abcdef"))[nibbles[:, ::-1]]
    return ["".join(row) for row in digits]


def from_hex(lines: list[str], width: int) -> np.ndarray:
    """Hex words (as written by `to_hex` or `$writememh`/`$fwrite`) to a (n, width) bit matrix."""
    ndig = max(1, -(-width // 4))
    out = np.zeros((len(lines), ndig * 4), dtype=np.uint8)
    for i, line in enumerate(lines):
        s = line.strip().lower().replace("_", "")
        if "x" in s or "z" in s:
            raise ValueError(f"word {i} has undefined bits: {line.strip()}")
        v = int(s, 16)
        out[i] = (v >> np.arange(ndig * 4, dtype=object)) & 1
    return out[:, :width]


# Memory layout of streams (the system shell's, docs/shell.md): every word takes `word_bytes`
# bytes, little-endian; frames are contiguous. numpy only, for the drivers.


def word_bytes(word_bits: int) -> int:
    """Bytes a stream word of `word_bits` bits takes in memory: the smallest power of two that
    holds it (at least 1)."""
    if word_bits < 1:
        raise UserInputError(f"a stream word has at least 1 bit, got {word_bits}")
    need = -(-int(word_bits) // 8)
    return 1 << (need - 1).bit_length()


def frames_to_bytes(words: np.ndarray, word_bits: int) -> bytes:
    """Words as `pack` returns them ((n_words, >= word_bits) bit matrix) to their memory image.

    Word `i` occupies bytes `[i*S, (i+1)*S)`, S = `word_bytes(word_bits)`, bit `j` of the word
    in bit `j % 8` of byte `j // 8` (little-endian); bits past `word_bits` are 0.
    """
    wb = np.asarray(words, dtype=np.uint8)
    if wb.ndim != 2 or wb.shape[1] < word_bits:
        raise UserInputError(f"words must be a (n_words, {word_bits}) bit matrix, got {wb.shape}")
    if wb[:, word_bits:].any():
        raise UserInputError(f"words have bits set past bit {word_bits - 1}")
    s = word_bytes(word_bits)
    full = np.zeros((wb.shape[0], 8 * s), dtype=np.uint8)
    full[:, :word_bits] = wb[:, :word_bits]
    return np.packbits(full, axis=1, bitorder="little").tobytes()


def bytes_to_frames(data: bytes | np.ndarray, word_bits: int, n_words: int) -> np.ndarray:
    """Inverse of `frames_to_bytes`: the first `n_words` words of a memory image as a
    (n_words, word_bits) bit matrix (what `unpack` takes)."""
    s = word_bytes(word_bits)
    if isinstance(data, np.ndarray):
        raw = data.astype(np.uint8, copy=False).reshape(-1)
    else:
        raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size < n_words * s:
        raise UserInputError(f"{raw.size} bytes hold fewer than {n_words} words of {s} bytes")
    img = raw[: n_words * s].reshape(n_words, s)
    return np.unpackbits(img, axis=1, bitorder="little")[:, :word_bits]
