"""onebit.models.recipes: estimators against their formulas, binarizers, folding, and every
recipe trained a few steps, exported and built (verified) through the HW layers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from onebit import data
from onebit.errors import UnsupportedOpError, UserInputError
from onebit.flows.build import BuildConfig, BuildInput, build
from onebit.hw.accelerator import Accelerator
from onebit.models.recipes import (
    ApproxSign,
    EDESign,
    FPReLU,
    SignSTE,
    attention_loss,
    ede_schedule,
    fold,
    libra_pb,
    rnet,
    siman_code,
    train_recipe,
)
from onebit.models.recipes.estimators import (
    IntWeight,
    LibraPBWeight,
    MagnitudeAwareWeight,
    SiMaNWeight,
)

TO_HW = ["export", "finn", "streamline", "hw_layers", "fold", "estimate"]


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def _grad(fn, x, *args):
    x = x.clone().requires_grad_(True)
    y = fn(x, *args)
    y.sum().backward()
    return y.detach(), x.grad


X = torch.tensor([-2.0, -1.0, -0.75, -0.25, 0.0, 0.25, 0.75, 0.999, 1.0, 1.5])


def test_forward_is_hardware_sign_for_every_estimator():
    want = torch.where(X >= 0, 1.0, -1.0)
    for y in (SignSTE.apply(X), ApproxSign.apply(X), EDESign.apply(X, 3.0, 0.5)):
        assert torch.equal(y, want)


def test_ste_gradient_is_clipped_identity():
    _, g = _grad(SignSTE.apply, X)
    assert torch.equal(g, (X.abs() <= 1).float())


def test_approxsign_gradient():
    _, g = _grad(ApproxSign.apply, X)
    want = torch.where((X >= -1) & (X < 0), 2 + 2 * X,
                       torch.where((X >= 0) & (X < 1), 2 - 2 * X, torch.zeros_like(X)))
    assert torch.allclose(g, want)


def test_ede_gradient_and_schedule():
    k, t = 1.7, 2.3
    _, g = _grad(EDESign.apply, X, k, t)
    assert torch.allclose(g, k * t * (1 - torch.tanh(t * X) ** 2))
    assert ede_schedule(0.0) == pytest.approx((10.0, 0.1))
    assert ede_schedule(1.0) == pytest.approx((1.0, 10.0))
    k5, t5 = ede_schedule(0.5)
    assert t5 == pytest.approx(1.0) and k5 == pytest.approx(1.0)
    k25, t25 = ede_schedule(0.25)
    assert t25 == pytest.approx(10 ** -0.5) and k25 == pytest.approx(10 ** 0.5)


def test_libra_pb_balances_standardises_and_scales_by_a_power_of_two():
    w = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(0)) * 0.3 + 0.2
    std, s = libra_pb(w)
    f = std.reshape(6, -1)
    assert torch.allclose(f.mean(1), torch.zeros(6), atol=1e-6)
    assert torch.allclose(f.std(1), torch.ones(6), atol=1e-5)
    e = torch.log2(s)
    assert torch.equal(e, torch.round(e))
    assert torch.equal(e, torch.round(torch.log2(f.abs().mean(1))))
    b = LibraPBWeight()
    assert torch.equal(b.code(w), torch.where(std >= 0, 1.0, -1.0))
    assert torch.allclose(b.train_weight(w), b.code(w) * s.reshape(-1, 1, 1, 1))


def test_magnitude_aware_weight_and_its_gradient():
    w = (torch.rand(4, 5, generator=torch.Generator().manual_seed(1)) - 0.5).requires_grad_(True)
    b = MagnitudeAwareWeight()
    alpha = w.detach().abs().mean(1)
    tw = b.train_weight(w)
    assert torch.allclose(tw, torch.sign(w.detach()) * alpha[:, None])
    assert torch.allclose(b.scale(w), alpha)
    tw.sum().backward()
    n = w.shape[1]
    s = torch.sign(w.detach())
    want = alpha[:, None] + s * s.sum(1, keepdim=True) / n  # d/dw_ij of sum_k alpha_i sign(w_ik)
    assert torch.allclose(w.grad, want, atol=1e-6)


def test_int_weight_codes_scale_and_straight_through_gradient():
    w = (torch.rand(3, 2, 3, 3, generator=torch.Generator().manual_seed(3)) - 0.5)
    w.requires_grad_(True)
    b = IntWeight()
    alpha = w.detach().abs().reshape(3, -1).amax(1) / 127
    code = b.code(w)
    assert torch.equal(code, torch.round(w.detach() / alpha.reshape(-1, 1, 1, 1)))
    assert code.abs().amax() == 127 and torch.equal(code, code.round())
    assert torch.allclose(b.scale(w), alpha)
    tw = b.train_weight(w)
    assert torch.allclose(tw, code * alpha.reshape(-1, 1, 1, 1))
    tw.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))
    # the output layer: one scale per tensor, so the deployed codes keep the argmax
    per_tensor = IntWeight(use_scale=False).scale(w)
    assert torch.allclose(per_tensor, torch.full((3,), float(w.detach().abs().max()) / 127))


def test_siman_code_is_the_angle_aligned_top_k_per_channel():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(5, 7, generator=g)
    code = siman_code(w)
    assert set(code.unique().tolist()) <= {0.0, 1.0}
    for row, c in zip(w, code, strict=True):
        a = row.abs()
        k = int(c.sum())
        assert a[c == 1].min() >= a[c == 0].max() if k < len(a) else True  # top-k magnitudes
        best = max(range(1, len(a) + 1),
                   key=lambda j: float(torch.sort(a, descending=True).values[:j].sum()) / j**0.5)
        assert k == best
        # brute force over all {0,1} vectors: the code maximises cos(|w|, b)
        cos = float(a @ c) / (float(a.norm()) * k**0.5)
        for m in range(1, 2 ** len(a)):
            b = torch.tensor([(m >> i) & 1 for i in range(len(a))], dtype=a.dtype)
            assert float(a @ b) / (float(a.norm()) * float(b.sum()) ** 0.5) <= cos + 1e-6
    tw = SiMaNWeight().train_weight(w.requires_grad_(True))
    assert torch.equal(tw.detach(), code)
    tw.sum().backward()
    assert torch.equal(w.grad, torch.sign(w.detach()))


def test_stream_act_estimator_sees_the_scaled_stream():
    """Bi-Real's sign of an int8 stream (values ~N(0, 8^2)): the estimator's window covers the
    stream's scale, so every |h| < 8 gets gradient, while the forward stays the hardware sign."""
    from onebit.models.recipes.estimators import ApproxSignAct
    from onebit.models.recipes.layers import RecipeAct

    h = torch.tensor([-9.0, -4.0, -1.0, 0.0, 1.0, 4.0, 7.0, 8.0]).requires_grad_(True)
    act = RecipeAct(8.0)
    act.estimator = ApproxSignAct()
    y = act(h)
    assert torch.equal(y, torch.where(h >= 0, 1.0, -1.0))
    y.sum().backward()
    assert torch.allclose(h.grad, torch.clamp(2 - 2 * (h.detach() / 8).abs(), min=0) / 8)
    net = rnet((1, 8, 8), 10, residual=True)
    scales = {n: m.in_scale for n, m in net.named_modules() if isinstance(m, RecipeAct)}
    stream = {n: s for n, s in scales.items() if n.endswith((".act", "act_h"))}
    assert len(stream) == 4 and set(stream.values()) == {8.0}  # 2 blocks, 1 transition, head
    assert all(s == 1.0 for n, s in scales.items() if n not in stream)  # BN outputs


def test_siman_first_and_last_layers_are_bipolar(digits):
    """SiMaN's {0,1} hidden layers with +-1 first (pixels) and output layers (io_weights)."""
    net, r = train_recipe("siman", digits, epochs=1, limit=128, progress=False)
    assert r.fold_mismatches == 0
    for name, vals in [("conv0", {-1.0, 1.0}), ("conv1", {0.0, 1.0}), ("fc0", {0.0, 1.0}),
                       ("out", {-1.0, 1.0})]:  # fmt: skip
        w = net.get_submodule(f"layers.{name}").quant_weight().value
        assert set(w.unique().tolist()) <= vals, name


def test_fprelu_shape_params_and_threshold():
    f = FPReLU(3)
    assert [tuple(p.shape) for p in f.parameters()] == [(3,), (3,), (3,)]
    with torch.no_grad():
        f.slope.copy_(torch.tensor([0.25, 0.0, 2.0]))
        f.shift_in.copy_(torch.tensor([0.5, -1.0, 1.0]))
        f.shift_out.copy_(torch.tensor([0.2, 0.3, -0.4]))
    x = torch.linspace(-5, 5, 2001)
    y = f(x[:, None].expand(-1, 3).contiguous())
    c = f.sign_threshold().float()
    assert torch.equal(y >= 0, x[:, None] >= c[None, :])
    assert f(torch.zeros(2, 3, 4, 4)).shape == (2, 3, 4, 4)


def test_attention_loss_toy_values():
    a = torch.zeros(2, 3, 2, 2)
    a[:, :, 0, 0] = 1.0
    b = torch.zeros(2, 3, 2, 2)
    b[:, :, 1, 1] = 2.0
    assert float(attention_loss([a], [a * 5])) == pytest.approx(0.0, abs=1e-6)
    assert float(attention_loss([a, a], [b, a])) == pytest.approx(math.sqrt(2))


def _check_build(tmp_path, net, ds, name, n=8):
    x = ds.x_test[:n].astype(np.float32)
    return build(BuildInput(name, x, torch_model=net), BuildConfig(tmp_path / name, sim=False),
                 steps=TO_HW)


@pytest.mark.parametrize("recipe, kw", [
    ("ste", {}),
    ("irnet", {}),
    ("siman", {}),
    ("real2bin", {}),
    ("ftbnn", {}),
    ("bireal", {"residual": False}),
])  # fmt: skip
def test_recipe_trains_folds_exports_and_builds_to_hw_layers(digits, tmp_path, recipe, kw):
    net, r = train_recipe(recipe, digits, epochs=1, limit=192, progress=False, **kw)
    assert r.deployed and r.fold_mismatches == 0
    assert r.test_accuracy == r.torch_accuracy
    rep = _check_build(tmp_path, net, digits, recipe)
    assert rep["status"] == "ok"
    assert set(rep["stages"]) == {"qonnx", "finn", "streamline", "hw_layers"}
    assert all(s["max_abs_diff"] == 0.0 for s in rep["stages"].values())


def _trained_bireal(ds):
    return train_recipe("bireal", ds, epochs=1, limit=192, progress=False)


def test_bireal_residual_simulates_bit_exact(digits, tmp_path):
    """The int8 residual stream is exact at every stage down to the RTL: FINN's fork and add
    (DuplicateStreams, ElementwiseAdd) run as onebit RTL in the stitched accelerator."""
    net, r = _trained_bireal(digits)
    assert r.fold_mismatches == 0
    x = digits.x_test[:4].astype(np.float32)
    rep = build(BuildInput("bireal", x, torch_model=net),
                BuildConfig(tmp_path / "bireal", sim_frames=4))
    assert rep["status"] == "ok"
    assert set(rep["stages"]) == {"qonnx", "finn", "streamline", "hw_layers", "rtlsim", "layersim"}
    assert all(s["max_abs_diff"] == 0.0 for s in rep["stages"].values())
    hw = ModelWrapper(str(tmp_path / "bireal" / "intermediate" / "05_dataflow_golden.onnx"))
    ops = [n.op_type for n in hw.graph.node]
    assert ops.count("DuplicateStreams") == 2 and ops.count("ElementwiseAdd") == 2
    # the 8-bit stream's activations (255 thresholds) are thresholding layers of their own
    wide = [n for n in hw.graph.node if n.op_type == "Thresholding"
            and getCustomOp(n).get_nodeattr("numSteps") == 255]  # fmt: skip
    assert len(wide) == 4 and {hw.find_producer(n.input[0]).op_type for n in wide} == {"MVAU"}
    assert rep["sim"]["bit_exact"]


def test_siman_with_bipolar_padding_simulates_bit_exact(digits, tmp_path):
    """{0,1} weights on a -1-padded bipolar map: the MatMul becomes BINARY x BINARY
    (AND-popcount, `ConvertBipolarByBinaryMatMul`), the pad code 0, and the RTL is exact."""
    net, _ = train_recipe("siman", digits, epochs=1, limit=128, progress=False, pad_inner=1)
    x = digits.x_test[:4].astype(np.float32)
    rep = build(BuildInput("siman_pad", x, torch_model=net),
                BuildConfig(tmp_path / "siman_pad", sim_frames=4))  # fmt: skip
    assert rep["status"] == "ok" and rep["sim"]["bit_exact"]
    assert all(s["max_abs_diff"] == 0.0 for s in rep["stages"].values())
    hw = ModelWrapper(str(tmp_path / "siman_pad" / "intermediate" / "05_dataflow_golden.onnx"))
    mvaus = [getCustomOp(n) for n in hw.graph.node if n.op_type == "MVAU"]
    and_popcount = [m for m in mvaus if m.get_nodeattr("inputDataType") == "BINARY"
                    and m.get_nodeattr("weightDataType") == "BINARY"
                    and not m.get_nodeattr("binaryXnorMode")]  # fmt: skip
    assert and_popcount
    assert any(n.op_type == "FMPadding" for n in hw.graph.node)


def test_int8_first_and_last_layers_simulate_bit_exact(digits, tmp_path):
    """8-bit first (pixels) and output layers, binary hidden layers: the per-channel scale of
    the first layer folds into its thresholds, the output codes keep the argmax, and the RTL
    (multi-bit-weight MVAUs) is exact."""
    net, r = train_recipe("ste", digits, epochs=1, limit=128, progress=False, io_weights="int8")
    assert r.fold_mismatches == 0 and r.test_accuracy == r.torch_accuracy
    w_out = net.layers.out.quant_weight().value
    assert w_out.abs().max() == 127 and torch.equal(w_out, w_out.round())
    x = digits.x_test[:4].astype(np.float32)
    rep = build(BuildInput("int8io", x, torch_model=net),
                BuildConfig(tmp_path / "int8io", sim_frames=4))  # fmt: skip
    assert rep["status"] == "ok" and rep["sim"]["bit_exact"]
    assert all(s["max_abs_diff"] == 0.0 for s in rep["stages"].values())
    assert not list((tmp_path / "int8io").glob("tmp*"))  # the exporter's external data
    hw = ModelWrapper(str(tmp_path / "int8io" / "intermediate" / "05_dataflow_golden.onnx"))
    wdts = [getCustomOp(n).get_nodeattr("weightDataType") for n in hw.graph.node
            if n.op_type == "MVAU"]  # fmt: skip
    assert wdts[0].startswith("INT") and wdts[-1].startswith("INT")
    assert set(wdts[1:-1]) == {"BINARY"}


@pytest.mark.slow
def test_int8_layers_pack_two_products_per_dsp_on_ultrascale(digits, tmp_path):
    """On a DSP48E2 part (zcu104) two rows' products share a multiplier by default where PE is
    even (8-bit pixels x INT8 weights): the whole design still bit-exact."""
    net, _ = train_recipe("ste", digits, epochs=1, limit=128, progress=False, io_weights="int8")
    x = digits.x_test[:4].astype(np.float32)
    rep = build(BuildInput("int8io", x, torch_model=net),
                BuildConfig(tmp_path / "zcu104", board="zcu104", sim_frames=4,
                            folding={"MVAU_hls_0": {"PE": 2, "SIMD": 1}}))  # fmt: skip
    assert rep["status"] == "ok" and rep["sim"]["bit_exact"]
    first = Accelerator.load(tmp_path / "zcu104" / "rtl").layers
    first = next(la.inst for la in first if la.inst.module == "onebit_mvau")
    assert first.params["PACK_SHIFT"] == 16 and first.params["PE"] == 2


def test_fold_is_exact_on_real_inputs_for_scaled_layers(digits):
    """Magnitude-aware (Bi-Real), Libra-PB (IR-Net), static re-scaling, FPReLU and an 8-bit
    first layer's scale fold into the BatchNorm: torch before folding == torch after, on the
    whole digits test set."""

    for recipe, kw in [("bireal", {}), ("irnet", {}), ("ftbnn", {}), ("real2bin", {}),
                       ("irnet", {"io_weights": "int8"})]:  # fmt: skip
        net, r = train_recipe(recipe, digits, epochs=1, limit=256, progress=False, **kw)
        assert r.fold_mismatches == 0, recipe


def test_torch_only_variants_refuse_to_fold(digits):
    net = rnet((1, 8, 8), 10, rescale="gated")
    with pytest.raises(UserInputError, match="input-dependent"):
        fold(net)


def test_training_is_deterministic(digits):
    _, a = train_recipe("irnet", digits, epochs=1, limit=128, progress=False, seed=3)
    _, b = train_recipe("irnet", digits, epochs=1, limit=128, progress=False, seed=3)
    assert a.train_loss == b.train_loss


def test_checkpoint_reloads_the_hardware_network(digits, tmp_path):
    from onebit.models.train import load_checkpoint

    net, r = train_recipe("ftbnn", digits, epochs=1, limit=128, progress=False,
                          out=tmp_path / "f.pt")  # fmt: skip
    loaded, meta = load_checkpoint(tmp_path / "f.pt")
    x = torch.from_numpy(digits.x_test[:64]).float()
    assert torch.equal(net(x), loaded(x))
    assert meta["recipe"] == "ftbnn" and meta["arch"] == "rnet"
    assert (tmp_path / "f.binary.pt").is_file()
    _, r2 = train_recipe("ftbnn", digits, epochs=1, limit=128, progress=False,
                         out=tmp_path / "f.pt", resume=True)  # fmt: skip
    assert r2.test_accuracy == r.test_accuracy


def test_torchrun_two_processes(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m",
           "onebit.models.recipes", "--recipe", "irnet", "--epochs", "1", "--limit", "256",
           "--out", str(tmp_path / "d.pt"), "--quiet"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert '"world_size": 2' in res.stdout
    from onebit.models.train import load_checkpoint

    _, meta = load_checkpoint(tmp_path / "d.pt")
    assert meta["world_size"] == 2 and meta["recipe"] == "irnet"


def test_unknown_recipe_and_grouped_convs_are_refused_by_name(digits, tmp_path):
    with pytest.raises(UserInputError, match="unknown recipe"):
        train_recipe("xnor", digits)
    net, _ = train_recipe("ftbnn", digits, epochs=1, limit=64, progress=False, groups=2)
    with pytest.raises(UnsupportedOpError, match=r"Conv.*grouped convolution \(group=2\)"):
        _check_build(tmp_path, net, digits, "groups")
    rep = json.loads((tmp_path / "groups" / "report.json").read_text())
    assert rep["status"] == "failed"


def test_accuracy_benchmark_writes_rows_and_table(tmp_path):
    """benchmarks/accuracy.py (what docs/recipes.md quotes) runs and writes JSON + Markdown."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy.py"
    out = tmp_path / "acc"
    cmd = [sys.executable, str(script), "--recipes", "fp", "ste", "--epochs", "1", "--out", out]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = json.loads(out.with_suffix(".json").read_text())
    assert [r["recipe"] for r in rows] == ["fp", "ste"]
    assert rows[1]["hardware"] and rows[1]["fold_mismatches"] == 0
    assert all(0.0 <= r["test_accuracy"] <= 1.0 and r["cpu_s"] > 0 for r in rows)
    table = out.with_suffix(".md").read_text()
    assert "| digits | cnv-wide | all | fp | torch only |" in table and "| +0.0 |" in table
