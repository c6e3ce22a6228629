"""Small binary networks with random BatchNorm statistics, for flow tests."""

from __future__ import annotations

import numpy as np
import torch
from brevitas.nn import QuantConv2d, QuantLinear
from torch import nn

from onebit.models.quant import BipolarPad, OnebitBinaryWeight, binary_act


def _fc(i, o):
    return QuantLinear(i, o, bias=False, weight_quant=OnebitBinaryWeight, input_quant=None)


def _conv(i, o, padding=0):
    return QuantConv2d(i, o, 3, padding=padding, bias=False, weight_quant=OnebitBinaryWeight,
                       input_quant=None)


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """BatchNorm statistics that put thresholds inside the accumulator range."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=g) * 40 - 20)
            m.running_var.copy_(torch.rand(c, generator=g) * 45 + 5)
            m.weight.data.copy_(torch.rand(c, generator=g) * 2 - 1)
            m.bias.data.copy_(torch.rand(c, generator=g) * 2 - 1)
    return model.eval()


def mlp(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return randomize_bn(nn.Sequential(
        nn.Flatten(), _fc(64, 32), nn.BatchNorm1d(32), binary_act(),
        _fc(32, 32), nn.BatchNorm1d(32), binary_act(), _fc(32, 10)), seed)


def cnn(seed: int = 0, bipolar_zero_pad: bool = False) -> nn.Module:
    """conv(8-bit in, zero pad) -> sign -> [pad -1] conv -> sign -> maxpool -> fc."""
    torch.manual_seed(seed)
    pad = [] if bipolar_zero_pad else [BipolarPad(1, -1.0)]
    return randomize_bn(nn.Sequential(
        _conv(1, 8, padding=1), nn.BatchNorm2d(8), binary_act(),
        *pad, _conv(8, 16, padding=1 if bipolar_zero_pad else 0), nn.BatchNorm2d(16),
        binary_act(), nn.MaxPool2d(2), nn.Flatten(), _fc(16 * 16, 10)), seed)


def pixels(n: int, shape=(1, 8, 8), seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape)).astype(np.float32)


def zero_padded_cnn(seed: int = 0) -> nn.Module:
    """Zero padding on +-1 inputs: conv3 (pixels) -> sign -> conv3 pad 1 -> sign -> conv5 pad 2
    stride 2 -> sign -> fc; as `torch.nn.Conv2d(padding=...)` on a binary network exports."""
    torch.manual_seed(seed)

    def conv(i, o, k, stride=1):
        return QuantConv2d(i, o, k, stride=stride, padding=k // 2, bias=False,
                           weight_quant=OnebitBinaryWeight, input_quant=None)

    # 7 input channels: a border class pads an odd number of taps (3 * 7), so the correction
    # is a half-integer in popcount units
    return randomize_bn(nn.Sequential(
        conv(1, 7, 3), nn.BatchNorm2d(7), binary_act(),
        conv(7, 12, 3), nn.BatchNorm2d(12), binary_act(),
        conv(12, 16, 5, stride=2), nn.BatchNorm2d(16), binary_act(),
        nn.Flatten(), _fc(16 * 4 * 4, 10)), seed)


def conv_pool_bn(seed: int = 0, act_bits: int | str = 1, tail: str = "fc") -> nn.Module:
    """conv -> sign -> [pad -1] conv -> MaxPool -> BatchNorm -> activation -> tail: Brevitas'
    pool-before-BatchNorm ordering; randomize_bn gives some channels gamma < 0.

    `act_bits=2`: the pooled layer's activation is bnn_pynq's 2-bit {-1, 0, +1} quantizer;
    "int2" / "uint2": levels -2..1 / 0..3 (not symmetric about 0, `random_nets.activation`).
    `tail`: "fc" (flatten, fc), "conv" (conv, BN, sign, flatten, fc) or "pad_conv" (the same
    after a -1 padding)."""
    from brevitas.nn import QuantIdentity
    from brevitas_examples.bnn_pynq.models.common import CommonActQuant

    from random_nets import activation

    torch.manual_seed(seed)
    act = (binary_act() if act_bits == 1 else activation(act_bits) if isinstance(act_bits, str)
           else QuantIdentity(act_quant=CommonActQuant, bit_width=act_bits))
    pad = tail == "pad_conv"
    side = 4 if pad else 2
    rest = {"fc": [nn.Flatten(), _fc(16 * 16, 10)]}.get(tail, [
        *([BipolarPad(1, -1.0)] if pad else []), _conv(16, 8), nn.BatchNorm2d(8), binary_act(),
        nn.Flatten(), _fc(8 * side * side, 10)])
    return randomize_bn(nn.Sequential(
        _conv(1, 8, padding=1), nn.BatchNorm2d(8), binary_act(),
        BipolarPad(1, -1.0), _conv(8, 16), nn.MaxPool2d(2), nn.BatchNorm2d(16), act,
        *rest), seed)


def conv_bn_pool(seed: int = 0, act: str = "sign") -> nn.Module:
    """conv -> sign -> conv (zero pad 1, a +-1 map) -> BatchNorm -> MaxPool -> activation ->
    fc: the pool between BatchNorm and activation; `act` "sign" or "int2" (-2..1, scale 1)."""
    from random_nets import activation

    torch.manual_seed(seed)
    return randomize_bn(nn.Sequential(
        _conv(1, 8, padding=1), nn.BatchNorm2d(8), binary_act(),
        _conv(8, 16, padding=1), nn.BatchNorm2d(16), nn.MaxPool2d(2), activation(act),
        nn.Flatten(), _fc(16 * 4 * 4, 10)), seed)
