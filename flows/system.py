"""`onebit sim BUILD --system`: frames memory -> shell -> accelerator -> memory, as on a board.

The build's kernel (onebit_shell around its accelerator, `onebit.hw.shell`) runs in the
whole-system simulation (`onebit.hw.system.SystemSim`) against the AXI memory model. The host
side does what a board driver does: input frames into memory in the shell's layout
(`packing.frames_to_bytes`), checks MAGIC, DESIGN_ID and the geometry registers, writes the
addresses and the frame count, sets ap_start, polls ap_done, reads the cycle counter and the
output frames. The outputs must equal FINN's golden execution bit for bit; only then is the
run recorded in `report.json` under `"system_sim"`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from onebit.errors import OnebitError, UserInputError, VerificationError
from onebit.flows.build import (
    VECTORS,
    distinct_count,
    golden_contexts,
    golden_outputs,
    load_intermediate,
    write_report,
)
from onebit.flows.builddir import claim
from onebit.hw import packing
from onebit.hw.accelerator import MANIFEST, Accelerator, pack_frames
from onebit.hw.shell import REGISTERS, design_id
from onebit.hw.system import SystemSim, host_run
from onebit.verify import compare

IN_ADDR = 0x1_0000_0000 - 0x1000
"""Where the input frames go: one page below 4 GiB, so a longer input crosses the 4 GiB line
(the high address word matters) and every 4 KiB boundary on the way."""
PAGE = 0x1000


def _check_geometry(sim: SystemSim, manifest: bytes) -> None:
    """The registers a driver checks before it trusts a bundle: design id and geometry."""
    g, r = sim.kernel.geometry, REGISTERS
    want = {"DESIGN_ID": design_id(manifest), "IN_WORD_BYTES": g.in_word_bytes,
            "OUT_WORD_BYTES": g.out_word_bytes, "IN_WORDS": g.in_words,
            "OUT_WORDS": g.out_words}
    for name, v in want.items():
        got = sim.read_reg(r[name])
        if got != v:
            raise VerificationError("system_sim", f"register {name} reads {got:#x}, the build "
                                    f"says {v:#x}")


def run_system(out: Path, frames: int, *, seed: int = 0, data_width: int = 64,
               cache_dir: Path | None = None) -> dict:
    """Simulate `frames` frames (cycling over the build's vectors) through the whole system."""
    out = Path(out)
    rtl = out / "rtl"
    acc = Accelerator.load(rtl)
    x = np.load(out / VECTORS)["x"]
    distinct = min(frames, len(x))
    dataflow = load_intermediate(out, "dataflow_golden")
    xin, golden = golden_contexts(load_intermediate(out, "hw_layers"), dataflow, x[:distinct])
    order = np.arange(frames) % distinct
    oname = dataflow.graph.output[0].name
    expected = golden_outputs(dataflow, golden)[order]

    first, last = acc.first, acc.last
    with SystemSim(out, data_width=data_width, seed=seed, cache_dir=cache_dir) as sim:
        g = sim.kernel.geometry
        _check_geometry(sim, (rtl / MANIFEST).read_bytes())
        data = packing.frames_to_bytes(pack_frames(xin[order], first.dt, first.epw), g.in_bits)
        n_out = frames * g.out_frame_bytes
        out_addr = IN_ADDR + -(-len(data) // PAGE) * PAGE + PAGE
        sim.mem_write(IN_ADDR, data)
        sim.allocate(out_addr, n_out)
        budget = 10_000_000 + 1000 * frames * (g.in_words + g.out_words)
        cycles = host_run(sim, IN_ADDR, out_addr, frames, budget)
        words = packing.bytes_to_frames(sim.mem_read(out_addr, n_out), g.out_bits,
                                        frames * g.out_words)
        stats = sim.stats()
    got = packing.unpack(words, last.dt, last.epw).reshape(frames, -1)
    compare("system_sim", expected, got, reference="finn_golden", layer=oname)
    return {
        "bit_exact": True,
        "frames": frames,
        "distinct_vectors": distinct_count(x[:distinct]),
        "seed": seed,
        "data_width": data_width,
        "cycles": cycles,
        "cycles_per_frame": cycles / frames,
        "in_bytes": len(data),
        "out_bytes": n_out,
        "memory": stats,
    }


def simulate_system(out_dir: Path, frames: int, *, seed: int = 0, data_width: int = 64) -> dict:
    """`run_system` on a finished build; records the result in its report when verified.

    A failure removes an older `"system_sim"` entry (it no longer describes the build) and
    raises; the rest of the report is left as it was.
    """
    out = Path(out_dir)
    report_path = out / "report.json"
    if not report_path.is_file() or not (out / "rtl" / MANIFEST).is_file() \
            or not (out / VECTORS).is_file():
        raise UserInputError(f"{out} is not a onebit build with RTL (no report.json, "
                             f"rtl/{MANIFEST} or {VECTORS}); run onebit build")
    with claim(out, fresh=False):
        try:
            report = json.loads(report_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserInputError(f"{report_path}: unreadable report ({e})") from None
        try:
            result = run_system(out, frames, seed=seed, data_width=data_width)
        except OnebitError:
            if report.pop("system_sim", None) is not None:
                write_report(report_path, report)
            raise
        report["system_sim"] = result
        write_report(report_path, report)
    return result
