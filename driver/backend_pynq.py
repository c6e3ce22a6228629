"""The `pynq` backend: PYNQ's Overlay, `allocate` and the IP's MMIO (Zynq-7000, Zynq
UltraScale+ MPSoC and Alveo images).

On Zynq the overlay is the bitstream with its `.hwh` beside it and buffers come from PYNQ's
contiguous memory; on Alveo the overlay is the `.xclbin` and buffers are allocated in the
memory bank the kernel was linked to (`bundle.memory`).
"""

from __future__ import annotations

import numpy as np

from .backend import Backend
from .errors import DriverError


class PynqBuffer:
    def __init__(self, buf):
        self.buf = buf
        self.address = int(buf.device_address)
        self.nbytes = int(buf.nbytes)

    def write(self, data: np.ndarray) -> None:
        self.buf[: data.size] = data
        self.buf.sync_to_device()

    def read(self) -> np.ndarray:
        self.buf.sync_from_device()
        return np.array(self.buf, dtype=np.uint8)

    def free(self) -> None:
        self.buf.freebuffer()


class PynqBackend(Backend):
    name = "pynq"

    def __init__(self, bundle, download: bool = True):
        try:
            import pynq
        except ImportError:
            raise DriverError("backend 'pynq' needs the pynq package (a PYNQ board image or "
                              "`pip install pynq` on an Alveo host)") from None
        self.pynq = pynq
        path = bundle.root / bundle.bitfile
        if not path.is_file():
            raise DriverError(f"{path} is missing: build it with the bundle's build.sh where "
                              "Vivado/Vitis is installed, then copy the bundle to the board")
        self.overlay = pynq.Overlay(str(path), download=download)
        ip_names = list(getattr(self.overlay, "ip_dict", {}))
        if bundle.ip_name not in ip_names:
            raise DriverError(f"{path.name} has no IP '{bundle.ip_name}' (it has: "
                              f"{', '.join(ip_names) or 'none'})")
        self.ip = getattr(self.overlay, bundle.ip_name)
        self.target = getattr(self.overlay, bundle.memory) if bundle.shell == "alveo" else None
        self.buffers: list[PynqBuffer] = []

    def alloc(self, nbytes: int, arg: int) -> PynqBuffer:
        kw = {} if self.target is None else {"target": self.target}
        buf = PynqBuffer(self.pynq.allocate(shape=(nbytes,), dtype=np.uint8, **kw))
        self.buffers.append(buf)
        return buf

    def read_reg(self, offset: int) -> int:
        return int(self.ip.read(offset))

    def write_reg(self, offset: int, value: int) -> None:
        self.ip.write(offset, int(value))

    def close(self) -> None:
        for b in self.buffers:
            b.free()
        self.buffers = []
