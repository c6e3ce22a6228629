"""Random small binary networks and foldings, drawn with Hypothesis, for robustness campaigns.

A `Case` is a network description (`NetSpec`), a folding (`Folding`: a frame-rate target or a
seed for random legal PE/SIMD) and the seeds of its weights and test vectors. Everything is
plain frozen data, so a case prints as one line (`Case.describe`) and is rebuilt exactly from
its seed (`case_from_seed`). The torch network is built only by `Case.module()`:

    conv nets: conv0 (pixels, zero pad) -> [pool] -> BN -> [pool] -> act -> [pool], then per
               hidden conv [pad +-1 | conv zero pad] conv (stride 1-2) -> ... the same,
    residual:  conv0 -> BN -> int8 stream, Bi-Real blocks sign -> -1 pad -> conv -> BN -> int8
               (+ shortcut), [pool], sign,
    then:      flatten -> (fc -> BN -> act)* -> fc (logits, no BN).

Activations are sign (1 bit) or 2-bit integers (signed -2..1 or unsigned 0..3, scale 1);
hidden weights are +-1 (or {0,1}), the first and last layer optionally 8-bit. BatchNorm scales
and shifts are random (negative scales included), running statistics are calibrated on random
pixels so that thresholds fall inside the data, and thresholds are hardened
(`onebit.models.harden_thresholds`) as training leaves them.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from brevitas.inject.enum import RestrictValueType, ScalingImplType
from brevitas.nn import QuantIdentity
from brevitas.quant.scaled_int import Int8ActPerTensorFloat, Uint8ActPerTensorFloat
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from torch import nn

from onebit.models import harden_thresholds
from onebit.models.quant import BipolarPad, binary_act
from onebit.models.recipes.layers import BiRealBlock, RecipeConv2d, RecipeLinear, int_stream

WIDTHS = (1, 2, 3, 4, 5, 7, 8, 11, 13, 16, 17, 24, 29, 31, 32, 37, 48, 61, 64)
"""Channel and fc widths: powers of two, primes and neither (every PE/SIMD divisor pattern)."""
MAX_SIZE = 16  # input height and width
ACTS = ("sign", "int2", "uint2")
POOL_AT = ("after_act", "before_act", "before_bn")
"""Where a max-pool sits in conv -> BN -> act: after the activation, between BN and
activation, or between conv and BN."""


class Int2Act(Int8ActPerTensorFloat):
    """Signed 2-bit activation, scale 1: round(x) clipped to -2..1."""

    bit_width = 2
    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP
    scaling_const = 2.0
    narrow_range = False
    min_val = -2.0
    max_val = 1.0


class Uint2Act(Uint8ActPerTensorFloat):
    """Unsigned 2-bit activation, scale 1: round(x) clipped to 0..3."""

    bit_width = 2
    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP
    scaling_const = 3.0
    max_val = 3.0


def activation(kind: str) -> nn.Module:
    if kind == "sign":
        return binary_act()
    return QuantIdentity(act_quant=Int2Act if kind == "int2" else Uint2Act,
                         return_quant_tensor=False)  # fmt: skip


# ---------------------------------------------------------------------------- descriptions


@dataclass(frozen=True)
class ConvSpec:
    """One conv layer: `pad` pixels of `pad_value` (0: the conv's own zero padding; +-1: a
    `BipolarPad` before an unpadded conv), then conv, BN, activation, optional max-pool."""

    out_ch: int
    kernel: int
    stride: int = 1
    pad: int = 0
    pad_value: float = 0.0
    act: str = "sign"
    pool: int = 0  # max-pool kernel (= stride), 0: none
    pool_at: str = "after_act"

    def describe(self) -> str:
        pad = (f"p{self.pad}" + ("zero" if self.pad_value == 0 else f"({self.pad_value:+g})")
               if self.pad else "")
        pool = f"+pool{self.pool}@{self.pool_at}" if self.pool else ""
        return f"c{self.out_ch}k{self.kernel}s{self.stride}{pad}/{self.act}{pool}"


@dataclass(frozen=True)
class BlockSpec:
    """A Bi-Real block on the int8 stream: `shortcut` blocks keep the width (odd kernel)."""

    out_ch: int
    kernel: int
    shortcut: bool = True

    def describe(self) -> str:
        return f"{'res' if self.shortcut else 'trans'}{self.out_ch}k{self.kernel}"


@dataclass(frozen=True)
class NetSpec:
    """A whole network: input shape, conv part (plain or residual), fc part, output width."""

    input_shape: tuple[int, int, int]
    classes: int
    convs: tuple[ConvSpec, ...] = ()
    blocks: tuple[BlockSpec, ...] = ()  # residual nets: convs[0] is the stem, then blocks
    block_pool: int = 0  # residual nets: max-pool on the int8 stream after the blocks
    fcs: tuple[tuple[int, str], ...] = ()  # (width, activation)
    weights: str = "bipolar"  # hidden layers
    io_weights: str = "bipolar"  # first and last layer

    @property
    def kind(self) -> str:
        return "residual" if self.blocks else "cnn" if self.convs else "mlp"

    def describe(self) -> str:
        parts = [f"{self.kind} {'x'.join(map(str, self.input_shape))}"]
        if self.blocks:
            stem = self.convs[0]
            parts.append(f"stem{stem.out_ch}k{stem.kernel}p{stem.pad}")
        else:
            parts += [c.describe() for c in self.convs]
        parts += [b.describe() for b in self.blocks]
        if self.block_pool:
            parts.append(f"pool{self.block_pool}")
        parts += [f"fc{w}/{a}" for w, a in self.fcs]
        parts.append(f"out{self.classes}")
        return " ".join(parts) + f" [w={self.weights} io={self.io_weights}]"


@dataclass(frozen=True)
class Folding:
    """`target_fps` for FINN's SetFolding, or `seed` for random legal PE/SIMD per layer."""

    target_fps: float | None = None
    seed: int | None = None

    def describe(self) -> str:
        return (f"fps={self.target_fps:.3g}" if self.target_fps is not None
                else f"random folding seed {self.seed}")  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One campaign case: network, folding, and the seeds of weights and vectors."""

    net: NetSpec
    folding: Folding
    weight_seed: int = 0
    vectors: int = 8
    seed: int | None = field(default=None, compare=False)  # the seed it was drawn from

    def describe(self) -> str:
        return f"{self.net.describe()} {self.folding.describe()} (weights {self.weight_seed})"

    def module(self) -> nn.Module:
        return build_module(self.net, self.weight_seed)

    def pixels(self) -> np.ndarray:
        rng = np.random.default_rng(self.weight_seed + 1)
        return rng.integers(0, 256, size=(self.vectors, *self.net.input_shape)).astype(np.float32)


# ---------------------------------------------------------------------------- strategies


def _out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


@st.composite
def conv_specs(draw, hw: tuple[int, int], first: bool, in_act: str):
    """A conv layer that fits an `hw` input; (spec, output hw). `in_act` is what feeds it."""
    h, w = hw
    kernel = draw(st.integers(1, 5))
    pad = draw(st.integers(0, kernel // 2))
    kernel = min(kernel, h + 2 * pad, w + 2 * pad)  # the window fits the padded input
    pad_value = 0.0
    if pad and not first and in_act == "sign":
        pad_value = draw(st.sampled_from((-1.0, -1.0, 1.0, 0.0)))  # 0: refused by name
    stride = draw(st.integers(1, 2))
    h, w = _out(h, kernel, stride, pad), _out(w, kernel, stride, pad)
    pool = draw(st.sampled_from((0, 0, 2, 2, 3)))
    if pool > min(h, w):
        pool = 0
    if pool:
        h, w = h // pool, w // pool
    spec = ConvSpec(out_ch=draw(st.sampled_from(WIDTHS[:-2])), kernel=kernel, stride=stride,
                    pad=pad, pad_value=pad_value, act=draw(st.sampled_from(ACTS[:1] * 3 + ACTS)),
                    pool=pool, pool_at=draw(st.sampled_from(POOL_AT)))  # fmt: skip
    return spec, (h, w)


@st.composite
def net_specs(draw):
    """A random MLP, CNN or residual CNN small enough to build and simulate in seconds."""
    kind = draw(st.sampled_from(("mlp", "cnn", "cnn", "residual")))
    c = draw(st.sampled_from((1, 1, 2, 3)))
    h, w = draw(st.integers(2 if kind == "mlp" else 4, MAX_SIZE)), draw(st.integers(4, MAX_SIZE))
    if draw(st.booleans()):
        w = h  # square images are the common case
    if kind == "mlp":
        h, w = min(h, 12), min(w, 12)
    convs: list[ConvSpec] = []
    blocks: list[BlockSpec] = []
    pool_after = 0
    hw = (h, w)
    if kind == "cnn":
        act = "pixels"
        for i in range(draw(st.integers(1, 3))):
            spec, hw = draw(conv_specs(hw, first=i == 0, in_act=act))
            convs.append(spec)
            act = spec.act
    elif kind == "residual":
        stem, hw = draw(conv_specs(hw, first=True, in_act="pixels"))
        convs.append(ConvSpec(stem.out_ch, stem.kernel, 1, stem.pad))  # stride 1, no pool
        hw = (_out(h, stem.kernel, 1, stem.pad), _out(w, stem.kernel, 1, stem.pad))
        ch = stem.out_ch
        for _ in range(draw(st.integers(1, 3))):
            k = draw(st.sampled_from((1, 3, 3, 5)))  # odd, padded by k // 2: same size
            if draw(st.integers(0, 3)) == 0:
                ch = draw(st.sampled_from(WIDTHS[:-2]))
                blocks.append(BlockSpec(ch, k, shortcut=False))
            else:
                blocks.append(BlockSpec(ch, k))
        pool_after = draw(st.sampled_from((0, 2)))
        if pool_after > min(hw):
            pool_after = 0
    fcs = tuple((draw(st.sampled_from(WIDTHS)), draw(st.sampled_from(ACTS[:1] * 3 + ACTS)))
                for _ in range(draw(st.integers(0 if convs else 1, 2))))  # fmt: skip
    return NetSpec(
        input_shape=(c, h, w), classes=draw(st.sampled_from((2, 3, 5, 7, 10, 13, 16))),
        convs=tuple(convs), blocks=tuple(blocks), block_pool=pool_after, fcs=fcs,
        weights=draw(st.sampled_from(("bipolar",) * 5 + ("binary01",))),
        io_weights=draw(st.sampled_from(("bipolar", "bipolar", "int8"))))  # fmt: skip


def foldings():
    """Half the cases fold for a log-uniform frame rate in 1e2..1e7, half at random."""
    fps = st.floats(2.0, 7.0).map(lambda e: Folding(target_fps=float(f"{10 ** e:.4g}")))
    return st.one_of(fps, st.integers(0, 2**31 - 1).map(lambda s: Folding(seed=s)))


def cases():
    """Random campaign cases (network, folding, weight seed)."""
    return st.builds(Case, net=net_specs(), folding=foldings(),
                     weight_seed=st.integers(0, 2**31 - 1))  # fmt: skip


@contextmanager
def _global_constants_only():
    """Hypothesis (6.131 and later) also draws constants it harvests from the source of the
    local modules imported so far, so one seed would draw different cases depending on what
    the process had imported and on onebit's own code. Seeded draws use only its global
    constants (pinned hypothesis: `providers._get_local_constants`, `CONSTANTS_CACHE`)."""
    from hypothesis.internal.conjecture import providers

    saved = providers._get_local_constants
    providers._get_local_constants = providers.Constants
    providers.CONSTANTS_CACHE.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = saved
        providers.CONSTANTS_CACHE.cache.clear()


def case_from_seed(s: int) -> Case:
    """The case drawn by Hypothesis from seed `s`: the same case for the same seed, whatever
    the process imported before and whatever onebit's code is.

    Hypothesis tries the simplest example first; the second example is the seeded random one.
    """
    drawn = []

    @settings(max_examples=2, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @seed(s)
    @given(cases())
    def draw(case):
        drawn.append(case)

    with _global_constants_only():
        draw()
    c = drawn[-1]
    return Case(c.net, c.folding, c.weight_seed, c.vectors, seed=s)


# ---------------------------------------------------------------------------- torch networks


def _conv(spec: NetSpec, i: int, in_ch: int, out_ch: int, kernel: int, stride: int = 1,
          pad: int = 0) -> RecipeConv2d:
    kind = spec.io_weights if i == 0 else spec.weights
    conv = RecipeConv2d(in_ch, out_ch, kernel, pad, weights=kind)
    conv.stride = (stride, stride)
    return conv


def build_module(spec: NetSpec, weight_seed: int) -> nn.Module:
    """The Brevitas network of `spec` with random weights and BatchNorms (seeded), in eval."""
    torch.manual_seed(weight_seed)
    layers: list[nn.Module] = []
    c = spec.input_shape[0]
    for i, cs in enumerate(spec.convs):
        if cs.pad and cs.pad_value != 0.0:
            layers.append(BipolarPad(cs.pad, cs.pad_value))
            layers.append(_conv(spec, i, c, cs.out_ch, cs.kernel, cs.stride))
        else:
            layers.append(_conv(spec, i, c, cs.out_ch, cs.kernel, cs.stride, cs.pad))
        c = cs.out_ch
        pool = [nn.MaxPool2d(cs.pool)] if cs.pool else []
        bn = nn.BatchNorm2d(c)
        if spec.blocks:
            layers += [bn, int_stream()]
            continue
        if cs.pool_at == "before_bn":
            layers += [*pool, bn, activation(cs.act)]
        elif cs.pool_at == "before_act":
            layers += [bn, *pool, activation(cs.act)]
        else:
            layers += [bn, activation(cs.act), *pool]
    for b in spec.blocks:
        layers.append(BiRealBlock(c, b.out_ch, b.kernel, b.kernel // 2, b.shortcut,
                                  weights=spec.weights))  # fmt: skip
        c = b.out_ch
    if spec.blocks:
        layers += [nn.MaxPool2d(spec.block_pool)] if spec.block_pool else []
        layers.append(binary_act())
    convs = nn.Sequential(*layers, nn.Flatten()).eval()
    fan_in = int(np.prod(convs(torch.zeros(1, *spec.input_shape)).shape[1:]))
    fcs: list[nn.Module] = []
    for j, (width, act) in enumerate(spec.fcs):
        kind = spec.io_weights if j == 0 and not spec.convs else spec.weights
        fcs += [RecipeLinear(fan_in, width, kind), nn.BatchNorm1d(width), activation(act)]
        fan_in = width
    net = nn.Sequential(*layers, nn.Flatten(), *fcs,
                        RecipeLinear(fan_in, spec.classes, spec.io_weights))
    return _randomize(net, weight_seed, spec.input_shape)


@torch.no_grad()
def _randomize(net: nn.Module, weight_seed: int, input_shape) -> nn.Module:
    g = torch.Generator().manual_seed(weight_seed)
    for m in net.modules():
        if isinstance(m, RecipeConv2d | RecipeLinear):
            span = 127.0 if m.weight_kind == "int8" else 1.0
            m.weight.copy_((torch.rand(m.weight.shape, generator=g) * 2 - 1) * span)
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            sign = torch.where(torch.rand(m.num_features, generator=g) < 0.3, -1.0, 1.0)
            m.weight.copy_(sign * (0.2 + 1.8 * torch.rand(m.num_features, generator=g)))
            m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.reset_running_stats()
            m.momentum = None  # running statistics = the calibration batch's
    calib = torch.randint(0, 256, (32, *input_shape), generator=g).float()
    net.train()(calib)
    net.eval()
    harden_thresholds(net)
    return net


# ---------------------------------------------------------------------------- foldings


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def random_folding(model: ModelWrapper, seed: int) -> dict[str, dict]:
    """Random legal PE/SIMD for every node of a specialized FINN dataflow graph.

    MVAU: PE | MH, SIMD | MW. Thresholding, DuplicateStreams, AddStreams, StreamingMaxPool: PE |
    channels; LabelSelect: PE | labels; FMPadding and the sliding window (SWG): SIMD | channels;
    Pool (fed by a depthwise SWG): PE | channels and the SWG's SIMD = that PE. A dense SWG's
    SIMD is one FINN's generator builds (`hw.finn_rtl.buildable_simds`; a user's folding with
    another is refused at fold by name); at full SIMD it may take parallel_window=1 (one in
    four), where FINN's parallel style computes the geometry exactly
    (`hw.finn_rtl.unsound_parallel_window`).
    """
    from onebit.hw.finn_rtl import buildable_simds, unsound_parallel_window

    rng = np.random.default_rng(seed)

    def pick(n) -> int:
        return int(rng.choice(_divisors(int(n))))

    cfg: dict[str, dict] = {}
    for node in model.graph.node:
        op = node.op_type
        inst = getCustomOp(node)
        get = inst.get_nodeattr
        if op.startswith("MVAU"):
            cfg[node.name] = {"PE": pick(get("MH")), "SIMD": pick(get("MW"))}
        elif op.startswith(("Thresholding", "DuplicateStreams", "AddStreams",
                            "StreamingMaxPool", "ElementwiseAdd")):
            cfg[node.name] = {"PE": pick(_channels(inst))}
        elif op.startswith("LabelSelect"):
            cfg[node.name] = {"PE": pick(get("Labels"))}
        elif op.startswith("FMPadding"):
            cfg[node.name] = {"SIMD": pick(get("NumChannels"))}
        elif op.startswith("Pool"):
            pe = pick(get("Channels"))
            cfg[node.name] = {"PE": pe}
            swg = model.find_producer(node.input[0])
            if swg is not None and swg.op_type.startswith("ConvolutionInputGenerator"):
                cfg[swg.name] = {"SIMD": pe, **_window(swg, 0)}
        elif op.startswith("ConvolutionInputGenerator") and node.name not in cfg:
            if get("depthwise"):
                continue  # set by the Pool it feeds
            ch = int(get("IFMChannels"))
            rtl = node.op_type.endswith("_rtl")
            simd = int(rng.choice((buildable_simds(inst) if rtl else _divisors(ch)) or [1]))
            full = simd == ch and rng.random() < 0.25 and not (
                rtl and unsound_parallel_window(inst))
            cfg[node.name] = {"SIMD": simd, **_window(node, int(full))}
    return cfg


def _channels(inst) -> int:
    try:
        return int(inst.get_nodeattr("NumChannels"))
    except AttributeError:
        return int(inst.get_normal_output_shape()[-1])


def _window(node, value: int) -> dict:
    return {"parallel_window": value} if node.op_type.endswith("_rtl") else {}


def describe_folding(cfg: dict[str, dict]) -> str:
    """`name:PE/SIMD` per node, one line (for failure reports)."""
    return " ".join(f"{k}:{'/'.join(f'{a}{v}' for a, v in d.items())}" for k, d in cfg.items())

