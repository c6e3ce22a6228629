"""What the driver reads from a bundle's `bundle.json`: the design it expects on the device and
the geometry of its input and output frames in memory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import DriverError
from .packing import ElemType, elem_type, word_bytes
from .weights import WritableLayer

BUNDLE_FILE = "bundle.json"
FORMAT = 1


@dataclass(frozen=True)
class Io:
    """One side of the accelerator: frames of `shape` values of `datatype`, streamed as
    `words` words of `elems_per_word` elements (`word_bits` wide, `word_bytes` in memory)."""

    datatype: str
    shape: tuple[int, ...]
    elems_per_word: int
    word_bits: int
    words: int

    @property
    def elem(self) -> ElemType:
        return elem_type(self.datatype)

    @property
    def word_bytes(self) -> int:
        return word_bytes(self.word_bits)

    @property
    def frame_bytes(self) -> int:
        return self.words * self.word_bytes

    @property
    def elems(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    def to_json(self) -> dict:
        return {"datatype": self.datatype, "shape": list(self.shape),
                "elems_per_word": self.elems_per_word, "word_bits": self.word_bits,
                "word_bytes": self.word_bytes, "words": self.words,
                "frame_bytes": self.frame_bytes}

    @classmethod
    def from_json(cls, d: dict) -> Io:
        io = cls(d["datatype"], tuple(d["shape"]), d["elems_per_word"], d["word_bits"],
                 d["words"])
        if io.elems != io.words * io.elems_per_word:
            raise DriverError(f"{BUNDLE_FILE}: shape {io.shape} is not {io.words} words of "
                              f"{io.elems_per_word} elements")
        io.elem  # noqa: B018 - refuses a datatype the driver cannot pack
        return io


@dataclass(frozen=True)
class Bundle:
    """A deployment bundle: its directory and what `bundle.json` says about the design."""

    root: Path
    board: str
    shell: str  # "zynq" or "alveo"
    clock_mhz: float
    design_id: int
    bitfile: str  # relative to root: onebit.bit (Zynq, .hwh beside it) or onebit.xclbin
    ip_name: str  # the shell's name in PYNQ's ip_dict
    kernel: str  # the Vitis kernel's name (XRT)
    memory: str  # Alveo memory bank the kernel's m_axi is linked to (PYNQ target name)
    input: Io
    output: Io
    axi_data_width: int = 64  # the shell's AXI master (the sim backend builds it so)
    weights: tuple[WritableLayer, ...] = ()  # runtime-writable layers and their windows

    @classmethod
    def load(cls, root) -> Bundle:
        root = Path(root)
        path = root / BUNDLE_FILE
        if not path.is_file():
            raise DriverError(f"{root} is not a onebit bundle (no {BUNDLE_FILE}); write one with "
                              "`onebit bitstream BUILD`")
        try:
            d = json.loads(path.read_text())
            if d.get("format") != FORMAT:
                raise DriverError(f"{path}: format {d.get('format')}, this driver reads {FORMAT}")
            return cls(root, d["board"], d["shell"], float(d["clock_mhz"]), int(d["design_id"]),
                       d["bitfile"], d["ip_name"], d["kernel"], d.get("memory", ""),
                       Io.from_json(d["input"]), Io.from_json(d["output"]),
                       int(d.get("axi_data_width", 64)),
                       tuple(WritableLayer.from_json(w) for w in d.get("weights", [])))
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, DriverError):
                raise
            raise DriverError(f"{path} is malformed ({type(e).__name__}: {e})") from None
