"""Every folding SetFolding chooses is one the RTL step builds, and it simulates bit-exactly.

The bnn_pynq networks at their default folding need width converters of any ratio (sfc: 1 ->
392 bits) and parallel-window sliding windows (cnv); the frame-rate sweep over tfc walks the
folding from fully serial to fully parallel layers.
"""

from __future__ import annotations

import json
from pathlib import Path

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
@pytest.mark.parametrize("arch", ["lfc", "cnv"])
@pytest.mark.parametrize("target_fps", [1e3, 1e4, 1e5, 1e6])
def test_bnn_pynq_lfc_cnv_every_target_fps(tmp_path, arch, target_fps):
    r = _build_bit_exact(tmp_path, arch, target_fps, frames=2)
    assert 0.95 <= r["sim"]["ratio_to_estimate"] <= 1.05


@pytest.mark.slow
def test_bnn_pynq_cnv_default_folding(tmp_path):
    """The first two sliding windows run in parallel-window mode at the default folding."""
    _build_bit_exact(tmp_path, "cnv", None, frames=2)
    folding = _folded_ops(tmp_path)
    assert any(v.get("parallel_window") == 1 for k, v in folding.items()
               if k.startswith("ConvolutionInputGenerator"))


FINN_EXAMPLES = Path(__file__).parent / "data" / "finn_examples"


def _build_finn_examples(tmp_path, net: str, frames: int = 4) -> dict:
    """bnn_pynq:<net> with finn-examples' folding file and its label output (--top-k 1)."""
    arch = net.replace("-w1a1", "")
    inp = resolve(f"bnn_pynq:{arch}", vectors=frames)
    r = build(inp, BuildConfig(tmp_path / "b", folding=FINN_EXAMPLES / f"{net}.json", top_k=1,
                               vectors=frames, sim_frames=frames))
    assert r["status"] == "ok" and r["sim"]["bit_exact"]
    assert r["stages"]["topk"]["verified"] and r["stages"]["rtlsim"]["max_abs_diff"] == 0.0
    folded = _folded_ops(tmp_path)
    config = json.loads((FINN_EXAMPLES / f"{net}.json").read_text())
    for name, attrs in config.items():  # every PE/SIMD as the file says, on onebit's variant
        rtl = name if name in folded else name.replace("_hls_", "_rtl_")
        for key in ("PE", "SIMD"):
            if key in attrs:
                assert folded[rtl][key] == attrs[key], (name, key)
    return r


def test_finn_examples_tfc_w1a1_folding(tmp_path):
    """Its Thresholding_hls ram_style lands on the RTL thresholding's depth triggers, its
    LabelSelect_hls on the --top-k layer; 64 cycles/frame as FINN estimates."""
    r = _build_finn_examples(tmp_path, "tfc-w1a1")
    assert 0.95 <= r["sim"]["ratio_to_estimate"] <= 1.05


@pytest.mark.slow
@pytest.mark.parametrize("net", ["tfc-w1a2", "cnv-w1a1", "cnv-w1a2"])
def test_finn_examples_folding(tmp_path, net):
    _build_finn_examples(tmp_path, net, frames=2 if net.startswith("cnv") else 4)


@pytest.mark.slow
def test_labelselect_lanes_in_a_budgeted_build(tmp_path):
    """finn-examples' TFC folding with its LabelSelect at PE 10, --top-k 5 and --lut-levels 6:
    the label layer is built as one list per lane (onebit_label_select_lanes), bit-exact,
    at the cycles per frame of the MVAUs."""
    config = json.loads((FINN_EXAMPLES / "tfc-w1a1.json").read_text())
    config["LabelSelect_hls_0"]["PE"] = 10
    folding = tmp_path / "folding.json"
    folding.write_text(json.dumps(config))
    r = build(resolve("bnn_pynq:tfc", vectors=4),
              BuildConfig(tmp_path / "b", folding=folding, top_k=5, vectors=4, sim_frames=4,
                          lut_levels=6))
    assert r["status"] == "ok" and r["sim"]["bit_exact"]
    assert r["stages"]["topk"]["verified"]
    top = (tmp_path / "b" / "rtl" / "onebit_accel.sv").read_text()
    assert "onebit_label_select_lanes #(" in top and ".MERGE_LAYERS(2)" in top
    assert 0.95 <= r["sim"]["ratio_to_estimate"] <= 1.05
