"""Recording stand-ins of the board libraries (`pynq`, `pyxrt`) over a Python model of the
system shell, for the driver tests.

`ShellModel` is the shell as the register map describes it, written independently of
`onebit.driver.packing`: on ap_start it reads the input frames from `Memory` byte by byte,
applies a reference function to each frame and writes the outputs back, counts cycles and sets
ap_done (clear on read). Every library call is appended to `log` as a tuple.
"""

from __future__ import annotations

import types

import numpy as np

MAGIC = 0x0B175E11


class Memory:
    """Device memory: buffers at addresses; what the device sees only changes on sync."""

    def __init__(self):
        self.regions: dict[int, bytearray] = {}
        self.next = 0x1_2000_0000  # above 4 GiB: the high address registers matter

    def new(self, nbytes: int) -> int:
        addr = self.next
        self.regions[addr] = bytearray(nbytes)
        self.next += (nbytes + 0xFFF) & ~0xFFF
        return addr

    def view(self, addr: int, n: int) -> bytearray:
        for base, buf in self.regions.items():
            if base <= addr and addr + n <= base + len(buf):
                return buf[addr - base : addr - base + n]
        raise AssertionError(f"device access outside every buffer: 0x{addr:x}+{n}")

    def store(self, addr: int, data: bytes) -> None:
        for base, buf in self.regions.items():
            if base <= addr and addr + len(data) <= base + len(buf):
                buf[addr - base : addr - base + len(data)] = data
                return
        raise AssertionError(f"device write outside every buffer: 0x{addr:x}")


def _codes(word: int, bits: int, n: int) -> list[int]:
    return [(word >> (k * bits)) & ((1 << bits) - 1) for k in range(n)]


class ShellModel:
    """The register file and a frame-by-frame datapath (`fn`: input values -> output values).

    `geometry`: dict with in/out `bits` (per element), `signed`, `epw`, `words`, `word_bytes`.
    """

    def __init__(self, log, mem: Memory, geometry: dict, fn, design_id: int,
                 cycles_per_frame: int = 1000):
        self.log, self.mem, self.g, self.fn = log, mem, geometry, fn
        self.cycles_per_frame = cycles_per_frame
        self.regs = {0x00: 0x4, 0x40: MAGIC, 0x44: design_id,
                     0x48: geometry["in"]["word_bytes"], 0x4C: geometry["out"]["word_bytes"],
                     0x50: geometry["in"]["words"], 0x54: geometry["out"]["words"]}
        self.done = False

    def read(self, off: int) -> int:
        if off == 0x00:
            v = (0x4 if not self.done else 0x6) | 0
            self.done = False  # ap_done clears on read
            return v
        return self.regs.get(off, 0)

    def write(self, off: int, val: int) -> None:
        assert off not in (0x30, 0x34, 0x40, 0x44, 0x48, 0x4C, 0x50, 0x54), f"RO 0x{off:x}"
        self.regs[off] = val & 0xFFFFFFFF
        if off == 0x00 and val & 1:
            self._run()

    def logged_read(self, off: int) -> int:
        v = self.read(off)
        self.log.append(("read", off, v))
        return v

    def logged_write(self, off: int, val: int) -> None:
        self.log.append(("write", off, val))
        self.write(off, val)

    def _frames(self, side: str, addr: int, n: int):
        g = self.g[side]
        wb, words = g["word_bytes"], g["words"]
        raw = self.mem.view(addr, n * words * wb)
        out = []
        for f in range(n):
            vals = []
            for w in range(words):
                off = (f * words + w) * wb
                word = int.from_bytes(raw[off : off + wb], "little")
                vals += _codes(word, g["bits"], g["epw"])
            out.append(vals)
        return out

    def _run(self) -> None:
        n = self.regs[0x28]
        src = self.regs[0x10] | self.regs[0x14] << 32
        dst = self.regs[0x1C] | self.regs[0x20] << 32
        gi, go = self.g["in"], self.g["out"]
        data = bytearray()
        for codes in self._frames("in", src, n):
            vals = [c - (1 << gi["bits"]) if gi["signed"] and c >> (gi["bits"] - 1) else c
                    for c in codes]
            outs = self.fn(vals)
            assert len(outs) == go["words"] * go["epw"]
            for w in range(go["words"]):
                word = 0
                for k, v in enumerate(outs[w * go["epw"] : (w + 1) * go["epw"]]):
                    word |= (int(v) & ((1 << go["bits"]) - 1)) << (k * go["bits"])
                data += word.to_bytes(go["word_bytes"], "little")
        self.mem.store(dst, bytes(data))
        cycles = n * self.cycles_per_frame + 77
        self.regs[0x30], self.regs[0x34] = cycles & 0xFFFFFFFF, cycles >> 32
        self.done = True


def fake_pynq(log: list, shell: ShellModel, ip_name: str, mem_names=("bank0",)):
    """A `pynq` module: Overlay (ip_dict, the IP's read/write), allocate, buffers with sync."""
    mod = types.ModuleType("pynq")
    mem = shell.mem

    class Buffer(np.ndarray):
        def sync_to_device(self):
            log.append(("sync_to_device", self.device_address, self.nbytes))
            mem.store(self.device_address, self.tobytes())

        def sync_from_device(self):
            log.append(("sync_from_device", self.device_address, self.nbytes))
            self[:] = np.frombuffer(bytes(mem.view(self.device_address, self.nbytes)),
                                    dtype=self.dtype).reshape(self.shape)

        def freebuffer(self):
            log.append(("freebuffer", self.device_address))

    def allocate(shape, dtype="u4", target=None, **kw):
        a = np.zeros(shape, dtype=dtype)
        log.append(("allocate", tuple(shape), np.dtype(dtype).name, target))
        buf = a.view(Buffer)
        buf.device_address = mem.new(a.nbytes)
        return buf

    class IP:
        def read(self, off):
            return shell.logged_read(off)

        def write(self, off, val):
            shell.logged_write(off, val)

    class Overlay:
        def __init__(self, path, download=True):
            log.append(("Overlay", path, download))
            self.ip_dict = {ip_name: {"phys_addr": 0xA000_0000}}
            setattr(self, ip_name, IP())
            for m in mem_names:
                setattr(self, m, f"<memory {m}>")

    mod.Overlay, mod.allocate = Overlay, allocate
    return mod


def fake_pyxrt(log: list, shell: ShellModel, kernel_name: str):
    """A `pyxrt` module: device, xclbin, kernel (exclusive CU, registers, group_id), bo."""
    mod = types.ModuleType("pyxrt")
    mem = shell.mem
    mod.xclBOSyncDirection = types.SimpleNamespace(XCL_BO_SYNC_BO_TO_DEVICE="to_device",
                                                   XCL_BO_SYNC_BO_FROM_DEVICE="from_device")

    class xclbin:  # noqa: N801 - pyxrt's name
        def __init__(self, path):
            log.append(("xclbin", path))
            self.path = path

    class device:  # noqa: N801
        def __init__(self, index):
            log.append(("device", index))

        def load_xclbin(self, xb):
            log.append(("load_xclbin", xb.path))
            return "uuid-1"

    class kernel:  # noqa: N801
        cu_access_mode = types.SimpleNamespace(exclusive="exclusive", shared="shared")

        def __init__(self, dev, uuid, name, mode="shared"):
            log.append(("kernel", uuid, name, mode))
            assert name == kernel_name and mode == "exclusive"

        def group_id(self, arg):
            return 10 + arg

        def read_register(self, off):
            return shell.logged_read(off)

        def write_register(self, off, val):
            shell.logged_write(off, val)

    class bo:  # noqa: N801
        normal = "normal"

        def __init__(self, dev, size, flags, group):
            log.append(("bo", size, flags, group))
            self.size, self.host = size, bytearray(size)
            self.addr = mem.new(size)

        def address(self):
            return self.addr

        def write(self, data, seek):
            b = bytes(np.asarray(data, dtype=np.uint8))
            log.append(("bo.write", self.addr, len(b), seek))
            self.host[seek : seek + len(b)] = b

        def sync(self, direction, size, offset):
            log.append(("bo.sync", self.addr, direction, size, offset))
            if direction == "to_device":
                mem.store(self.addr + offset, bytes(self.host[offset : offset + size]))
            else:
                self.host[offset : offset + size] = mem.view(self.addr + offset, size)

        def read(self, size, skip):
            log.append(("bo.read", self.addr, size, skip))
            return np.frombuffer(bytes(self.host[skip : skip + size]), dtype=np.int8)

    mod.xclbin, mod.device, mod.kernel, mod.bo = xclbin, device, kernel, bo
    return mod
