"""The board flow end to end, as a user runs it, for the demo network and bnn_pynq:cnv on one
board of each kind (Zynq-7000, Zynq MPSoC, Alveo): `onebit bitstream` writes the bundle, its
Vivado/Vitis scripts run through the recording stand-ins, and the bundle's own `driver.py
--backend sim` (the real register sequence, buffers and packing, against the shell's RTL and a
memory model) returns the build's golden outputs bit-exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from onebit.cli import cli

from standin import calls, needs_tclsh, standin

pytestmark = [pytest.mark.slow, pytest.mark.verilator, needs_tclsh]

BOARDS = ["pynq-z2", "zcu104", "u250"]
NETWORKS = ["demo", "bnn_pynq:cnv"]


def _onebit(*args: str) -> str:
    # Verilator from this Python's environment, no Vivado/Vitis (the bundle only prints their
    # commands)
    path = f"{Path(sys.executable).parent}:/usr/bin:/bin"
    r = CliRunner().invoke(cli, list(args), env={"PATH": path})
    assert r.exit_code == 0, r.output
    return r.output


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Each network built once, on first use, by the README's commands (`onebit demo`,
    `onebit build`)."""
    root = tmp_path_factory.mktemp("boards")
    done: dict[str, Path] = {}

    def get(network: str) -> Path:
        if network not in done:
            if network == "demo":
                _onebit("demo", "--out", str(root / "demo"), "--epochs", "2")
                done[network] = root / "demo" / "build"
            else:
                done[network] = root / network.replace(":", "-")
                _onebit("build", network, "--out", str(done[network]), "--vectors", "4",
                        "--frames", "4")
        return done[network]

    return get


def _driver(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "driver.py", "--backend", "sim", *args], cwd=root,
                          capture_output=True, text=True, timeout=1800)


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("network", NETWORKS)
def test_bundle_scripts_and_sim_driver(builds, network, board, tmp_path):
    build = builds(network)
    out = _onebit("bitstream", str(build), "--board", board)
    root = build / "deploy"
    assert f"bundle {root} for {board}" in out and "not on PATH" in out
    meta = json.loads((root / "bundle.json").read_text())
    assert meta["board"] == board

    script, products = (("package_xo.tcl", ["vivado/onebit.xo"]) if board == "u250" else
                        ("project.tcl", ["onebit.bit", "onebit.hwh"]))
    log = standin(root / script, tmp_path)
    added = {Path(p).name for c in calls(log, "add_files") for p in c[-1].split()}
    assert set(meta["rtl"]["hdl"]) | set(meta["rtl"]["memory"]) <= added
    assert all((root / p).is_file() for p in products)

    y = tmp_path / "y.npy"
    r = _driver(root, "--exec_mode", "execute", "--input", "vectors/input.npy", "--output",
                str(y), "--batchsize", "2")
    assert r.returncode == 0, r.stderr
    expected = np.load(root / "vectors" / "expected.npy")
    assert len(expected) >= 4
    np.testing.assert_array_equal(np.load(y), expected)

    fig = tmp_path / "throughput.json"
    r = _driver(root, "--exec_mode", "throughput_test", "--batchsize", "2", "--report", str(fig))
    assert r.returncode == 0, r.stderr
    t = json.loads(fig.read_text())
    cycles = json.loads((build / "report.json").read_text())["sim"]["cycles_per_frame"]
    # the shell's counter sees at least the accelerator's own cycles per frame
    assert t["frames"] == 2 and t["cycles_per_frame"] >= cycles and t["hw_fps"] > 0
