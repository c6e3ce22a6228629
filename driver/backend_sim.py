"""The `sim` backend: the whole system (shell + accelerator, Verilator) with a memory model,
driven through the same registers and memory layout as a board (`onebit.hw.system`).

Needs onebit installed: the simulator is built from the bundle's copy of the build's RTL
(`sim/rtl/`, or another build directory); buffers are regions of the simulated memory.
"""

from __future__ import annotations

import numpy as np

from .backend import Backend
from .errors import DeviceError, DriverError

SIM_DIR = "sim"
"""The bundle's copy of the build's `rtl/` lies in `<bundle>/sim/rtl/`: a build directory for
`SystemSim`."""
BASE = 0x1000_0000
ALIGN = 4096


class SimBuffer:
    def __init__(self, sim, address: int, nbytes: int):
        self.sim, self.address, self.nbytes = sim, address, nbytes

    def write(self, data: np.ndarray) -> None:
        self.sim.mem_write(self.address, np.ascontiguousarray(data, dtype=np.uint8).tobytes())

    def read(self) -> np.ndarray:
        return np.frombuffer(self.sim.mem_read(self.address, self.nbytes), dtype=np.uint8).copy()


class SimBackend(Backend):
    name = "sim"

    def __init__(self, bundle, build_dir=None, max_cycles: int = 50_000_000):
        try:
            from onebit.hw.system import SystemSim
        except ImportError:
            raise DriverError("backend 'sim' needs onebit with its system simulation "
                              "(onebit.hw.system) installed") from None
        src = build_dir if build_dir is not None else bundle.root / SIM_DIR
        self.sim = SystemSim(src, data_width=bundle.axi_data_width)
        self.max_cycles = max_cycles
        self.next = BASE

    def alloc(self, nbytes: int, arg: int) -> SimBuffer:
        buf = SimBuffer(self.sim, self.next, nbytes)
        self.sim.allocate(self.next, nbytes)  # memory the device may read and write
        self.next += -(-nbytes // ALIGN) * ALIGN
        return buf

    def read_reg(self, offset: int) -> int:
        return int(self.sim.read_reg(offset))

    def write_reg(self, offset: int, value: int) -> None:
        self.sim.write_reg(offset, int(value))

    def wait(self, timeout_s: float) -> None:
        """Poll CTRL in the simulator (its read that sees ap_done clears it, as on a board)."""
        if not self.sim.wait_done(self.max_cycles):
            raise DeviceError(f"the simulated accelerator did not finish in {self.max_cycles:,} "
                              "cycles")

    def close(self) -> None:
        self.sim.close()
