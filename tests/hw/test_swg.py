"""The sliding-window cycle model (`hw/swg.py`) against finn-rtllib's generator in
Verilator: cycles per frame exact, where FINN's estimate is only an upper bound."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from qonnx.core.datatype import DataType
from qonnx.custom_op.registry import getCustomOp
from test_finn_rtl import PART, golden_and_rtl, random_values, single_node_model

from onebit.errors import UnsupportedOpError
from onebit.flows.finn_env import use_build_dir
from onebit.hw import packing, sim
from onebit.hw.swg import default_style, window_cycles

FRAMES = 4


def swg_model(ifm, ch, simd, k, stride, depthwise, dt="BIPOLAR", parallel=0):
    (ih, iw), (kh, kw), (sh, sw) = ifm, k, stride
    oh, ow = (ih - kh) // sh + 1, (iw - kw) // sw + 1
    return single_node_model(
        "ConvolutionInputGenerator", (1, ih, iw, ch), (1, oh, ow, kh * kw * ch), DataType[dt],
        DataType[dt], ConvKernelDim=[kh, kw], IFMChannels=ch, IFMDim=[ih, iw],
        OFMDim=[oh, ow], SIMD=simd, Stride=[sh, sw], Dilation=[1, 1], inputDataType=dt,
        outputDataType=dt, depthwise=depthwise, parallel_window=parallel,
    )


def simulated_frame_cycles(model, tmp_path, vcache) -> tuple[list[int], int, int]:
    """(cycles between the last words of consecutive frames in Verilator, FINN's estimate,
    the model's) for FRAMES frames at full rate."""
    rng = np.random.default_rng(0)
    x = random_values(rng, DataType["BIPOLAR"], model.get_tensor_shape("inp"))
    _, inst, spec = golden_and_rtl(model, x, tmp_path)
    op = getCustomOp(spec.graph.node[0])
    assert default_style(op)
    simd = op.get_nodeattr("SIMD")
    words = packing.pack(np.tile(x, (FRAMES, 1, 1, 1)), DataType["BIPOLAR"], simd)
    per_frame = int(np.prod(spec.get_tensor_shape("out"))) // simd
    res = sim.simulate_instance(inst, words, FRAMES * per_frame, cache_dir=vcache, tail=0)
    ends = res.out_cycles[per_frame - 1 :: per_frame]
    return np.diff(ends).tolist(), op.get_exp_cycles(), window_cycles(op)


GEOMETRIES = [  # (ifm, ch, simd, k, stride, depthwise)
    # the FracBNN digits net at default folding: max-pool windows (FINN +15 %, +20 %) and convs
    ((8, 8), 32, 4, (2, 2), (2, 2), 1),
    ((4, 4), 64, 2, (2, 2), (2, 2), 1),
    ((10, 10), 32, 32, (3, 3), (1, 1), 0),
    ((6, 6), 32, 8, (3, 3), (1, 1), 0),
    # non-square maps and kernels, stride 3, a 1-wide kernel
    ((9, 7), 4, 2, (3, 3), (3, 3), 1),
    pytest.param((7, 9), 6, 3, (3, 2), (1, 2), 0, marks=pytest.mark.slow),
    pytest.param((6, 5), 4, 4, (1, 3), (1, 1), 0, marks=pytest.mark.slow),
]


@pytest.mark.verilator
@pytest.mark.parametrize("ifm, ch, simd, k, stride, depthwise", GEOMETRIES)
def test_model_equals_verilator(ifm, ch, simd, k, stride, depthwise, tmp_path, vcache):
    use_build_dir(tmp_path / "finn")
    steady, finn, model = simulated_frame_cycles(
        swg_model(ifm, ch, simd, k, stride, depthwise), tmp_path, vcache)
    assert steady[1:] == [model] * (FRAMES - 2), (steady, model)
    assert model <= finn  # FINN's formula is an upper bound of the RTL


@pytest.mark.slow
@pytest.mark.verilator
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_model_equals_verilator_on_random_geometries(data, tmp_path_factory, vcache):
    ih, iw = data.draw(st.integers(3, 12)), data.draw(st.integers(3, 12))
    kh, kw = data.draw(st.integers(1, min(ih, 5))), data.draw(st.integers(1, min(iw, 5)))
    if kh * kw == 1:
        kw = 2  # a 1x1 kernel is FINN's parallel style
    sh, sw = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    ch = data.draw(st.sampled_from([1, 2, 3, 4, 6, 8, 12]))
    simd = data.draw(st.sampled_from([d for d in range(1, ch + 1) if ch % d == 0]))
    depthwise = data.draw(st.integers(0, 1))
    tmp = tmp_path_factory.mktemp("swg")
    use_build_dir(tmp / "finn")
    try:
        steady, finn, model = simulated_frame_cycles(
            swg_model((ih, iw), ch, simd, (kh, kw), (sh, sw), depthwise), tmp, vcache)
    except UnsupportedOpError:  # a geometry FINN's generator cannot build (refused at fold)
        reject()
    assert steady[1:] == [model] * (FRAMES - 2), (steady, model)


# geometries FINN's generator emits the wrong words for: an output dimension of 1 and a stride
# that leaves a remainder (ifm, ch, simd, k, stride, depthwise)
UNSOUND = [((4, 4), 2, 2, (2, 2), (3, 3), 0), ((12, 2), 2, 2, (2, 1), (2, 2), 0),
           ((5, 2), 2, 2, (2, 1), (2, 2), 1)]


@pytest.mark.parametrize("geometry", UNSOUND)
def test_unsound_windows_are_refused_at_fold_by_name(geometry, tmp_path):
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    from onebit.hw import codegen

    use_build_dir(tmp_path / "finn")
    model = swg_model(*geometry).transform(SpecializeLayers(PART))
    with pytest.raises(UnsupportedOpError, match="ConvolutionInputGenerator_rtl_0.*FINN's sliding "
                       "window is wrong for .* emits"):
        codegen.check(model)


@pytest.mark.verilator
def test_an_unsound_window_does_emit_extra_words_in_verilator(tmp_path, vcache):
    """Why the refusal: the RTL FINN generates for the first geometry, simulated (should FINN
    fix its generator, this test fails and the refusal can go)."""
    use_build_dir(tmp_path / "finn")
    model = swg_model(*UNSOUND[0])
    x = random_values(np.random.default_rng(0), DataType["BIPOLAR"],
                      model.get_tensor_shape("inp"))
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    from onebit.hw import finn_rtl

    spec = model.transform(SpecializeLayers(PART))
    node = spec.graph.node[0]
    inst = finn_rtl.GENERATORS[node.op_type][1](node, spec, tmp_path)  # without the check
    words = packing.pack(x, DataType["BIPOLAR"], 2)
    with pytest.raises(sim.SimulationError, match="extra output word"):
        sim.simulate_instance(inst, words, 4, cache_dir=vcache)  # 1x1 output, 2x2 window, SIMD=C



@pytest.mark.verilator
@pytest.mark.parametrize("ifm, ch, simd, k, stride, depthwise, parallel", [
    ((9, 7), 4, 2, (3, 3), (3, 3), 1, 0),
    ((7, 7), 4, 4, (3, 3), (2, 2), 0, 1),  # parallel windows: swg_reg/ram_buffer too
    pytest.param((8, 8), 32, 4, (2, 2), (2, 2), 1, 0, marks=pytest.mark.slow),
    pytest.param((10, 10), 32, 32, (3, 3), (1, 1), 0, 0, marks=pytest.mark.slow),
    pytest.param((7, 9), 6, 3, (3, 2), (1, 2), 0, 0, marks=pytest.mark.slow),
    pytest.param((6, 6), 4, 2, (2, 2), (2, 2), 1, 1, marks=pytest.mark.slow),
])
def test_onebit_swg_is_cycle_identical_to_finn_rtllib(ifm, ch, simd, k, stride, depthwise,
                                                      parallel, tmp_path, vcache):
    """onebit_swg.sv in place of finn-rtllib's swg_common.sv: the same output words in the
    same cycles, at full rate and under random stalls (that the words are right:
    test_finn_rtl.py::test_swg)."""
    from onebit.hw import rtl_source

    use_build_dir(tmp_path / "finn")
    model = swg_model(ifm, ch, simd, k, stride, depthwise, parallel=parallel)
    x = random_values(np.random.default_rng(1), DataType["BIPOLAR"],
                      (FRAMES, *model.get_tensor_shape("inp")[1:]))
    golden, inst, spec = golden_and_rtl(model, x[:1], tmp_path)
    ours = rtl_source("onebit_swg")
    common = [Path(f) for f in getCustomOp(spec.graph.node[0]).get_rtl_file_list(abspath=True)
              if Path(f).name == "swg_common.sv"]
    assert ours in inst.sources and len(common) == 1
    finn = dataclasses.replace(inst, sources=[common[0] if s == ours else s
                                              for s in inst.sources])
    words = packing.pack(x, DataType["BIPOLAR"], simd)
    n_out = FRAMES * golden.size // (simd * (k[0] * k[1] if parallel else 1))
    for seed, p in ((0, 1.0), (1, 0.6), (2, 0.3)):
        a, b = (sim.simulate_instance(i, words, n_out, cache_dir=vcache, seed=seed,
                                      p_valid=p, p_ready=p) for i in (inst, finn))
        assert (a.out_words == b.out_words).all(), seed
        assert list(a.out_cycles) == list(b.out_cycles), seed


def test_a_simd_finn_cannot_generate_is_refused_by_name_or_avoided(tmp_path):
    """A 1x1 window at stride 2 over a 2x2 map: FINN's generator fails its own arithmetic at
    SIMD 3 and 6 of 6 channels (robustness seed 230). A folding that asks for it is refused
    at fold naming the node and the SIMDs that build; the fps path steps down to SIMD 2."""
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    from onebit.flows.folding import avoid_unsound_parallel_window
    from onebit.hw import codegen

    use_build_dir(tmp_path / "finn")
    model = swg_model((2, 2), 6, 6, (1, 1), (2, 2), 0).transform(SpecializeLayers(PART))
    with pytest.raises(UnsupportedOpError, match=r"ConvolutionInputGenerator_rtl_0.*cannot "
                       r"build this window .* at SIMD=6 .*SIMD values it builds: 1, 2$"):
        codegen.check(model)
    model = avoid_unsound_parallel_window(model)
    assert getCustomOp(model.graph.node[0]).get_nodeattr("SIMD") == 2
    codegen.check(model)  # now generated
