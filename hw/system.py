"""Whole-system simulation: the kernel (onebit_shell + accelerator) against an AXI memory model.

`SystemSim` compiles the kernel top of a build (`onebit.hw.shell.write_kernel`) with the C++
harness `hw/rtl/sim/system_driver.cpp` (cached, see `onebit.hw.verilator`) and runs it as a
child process that a host drives line by line: AXI-Lite register accesses through the real
control port, host reads and writes of the model's memory, clock cycles. The memory model
answers with random latency and random ready/valid stalls (seeded) and fails the run on any
AXI protocol violation of the design (`SimulationError`, reason "protocol violation").

>>> with SystemSim("build") as sim:  # doctest: +SKIP
...     sim.mem_write(0x1000_0000, data)
...     sim.write_reg(REGISTERS["IN_ADDR_LO"], 0x1000_0000)
...     ...
...     sim.write_reg(REGISTERS["CTRL"], AP_START)
...     assert sim.wait_done(1_000_000)
"""

from __future__ import annotations

import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from onebit.errors import UserInputError
from onebit.hw import proc, verilator
from onebit.hw.shell import (
    AP_DONE,
    AP_START,
    KERNEL,
    MAGIC,
    REGISTERS,
    Kernel,
    write_kernel,
)
from onebit.hw.sim import SimulationError


def driver_source() -> Path:
    """The C++ system driver shipped with onebit."""
    return Path(str(resources.files("onebit.hw") / "rtl" / "sim" / "system_driver.cpp"))


def build_system(kernel: Kernel, cache_dir: Path | str | None = None) -> Path:
    """Compile (or find in the cache) the system driver executable of a written kernel."""
    return verilator.build(kernel.sources, kernel.top, harness=[driver_source()],
                           extra_args=["-CFLAGS", f"-DDATA_WIDTH={kernel.data_width}",
                                       "-Wno-DECLFILENAME"],
                           cache_dir=cache_dir)


def _rtl_dir(build: Path) -> Path:
    from onebit.hw.accelerator import MANIFEST

    build = Path(build)
    for d in (build / "rtl", build):
        if (d / MANIFEST).is_file():
            return d
    raise UserInputError(f"{build} is not a onebit build with RTL (no rtl/{MANIFEST}); run "
                         "onebit build")


def _prob(name: str, p: float) -> float:
    if not 0 < p <= 1:
        raise UserInputError(f"{name}={p}: a probability in (0, 1] expected")
    return float(p)


def _latency(name: str, lat: tuple[int, int]) -> str:
    lo, hi = (int(v) for v in lat)
    if not 0 <= lo <= hi:
        raise UserInputError(f"{name}={lat}: (min, max) cycles with 0 <= min <= max expected")
    return f"{lo}:{hi}"


class SystemSim:
    """The kernel of a build (or a written `Kernel`) in Verilator, driven like a host.

    `source`: a build directory (or its `rtl/`), whose kernel top is written for `data_width`
    bits of AXI data, or a `Kernel` already written (`run_dir`: where its memory files are).
    The memory model: `seed`; `read_latency`/`write_latency` (min, max) cycles from a read
    burst's address to its first beat and from a write burst's last beat to its response;
    `p_ready` the chance that ARREADY/AWREADY/WREADY are high in a cycle, `p_valid` that a due
    RVALID/BVALID is offered, `p_lite` that the host's AXI-Lite valid/ready are. Host memory
    writes allocate what they write; the device may only touch allocated bytes (`allocate`).
    """

    def __init__(self, source: Path | str | Kernel, *, data_width: int = 64, seed: int = 0,
                 read_latency: tuple[int, int] = (2, 40), write_latency: tuple[int, int] = (2, 40),
                 p_ready: float = 0.7, p_valid: float = 0.7, p_lite: float = 0.7,
                 run_dir: Path | str | None = None, cache_dir: Path | str | None = None):
        args = [f"seed={int(seed)}", f"rd_lat={_latency('read_latency', read_latency)}",
                f"wr_lat={_latency('write_latency', write_latency)}",
                f"p_ready={_prob('p_ready', p_ready)!r}", f"p_valid={_prob('p_valid', p_valid)!r}",
                f"p_lite={_prob('p_lite', p_lite)!r}"]
        self._tmp = tempfile.TemporaryDirectory(prefix="onebit-system-")
        self._err = tempfile.TemporaryFile(mode="w+")
        self._p: subprocess.Popen | None = None
        try:
            if isinstance(source, Kernel):
                self.kernel = source
            else:  # the kernel top lives in a temporary folder while the simulation runs
                rtl = _rtl_dir(Path(source))
                run_dir = run_dir or rtl
                self.kernel = write_kernel(rtl, data_width, Path(self._tmp.name))
            exe = build_system(self.kernel, cache_dir)
        except BaseException:
            self.close()
            raise
        self._p = subprocess.Popen(
            [str(exe), *args], cwd=run_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._err, text=True, start_new_session=True)

    # -- the line protocol
    def _cmd(self, line: str) -> list[str]:
        p = self._p
        if p is None:
            raise SimulationError("driver error", "the system simulation is closed")
        try:
            p.stdin.write(line + "\n")
            p.stdin.flush()
            answer = p.stdout.readline()
        except BrokenPipeError:
            answer = ""
        except BaseException:
            self._kill()
            raise
        if answer.startswith("ok"):
            return answer.split()[1:]
        if answer.startswith("error protocol:"):
            self._kill()
            raise SimulationError("protocol violation", answer[len("error protocol:"):].strip())
        if answer.startswith("error"):
            raise SimulationError("host command", f"{line.split()[0]}: {answer[6:].strip()}")
        self._kill()
        self._err.seek(0)
        why = self._err.read().strip().splitlines()
        raise SimulationError("driver error", f"the system driver stopped (exit {p.returncode})"
                              + (f": {why[-1]}" if why else ""))

    def _kill(self) -> None:
        if self._p is not None:
            proc.kill_group(self._p)
            self._p = None

    # -- the host's view
    def write_reg(self, off: int, val: int) -> None:
        """AXI-Lite write of a 32-bit register through the control port."""
        self._cmd(f"W {int(off):#x} {int(val) & 0xFFFFFFFF:#x}")

    def read_reg(self, off: int) -> int:
        """AXI-Lite read of a 32-bit register (CTRL's ap_done/ap_ready clear, as on a board)."""
        return int(self._cmd(f"R {int(off):#x}")[0])

    def allocate(self, addr: int, n: int) -> None:
        """Make `n` bytes at `addr` memory the device may read and write (zero-filled)."""
        self._cmd(f"A {int(addr):#x} {int(n)}")

    def mem_write(self, addr: int, data: bytes) -> None:
        """Host write of `data` at `addr` (the bytes become allocated)."""
        data = bytes(data)
        if len(data) > 1 << 20:
            with tempfile.NamedTemporaryFile(suffix=".bin") as f:
                f.write(data)
                f.flush()
                self._cmd(f"L {int(addr):#x} {f.name}")
        elif data:
            self._cmd(f"M {int(addr):#x} {data.hex()}")

    def mem_read(self, addr: int, n: int) -> bytes:
        """Host read of `n` allocated bytes at `addr`."""
        if n == 0:
            return b""
        return bytes.fromhex(self._cmd(f"D {int(addr):#x} {int(n)}")[0])

    def run(self, cycles: int) -> int:
        """Run `cycles` clock cycles; returns the cycle count since reset."""
        return int(self._cmd(f"RUN {int(cycles)}")[0])

    @property
    def cycle(self) -> int:
        """Clock cycles since reset."""
        return self.run(0)

    def wait_done(self, max_cycles: int, interval: int = 16) -> bool:
        """Poll CTRL (every `interval` cycles, as a driver does) until ap_done; False after
        `max_cycles`. The read that sees ap_done clears it."""
        hit, _, _ = self._cmd(f"POLL 0x0 {AP_DONE:#x} {int(max_cycles)} {int(interval)}")
        return hit == "1"

    def wait_irq(self, max_cycles: int) -> bool:
        """Run until the interrupt line is high; False after `max_cycles`."""
        return self._cmd(f"WAIT_IRQ {int(max_cycles)}")[0] == "1"

    def stats(self) -> dict[str, int]:
        """Counters of the memory model (bursts, beats, outstanding maxima, stalls)."""
        return {k: int(v) for k, v in (kv.split("=") for kv in self._cmd("STATS"))}

    def close(self) -> None:
        """Stop the simulation (idempotent)."""
        if self._p is not None:
            try:
                self._cmd("Q")
                self._p.wait(timeout=10)
            except (SimulationError, subprocess.TimeoutExpired, OSError):
                pass
            self._kill()
        self._err.close()
        self._tmp.cleanup()

    def __enter__(self) -> SystemSim:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def host_run(sim: SystemSim, in_addr: int, out_addr: int, frames: int,
             max_cycles: int) -> int:
    """What a board driver does for one run: addresses, frame count, ap_start, poll ap_done.

    Checks the shell's magic number first; returns the hardware cycle count of the run.
    """
    r = REGISTERS
    magic = sim.read_reg(r["MAGIC"])
    if magic != MAGIC:
        raise SimulationError("host command", f"MAGIC reads {magic:#x}, not {MAGIC:#x}: not a "
                              "onebit shell")
    for name, v in (("IN_ADDR", in_addr), ("OUT_ADDR", out_addr)):
        sim.write_reg(r[f"{name}_LO"], v & 0xFFFFFFFF)
        sim.write_reg(r[f"{name}_HI"], v >> 32)
    sim.write_reg(r["FRAMES"], frames)
    sim.write_reg(r["CTRL"], AP_START)
    if not sim.wait_done(max_cycles):
        raise SimulationError("watchdog", f"no ap_done within {max_cycles} cycles of ap_start "
                              f"({frames} frames)")
    return sim.read_reg(r["CYCLES_LO"]) | sim.read_reg(r["CYCLES_HI"]) << 32


__all__ = ["KERNEL", "SystemSim", "build_system", "host_run"]
