"""Runtime-writable weights (FINN's runtime_writeable_weights) end to end: the shell's weight
windows written by the driver (`sim` backend: the whole system in Verilator), outputs checked
bit-exactly against FINN's execution of the golden graph with the new weights."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from qonnx.custom_op.registry import getCustomOp

from onebit.deploy.bundle import write_bundle
from onebit.driver import Accelerator
from onebit.driver.errors import DriverError
from onebit.driver.weights import WINDOW_BASE, write_dir
from onebit.flows.build import BuildConfig, BuildInput, build, golden_contexts, load_intermediate
from onebit.flows.weights import golden_with, weights_from_graph, writable_layers
from onebit.hw.accelerator import Accelerator as Design
from onebit.hw.accelerator import make_layers

from nets import mlp, pixels

pytestmark = pytest.mark.verilator
WRITABLE = ("MVAU_hls_0", "MVAU_hls_1")


def _make_writable(build_dir, names):
    """The build's accelerator generated again with `names` runtime-writable (its FIFO depths
    kept): what the rtl step writes for a folding with runtime_writeable_weights: 1."""
    folded = load_intermediate(build_dir, "dataflow_folded")
    for n in folded.graph.node:
        if n.name in names:
            getCustomOp(n).set_nodeattr("runtime_writeable_weights", 1)
    rtl = build_dir / "rtl"
    depths = Design.load(rtl).depths
    shutil.rmtree(rtl)
    acc = make_layers(folded, rtl)
    acc.depths = depths
    acc.top = acc.stitch(rtl)
    acc.save(rtl)


@pytest.fixture(scope="module")
def rw_bundle(mlp_build, tmp_path_factory):
    src, _ = mlp_build
    out = tmp_path_factory.mktemp("rw") / "b"
    shutil.copytree(src, out, ignore=shutil.ignore_patterns(".onebit.lock", "deploy"))
    _make_writable(out, WRITABLE)
    write_bundle(out)
    return out


def _new_weights(build_dir, seed=5):
    """Random weights and integer thresholds of each writable layer's types."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for la in writable_layers(build_dir):
        if la.weight_type == "BIPOLAR":
            w = rng.choice([-1.0, 1.0], size=(la.mw, la.mh))
            t = rng.integers(-400, 400, size=(la.mh, 1)).astype(float)
        else:
            w = rng.integers(0, 2, size=(la.mw, la.mh)).astype(float)
            t = rng.integers(la.mw // 2 - 4, la.mw // 2 + 4, size=(la.mh, 1)).astype(float)
        arrays[la.name] = (w, t)
    return arrays


def _golden(build_dir, model, x):
    parent = load_intermediate(build_dir, "hw_layers")
    xin, ctxs = golden_contexts(parent, model, x)
    oname = model.graph.output[0].name
    return xin, np.stack([c[oname] for c in ctxs]).reshape(len(x), -1)


def _check_reload(out, tmp_path):
    """Outputs through the driver (`sim` backend) before, after new weights are written at run
    time, and after the build's own weights are loaded back: FINN's golden each time."""
    x = np.load(out / "vectors.npz")["x"][:6]
    xin, before = _golden(out, load_intermediate(out, "dataflow_golden"), x)
    arrays = _new_weights(out)
    _, after = _golden(out, golden_with(out, arrays), x)
    assert (before != after).any()
    d = write_dir(tmp_path / "w", arrays)
    with Accelerator(out / "deploy", backend="sim", batch_size=len(x)) as acc:
        y0 = acc.execute(xin).reshape(len(x), -1)
        np.testing.assert_array_equal(y0, before)
        assert acc.load_weights(d) > 0
        y1 = acc.execute(xin).reshape(len(x), -1)
        np.testing.assert_array_equal(y1, after)
        acc.load_weights(weights_from_graph(out, load_intermediate(out, "dataflow_golden"),
                                            tmp_path / "orig"))
        np.testing.assert_array_equal(acc.execute(xin).reshape(len(x), -1), before)
        # a layer without the key has no window: refused before any write
        bad = write_dir(tmp_path / "bad", {"MVAU_hls_2": (np.ones((32, 10)), None)})
        with pytest.raises(DriverError, match="'MVAU_hls_2' has no weight window"):
            acc.load_weights(bad)
        wrong = write_dir(tmp_path / "wrong", {"MVAU_hls_1": (np.ones((32, 31)), None)})
        with pytest.raises(DriverError, match=r"MVAU_hls_1: weights of shape \(32, 31\)"):
            acc.load_weights(wrong)


def test_weights_written_at_run_time_give_the_new_golden(rw_bundle, tmp_path):
    out = rw_bundle
    bundle = json.loads((out / "deploy" / "bundle.json").read_text())
    assert [w["name"] for w in bundle["weights"]] == list(WRITABLE)
    assert bundle["weights"][0]["base"] >= WINDOW_BASE
    assert bundle["control_span"] >= bundle["weights"][-1]["base"] + bundle["weights"][-1]["size"]
    _check_reload(out, tmp_path)


@pytest.mark.slow
def test_build_with_writable_folding_verifies_records_and_reloads(tmp_path):
    """The real flow: `--folding` with runtime_writeable_weights, words of several 32-bit
    parts (64-bit weight words, 60-bit threshold words), `onebit bitstream`, reload."""
    fold = {"MVAU_hls_0": {"runtime_writeable_weights": 1, "SIMD": 8, "PE": 4},
            "MVAU_hls_1": {"runtime_writeable_weights": 1, "SIMD": 32, "PE": 2}}
    out = tmp_path / "b"
    report = build(BuildInput("mlp", pixels(8), torch_model=mlp()),
                   BuildConfig(out, sim_frames=4, folding=fold))
    assert report["status"] == "ok" and report["sim"]["bit_exact"]
    rec = {w["name"]: w for w in report["writable_layers"]}
    assert set(rec) == set(WRITABLE)
    # 8 x 4 one-bit weights a word: one 32-bit part; 4 thresholds of 15 bits: two parts
    assert rec["MVAU_hls_0"]["memories"]["weights"] == {
        "base": rec["MVAU_hls_0"]["base"], "depth": 64, "width": 32}
    assert rec["MVAU_hls_1"]["memories"]["weights"]["width"] == 64  # two parts a word
    assert rec["MVAU_hls_0"]["memories"]["thresholds"]["width"] == 60
    write_bundle(out)
    _check_reload(out, tmp_path)
