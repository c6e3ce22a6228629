"""`onebit sim BUILD --system`: a real build's frames through memory, the shell and back,
driven through the registers, bit-exact against FINN's golden; faults are caught."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from onebit.cli import cli
from onebit.errors import UserInputError, VerificationError
from onebit.flows.system import simulate_system
from onebit.hw.system import SystemSim

pytestmark = pytest.mark.verilator


def test_system_sim_is_bit_exact_and_reported(mlp_build):
    out, _ = mlp_build
    r = CliRunner().invoke(cli, ["sim", str(out), "--system", "--frames", "11", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert "system sim: bit-exact on 11 frames (8 distinct vectors)" in r.output
    s = json.loads((out / "report.json").read_text())["system_sim"]
    assert s["bit_exact"] and s["frames"] == 11 and s["data_width"] == 64
    assert s["cycles_per_frame"] == s["cycles"] / 11 > 0
    assert s["memory"]["write_responses"] == s["memory"]["write_bursts"] >= 1
    assert s["memory"]["read_beats"] * 8 >= s["in_bytes"]  # whole bus words


def test_corrupted_output_fails_and_is_not_reported(mlp_build, monkeypatch):
    out, _ = mlp_build
    real = SystemSim.mem_read

    def flipped(self, addr, n):
        data = bytearray(real(self, addr, n))
        data[n // 2] ^= 0x01
        return bytes(data)

    monkeypatch.setattr(SystemSim, "mem_read", flipped)
    with pytest.raises(VerificationError, match="stage 'system_sim' failed"):
        simulate_system(out, 5, seed=1)
    report = json.loads((out / "report.json").read_text())
    assert "system_sim" not in report and report["status"] == "ok"


def test_system_sim_needs_a_build(tmp_path):
    with pytest.raises(UserInputError, match="not a onebit build with RTL"):
        simulate_system(tmp_path, 4)
    r = CliRunner().invoke(cli, ["sim", str(tmp_path), "--system", "--backpressure"])
    assert r.exit_code != 0 and "always stalls at random" in str(r.exception)
