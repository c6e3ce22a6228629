"""onebit's own binary networks, `tfc` and `cnv`.

Layer pattern (what the export and FINN flows expect):

    input: float (N, C, H, W) holding integer pixels 0..255 (graph input annotated UINT8)
    hidden: binary-weight QuantLinear/QuantConv2d (scale 1, no bias) -> BatchNorm -> sign
            [-> MaxPool]
    output: binary-weight QuantLinear, no BN, no activation: integer accumulators as logits

The first layer has no input quantizer (`input_quant=None`): its accumulator is an exact integer
sum of +-pixels. Convolutions over a bipolar map are unpadded, preceded by `BipolarPad`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from brevitas.nn import QuantConv2d, QuantLinear
from torch import nn

from onebit.errors import UserInputError

from .quant import BipolarPad, OnebitBinaryWeight, binary_act


def binary_linear(in_features: int, out_features: int) -> QuantLinear:
    """Binary-weight fully connected layer, scale 1, no bias, no input quantizer."""
    return QuantLinear(
        in_features, out_features, bias=False, weight_quant=OnebitBinaryWeight, input_quant=None
    )


def binary_conv(in_ch: int, out_ch: int, kernel: int, padding: int = 0) -> QuantConv2d:
    """Binary-weight convolution, scale 1, no bias, no input quantizer."""
    return QuantConv2d(
        in_ch,
        out_ch,
        kernel,
        padding=padding,
        bias=False,
        weight_quant=OnebitBinaryWeight,
        input_quant=None,
    )


class OnebitNet(nn.Module):
    """A sequence of named layers plus what is needed to rebuild it (`arch`, `arch_kwargs`).

    `logit_temperature` is the divisor training applies to the integer logits in the loss.
    """

    def __init__(
        self,
        layers: OrderedDict[str, nn.Module],
        arch: str,
        arch_kwargs: dict,
        input_shape: tuple[int, int, int],
        num_classes: int,
        logit_temperature: float,
    ):
        super().__init__()
        self.layers = nn.Sequential(layers)
        self.arch = arch
        self.arch_kwargs = dict(arch_kwargs)
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.logit_temperature = float(logit_temperature)
        _init_latent_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def _init_latent_weights(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, (QuantLinear, QuantConv2d)):
            nn.init.uniform_(m.weight, -1.0, 1.0)


def _check_widths(name: str, widths: Sequence[int]) -> list[int]:
    widths = [int(w) for w in widths]
    if any(w < 1 for w in widths):
        raise UserInputError(f"{name} must be positive integers, got {widths}")
    return widths


def conv_dims(h: int, w: int, kernel: int, padding: int) -> tuple[int, int]:
    """Output map size of a stride-1 `kernel` x `kernel` convolution padded by `padding`."""
    return h + 2 * padding - kernel + 1, w + 2 * padding - kernel + 1


def pool_dims(arch: str, input_shape, stages: str, i: int, h: int, w: int) -> tuple[int, int]:
    """Output map size of 2x2 max-pool `i`; raises when the map is smaller than 2x2.

    `stages` says what the input is too small for, e.g. "2 conv+pool blocks".
    """
    if h < 2 or w < 2:
        raise UserInputError(
            f"{arch}: input {tuple(input_shape)} is too small for {stages} "
            f"(map is {h}x{w} before pool {i})"
        )
    return h // 2, w // 2


def _head(layers: OrderedDict, in_features: int, hidden: list[int], num_classes: int,
          start: int, dropout: float) -> int:  # fmt: skip
    """Appends hidden binary FC blocks and the output layer; returns the output's fan-in."""
    for i, width in enumerate(hidden, start):
        layers[f"fc{i}"] = binary_linear(in_features, width)
        layers[f"bn{i}"] = nn.BatchNorm1d(width)
        layers[f"act{i}"] = binary_act()
        if dropout > 0:
            layers[f"drop{i}"] = nn.Dropout(dropout)
        in_features = width
    layers["out"] = binary_linear(in_features, num_classes)
    return in_features


def tfc(
    input_shape: tuple[int, int, int],
    num_classes: int,
    hidden: Sequence[int] = (64, 64, 64),
    dropout: float = 0.0,
) -> OnebitNet:
    """Binary MLP (FINN's TFC shape): flatten, `hidden` binary FC+BN+sign blocks, binary output."""
    hidden = _check_widths("tfc hidden widths", hidden)
    c, h, w = input_shape
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    fan_in = _head(layers, c * h * w, hidden, num_classes, 0, dropout)
    kwargs = {"hidden": hidden, "dropout": dropout}
    return OnebitNet(layers, "tfc", kwargs, input_shape, num_classes, fan_in**0.5)


def cnv(
    input_shape: tuple[int, int, int],
    num_classes: int,
    channels: Sequence[int] = (16, 32),
    fc: Sequence[int] = (64,),
    kernel: int = 3,
    padding: int = 1,
    pad_value: float = -1.0,
    pool: bool = True,
    dropout: float = 0.0,
) -> OnebitNet:
    """Small binary CNN: conv blocks (binary conv, BN, sign, 2x2 max-pool), then binary FC blocks.

    The first conv sees integer pixels and zero-pads inside the conv; every later conv sees a
    +-1 map, so it is unpadded and preceded by `BipolarPad(padding, pad_value)`.
    """
    channels = _check_widths("cnv channels", channels)
    fc = _check_widths("cnv fc widths", fc)
    if not channels:
        raise UserInputError("cnv needs at least one conv layer (channels)")
    c, h, w = input_shape
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, out_ch in enumerate(channels):
        if i == 0:
            layers["conv0"] = binary_conv(c, out_ch, kernel, padding)
        else:
            if padding:
                layers[f"pad{i}"] = BipolarPad(padding, pad_value)
            layers[f"conv{i}"] = binary_conv(c, out_ch, kernel, 0)
        h, w = conv_dims(h, w, kernel, padding)
        layers[f"bn{i}"] = nn.BatchNorm2d(out_ch)
        layers[f"act{i}"] = binary_act()
        if pool:
            h, w = pool_dims("cnv", input_shape, f"{len(channels)} conv+pool blocks", i, h, w)
            layers[f"pool{i}"] = nn.MaxPool2d(2)
        if h < 1 or w < 1:
            raise UserInputError(f"cnv: input {tuple(input_shape)} is too small for conv {i}")
        c = out_ch
    layers["flatten"] = nn.Flatten()
    fan_in = _head(layers, c * h * w, fc, num_classes, len(channels), dropout)
    kwargs = {"channels": channels, "fc": fc, "kernel": kernel, "padding": padding,
              "pad_value": float(pad_value), "pool": pool, "dropout": dropout}  # fmt: skip
    return OnebitNet(layers, "cnv", kwargs, input_shape, num_classes, fan_in**0.5)
