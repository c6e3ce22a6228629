"""Every folding SetFolding chooses is one the RTL step builds, and it simulates bit-exactly.

The bnn_pynq networks at their default folding need width converters of any ratio (sfc: 1 ->
392 bits) and parallel-window sliding windows (cnv); the frame-rate sweep over tfc walks the
folding from fully serial to fully parallel layers.
"""

from __future__ import annotations

import json

import pytest

from onebit.flows.build import BuildConfig, build
from onebit.flows.inputs import resolve

pytestmark = pytest.mark.verilator


def _build_bit_exact(tmp_path, arch: str, target_fps: float | None, frames: int = 4) -> dict:
    inp = resolve(f"bnn_pynq:{arch}", vectors=frames)
    r = build(inp, BuildConfig(tmp_path / "b", target_fps=target_fps, vectors=frames,
                               sim_frames=frames))
    assert r["status"] == "ok" and r["sim"]["bit_exact"]
    assert r["stages"]["rtlsim"]["max_abs_diff"] == 0.0
    return r


def _folded_ops(tmp_path) -> dict[str, dict]:
    return json.loads((tmp_path / "b" / "folding.json").read_text())


@pytest.mark.parametrize("target_fps", [1e3, 1e4, 1e5, 1e6])
def test_bnn_pynq_tfc_every_target_fps(tmp_path, target_fps):
    r = _build_bit_exact(tmp_path, "tfc", target_fps)
    assert 0.95 <= r["sim"]["ratio_to_estimate"] <= 1.05


@pytest.mark.slow
def test_bnn_pynq_sfc_default_folding(tmp_path):
    """SetFolding at 100k fps puts a 1 -> 392-bit converter in front of the first MVAU."""
    r = _build_bit_exact(tmp_path, "sfc", None)
    assert 0.95 <= r["sim"]["ratio_to_estimate"] <= 1.05


@pytest.mark.slow
@pytest.mark.parametrize("target_fps", [1e3, 1e4, 1e6])
def test_bnn_pynq_sfc_every_target_fps(tmp_path, target_fps):
    """At 1e3 fps (SIMD = PE = 1, 65536 cycles per layer and frame) the output is silent for
    ~180k cycles while the first frame passes: the simulation watchdog must allow for it."""
    r = _build_bit_exact(tmp_path, "sfc", target_fps)
    assert 0.95 <= r["sim"]["ratio_to_estimate"] <= 1.05


@pytest.mark.slow
def test_bnn_pynq_lfc_default_folding(tmp_path):
    _build_bit_exact(tmp_path, "lfc", None, frames=2)


@pytest.mark.slow
def test_bnn_pynq_cnv_default_folding(tmp_path):
    """The first two sliding windows run in parallel-window mode at the default folding."""
    _build_bit_exact(tmp_path, "cnv", None, frames=2)
    folding = _folded_ops(tmp_path)
    assert any(v.get("parallel_window") == 1 for k, v in folding.items()
               if k.startswith("ConvolutionInputGenerator"))
