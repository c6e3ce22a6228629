"""`Accelerator`: run frames through a deployed onebit accelerator.

>>> acc = Accelerator("deploy", backend="pynq")      # doctest: +SKIP
>>> y = acc.execute(x)                               # (N, *input shape) -> (N, *output shape)
>>> acc.throughput_test()                            # fps, latency from the cycle counter

Input frames are values of the accelerator's input datatype (e.g. uint8 or float pixels
0..255 for UINT8, -1/+1 for BIPOLAR) in the layout of the build's dataflow partition input;
outputs are float32 values of the output datatype, as the build's golden model gives them.
Buffers are allocated once for `batch_size` frames and reused; a larger `x` runs in batches.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .backend import Backend
from .bundle import Bundle
from .errors import DeviceError, DriverError
from .packing import decode_frames, encode_frames
from .regmap import AP_IDLE, MAGIC, OFF
from .weights import dir_writes

BACKENDS = ("pynq", "xrt", "sim")


def open_backend(bundle: Bundle, name: str, **kw) -> Backend:
    """The backend called `name` for `bundle`."""
    if name == "pynq":
        from .backend_pynq import PynqBackend
        return PynqBackend(bundle, **kw)
    if name == "xrt":
        from .backend_xrt import XrtBackend
        return XrtBackend(bundle, **kw)
    if name == "sim":
        from .backend_sim import SimBackend
        return SimBackend(bundle, **kw)
    raise DriverError(f"unknown backend '{name}' (known: {', '.join(BACKENDS)})")


class Accelerator:
    """The bundle's accelerator on a device (or in simulation), checked to be that design."""

    def __init__(self, bundle_dir, backend: str = "pynq", batch_size: int = 1,
                 timeout_s: float = 10.0, **backend_kw):
        if batch_size < 1:
            raise DriverError(f"batch size {batch_size} is not a positive number of frames")
        self.bundle = Bundle.load(Path(bundle_dir))
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self.dev = open_backend(self.bundle, backend, **backend_kw)
        self.inbuf = self.outbuf = None
        try:
            self._check_design()
        except BaseException:
            self.dev.close()
            raise

    def __enter__(self) -> Accelerator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.dev.close()

    def _check_design(self) -> None:
        """The device holds this bundle's design: magic, design id and frame geometry."""
        magic = self.dev.read_reg(OFF["MAGIC"])
        if magic != MAGIC:
            raise DeviceError(f"no onebit shell at '{self.bundle.ip_name}' (magic register "
                              f"0x{magic:08x}, expected 0x{MAGIC:08x})")
        did = self.dev.read_reg(OFF["DESIGN_ID"])
        if did != self.bundle.design_id:
            raise DeviceError(f"the device runs design 0x{did:08x}, the bundle is design "
                              f"0x{self.bundle.design_id:08x}: load this bundle's bitstream")
        i, o = self.bundle.input, self.bundle.output
        want = {"IN_WORD_BYTES": i.word_bytes, "OUT_WORD_BYTES": o.word_bytes,
                "IN_WORDS": i.words, "OUT_WORDS": o.words}
        for name, v in want.items():
            got = self.dev.read_reg(OFF[name])
            if got != v:
                raise DeviceError(f"register {name} reads {got}, the bundle says {v}")

    def _buffers(self):
        if self.inbuf is None:
            n = self.batch_size
            self.inbuf = self.dev.alloc(n * self.bundle.input.frame_bytes, 0)
            self.outbuf = self.dev.alloc(n * self.bundle.output.frame_bytes, 1)
        return self.inbuf, self.outbuf

    def _frames(self, x) -> np.ndarray:
        i = self.bundle.input
        x = np.asarray(x)
        if x.shape == i.shape:
            x = x[None]
        if x.ndim < 1 or x.size == 0 or x[0].size != i.elems:
            dims = ", ".join(map(str, i.shape))
            raise DriverError(f"input of shape {x.shape}: expected (N, {dims}) frames of "
                              f"{i.elems} values")
        return x.reshape(len(x), i.elems)

    def run_batch(self, frames: np.ndarray) -> tuple[np.ndarray, int]:
        """One run of up to `batch_size` frames: outputs (n, elements) and hardware cycles."""
        i, o = self.bundle.input, self.bundle.output
        n = len(frames)
        if not 0 < n <= self.batch_size:
            raise DriverError(f"{n} frames do not fit a batch of {self.batch_size}")
        inbuf, outbuf = self._buffers()
        inbuf.write(np.frombuffer(encode_frames(frames, i.elem, i.elems_per_word), np.uint8))
        self.dev.start(inbuf.address, outbuf.address, n)
        self.dev.wait(self.timeout_s)
        data = outbuf.read()[: n * o.frame_bytes]
        out = decode_frames(data, o.elem, o.elems_per_word, n, o.words, o.word_bits)
        return out, self.cycles()

    def cycles(self) -> int:
        """Clock cycles of the last run, from the shell's counter."""
        return self.dev.read_reg(OFF["CYCLES_LO"]) | (self.dev.read_reg(OFF["CYCLES_HI"]) << 32)

    def execute(self, x) -> np.ndarray:
        """Outputs (N, *output shape) of frames `x` (N, *input shape), in batches."""
        frames = self._frames(x)
        outs = [self.run_batch(frames[k : k + self.batch_size])[0]
                for k in range(0, len(frames), self.batch_size)]
        return np.concatenate(outs).reshape(len(frames), *self.bundle.output.shape)

    def throughput_test(self, frames: int | None = None) -> dict:
        """Run `frames` (default: the batch size) zero-valued frames once; hardware and host
        timing: cycles from the shell's counter at the bundle's clock, wall time around it."""
        n = frames or self.batch_size
        i = self.bundle.input
        zero = 1 if i.elem.bipolar else max(0, i.elem.lo)
        x = np.full((n, i.elems), zero, dtype=np.float32)
        t0 = time.perf_counter()
        _, cycles = self.run_batch(x)
        wall = time.perf_counter() - t0
        hw_s = cycles / (self.bundle.clock_mhz * 1e6)
        return {"frames": n, "batch_size": self.batch_size, "clock_mhz": self.bundle.clock_mhz,
                "cycles": cycles, "cycles_per_frame": cycles / n,
                "hw_latency_s": hw_s, "hw_fps": n / hw_s if hw_s else float("inf"),
                "wall_s": wall, "wall_fps": n / wall if wall else float("inf")}

    def load_weights(self, weights_dir) -> int:
        """Write a weights directory (`onebit.driver.weights`: `<layer>_weights.npy` (MW, MH),
        `<layer>_thres.npy` (MH, T)) into the runtime-writable layers' windows, through the
        control registers; the whole directory is checked before the first write. Only while
        the accelerator is idle. Returns the number of 32-bit writes."""
        if not self.bundle.weights:
            raise DriverError("this bundle has no runtime-writable layers (build with "
                              "runtime_writeable_weights: 1 in the folding config); not loading "
                              f"{weights_dir}")
        writes = dir_writes(weights_dir, list(self.bundle.weights))
        if not self.dev.read_reg(OFF["CTRL"]) & AP_IDLE:
            raise DeviceError("the accelerator is running: weights are loaded only while it is "
                              "idle")
        for addr, value in writes:
            self.dev.write_reg(addr, value)
        return len(writes)
