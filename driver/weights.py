"""Runtime-writable layers: their weight windows in the control address space, the layout of
their memories, and a weights directory turned into register writes. numpy only.

A layer built with FINN's `runtime_writeable_weights=1` (an MVAU in `onebit_mvau`) has a
window in the shell's AXI-Lite space above the control registers (docs/shell.md):

- windows are placed in layer order, each at the next multiple of its size (a power of two)
  at or above `WINDOW_BASE`; the window of a layer with thresholds is `2 * S` bytes, its
  weight memory at `+0`, its threshold memory at `+S` (`S` the larger memory's span);
- a memory of `depth` words of `width` bits: word `i`, 32-bit part `p` (bits `[32p +: 32]`)
  at byte `4 * (i * P + p)`, `P` the smallest power of two >= ceil(width / 32); the span is
  the smallest power of two >= `4 * depth * P`; the last part of a word commits it, so the
  parts of a word are written in increasing order;
- the weight memory holds word `nf * SF + sf` = rows `nf*PE..` x columns `sf*SIMD..` (element
  `pe * SIMD + s` in the LSBs first), the threshold memory word `nf` = rows `nf*PE..`, each row's
  T thresholds as ACC_BITS-bit two's complement (the layout of the build's `.mem` files).

A weights directory holds, per layer to rewrite, `<layer>_weights.npy`: the (MW, MH) weight
matrix in FINN's MVAU layout, values of the layer's weight datatype (BIPOLAR -1/+1, BINARY
0/1, INTn/UINTn), and optionally `<layer>_thres.npy`: its (MH, T) or (1, T) thresholds, real
values (an integer accumulator compares with ceil(t); values are clamped into the
accumulator's range).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import DriverError
from .packing import elem_type, pack
from .regmap import WINDOW_BASE

WEIGHTS_SUFFIX, THRES_SUFFIX = "_weights.npy", "_thres.npy"


def _pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


@dataclass(frozen=True)
class Memory:
    """One writable memory: `depth` words of `width` bits at byte address `base`."""

    base: int
    depth: int
    width: int

    @property
    def parts(self) -> int:
        """32-bit parts of a word."""
        return -(-self.width // 32)

    @property
    def stride(self) -> int:
        """Parts a word occupies in the address space (a power of two)."""
        return _pow2(self.parts)

    @property
    def span(self) -> int:
        return span(self.depth, self.width)

    def writes(self, bits: np.ndarray) -> list[tuple[int, int]]:
        """(address, value) register writes of a (depth, width) bit matrix, in order."""
        bits = np.asarray(bits, dtype=np.uint64)
        if bits.shape != (self.depth, self.width):
            raise DriverError(f"memory of {self.depth} x {self.width} bits: got {bits.shape}")
        padded = np.zeros((self.depth, self.parts * 32), dtype=np.uint64)
        padded[:, : self.width] = bits
        vals = (padded.reshape(self.depth, self.parts, 32)
                << np.arange(32, dtype=np.uint64)).sum(axis=2)
        return [(self.base + 4 * (i * self.stride + p), int(vals[i, p]))
                for i in range(self.depth) for p in range(self.parts)]


def span(depth: int, width: int) -> int:
    """Bytes a memory of `depth` words of `width` bits takes in the address space."""
    return _pow2(4 * depth * _pow2(-(-width // 32)))


@dataclass(frozen=True)
class WritableLayer:
    """A runtime-writable MVAU: its matrix, folding, datatypes and window."""

    name: str
    mw: int
    mh: int
    simd: int
    pe: int
    weight_type: str  # FINN's weightDataType
    n_thres: int  # thresholds per row (0: no activation)
    acc_bits: int
    acc_lo: int  # accumulator bounds over every weight of weight_type
    acc_hi: int
    base: int = 0  # the window's byte address

    @property
    def w_width(self) -> int:
        return self.pe * self.simd * elem_type(self.weight_type).bits

    @property
    def t_width(self) -> int:
        return self.pe * self.n_thres * self.acc_bits

    @property
    def half(self) -> int:
        """S: the span of the larger memory; thresholds at base + S."""
        s = span(self.mh // self.pe * (self.mw // self.simd), self.w_width)
        return max(s, span(self.mh // self.pe, self.t_width)) if self.n_thres else s

    @property
    def size(self) -> int:
        return 2 * self.half if self.n_thres else self.half

    @property
    def weights(self) -> Memory:
        return Memory(self.base, self.mh // self.pe * (self.mw // self.simd), self.w_width)

    @property
    def thresholds(self) -> Memory | None:
        if not self.n_thres:
            return None
        return Memory(self.base + self.half, self.mh // self.pe, self.t_width)

    def to_json(self) -> dict:
        d = asdict(self)
        d["size"] = self.size
        d["memories"] = {"weights": asdict(self.weights), "thresholds":
                         asdict(self.thresholds) if self.n_thres else None}
        return d

    @classmethod
    def from_json(cls, d: dict) -> WritableLayer:
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})

    # -- contents
    def weight_bits(self, w) -> np.ndarray:
        """(MW, MH) weights (FINN's layout) to the weight memory's (depth, width) bits."""
        w = np.asarray(w)
        if w.shape != (self.mw, self.mh):
            raise DriverError(f"layer {self.name}: weights of shape {w.shape}, expected "
                              f"({self.mw}, {self.mh}) (MW, MH)")
        t = elem_type(self.weight_type)
        if t.name == "BINARY" or t.bipolar:  # hardware code 1: +1 (or 1)
            ok = np.isin(w, (-1, 1) if t.bipolar else (0, 1))
            if not ok.all():
                raise DriverError(f"layer {self.name}: weights hold values outside "
                                  f"{self.weight_type} (e.g. {w[~ok].reshape(-1)[0]})")
        folded = fold_rows(w.T, self.simd, self.pe)
        try:
            return pack(folded.reshape(-1), t, self.pe * self.simd)
        except ValueError as e:
            raise DriverError(f"layer {self.name}: weights: {e}") from None

    def threshold_bits(self, t) -> np.ndarray:
        """(MH, T) or (1, T) thresholds to the threshold memory's (depth, width) bits."""
        t = np.asarray(t, dtype=np.float64)
        if t.ndim != 2 or t.shape[0] not in (1, self.mh) or t.shape[1] != self.n_thres:
            raise DriverError(f"layer {self.name}: thresholds of shape {t.shape}, expected "
                              f"({self.mh}, {self.n_thres})")
        if np.isnan(t).any():
            raise DriverError(f"layer {self.name}: thresholds contain NaN")
        return threshold_bits(integer_thresholds(np.broadcast_to(t, (self.mh, self.n_thres)),
                                                 self.acc_lo, self.acc_hi),
                              self.pe, self.acc_bits)

    def writes(self, w=None, t=None) -> list[tuple[int, int]]:
        """The register writes that load weights `w` and/or thresholds `t`."""
        out = [] if w is None else self.weights.writes(self.weight_bits(w))
        if t is not None:
            if not self.n_thres:
                raise DriverError(f"layer {self.name} has no thresholds (no activation)")
            out += self.thresholds.writes(self.threshold_bits(t))
        return out


def fold_rows(wvals: np.ndarray, simd: int, pe: int) -> np.ndarray:
    """(MH, MW) values in weight-memory order: word nf*SF+sf, then element pe*SIMD+s."""
    mh, mw = wvals.shape
    nf, sf = mh // pe, mw // simd
    return wvals.reshape(nf, pe, sf, simd).transpose(0, 2, 1, 3).reshape(nf * sf, pe * simd)


def integer_thresholds(t: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Real thresholds on an integer accumulator in [lo, hi]: acc >= t <=> acc >= ceil(t),
    clamped into [lo, hi + 1] (every comparison keeps its result)."""
    return np.ceil(np.clip(np.asarray(t, dtype=np.float64), lo, hi + 1)).astype(np.int64)


def threshold_bits(thr: np.ndarray, pe: int, acc_bits: int) -> np.ndarray:
    """(rows, T) integer thresholds to (rows / PE, PE * T * ACC_BITS) bits, row-major per word."""
    rows, n = thr.shape
    return pack(thr.reshape(-1), elem_type(f"INT{acc_bits}"), pe * n).reshape(rows // pe, -1)


def place(layers: list[WritableLayer]) -> list[WritableLayer]:
    """The layers with their window bases: in order, each at the next multiple of its size at
    or above WINDOW_BASE."""
    out, cursor = [], WINDOW_BASE
    for la in layers:
        base = -(-cursor // la.size) * la.size
        out.append(WritableLayer(**{**asdict(la), "base": base}))
        cursor = base + la.size
    return out


def address_bits(layers: list[WritableLayer], control_bits: int = 8) -> int:
    """Address bits the control port decodes: the registers and every window."""
    end = max([1 << control_bits] + [la.base + la.size for la in layers])
    return max(control_bits, (end - 1).bit_length())


def read_dir(weights_dir, layers: list[WritableLayer]) -> dict[str, dict]:
    """A weights directory: {layer: {"w": array, "t": array}} for the files it holds.

    A file naming a layer without a window is refused, naming the writable layers.
    """
    d = Path(weights_dir)
    if not d.is_dir():
        raise DriverError(f"weights directory {d} does not exist")
    known = {la.name: la for la in layers}
    found: dict[str, dict] = {}
    for f in sorted(d.glob("*.npy")):
        kinds = [(s, k) for s, k in ((WEIGHTS_SUFFIX, "w"), (THRES_SUFFIX, "t"))
                 if f.name.endswith(s)]
        if not kinds:
            raise DriverError(f"{f}: not <layer>{WEIGHTS_SUFFIX} or <layer>{THRES_SUFFIX}")
        suffix, key = kinds[0]
        name = f.name[: -len(suffix)]
        if name not in known:
            raise DriverError(f"{f.name}: layer '{name}' has no weight window (runtime-writable "
                              "layers: " + (", ".join(known) or "none") + ")")
        try:
            found.setdefault(name, {})[key] = np.load(f, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DriverError(f"{f}: unreadable ({e})") from None
    if not found:
        raise DriverError(f"{d} holds no <layer>{WEIGHTS_SUFFIX} / <layer>{THRES_SUFFIX} files")
    return found


def dir_writes(weights_dir, layers: list[WritableLayer]) -> list[tuple[int, int]]:
    """Every register write that loads `weights_dir` (checked whole before any is made)."""
    by_name = {la.name: la for la in layers}
    out = []
    for name, arrays in read_dir(weights_dir, layers).items():
        out += by_name[name].writes(arrays.get("w"), arrays.get("t"))
    return out


def write_dir(weights_dir, arrays: dict[str, tuple]) -> Path:
    """Write a weights directory from {layer: (weights (MW, MH), thresholds (MH, T) or None)}."""
    d = Path(weights_dir)
    d.mkdir(parents=True, exist_ok=True)
    for name, (w, t) in arrays.items():
        np.save(d / f"{name}{WEIGHTS_SUFFIX}", np.asarray(w))
        if t is not None:
            np.save(d / f"{name}{THRES_SUFFIX}", np.asarray(t))
    return d
