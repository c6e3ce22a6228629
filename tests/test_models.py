"""onebit.models: shapes, binary weights with scale 1, bipolar padding, exact threshold hardening,
bnn_pynq adapters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from torch import nn

from onebit import data, models
from onebit.errors import ModelFormatError, UserInputError

SHAPES = [(1, 8, 8), (1, 28, 28)]


def _pixels(shape, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g).float()


def _randomize_bn(model, seed=0):
    """Trained-looking BN statistics and affine parameters (some gamma < 0, one gamma == 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 20)
                m.running_var.copy_(torch.rand(c, generator=g) * 400 + 1)
                m.weight.copy_(torch.randn(c, generator=g))
                m.weight[0] = 0.0
                m.bias.copy_(torch.randn(c, generator=g))
    return model


@pytest.mark.parametrize("arch", ["tfc", "cnv"])
@pytest.mark.parametrize("shape", SHAPES)
def test_shapes_and_integer_logits(arch, shape):
    net = models.build(arch, shape, 10, seed=1).eval()
    out = net(_pixels(shape))
    assert out.shape == (6, 10)
    assert torch.equal(out, out.round())  # integer accumulators
    assert net.arch == arch and net.input_shape == shape and net.num_classes == 10
    assert net.logit_temperature > 1


def _weight_layers(net):
    return [m for m in net.modules() if isinstance(m, (QuantLinear, QuantConv2d))]


@pytest.mark.parametrize("arch", ["tfc", "cnv"])
def test_weights_are_binary_with_scale_one_and_no_bias(arch):
    net = models.build(arch, (1, 8, 8), 10)
    layers = _weight_layers(net)
    for layer in layers:
        qw = layer.quant_weight()
        assert set(qw.value.unique().tolist()) == {-1.0, 1.0}
        assert float(qw.scale) == 1.0 and float(qw.bit_width) == 1.0
        assert layer.bias is None
        assert not layer.input_quant.is_quant_enabled
        # the quant weight is the sign of the latent weight (+1 at 0)
        assert torch.equal(qw.value, torch.where(layer.weight >= 0, 1.0, -1.0))
    assert isinstance(list(net.layers.children())[-1], QuantLinear)  # logits: no BN, no act


@pytest.mark.parametrize("arch", ["tfc", "cnv"])
def test_every_hidden_layer_is_weight_bn_sign(arch):
    net = models.build(arch, (1, 28, 28), 10)
    kids = list(net.layers.children())
    for i, m in enumerate(kids[:-1]):
        if isinstance(m, (QuantLinear, QuantConv2d)):
            assert isinstance(kids[i + 1], nn.modules.batchnorm._BatchNorm)
            act = kids[i + 2]
            assert isinstance(act, QuantIdentity)
            assert float(act.act_quant.scale()) == 1.0 and float(act.act_quant.bit_width()) == 1.0
    x = torch.tensor([[-2.0, -0.1, 0.0, 0.3, 7.0]])
    assert models.binary_act()(x).tolist() == [[-1.0, -1.0, 1.0, 1.0, 1.0]]


@pytest.mark.parametrize("pad_value", [-1.0, 1.0])
def test_bipolar_padding_before_every_conv_on_a_bipolar_map(pad_value):
    net = models.build("cnv", (1, 8, 8), 10, channels=(8, 8, 8), pad_value=pad_value).eval()
    names = [n for n, _ in net.layers.named_children()]
    convs = [n for n, m in net.layers.named_children() if isinstance(m, QuantConv2d)]
    assert net.layers.conv0.padding == (1, 1)  # integer pixels: zero padding inside the conv
    for name in convs[1:]:
        pad = names[names.index(name) - 1]
        assert isinstance(getattr(net.layers, pad), models.BipolarPad)
        assert getattr(net.layers, pad).value == pad_value
        assert getattr(net.layers, name).padding == (0, 0)
    seen = {}
    net.layers.conv1.register_forward_hook(lambda m, i, o: seen.setdefault("x", i[0]))
    net(_pixels((1, 8, 8)))
    x = seen["x"]
    assert x.shape[-2:] == (6, 6)  # 4x4 after pool, padded by 1
    border = torch.cat([x[..., 0, :].flatten(), x[..., -1, :].flatten(), x[..., :, 0].flatten()])
    assert set(border.unique().tolist()) == {pad_value}
    assert set(x[..., 1:-1, 1:-1].unique().tolist()) <= {-1.0, 1.0}


def test_bad_options_are_user_errors():
    with pytest.raises(UserInputError, match="pad value"):
        models.build("cnv", (1, 8, 8), 10, pad_value=0.0)
    with pytest.raises(UserInputError, match="unknown architecture"):
        models.build("resnet", (1, 8, 8), 10)
    with pytest.raises(UserInputError, match="no option width"):
        models.build("tfc", (1, 8, 8), 10, width=3)
    with pytest.raises(UserInputError, match="too small"):
        models.build("cnv", (1, 8, 8), 10, channels=(4, 4, 4, 4))


def test_build_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a = models.build("tfc", (1, 8, 8), 10, seed=5).state_dict()
    b = models.build("tfc", (1, 8, 8), 10, seed=5).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(state, torch.random.get_rng_state())
    c = models.build("tfc", (1, 8, 8), 10, seed=6).state_dict()
    assert not torch.equal(a["layers.fc0.weight"], c["layers.fc0.weight"])


# --- harden_thresholds -----------------------------------------------------------------------


@torch.no_grad()
def _thresholds(bn, step=1.0):
    sigma = torch.sqrt(bn.running_var.double() + bn.eps)
    return (bn.running_mean.double() - bn.bias.double() * sigma / bn.weight.double()) / step


@pytest.mark.parametrize("arch", ["tfc", "cnv"])
def test_harden_keeps_outputs_on_real_inputs_and_is_idempotent(arch):
    ds = data.load("digits")
    net = _randomize_bn(models.build(arch, ds.input_shape, 10, seed=2)).eval()
    x = torch.from_numpy(ds.x_test[:200]).float()
    before = net(x)
    report = models.harden_thresholds(net)
    assert set(report) == {n for n, _ in models.bn_feeding_sign(net)} and sum(report.values()) > 0
    assert torch.equal(before, net(x))
    for _, bn in models.bn_feeding_sign(net):
        t = _thresholds(bn)[bn.weight != 0]
        assert torch.allclose(t - t.floor(), torch.full_like(t, 0.5), atol=1e-3)
    biases = [bn.bias.clone() for _, bn in models.bn_feeding_sign(net)]
    assert sum(models.harden_thresholds(net).values()) == 0
    after = models.bn_feeding_sign(net)
    assert all(torch.equal(b, bn.bias) for b, (_, bn) in zip(biases, after, strict=True))
    assert torch.equal(before, net(x))


def test_harden_is_exact_on_integer_ties():
    """Thresholds exactly on integers (BN(x) == 0 -> +1) and a hair off them keep every decision."""
    c = 8
    bn = nn.BatchNorm1d(c).eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([3.0, -2.0, 0.0, 5.0, 1.0, 1.0, 7.0, -4.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 9.0, 0.25, 1.0, 1.0, 2.0, 3.0]) - bn.eps)
        bn.weight.copy_(torch.tensor([1.0, -1.0, 2.0, -0.5, 1.0, -1.0, 0.0, 1.0]))
        bn.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 1e-7, -1e-7, 0.3, 3e-6]))
    net = nn.Sequential(bn, models.binary_act())
    x = torch.arange(-20, 21, dtype=torch.float32)[:, None].repeat(1, c)
    before = net(x)
    models.harden_thresholds(net)
    assert torch.equal(before, net(x))
    assert torch.equal(bn.bias[6], torch.tensor(0.3))  # gamma == 0: left alone
    # BN output now at least a quarter away from 0 on every integer (no near-ties)
    y = bn(x)[:, :6]
    assert (y.abs() / (bn.weight[:6].abs() / torch.sqrt(bn.running_var[:6] + bn.eps))).min() > 0.49


def test_harden_respects_a_finer_accumulator_grid():
    bn = nn.BatchNorm1d(1).eval()
    with torch.no_grad():
        bn.running_mean.fill_(0.3)  # threshold 0.3: on a 1/8 grid the boundary is 3/8
        bn.bias.zero_()
    net = nn.Sequential(bn, models.binary_act())
    x = (torch.arange(-40, 41, dtype=torch.float32) / 8)[:, None]
    before = net(x)
    models.harden_thresholds(net, steps={"0": 1 / 8})
    assert torch.equal(before, net(x))
    assert float(_thresholds(bn)) == pytest.approx(0.3125, abs=1e-6)  # 2.5/8


# --- bnn_pynq ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, shape",
    [("tfc", (1, 28, 28)), ("sfc", (1, 28, 28)), ("lfc", (1, 28, 28)), ("cnv", (3, 32, 32))],
)
def test_bnn_pynq_models_take_pixels(name, shape):
    net = models.bnn_pynq(name, seed=0).eval()
    assert net.input_shape == shape and net.arch == f"bnn-pynq-{name}"
    assert isinstance(net.scale, models.PixelScale)
    x = _pixels(shape, n=2)
    out = net(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    # same as feeding the Brevitas model [0, 1] input directly
    assert torch.equal(out, net.net(x * (1.0 / 255.0)))


def test_bnn_pynq_seeded_and_weights_file(tmp_path):
    a, b = models.bnn_pynq("tfc", seed=3), models.bnn_pynq("tfc", seed=3)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    path = tmp_path / "tfc.pth"
    torch.save(a.net.state_dict(), path)  # Brevitas' own key layout
    c = models.bnn_pynq("tfc", weights=path, seed=9).eval()
    x = _pixels((1, 28, 28))
    assert torch.equal(a.eval()(x), c(x))
    torch.save({"bogus": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ModelFormatError, match="do not fit"):
        models.bnn_pynq("tfc", weights=tmp_path / "bad.pth")
    with pytest.raises(UserInputError, match="unknown bnn_pynq"):
        models.bnn_pynq("vgg")


def test_bnn_pynq_fc_on_other_shapes_and_hardening():
    net = _randomize_bn(models.build("bnn-pynq-sfc", (1, 8, 8), 4, seed=0)).eval()
    x = torch.from_numpy(data.load("digits").x_test[:64]).float()
    before = net(x)
    assert before.shape == (64, 4)
    models.harden_thresholds(net)
    assert torch.equal(before, net(x))


def test_bnn_pynq_cnv_first_layer_grid():
    net = models.bnn_pynq("cnv", seed=0)
    assert net.accumulator_steps == {"net.conv_features.2": 2.0**-7}
    with pytest.raises(UserInputError, match="32x32"):
        models.bnn_pynq("cnv", input_shape=(3, 28, 28))


def test_list_archs():
    archs = models.list_archs()
    assert {"tfc", "cnv", "bnn-pynq-tfc", "bnn-pynq-cnv"} <= set(archs)
    assert models.arch_options("cnv")["pad_value"] == -1.0
    assert np.isclose(models.build("tfc", (8, 8), 3).logit_temperature, 8.0)
