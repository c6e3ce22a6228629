"""Stream packing: the one bit-level layout shared by the RTL simulator and the board drivers.

A stream word carries `n` elements of one qonnx `DataType`; element `i` occupies bits
`[i*b, (i+1)*b)` (element 0 in the least significant bits, as FINN's streams with
`reverse_inner=True`). Elements are stored as their hardware code:

- BIPOLAR: -1 -> 0, +1 -> 1;
- signed integers: two's complement in `b` bits;
- unsigned integers: the value itself.

Words are handled as bit matrices so packing is vectorised; text form is one hexadecimal word
per line (what `$readmemh` reads). The numpy core (and the memory layout, `word_bytes`) is
`onebit.driver.packing`, which the board driver carries without qonnx; this module is its
qonnx `DataType` face, with onebit's `UserInputError`.

>>> from qonnx.core.datatype import DataType
>>> to_hex(pack(np.array([1, -1, 1, 1]), DataType["BIPOLAR"], 4))
['d']
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from qonnx.core.datatype import DataType

from onebit.driver import packing as driver_packing
from onebit.driver.errors import PackingError
from onebit.errors import UserInputError

__all__ = ["bits", "bytes_to_frames", "decode", "elem", "encode", "encode_words",
           "frames_to_bytes", "from_hex", "pack", "to_hex", "unpack", "word_bytes"]


def elem(dt: DataType) -> driver_packing.ElemType:
    """The driver's element type of a qonnx integer datatype."""
    return driver_packing.ElemType(dt.name, dt.bitwidth(), bool(dt.signed()), int(dt.min()),
                                   int(dt.max()))


def bits(dt: DataType) -> int:
    """Width in bits of one element of `dt` on a stream."""
    return dt.bitwidth()


@contextmanager
def _user_errors():
    try:
        yield
    except PackingError as e:
        raise UserInputError(str(e)) from None


def encode(values: np.ndarray, dt: DataType) -> np.ndarray:
    """Map values of datatype `dt` to their unsigned hardware codes (int64)."""
    with _user_errors():
        return driver_packing.encode(values, elem(dt))


def decode(codes: np.ndarray, dt: DataType) -> np.ndarray:
    """Inverse of `encode`: unsigned codes back to values (float32, as qonnx executes)."""
    return driver_packing.decode(codes, elem(dt))


def pack(values: np.ndarray, dt: DataType, elems_per_word: int) -> np.ndarray:
    """Pack values (flattened in stream order) into words: a (n_words, width) bit matrix.

    Bit column `j` of the result is bit `j` of the word (column 0 is the LSB).
    """
    with _user_errors():
        return driver_packing.pack(values, elem(dt), elems_per_word)


def encode_words(values: np.ndarray, dt: DataType, elems_per_word: int,
                 stride: int | None = None) -> np.ndarray:
    """Values (flattened in stream order) to their words' memory image, (n_words, stride)
    uint8 (`driver.packing.encode_words`)."""
    with _user_errors():
        return driver_packing.encode_words(values, elem(dt), elems_per_word, stride)


def unpack(word_bits: np.ndarray, dt: DataType, elems_per_word: int) -> np.ndarray:
    """Inverse of `pack`: a (n_words, width) bit matrix to a flat array of values."""
    with _user_errors():
        return driver_packing.unpack(word_bits, elem(dt), elems_per_word)


def word_bytes(word_bits: int) -> int:
    """Bytes a stream word of `word_bits` bits takes in memory (a power of two, at least 1)."""
    with _user_errors():
        return driver_packing.word_bytes(word_bits)


def frames_to_bytes(words: np.ndarray, word_bits: int) -> bytes:
    """Words ((n_words, >= word_bits) bit matrix, as `pack` returns) to their memory image:
    `word_bytes(word_bits)` bytes each, little-endian, frames contiguous."""
    with _user_errors():
        return driver_packing.frames_to_bytes(words, word_bits)


def bytes_to_frames(data: bytes | np.ndarray, word_bits: int, n_words: int) -> np.ndarray:
    """Inverse of `frames_to_bytes`: the first `n_words` words as a (n_words, word_bits) bit
    matrix (what `unpack` takes)."""
    with _user_errors():
        return driver_packing.bytes_to_frames(data, word_bits, n_words)


_HEX_PAIRS = np.frombuffer(b"".join(f"{b:02x}".encode() for b in range(256)), "<u2")
"""The two hex digits of every byte value, most significant first in memory: (256,) uint16
(one 2-byte lookup a byte is ~2.5x faster than a (256, 2) row lookup)."""


def hex_lines(words: np.ndarray) -> bytes:
    """Bit matrix (n_words, width) to hex text, one newline-terminated line a word, most
    significant digit first (what `$readmemh` reads): the words' bytes (little-endian bit
    order) looked up two digits at a time, fast for long streams."""
    wb = np.asarray(words, dtype=np.uint8)
    n, width = wb.shape
    ndig = max(1, -(-width // 4))
    nbytes = -(-ndig // 2)
    packed = np.zeros((n, nbytes), dtype=np.uint8)
    packed[:, : -(-width // 8)] = np.packbits(wb, axis=1, bitorder="little")
    digits = _HEX_PAIRS[packed[:, ::-1]].view(np.uint8).reshape(n, 2 * nbytes)
    text = np.full((n, ndig + 1), ord("\n"), dtype=np.uint8)
    text[:, :ndig] = digits[:, 2 * nbytes - ndig :]  # an odd digit count drops the top one
    return text.tobytes()


def to_hex(word_bits: np.ndarray) -> list[str]:
    """Bit matrix (n_words, width) to one hex string per word, most significant digit first."""
    return hex_lines(word_bits).decode().splitlines()


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
