"""FracBNN (issue 17): thermometer encoder, 2-bit fractional activation, precision-gated layers,
the fracbnn recipe, and their graph ops verified bit-exactly down to the FINN golden."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from torch import nn

from onebit import data
from onebit.errors import UserInputError
from onebit.export import export_qonnx, run_qonnx
from onebit.flows.build import BuildConfig, BuildInput, build
from onebit.flows.fracbnn_ops import gate_thresholds, thermometer
from onebit.hw import mvau
from onebit.models import build as build_arch
from onebit.models.precision_gate import (
    FracAct,
    FracCodeSTE,
    PGBinaryConv2d,
    PGBinaryLinear,
    frac_quantize,
    pg_threshold_loss,
)
from onebit.models.recipes import train_recipe
from onebit.models.recipes.trainer import ARCH_PRESETS
from onebit.models.thermometer import (
    ThermometerEncoder,
    thermometer_levels,
    thermometer_thresholds,
)

PIXELS = torch.arange(256, dtype=torch.float32).reshape(1, 1, 16, 16)
RESOLUTIONS = [1, 3, 7, 8, 10, 16, 85, 255]


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def _bits(resolution: int) -> torch.Tensor:
    """(256 pixels, L levels) of the encoder, pixel p at row p."""
    enc = ThermometerEncoder(resolution)
    return enc(PIXELS).reshape(enc.levels, 256).T


# ---------------------------------------------------------------------------- thermometer


@pytest.mark.parametrize("resolution, levels", [(8, 32), (1, 255), (255, 1), (10, 26), (6, 42),
                                                (2, 128), (170, 2)])  # fmt: skip
def test_level_count_is_255_over_r_rounded_half_to_even(resolution, levels):
    # 255 / 10 = 25.5 -> 26 (even), 255 / 2 = 127.5 -> 128, 255 / 170 = 1.5 -> 2
    assert thermometer_levels(resolution) == levels
    assert ThermometerEncoder(resolution)(PIXELS).shape == (1, levels, 16, 16)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_bits_are_the_papers_definition_with_half_to_even_rounding(resolution):
    """bit k = +1 iff k < round(p / r), torch.round (half to even) as in the paper's code."""
    bits = _bits(resolution)
    n = torch.round(PIXELS.reshape(256, 1) / resolution)
    k = torch.arange(bits.shape[1]).reshape(1, -1)
    assert torch.equal(bits, torch.where(k < n, 1.0, -1.0))


def test_half_way_pixels_round_to_even():
    bits = _bits(8)
    on = (bits > 0).sum(1)
    assert on[4] == 0 and on[12] == 2 and on[20] == 2 and on[28] == 4  # 0.5, 1.5, 2.5, 3.5
    assert thermometer_thresholds(8)[:4] == [5, 12, 21, 28]


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_pixel_0_is_all_minus_one_and_255_all_plus_one(resolution):
    bits = _bits(resolution)
    assert torch.all(bits[0] == -1) and torch.all(bits[255] == 1)


@pytest.mark.parametrize("resolution", RESOLUTIONS)
def test_encoding_is_monotone_and_a_thermometer(resolution):
    on = _bits(resolution) > 0
    assert torch.all(on[1:] >= on[:-1])  # no bit turns off as the pixel grows
    assert torch.all(on[:, 1:] <= on[:, :-1])  # level k on => every lower level on
    counts = on.sum(1)
    assert counts.unique().numel() == thermometer_levels(resolution) + 1  # every level reached


def test_bad_resolution_is_refused():
    for r in (0, 256, 2.5):
        with pytest.raises(UserInputError, match="resolution"):
            ThermometerEncoder(r)


def test_channel_layout_and_numpy_golden():
    x = torch.randint(0, 256, (2, 3, 5, 4)).float()
    enc = ThermometerEncoder(8)
    y = enc(x)
    assert y.shape == (2, 96, 5, 4)
    for c in range(3):  # channel c*L+k is bit k of channel c
        assert torch.equal(y[:, c * 32:(c + 1) * 32], enc(x[:, c:c + 1]))
    assert np.array_equal(thermometer(x.numpy(), 8), y.numpy())
    nhwc = thermometer(x.numpy().transpose(0, 2, 3, 1), 8, axis=-1, binary=True)
    assert np.array_equal(nhwc, (y.numpy().transpose(0, 2, 3, 1) + 1) / 2)


def test_encoder_torch_equals_qonnx_execution(tmp_path):
    net = nn.Sequential(ThermometerEncoder(7)).eval()
    model = export_qonnx(net, (1, 16, 16), tmp_path / "t.onnx")
    assert [n.op_type for n in model.graph.node] == ["Thermometer"]
    x = torch.cat([PIXELS, torch.flip(PIXELS, [3])]).numpy()
    expected = net(torch.from_numpy(x)).numpy()
    assert np.array_equal(run_qonnx(model, x).reshape(expected.shape), expected)


# ---------------------------------------------------------------------------- quantizer


def test_frac_quantize_grid_clamp_and_half_to_even_boundaries():
    x = torch.tensor([-5.0, -1.0, -2 / 3, -0.5, -0.1, 0.0, 0.3, 2 / 3, 0.7, 1.0, 9.0])
    y = frac_quantize(x)
    third = 1 / 3
    expected = [-1, -1, -1, -third, -third, third, third, third, 1, 1, 1]
    assert torch.allclose(y, torch.tensor(expected))
    assert set(torch.round(3 * y).tolist()) == {-3.0, -1.0, 1.0, 3.0}


def test_frac_act_codes_and_straight_through_gradient():
    x = torch.tensor([-1.5, -0.9, -0.2, 0.0, 0.5, 0.99, 1.0, 2.0], requires_grad=True)
    FracCodeSTE.apply(x).sum().backward()
    assert torch.equal(x.grad, torch.tensor([0, 1.5, 1.5, 1.5, 1.5, 1.5, 0, 0]))
    act = FracAct()
    r = torch.randn(1000) * 1.2
    act.train()
    codes = act(r)
    act.eval()
    assert torch.equal(codes, act(r))  # Brevitas' export path == the training forward
    assert set(codes.unique().tolist()) == {0.0, 1.0, 2.0, 3.0}


# ---------------------------------------------------------------------------- gate


def _pg_net(seed=0, thr=None):
    torch.manual_seed(seed)
    conv = PGBinaryConv2d(3, 4, 3, padding=1)
    fc = PGBinaryLinear(4 * 5 * 5, 6)
    for layer in (conv, fc):
        nn.init.uniform_(layer.weight, -1, 1)
        with torch.no_grad():
            t = torch.randn(layer.threshold.shape) * 4 if thr is None else thr
            layer.threshold.copy_(t)
    return nn.Sequential(conv, FracAct(), nn.Flatten(), fc).eval()


def test_hard_gate_equals_exported_graph(tmp_path):
    net = _pg_net()
    codes = torch.randint(0, 4, (16, 3, 5, 5)).float()
    model = export_qonnx(net, (3, 5, 5), tmp_path / "pg.onnx")
    assert {"PGConv", "PGGemm"} <= {n.op_type for n in model.graph.node}
    expected = net(codes).detach().numpy()
    assert np.array_equal(run_qonnx(model, codes.numpy()).reshape(expected.shape), expected)
    assert np.array_equal(expected, np.round(expected))  # integers (thirds)
    conv = net[0]
    with torch.no_grad():
        gated = net[0](codes)
        msb_only = torch.where(codes >= 2, 1.0, -1.0)
        acc_m = nn.functional.conv2d(nn.functional.pad(msb_only, (1, 1, 1, 1), value=-1.0),
                                     torch.sign(conv.weight))  # fmt: skip
    on = 2 * acc_m > 3 * conv.threshold.reshape(1, -1, 1, 1)
    assert 0 < on.float().mean() < 1  # both branches taken
    assert torch.equal(gated[~on], 2 * acc_m[~on])


_F2 = np.float32(2.0)


@pytest.mark.parametrize("thr, gated", [(2.0, False), (np.nextafter(_F2, np.float32(0)), True),
                                        (np.nextafter(_F2, np.float32(3)), False), (4 / 3, True)])
def test_gate_boundary_out_msb_equal_to_threshold_keeps_msb(tmp_path, thr, gated):
    """out_msb = 2/3 * acc_m = 2/3 * 3 = 2 == thr: the compare is strict, the MSB result stays."""
    fc = PGBinaryLinear(3, 1)
    with torch.no_grad():
        fc.weight.fill_(0.5)
        fc.threshold.fill_(float(thr))
    net = nn.Sequential(fc).eval()
    codes = torch.tensor([[3.0, 3.0, 2.0]])  # msb +1 +1 +1 -> acc_m = 3; lsb +1 +1 -1 -> 1
    out = net(codes)
    assert out.item() == (7.0 if gated else 6.0)  # 2*3 + 1, or 2*3
    model = export_qonnx(net, (3,), tmp_path / "b.onnx")
    assert run_qonnx(model, codes.numpy()).item() == out.item()


def test_integer_gate_thresholds_make_the_float_decision():
    thr = np.concatenate([np.random.default_rng(0).normal(0, 5, 500), [2.0, -1.0, 0.0, 1 / 3,
                                                                        2 / 3, -4 / 3]])
    thr = thr.astype(np.float32)
    acc = np.arange(-40, 41, dtype=np.float32)[:, None]
    torch_gate = (2 * torch.from_numpy(acc) > 3 * torch.from_numpy(thr)).numpy()
    assert np.array_equal(acc >= gate_thresholds(thr), torch_gate)


def test_training_gate_is_soft_and_threshold_loss():
    net = _pg_net(thr=torch.full((1,), -1.0))
    codes = torch.randint(0, 4, (4, 3, 5, 5)).float()
    fc = net[3]
    net.train()
    soft = net[0](codes)
    assert not torch.equal(soft, torch.round(soft))  # sigmoid mask: not integer
    loss = pg_threshold_loss(net, target=0.0)
    expected = 1e-5 * 0.5 * ((net[0].threshold**2).sum() + (fc.threshold**2).sum())
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.allclose(fc.threshold.grad, 1e-5 * fc.threshold.detach())


# ---------------------------------------------------------------------------- recipe


@pytest.mark.parametrize("arch, shape", [("fracnet-28", (1, 28, 28)), ("fracnet-32", (3, 32, 32))])
def test_arch_shapes(arch, shape):
    net = build_arch("fracnet", shape, 10, **ARCH_PRESETS[arch]).eval()
    assert net.layers.conv0.in_channels == shape[0] * 32
    x = torch.randint(0, 256, (2, *shape)).float()
    y = net(x)
    assert y.shape == (2, 10) and torch.equal(y, torch.round(y))


def test_fracnet_without_convs_is_refused():
    with pytest.raises(UserInputError, match="fracnet needs conv channels"):
        build_arch("fracnet", (1, 8, 8), 10, channels=())


def test_rnet_thermometer_first_layer_is_binary_on_the_codes():
    """`thermometer=r` (preset `cnv-wide-thermo`, FracBNN's input without gating): the encoder
    and a -1 pad in front of a +-1 conv0 on C * L channels; `io_weights` sets only the output
    layer."""
    kw = {**ARCH_PRESETS["cnv-wide-thermo"], "residual": True, "io_weights": "int8"}
    net = build_arch("rnet", (1, 8, 8), 10, **kw).eval()
    L = net.layers
    assert isinstance(L.thermo, ThermometerEncoder) and L.thermo.resolution == 8
    assert L.conv0.in_channels == 32 and L.conv0.padding == (0, 0)
    assert L.conv0.weight_kind == "bipolar" and L.out.weight_kind == "int8"
    assert list(L).index(L.pad0) == 1 and L.pad0.value == -1.0
    assert net.arch_kwargs["thermometer"] == 8
    x = torch.randint(0, 256, (2, 1, 8, 8)).float()
    h = L.pad0(L.thermo(x))
    assert h.shape == (2, 32, 10, 10) and torch.equal(h[..., 0, :], -torch.ones(2, 32, 10))
    assert net(x).shape == (2, 10)
    for bad, match in [({"channels": ()}, "needs conv channels"),
                       ({"rescale": "gated"}, "gated rescaling")]:
        with pytest.raises(UserInputError, match=match):
            build_arch("rnet", (1, 8, 8), 10, **{**kw, **bad})


def test_thermometer_rnet_builds_bit_exactly(digits, tmp_path):
    """A trained bireal `cnv-wide-thermo` (int8 output layer): the encoder is onebit's HW layer,
    the first conv FINN's XNOR MVAU, every stage bit-exact (the RTL: benchmarks/fracbnn.py)."""
    net, r = train_recipe("bireal", digits, arch="cnv-wide-thermo", epochs=1, limit=96,
                          progress=False, io_weights="int8")  # fmt: skip
    assert r.fold_mismatches == 0 and r.test_accuracy == r.torch_accuracy
    rep = _build(tmp_path, net, digits, sim=False)
    assert rep["status"] == "ok"
    assert all(s["max_abs_diff"] == 0.0 for s in rep["stages"].values())
    golden = ModelWrapper(str(next((tmp_path / "b" / "intermediate").glob(
        "*_dataflow_golden.onnx"))))  # fmt: skip
    assert golden.graph.node[0].op_type == "ThermometerEncoder"
    mvaus = [getCustomOp(n) for n in golden.graph.node if n.op_type == "MVAU"]
    assert mvaus[0].get_nodeattr("binaryXnorMode") == 1
    assert mvaus[0].get_nodeattr("MW") == 9 * 32
    assert mvaus[-1].get_nodeattr("weightDataType").startswith("INT")


@pytest.fixture(scope="module")
def trained(digits):
    return train_recipe("fracbnn", digits, arch="fracnet-28", epochs=1, limit=96, progress=False)


def test_recipe_trains_one_epoch_and_folds_exactly(trained):
    net, r = trained
    assert r.recipe == "fracbnn" and r.deployed and r.fold_mismatches == 0
    assert r.test_accuracy == r.torch_accuracy and net.arch == "fracnet"
    thr = net.layers.conv1.threshold.detach()
    assert not torch.all(thr == -1.0)  # the gate thresholds learn
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert all(float(b.weight.min()) > 0 for b in bns)


def _build(tmp_path, net, digits, **kw):
    x = digits.x_test[:8].astype(np.float32)
    build(BuildInput("frac", x, torch_model=net), BuildConfig(tmp_path / "b", **kw))
    return json.loads((tmp_path / "b" / "report.json").read_text())


def test_no_sim_build_verifies_every_stage_bit_exactly_and_folds(trained, digits, tmp_path):
    rep = _build(tmp_path, trained[0], digits, sim=False)
    assert rep["status"] == "ok"
    assert set(rep["stages"]) == {"qonnx", "finn", "streamline", "hw_layers"}
    assert all(s["max_abs_diff"] == 0.0 for s in rep["stages"].values())
    assert rep["software_nodes"] == ["Transpose_0 (Transpose)"]  # only the input layout
    inter = tmp_path / "b" / "intermediate"
    golden = ModelWrapper(str(next(inter.glob("*_dataflow_golden.onnx"))))
    ops = [(n.op_type, n.domain) for n in golden.graph.node]
    assert ops[0] == ("ThermometerEncoder", "onebit.flows.fracbnn_ops")
    gated = [n for n in golden.graph.node if n.domain == "onebit.flows.fracbnn_ops"
             and n.op_type == "MVAU"]  # fmt: skip
    assert len(gated) == 3  # conv1, fc0, out; conv0 is FINN's XNOR MVAU
    assert ops.count(("MVAU", "finn.custom_op.fpgadataflow")) == 1
    inst = getCustomOp(gated[0])
    assert inst.get_nodeattr("inputDataType") == "UINT2"
    assert len(inst.get_nodeattr("gate_thresholds")) == inst.get_nodeattr("MH")
    # folded: the encoder stays onebit's, the gated MVAUs are FINN's MVAU with their gates
    folded = ModelWrapper(str(next(inter.glob("*_dataflow_folded.onnx"))))
    assert folded.graph.node[0].op_type == "ThermometerEncoder"
    assert sum(mvau.gates_of(n) is not None for n in folded.graph.node
               if n.op_type.startswith("MVAU")) == 3  # fmt: skip
    est = rep["estimate"]
    assert est["cycles_per_layer"]["ThermometerEncoder_0"] == 8 * 8  # digits: 8x8 pixels, C=1
    assert est["resources_per_layer"]["ThermometerEncoder_0"]["DSP"] == 0
    assert json.loads((tmp_path / "b" / "folding.json").read_text())[
        "ThermometerEncoder_0"] == {"PE": 1}


@pytest.mark.slow
def test_sim_build_is_bit_exact_at_the_estimated_cycles(trained, digits, tmp_path):
    """The whole design in Verilator, pipelined (--lut-levels 4), folded slowly enough that the
    gated MVAUs set the pace: every layer's stream equals FINN's golden, and the cycles per
    frame are FINN's estimate within 5 %."""
    rep = _build(tmp_path, trained[0], digits, target_fps=2000, lut_levels=4)
    assert rep["status"] == "ok" and rep["stages"]["rtlsim"]["verified"]
    assert rep["sim"]["bit_exact"]
    assert rep["estimate"]["bottleneck"].startswith("MVAU")
    assert abs(rep["sim"]["ratio_to_estimate"] - 1) < 0.05
    # at the default folding the padding and the max-pool windows set the pace: the windows'
    # cycles are the RTL's (FINN's formula said 956 for 795, a 0.84 ratio), within 5 % too
    rep = _build(tmp_path / "default", trained[0], digits)
    finn = rep["estimate"]["finn_cycles"]
    assert any(finn[n] > rep["estimate"]["cycles_per_layer"][n] for n in finn)
    assert abs(rep["sim"]["ratio_to_estimate"] - 1) < 0.05
    # folded to 2 weight words (as at Fashion-MNIST's default folding), the first MVAU looks
    # the thermometer codes' matches up: the whole design still bit-exact at the estimate
    from onebit.hw.accelerator import Accelerator

    rep = _build(tmp_path / "thermo", trained[0], digits,
                 folding={"MVAU_hls_0": {"PE": 16, "SIMD": 288}})
    first = next(la.inst for la in Accelerator.load(tmp_path / "thermo" / "b" / "rtl").layers
                 if la.inst.module == "onebit_mvau")
    assert first.params["THERMO_LEVELS"] == 32 and first.params["PE"] == 16
    assert rep["sim"]["bit_exact"] and abs(rep["sim"]["ratio_to_estimate"] - 1) < 0.05
    # the mutation score reaches the gate and thermometer-level memories too
    from onebit.flows.mutation import memories, verify_build

    rtl = tmp_path / "b" / "rtl"
    files = [m.file for m in memories(Accelerator.load(rtl), rtl)]
    assert any(f.endswith("_gates.mem") for f in files)
    assert any(f.endswith("_levels.mem") for f in files)
    assert verify_build(tmp_path / "b", 6, seed=1)["injected"] == 6


def test_thermometer_folding():
    """The encoder's PE: the smallest divisor of its channels meeting the target cycles; a
    folding file's PE is honoured where it divides the channels."""
    from onnx import TensorProto, helper
    from qonnx.util.basic import qonnx_make_model

    from onebit.flows.folding import apply_folding_config, fold_onebit_layers

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 32, 32, c])
          for n, c in (("x", 3), ("y", 96))]
    node = helper.make_node("ThermometerEncoder", ["x"], ["y"], name="enc",
                            domain="onebit.flows.fracbnn_ops", backend="fpgadataflow",
                            NumChannels=3, PE=1, resolution=8, inputDataType="UINT8",
                            outputDataType="BINARY", numInputVectors=[1, 32, 32])
    model = ModelWrapper(qonnx_make_model(helper.make_graph([node], "t", io[:1], io[1:])))
    op = getCustomOp(model.graph.node[0])
    for target, pe in [(4000, 1), (2000, 3), (1024, 3), (10, 3)]:
        fold_onebit_layers(model, target)
        assert op.get_nodeattr("PE") == pe
    name = model.graph.node[0].name
    apply_folding_config(model, {name: {"PE": 1}})
    assert op.get_nodeattr("PE") == 1
    with pytest.raises(UserInputError, match="dividing NumChannels=3"):
        apply_folding_config(model, {name: {"PE": 2}})


@pytest.mark.slow
def test_torchrun_two_processes_fracbnn(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "onebit.models.recipes", "--recipe", "fracbnn", "--arch", "fracnet-28",
           "--epochs", "1", "--limit", "128", "--out", str(tmp_path / "f.pt"),
           "--quiet"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    from onebit.models.train import load_checkpoint

    net, meta = load_checkpoint(tmp_path / "f.pt")
    assert meta["world_size"] == 2 and meta["recipe"] == "fracbnn" and net.arch == "fracnet"
