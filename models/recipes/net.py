"""`rnet`: the network family every recipe trains, and `fold`, which turns a trained recipe
network into the exact hardware network (binary weights with scale 1, BatchNorm thresholds).

Layer pattern (plain, `residual=False`, like onebit's `cnv`/`tfc`):

    conv0 (pixels, zero pad `padding`) -> [scale0] -> bn0 -> [prelu0] -> act0 -> [pool0]
    pad_i (-1, `pad_inner`) -> conv_i (groups) -> [scale_i] -> bn_i -> [prelu_i] -> act_i
        -> [pool_i]
    flatten -> fc_j -> [scale] -> bn -> [prelu] -> act -> out

With `residual=True` (Bi-Real Net) the conv part carries an integer stream h (int8, scale 1):
conv0 -> bn0 -> q0, then per stage a transition `BiRealBlock` (no shortcut, when the width
changes) and `blocks` shortcut blocks h + q(bn(conv(sign h))), then [pool]; the head starts
with a sign of h. `channels=()` gives an MLP (the `tfc` shape).

Optional training-only modules (`fprelu`, `rescale`) are absent from the deployed network:
`fold` moves them into the BatchNorms.

`thermometer=r` (FracBNN's input encoding without its precision gating) puts a
`ThermometerEncoder(r)` in front: conv0 becomes a plain binary (+-1 weight, XNOR) layer on the
C * L bipolar channels, its `padding` a -1 pad (= pixel 0) in front of it; `io_weights` then sets
the output layer's weights only. The preset `cnv-wide-thermo` is `cnv-wide` with r = 8.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from onebit.errors import UserInputError

from ..archs import OnebitNet, conv_dims, pool_dims
from ..harden import harden_thresholds
from ..quant import BipolarPad
from ..thermometer import ThermometerEncoder
from .layers import (
    BiRealBlock,
    ChannelGate,
    ChannelScale,
    FPReLU,
    RecipeAct,
    RecipeConv2d,
    RecipeLinear,
    Tap,
    int_stream,
)

RESCALE = ("none", "static", "gated")
IO_WEIGHTS = ("bipolar", "binary01", "int8")  # first (pixels) and output layer weights
STREAM_BN_GAMMA = 8.0  # initial gamma of BNs feeding an int8 stream: ~N(0, 8^2) integers


def rnet(
    input_shape: tuple[int, int, int],
    num_classes: int,
    channels: Sequence[int] = (16, 32),
    fc: Sequence[int] = (64,),
    kernel: int = 3,
    padding: int = 1,
    pad_inner: int | None = None,
    pool: bool = True,
    weights: str = "bipolar",
    io_weights: str | None = None,
    residual: bool = False,
    blocks: int = 1,
    groups: int = 1,
    fprelu: bool = False,
    fprelu_min_slope: float | None = 0.0,
    rescale: str = "none",
    dropout: float = 0.0,
    thermometer: int = 0,
) -> OnebitNet:
    """Recipe network: binary CNN/MLP, optionally Bi-Real residual, FPReLU, re-scaling, groups."""
    channels = [int(c) for c in channels]
    fc = [int(f) for f in fc]
    inner = padding if pad_inner is None else int(pad_inner)
    io_weights = weights if io_weights is None else io_weights
    if weights not in ("bipolar", "binary01"):
        raise UserInputError(f"weights must be 'bipolar' or 'binary01', got '{weights}'")
    if io_weights not in IO_WEIGHTS:
        raise UserInputError(f"io_weights must be one of {', '.join(IO_WEIGHTS)}, got "
                             f"'{io_weights}'")  # fmt: skip
    if rescale not in RESCALE:
        raise UserInputError(f"rescale must be one of {', '.join(RESCALE)}, got '{rescale}'")
    if residual and not channels:
        raise UserInputError("a residual rnet needs conv channels")
    if residual and (fprelu or rescale == "gated"):
        raise UserInputError("residual rnet supports neither fprelu nor gated rescaling")
    if thermometer and not channels:
        raise UserInputError("a thermometer input needs conv channels (its first layer is a conv)")
    if thermometer and rescale == "gated":
        raise UserInputError("gated rescaling reads the pixels: not with a thermometer input")
    if any(c % groups for c in channels[1:]):
        raise UserInputError(f"channels {channels[1:]} must be divisible by groups={groups}")
    c, h, w = input_shape
    stages = f"{len(channels)} conv+pool stages"  # what a too-small input is too small for
    L: OrderedDict[str, nn.Module] = OrderedDict()
    first_weights, first_pad = io_weights, padding
    if thermometer:  # a plain binary first layer on the +-1 codes, padded with -1 (pixel 0)
        L["thermo"] = enc = ThermometerEncoder(thermometer)
        c *= enc.levels
        if padding:
            L["pad0"] = BipolarPad(padding, -1.0)
        first_weights, first_pad = "bipolar", 0
    units: list[tuple[str, ...]] = []  # (linear, scale|'', bn, prelu|'') folding groups
    points: list[str] = []  # attention-matching points (real-valued block outputs)
    prev_tap: Tap | None = None

    def extras(i: str, ch: int, in_ch: int, dims: int) -> tuple[str, str]:
        s = p = ""
        if rescale == "static":
            L[f"scale{i}"] = ChannelScale(ch)
            s = f"scale{i}"
        elif rescale == "gated" and prev_tap is not None and dims == 4:
            L[f"gate{i}"] = ChannelGate(prev_tap, in_ch, ch, scale=1 / 255 if i == "0" else 1.0)
        L[f"bn{i}"] = nn.BatchNorm2d(ch) if dims == 4 else nn.BatchNorm1d(ch)
        if fprelu:
            L[f"prelu{i}"] = FPReLU(ch, min_slope=fprelu_min_slope)
            p = f"prelu{i}"
        return s, p

    if residual:
        L["conv0"] = RecipeConv2d(c, channels[0], kernel, first_pad, 1, first_weights)
        L["bn0"] = nn.BatchNorm2d(channels[0])
        L["q0"] = int_stream()
        units.append(("conv0", "", "bn0", ""))
        points.append("q0")
        h, w = conv_dims(h, w, kernel, padding)
        c = channels[0]
        for i, out_ch in enumerate(channels):
            names = []
            if out_ch != c:
                names.append((f"trans{i}", BiRealBlock(c, out_ch, kernel, padding, False, weights,
                                                      groups, scale=rescale == "static",
                                                      stream_scale=STREAM_BN_GAMMA)))
            names += [(f"block{i}_{j}", BiRealBlock(out_ch, out_ch, kernel, padding, True,
                                                    weights, groups, scale=rescale == "static",
                                                    stream_scale=STREAM_BN_GAMMA))
                      for j in range(blocks)]  # fmt: skip
            for name, blk in names:
                L[name] = blk
                units.append((f"{name}.conv", f"{name}.scale" if rescale == "static" else "",
                              f"{name}.bn", ""))  # fmt: skip
                points.append(name)
            c = out_ch
            if pool:
                h, w = pool_dims("rnet", input_shape, stages, i, h, w)
                L[f"pool{i}"] = nn.MaxPool2d(2)
        L["act_h"] = RecipeAct(STREAM_BN_GAMMA)
    else:
        tap0 = None
        if rescale == "gated" and channels:
            L["tap_in"] = tap0 = Tap()
        prev_tap = tap0
        for i, out_ch in enumerate(channels):
            if i == 0:
                L["conv0"] = RecipeConv2d(c, out_ch, kernel, first_pad, 1, first_weights)
            else:
                if inner:
                    L[f"pad{i}"] = BipolarPad(inner, -1.0)
                L[f"conv{i}"] = RecipeConv2d(c, out_ch, kernel, 0, groups, weights)
            h, w = conv_dims(h, w, kernel, padding if i == 0 else inner)
            s, p = extras(str(i), out_ch, c, 4)
            units.append((f"conv{i}", s, f"bn{i}", p))
            points.append(p or f"bn{i}")
            if rescale == "gated":
                L[f"tap{i}"] = prev_tap = Tap()
            L[f"act{i}"] = RecipeAct()
            if pool:
                h, w = pool_dims("rnet", input_shape, stages, i, h, w)
                L[f"pool{i}"] = nn.MaxPool2d(2)
            c = out_ch
    if h < 1 or w < 1:
        raise UserInputError(f"rnet: input {tuple(input_shape)} is too small")
    L["flatten"] = nn.Flatten()
    fan_in = c * h * w
    for j, width in enumerate(fc):
        i = f"fc{j}"
        L[f"fc{j}"] = RecipeLinear(fan_in, width, weights)
        prev_tap = None
        s, p = extras(i, width, fan_in, 2)
        units.append((f"fc{j}", s, f"bn{i}", p))
        points.append(p or f"bn{i}")
        L[f"act{i}"] = RecipeAct()
        if dropout > 0:
            L[f"drop{i}"] = nn.Dropout(dropout)
        fan_in = width
    L["out"] = RecipeLinear(fan_in, num_classes, io_weights)
    kwargs = {"channels": channels, "fc": fc, "kernel": kernel, "padding": padding,
              "pad_inner": pad_inner, "pool": pool,
              "weights": weights, "io_weights": io_weights, "residual": residual, "blocks": blocks,
              "groups": groups,
              "fprelu": fprelu, "fprelu_min_slope": fprelu_min_slope, "rescale": rescale,
              "dropout": dropout, "thermometer": int(thermometer)}  # fmt: skip
    temp = (fan_in / 2 if io_weights == "binary01" else fan_in) ** 0.5
    net = OnebitNet(L, "rnet", kwargs, input_shape, num_classes, temp)
    net.fold_units = units
    net.attention_points = points
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, BiRealBlock):
                m.bn.weight.fill_(STREAM_BN_GAMMA)
        if residual:
            net.layers.bn0.weight.fill_(STREAM_BN_GAMMA)
    return net


DEPLOY_OVERRIDES = {"fprelu": False, "rescale": "none"}


def deploy_kwargs(kwargs: dict) -> dict:
    """The architecture options of the deployed (hardware) network of a recipe network."""
    return {**kwargs, **DEPLOY_OVERRIDES}


def _module(net: nn.Module, name: str) -> nn.Module:
    return net.get_submodule(f"layers.{name}")


@torch.no_grad()
def fold(net: OnebitNet) -> OnebitNet:
    """The hardware network computing what `net` (eval mode, recipe binarizers attached)
    computes: binary codes as weights (scale 1), every per-channel scale (magnitude-aware,
    Libra-PB power of 2, static re-scaling) and FPReLU folded into the next BatchNorm, then
    thresholds hardened. `net` is left unchanged.

    BN(alpha * y) = BN'(y) with mean' = mean / alpha, gamma' = gamma * alpha; sign(FPReLU(u)) =
    [u >= c] becomes beta' = beta - c (exact for slope >= 0).
    """
    kw = dict(net.arch_kwargs)
    if kw.get("rescale") == "gated":
        raise UserInputError(
            "an input-dependent channel gate has no exact threshold form: train with "
            "rescale='static' (recipe real2bin) for hardware"
        )
    if kw.get("fprelu") and kw.get("fprelu_min_slope") is None:
        slopes = [float(_module(net, u[3]).slope.min()) for u in net.fold_units if u[3]]
        if min(slopes) < 0:
            raise UserInputError(
                f"FPReLU slope {min(slopes):.3g} < 0: sign(FPReLU) is then not one threshold; "
                "train with fprelu_min_slope=0 (recipe ftbnn) for hardware"
            )
    dep = rnet(net.input_shape, net.num_classes, **deploy_kwargs(kw))
    src = net.state_dict()
    dst = dep.state_dict()
    dep.load_state_dict({k: src[k] for k in dst}, strict=True)
    for lin, scale, bn_name, prelu in net.fold_units:
        layer = _module(net, lin)
        b = layer.binarizer
        if b is None:
            continue  # already a hardware layer
        alpha = b.scale(layer.weight).double()
        if scale:
            alpha = alpha * _module(net, scale).scale.double()
        bn = _module(dep, bn_name)
        bn.running_mean.copy_((bn.running_mean.double() / alpha).float())
        bn.weight.copy_((bn.weight.double() * alpha).float())
        if prelu:
            c = _module(net, prelu).sign_threshold()
            bn.bias.copy_((bn.bias.double() - c).float())
        _module(dep, lin).weight.copy_(b.code(layer.weight))
    out = _module(net, "out")
    if out.binarizer is not None:
        _module(dep, "out").weight.copy_(out.binarizer.code(out.weight))
    harden_thresholds(dep.eval())
    return dep
