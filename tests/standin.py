"""Vivado/Vitis scripts run in tclsh against recording stand-ins of the vendor commands
(tests/tcl_standin/): the recorded calls, to compare with what a script must do."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

STANDIN = Path(__file__).parent / "tcl_standin" / "run.tcl"
TCLSH = shutil.which("tclsh")
needs_tclsh = pytest.mark.skipif(TCLSH is None, reason="tclsh (Debian tcl) is not installed")


def standin(script: Path, tmp_path: Path) -> list[list[str]]:
    """Run `script` in tclsh with the stand-ins; the recorded calls (name, words...)."""
    log = tmp_path / f"{script.stem}.log"
    r = subprocess.run([TCLSH, str(STANDIN), str(log), str(script)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [line.split("\x1f") for line in log.read_text().splitlines()]


def calls(log, name):
    return [c[1:] for c in log if c[0] == name]
