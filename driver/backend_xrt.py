"""The `xrt` backend: XRT's Python bindings (`pyxrt`) on an Alveo host.

The xclbin is loaded on device 0, the kernel opened in exclusive mode (the driver reads and
writes its registers itself), buffers are allocated in the memory bank of the kernel's
argument (`group_id`) and synchronised explicitly.
"""

from __future__ import annotations

import numpy as np

from .backend import Backend
from .errors import DriverError


class XrtBuffer:
    def __init__(self, pyxrt, bo, nbytes: int):
        self.pyxrt, self.bo, self.nbytes = pyxrt, bo, nbytes
        self.address = int(bo.address())

    def write(self, data: np.ndarray) -> None:
        self.bo.write(np.ascontiguousarray(data, dtype=np.uint8), 0)
        d = self.pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE
        self.bo.sync(d, int(data.size), 0)

    def read(self) -> np.ndarray:
        d = self.pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_FROM_DEVICE
        self.bo.sync(d, self.nbytes, 0)
        return np.asarray(self.bo.read(self.nbytes, 0)).view(np.uint8).reshape(-1)


class XrtBackend(Backend):
    name = "xrt"

    def __init__(self, bundle, device_index: int = 0):
        try:
            import pyxrt
        except ImportError:
            raise DriverError("backend 'xrt' needs XRT's Python bindings (pyxrt: source "
                              "/opt/xilinx/xrt/setup.sh)") from None
        if bundle.shell != "alveo":
            raise DriverError(f"backend 'xrt' runs Alveo bundles; {bundle.board} is a "
                              f"{bundle.shell} board (use --backend pynq)")
        path = bundle.root / bundle.bitfile
        if not path.is_file():
            raise DriverError(f"{path} is missing: link it with the bundle's build.sh where "
                              "Vitis is installed")
        self.pyxrt = pyxrt
        self.device = pyxrt.device(device_index)
        self.uuid = self.device.load_xclbin(pyxrt.xclbin(str(path)))
        self.kernel = pyxrt.kernel(self.device, self.uuid, bundle.kernel,
                                   pyxrt.kernel.cu_access_mode.exclusive)

    def alloc(self, nbytes: int, arg: int) -> XrtBuffer:
        bo = self.pyxrt.bo(self.device, nbytes, self.pyxrt.bo.normal, self.kernel.group_id(arg))
        return XrtBuffer(self.pyxrt, bo, nbytes)

    def read_reg(self, offset: int) -> int:
        return int(self.kernel.read_register(offset))

    def write_reg(self, offset: int, value: int) -> None:
        self.kernel.write_register(offset, int(value))
