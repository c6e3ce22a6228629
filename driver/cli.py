"""The bundle's command line (`python driver.py ...`), in the shape of FINN's driver:

    python driver.py --exec_mode execute --input x.npy --output y.npy --batchsize 16
    python driver.py --exec_mode throughput_test --batchsize 1000 --backend pynq
    python driver.py --weights new_weights/ --input x.npy   # runtime-writable layers first

A driver error is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from .accelerator import BACKENDS, Accelerator
from .errors import DriverError


def parser(default_backend: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="driver.py", description="Run a onebit accelerator bundle.")
    p.add_argument("--exec_mode", choices=("execute", "throughput_test"), default="execute")
    p.add_argument("--input", type=Path, help="frames to run (.npy, (N, *input shape))")
    p.add_argument("--output", type=Path, default=Path("output.npy"),
                   help="where execute writes the outputs (.npy)")
    p.add_argument("--batchsize", type=int, default=1, help="frames per accelerator run")
    p.add_argument("--backend", choices=BACKENDS, default=default_backend)
    p.add_argument("--bundle", type=Path, help="bundle directory (default: this script's)")
    p.add_argument("--build", type=Path, help="sim backend: the build directory to simulate "
                                              "(default: the bundle's copy)")
    p.add_argument("--weights", type=Path, help="a weights directory to load into the "
                   "runtime-writable layers before running (onebit.driver.weights)")
    p.add_argument("--report", type=Path, help="throughput_test: also write the figures (.json)")
    return p


def main(argv=None, bundle_dir: Path | None = None, default_backend: str = "pynq") -> int:
    a = parser(default_backend).parse_args(argv)
    try:
        root = a.bundle or bundle_dir or Path.cwd()
        kw = {"build_dir": a.build} if a.backend == "sim" and a.build else {}
        if a.exec_mode == "execute":
            if a.input is None:
                raise DriverError("--exec_mode execute needs --input x.npy")
            if not a.input.is_file():
                raise DriverError(f"--input {a.input}: no such file")
            x = np.load(a.input)
            with Accelerator(root, a.backend, batch_size=a.batchsize, **kw) as acc:
                _load(acc, a.weights)
                y = acc.execute(x)
            np.save(a.output, y)
            print(f"{len(y)} frames -> {a.output}")
        else:
            with Accelerator(root, a.backend, batch_size=a.batchsize, **kw) as acc:
                _load(acc, a.weights)
                r = acc.throughput_test()
            print(f"{r['frames']} frames: {r['cycles_per_frame']:.0f} cycles/frame, "
                  f"{r['hw_fps']:,.0f} fps at {r['clock_mhz']:g} MHz (hardware), "
                  f"{r['wall_fps']:,.0f} fps (wall clock, with host copies)")
            if a.report:
                a.report.write_text(json.dumps(r, indent=1))
    except (DriverError, OSError, ValueError) as e:
        print(f"driver.py: error: {e}", file=sys.stderr)
        return 1
    return 0


def _load(acc: Accelerator, weights: Path | None) -> None:
    if weights is not None:
        n = acc.load_weights(weights)
        print(f"weights {weights}: {n} register writes")
