"""`onebit sim BUILD --test-set`: every test image of a dataset through the simulated accelerator.

The build checked its RTL on a few dozen vectors; here the whole test split streams through the
same compiled design and every output is compared with FINN's golden execution, so the
accuracy reported is the hardware's, measured, not inferred. The design's simulator is
compiled once (`compile_s`; the build's own simulation had taps, a different executable),
then the split is cut into contiguous slices (`slice_count`), each one Verilator run (a
subprocess), `jobs` at a time, while this process computes FINN's golden execution of the
build's graph (`flows/golden.py`: the dataflow partition batched, BLAS on one thread: the
simulators hold the other cores, and OpenBLAS threads spin against them). A differing output
fails with the image's index.
The hardware accuracy is the graph's output (the accelerator's, the software nodes after it
applied) against the labels; the build's torch accuracy on the same split is beside it.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from onebit.errors import UserInputError, VerificationError

GOLDEN_BYTES, GOLDEN_MIN = 8 << 20, 16
"""The golden model takes as many images at a time as their tensors fit in `GOLDEN_BYTES`, at
least `GOLDEN_MIN`: a batch whose tensors outgrow the caches runs slower an image, and each
batch costs every node's call overhead once (FINN's TFC-W1A1: 1,184 images a batch, CNV-W1A1:
16)."""


SLICE_CYCLES, SLICES_PER_JOB = 100_000, 4
"""The test set runs as slices, each one simulator process, `jobs` at a time: a job done with
its slice takes the next, so no core idles while another works through a long last slice.
Up to `SLICES_PER_JOB` a job, none shorter than `SLICE_CYCLES` of the design (a process costs
a few milliseconds to start: FINN's TFC-W1A1, 64 cycles a frame, runs 10,000 images as 6)."""


SWITCH_S = 0.0005
"""Python's thread switch interval during a test set run (its default is 5 ms): a thread whose
simulator finished waits for this process's lock while the golden model computes, to read the
outputs and start the next slice, its core idle meanwhile."""


@contextlib.contextmanager
def _switch_interval(seconds: float):
    old = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def slice_count(n: int, jobs: int, report: dict) -> int:
    """Slices of a test set of `n` frames for `jobs` simulators, by the build's simulated (or
    else estimated) cycles a frame."""
    cpf = ((report.get("sim") or {}).get("cycles_per_frame")
           or (report.get("estimate") or {}).get("cycles_per_frame") or SLICE_CYCLES)
    longest = max(1, n * float(cpf) // SLICE_CYCLES)
    return int(max(1, min(n, max(jobs, min(SLICES_PER_JOB * jobs, longest)))))


def _simulate(acc, exe: Path, rtl: Path, words) -> tuple[np.ndarray, int, float]:
    """The stitched design `acc`'s outputs for the input `words` of some frames (one run of its
    simulator `exe`, a subprocess: a thread waiting on it holds no core), its cycles and
    seconds."""
    from onebit.hw.accelerator import run_frames

    t0 = time.perf_counter()
    got, res = run_frames(acc, acc.top, words, run_dir=rtl, exe=exe)
    return got, int(res.cycles), time.perf_counter() - t0


def _compile(acc) -> tuple[Path, float]:
    """The simulator of the stitched design `acc` (compiled once, before the slices, or found
    in the cache) and the seconds that took."""
    from onebit.hw.sim import build_instance_sim

    t0 = time.perf_counter()
    exe = build_instance_sim(acc.top)
    return exe, time.perf_counter() - t0


def _check(got: np.ndarray, want: np.ndarray, first: int, where: str) -> None:
    """`got` (the simulator's outputs of images from `first`) equals FINN's golden `want`."""
    got = got.reshape(want.shape)
    bad = np.argwhere(got != want)
    if len(bad):
        i, j = (int(k) for k in bad[0])
        raise VerificationError(
            "rtlsim", f"test image {first + i}, output {j}: got {got[i, j]:g}, FINN golden "
            f"{want[i, j]:g} ({len(np.unique(bad[:, 0]))} images differ)", where,
            (first + i, j))


def predictions(parent, final: np.ndarray) -> np.ndarray:
    """The class of each row of the graph's outputs: the first index of a graph ending in
    TopK/LabelSelect, else the largest score."""
    last = parent.find_producer(parent.graph.output[0].name)
    if last is not None and last.op_type.startswith(("TopK", "LabelSelect")):
        return final[:, 0].astype(np.int64)
    return final.argmax(axis=1)


def run_test_set(out_dir: Path, *, dataset: str | None = None, data_dir=None,
                 limit: int | None = None, jobs: int = 2) -> dict:
    """Stream the test split of `dataset` (default: the build's) through the simulated design;
    records `"sim": {"test_set": {...}}` in `report.json` and returns it."""
    from threadpoolctl import threadpool_limits

    from onebit import data
    from onebit.flows.build import load_intermediate, write_report
    from onebit.flows.builddir import claim
    from onebit.flows.golden import Golden
    from onebit.flows.inputs import test_vectors
    from onebit.hw.accelerator import MANIFEST, Accelerator, frame_words

    out = Path(out_dir)
    path = out / "report.json"
    if not (out / "rtl" / MANIFEST).is_file() or not path.is_file():
        raise UserInputError(f"{out} is not a onebit build with RTL (run onebit build)")
    report = json.loads(path.read_text())
    name = dataset or (report.get("meta") or {}).get("dataset")
    if not name:
        raise UserInputError(f"{out}: the build names no dataset; give --dataset")
    ds = data.load(name, data_dir)
    n = len(ds.split("test")[1]) if limit is None else limit
    x, y = test_vectors(ds, n)
    parent = load_intermediate(out, "hw_layers")
    want = int(np.prod(parent.get_tensor_shape(parent.graph.input[0].name)))
    if int(np.prod(x.shape[1:])) != want:
        raise UserInputError(f"--test-set: {name} images have shape {x.shape[1:]}, the build "
                             f"takes {want} values a frame")
    with claim(out, fresh=False), _switch_interval(SWITCH_S):
        t0 = time.perf_counter()
        design = Accelerator.load(out / "rtl")
        exe, compile_s = _compile(design)
        golden = Golden(parent, load_intermediate(out, "dataflow_golden"))
        xin = golden.pre(x)
        cuts = np.array_split(np.arange(len(x)), slice_count(len(x), jobs, report))
        # each slice's words packed here, before the golden model holds this process: the
        # first simulators start at once and run while it computes, on the cores it leaves
        jobs = max(1, min(jobs, len(cuts)))
        with ThreadPoolExecutor(jobs) as pool:
            sims = [pool.submit(_simulate, design, exe, out / "rtl",
                                frame_words(design, design.top, xin[c[0] : c[-1] + 1]))
                    for c in cuts]
            t1 = time.perf_counter()
            chunk = max(GOLDEN_MIN, GOLDEN_BYTES // golden.dataflow.image_bytes)
            with threadpool_limits(1):
                parts = [golden.dataflow(xin[i : i + chunk]) for i in range(0, len(xin), chunk)]
            want = np.concatenate(parts)
            final = golden.post(want)
            golden_s = time.perf_counter() - t1
            for c, f in zip(cuts, sims, strict=True):
                got, _, _ = f.result()
                _check(got, want[c], int(c[0]), golden.dataflow.out)
        wall = time.perf_counter() - t0
        sim_s = [f.result()[2] for f in sims]
        pred = predictions(parent, final)
        acc = float((pred == y).mean())
        torch_acc = (report.get("meta") or {}).get("test_accuracy") if limit is None else None
        entry = {
            "dataset": name, "frames": len(x), "bit_exact": True, "accuracy": acc,
            "torch_accuracy": torch_acc,
            "matches_torch": None if torch_acc is None else acc == torch_acc,
            "jobs": jobs, "slices": len(cuts), "seconds": round(wall, 3),
            "frames_per_s": round(len(x) / wall, 1),
            "compile_s": round(compile_s, 3),
            "frames_per_s_steady": round(len(x) / max(wall - compile_s, 1e-9), 1),
            "golden_s": round(golden_s, 3),
            "sim_s": round(sum(sim_s), 3),
            "sim_frames_per_s": round(len(x) * jobs / max(sum(sim_s), 1e-9), 1),
            "golden_batched": bool(golden.dataflow.batched),
        }
        report = json.loads(path.read_text())
        report.setdefault("sim", {})["test_set"] = entry
        write_report(path, report)
    return entry
