"""`fracnet`: FracBNN's network shape on onebit's conventions, and its `fold`.

    thermo (ThermometerEncoder, C -> C*L +-1 channels) -> pad0 (-1, i.e. pixel 0)
        -> conv0 (binary, XNOR) -> bn0 -> act0 (FracAct: 2-bit codes) -> [pool0]
    conv_i (PGBinaryConv2d, code-0 padding) -> bn_i -> act_i -> [pool_i]
    flatten -> fc_j (PGBinaryLinear) -> bn -> act -> out (PGBinaryLinear: logits in thirds)

Every BatchNorm keeps a positive scale (`PositiveBatchNorm*`, clamped after each step): then
BN -> FracAct is non-decreasing per channel, i.e. plain thresholds on the integer accumulator.
A negative scale would need the sign in the next layer's weights, which the gate (a compare on
the MSB accumulator alone) does not allow. The architecture presets `fracnet-28` (28x28x1, e.g.
Fashion-MNIST) and `fracnet-32` (32x32x3, CIFAR-10) live with the others in
`onebit.models.recipes.trainer.ARCH_PRESETS`.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from onebit.errors import UserInputError

from ..archs import OnebitNet, conv_dims, pool_dims
from ..precision_gate import FracAct, PGBinaryConv2d, PGBinaryLinear
from ..quant import BipolarPad
from ..thermometer import ThermometerEncoder
from .layers import RecipeConv2d

MIN_BN_SCALE = 1e-3


class _PositiveScale:
    """Mixin for BatchNorms feeding a FracAct: `clamp_scale_()` keeps gamma >= MIN_BN_SCALE."""

    @torch.no_grad()
    def clamp_scale_(self) -> None:
        self.weight.clamp_(min=MIN_BN_SCALE)


class PositiveBatchNorm2d(_PositiveScale, nn.BatchNorm2d):
    """BatchNorm2d whose scale the trainer keeps positive."""


class PositiveBatchNorm1d(_PositiveScale, nn.BatchNorm1d):
    """BatchNorm1d whose scale the trainer keeps positive."""


def fracnet(
    input_shape: tuple[int, int, int],
    num_classes: int,
    channels: Sequence[int] = (32, 64),
    fc: Sequence[int] = (128,),
    resolution: int = 8,
    kernel: int = 3,
    padding: int = 1,
    pool: bool = True,
    threshold_init: float = -1.0,
) -> OnebitNet:
    """FracBNN network: thermometer input, binary first conv, precision-gated 2-bit layers."""
    channels = [int(c) for c in channels]
    fc = [int(f) for f in fc]
    if not channels:
        raise UserInputError("fracnet needs conv channels: use --arch fracnet-28, fracnet-32, "
                             "cnv or cnv-wide")  # fmt: skip
    c, h, w = input_shape
    stages = f"{len(channels)} conv+pool stages"
    L: OrderedDict[str, nn.Module] = OrderedDict()
    L["thermo"] = enc = ThermometerEncoder(resolution)
    c *= enc.levels
    for i, out_ch in enumerate(channels):
        if i == 0:
            if padding:
                L["pad0"] = BipolarPad(padding, -1.0)
            L["conv0"] = RecipeConv2d(c, out_ch, kernel, 0)
        else:
            L[f"conv{i}"] = PGBinaryConv2d(c, out_ch, kernel, padding, threshold_init)
        h, w = conv_dims(h, w, kernel, padding)
        L[f"bn{i}"] = PositiveBatchNorm2d(out_ch)
        L[f"act{i}"] = FracAct()
        if pool:
            h, w = pool_dims("fracnet", input_shape, stages, i, h, w)
            L[f"pool{i}"] = nn.MaxPool2d(2)
        c = out_ch
    if h < 1 or w < 1:
        raise UserInputError(f"fracnet: input {tuple(input_shape)} is too small")
    L["flatten"] = nn.Flatten()
    fan_in = c * h * w
    for j, width in enumerate(fc):
        L[f"fc{j}"] = PGBinaryLinear(fan_in, width, threshold_init)
        L[f"bnfc{j}"] = PositiveBatchNorm1d(width)
        L[f"actfc{j}"] = FracAct()
        fan_in = width
    L["out"] = PGBinaryLinear(fan_in, num_classes, threshold_init)
    kwargs = {"channels": channels, "fc": fc, "resolution": int(resolution), "kernel": kernel,
              "padding": padding, "pool": pool, "threshold_init": threshold_init}  # fmt: skip
    # logits are in thirds: an accumulator of fan_in terms of up to +-3
    return OnebitNet(L, "fracnet", kwargs, input_shape, num_classes, 3.0 * fan_in**0.5)


@torch.no_grad()
def fold_fracnet(net: OnebitNet) -> OnebitNet:
    """The hardware network of a trained fracnet: the same modules without the recipe's
    binarizers (every weight is its sign, scale 1; gates and BatchNorms need no folding: the
    gate compare is exact on integer accumulators). `net` is left unchanged."""
    from .trainer import detach_recipe

    dep = copy.deepcopy(net)
    detach_recipe(dep)
    return dep.eval()
