"""What the driver needs from a device library: device buffers and the shell's registers.

Each backend (`pynq`, `xrt`, `sim`) implements `alloc`, `read_reg`, `write_reg` and `close`;
a buffer has `address`, `write(uint8 array)` (copy in, then make it visible to the device) and
`read() -> uint8 array` (make the device's writes visible, then copy out). The register
sequence of a run (`start`, `wait`) is the same on every backend.
"""

from __future__ import annotations

import time

from .errors import DeviceError
from .regmap import AP_DONE, AP_START, OFF


class Backend:
    name = "?"

    def alloc(self, nbytes: int, arg: int):
        """A device buffer of `nbytes` for kernel argument `arg` (0 input, 1 output)."""
        raise NotImplementedError

    def read_reg(self, offset: int) -> int:
        raise NotImplementedError

    def write_reg(self, offset: int, value: int) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def start(self, in_addr: int, out_addr: int, frames: int) -> None:
        """Program the addresses and the frame count, then set ap_start."""
        for name, v in (("IN_ADDR_LO", in_addr & 0xFFFFFFFF), ("IN_ADDR_HI", in_addr >> 32),
                        ("OUT_ADDR_LO", out_addr & 0xFFFFFFFF), ("OUT_ADDR_HI", out_addr >> 32),
                        ("FRAMES", frames)):
            self.write_reg(OFF[name], v)
        self.write_reg(OFF["CTRL"], AP_START)

    def wait(self, timeout_s: float) -> None:
        """Poll CTRL until ap_done (clear on read: seen once)."""
        deadline = time.monotonic() + timeout_s
        while not self.read_reg(OFF["CTRL"]) & AP_DONE:
            if time.monotonic() > deadline:
                raise DeviceError(f"the accelerator did not finish within {timeout_s:g} s "
                                  "(ap_done never set)")
