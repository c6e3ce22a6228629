"""The building blocks of recipe networks: Brevitas layers whose training-time behaviour a recipe
can swap, integer residual streams, and the real-valued modules that fold away at deployment.

A `RecipeConv2d`/`RecipeLinear` is a Brevitas binary layer. With no `binarizer` attached it is
exactly the exported layer (weights +-1 or {0,1}, scale 1); a recipe attaches a
`WeightBinarizer` while it trains. Likewise `RecipeAct` is onebit's sign activation, with an
optional `estimator` for the backward pass (or a real activation in full-precision stages).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from brevitas.export.onnx.qonnx.function import BrevitasQuantOp
from brevitas.export.onnx.qonnx.handler import BrevitasWeightQuantProxyHandler
from brevitas.export.onnx.qonnx.manager import QONNXManager
from brevitas.inject.enum import RestrictValueType, ScalingImplType
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear
from brevitas.proxy import WeightQuantProxyFromInjector
from brevitas.quant.scaled_int import Int8ActPerTensorFloat, Int8WeightPerTensorFloat
from torch import nn

from ..quant import BipolarPad, OnebitBinaryAct, OnebitBinaryWeight


class Binary01WeightProxy(WeightQuantProxyFromInjector):
    """Proxy of {0,1} weight quantizers, so that export can tell them from +-1 ones."""


class _Binary01WeightHandler(BrevitasWeightQuantProxyHandler):
    """Exports a 1-bit unsigned weight quantizer as QONNX `Quant` (bit width 1, signed 0).

    Brevitas 0.13.4 exports every 1-bit weight quantizer as `BipolarQuant`, ignoring
    signed=False, which silently turns the 0 weights into +1.
    """

    handled_layer = Binary01WeightProxy

    def prepare_for_export(self, module):
        super().prepare_for_export(module)
        if module.is_quant_enabled:
            self.quant_op = BrevitasQuantOp


if _Binary01WeightHandler not in QONNXManager.handlers:
    QONNXManager.handlers.insert(0, _Binary01WeightHandler)


class OnebitBinary01Weight(Int8WeightPerTensorFloat):
    """{0, 1} weights (SiMaN), constant scale 1: exported as a 1-bit unsigned QONNX `Quant`."""

    proxy_class = Binary01WeightProxy
    bit_width = 1
    signed = False
    narrow_range = False
    scaling_impl_type = ScalingImplType.CONST
    scaling_const = 1.0


class OnebitIntStream(Int8ActPerTensorFloat):
    """Signed 8-bit integer stream, constant scale 1 (round half to even, clip to -128..127)."""

    scaling_impl_type = ScalingImplType.CONST
    restrict_scaling_type = RestrictValueType.FP
    scaling_const = 128.0
    min_val = -128.0
    max_val = 127.0
    narrow_range = False


class OnebitInt8Weight(Int8WeightPerTensorFloat):
    """Integer weights -127..127, constant scale 1 (first/last layers): a QONNX 8-bit `Quant`."""

    scaling_impl_type = ScalingImplType.CONST
    scaling_const = 127.0  # the largest code: scale = scaling_const / 127 = 1
    narrow_range = True


WEIGHT_QUANTS = {"bipolar": OnebitBinaryWeight, "binary01": OnebitBinary01Weight,
                 "int8": OnebitInt8Weight}  # fmt: skip


def _off_tree(name: str, doc: str) -> property:
    """An attribute kept outside the module tree (not a submodule, not in the state dict)."""
    key = f"_{name}"

    def get(self):
        return self.__dict__.get(key)

    def set(self, value) -> None:
        self.__dict__[key] = value

    return property(get, set, doc=doc)


class _Swappable:
    """Mixin: a `binarizer` kept outside the module tree (not in the state dict)."""

    binarizer = _off_tree("binarizer", "The recipe's WeightBinarizer while training, else None.")


class RecipeConv2d(_Swappable, QuantConv2d):
    """Binary conv (no bias, no input quantizer); training weight from `binarizer` if set."""

    def __init__(self, in_ch, out_ch, kernel, padding=0, groups=1, weights="bipolar"):
        super().__init__(in_ch, out_ch, kernel, padding=padding, groups=groups, bias=False,
                         weight_quant=WEIGHT_QUANTS[weights], input_quant=None)  # fmt: skip
        self.weight_kind = weights

    def forward(self, x):
        b = self.binarizer
        if b is None:
            return super().forward(x)
        return self._conv_forward(x, b.train_weight(self.weight), None)


class RecipeLinear(_Swappable, QuantLinear):
    """Binary fully connected layer (no bias, no input quantizer)."""

    def __init__(self, in_f, out_f, weights="bipolar"):
        super().__init__(in_f, out_f, bias=False, weight_quant=WEIGHT_QUANTS[weights],
                         input_quant=None)  # fmt: skip
        self.weight_kind = weights

    def forward(self, x):
        b = self.binarizer
        if b is None:
            return super().forward(x)
        return F.linear(x, b.train_weight(self.weight))


class RecipeAct(QuantIdentity):
    """onebit's sign activation (+1 at 0, scale 1); `estimator` replaces it while training.

    The estimator sees `x / in_scale`: an integer stream of scale s (Bi-Real's int8 shortcut,
    values ~N(0, s^2)) is then in the estimator's [-1, 1] window. sign(x / s) == sign(x) for
    s > 0, so the hardware function is unchanged; with in_scale 1 every integer-valued x would
    get ApproxSign/STE gradient only at x == 0.
    """

    def __init__(self, in_scale: float = 1.0):
        super().__init__(act_quant=OnebitBinaryAct, return_quant_tensor=False)
        if not in_scale > 0:
            raise ValueError(f"in_scale must be > 0, got {in_scale}")
        self.in_scale = float(in_scale)

    estimator = _off_tree("estimator", "The recipe's ActEstimator while training, else None.")

    def forward(self, x):
        e = self.estimator
        if e is None:
            return super().forward(x)
        return e(x) if self.in_scale == 1.0 else e(x / self.in_scale)


def int_stream() -> QuantIdentity:
    """Quantizer of a residual stream: integers -128..127, scale 1 (exact adds in hardware)."""
    return QuantIdentity(act_quant=OnebitIntStream, return_quant_tensor=False)


class FPReLU(nn.Module):
    """FTBNN's shifted PReLU per channel: y = PReLU_a(x - gamma) + zeta.

    `min_slope` (default 0) keeps a >= min_slope: then y is non-decreasing, and sign(y) is one
    threshold on x, which folds into the preceding BatchNorm exactly. `min_slope=None` is the
    paper's unconstrained PReLU (not mappable when a < 0: sign(y) is then two thresholds).
    """

    def __init__(self, channels: int, init_slope: float = 0.25, min_slope: float | None = 0.0):
        super().__init__()
        self.slope = nn.Parameter(torch.full((channels,), float(init_slope)))
        self.shift_in = nn.Parameter(torch.zeros(channels))
        self.shift_out = nn.Parameter(torch.zeros(channels))
        self.min_slope = min_slope

    def _view(self, p, x):
        return p.reshape(1, -1, *([1] * (x.dim() - 2)))

    def effective_slope(self) -> torch.Tensor:
        a = self.slope
        return a if self.min_slope is None else a.clamp_min(self.min_slope)

    def forward(self, x):
        u = x - self._view(self.shift_in, x)
        a = self._view(self.effective_slope(), x)
        return torch.where(u >= 0, u, a * u) + self._view(self.shift_out, x)

    @torch.no_grad()
    def sign_threshold(self) -> torch.Tensor:
        """c per channel with sign(FPReLU(x)) = +1 <=> x >= c (requires slope >= 0)."""
        a = self.effective_slope().double()
        if (a < 0).any():
            raise ValueError("FPReLU with a negative slope is not a single threshold")
        g, z = self.shift_in.double(), self.shift_out.double()
        neg_inf = torch.full_like(g, -1e30)
        left = torch.where(a > 0, g - z / torch.where(a > 0, a, 1.0), neg_inf)
        return torch.where(z >= 0, left, g - z)


class ChannelScale(nn.Module):
    """A learned constant per-channel scale (Real-to-Binary's re-scaling, static variant)."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return x * self.scale.reshape(1, -1, *([1] * (x.dim() - 2)))


class Tap(nn.Module):
    """Identity that remembers its input, for a later `ChannelGate` (not exported)."""

    def forward(self, x):
        self.__dict__["value"] = x
        return x


class ChannelGate(nn.Module):
    """Real-to-Binary's data-driven re-scaling: out * sigmoid(MLP(avgpool(real block input))).

    Input-dependent, so it has no exact threshold form: torch-only (see docs/recipes.md).
    """

    def __init__(self, tap: Tap, in_ch: int, out_ch: int, reduction: int = 4, scale: float = 1.0):
        super().__init__()
        self.__dict__["tap"] = tap
        hidden = max(out_ch // reduction, 4)
        self.norm = nn.BatchNorm1d(in_ch)
        self.fc1 = nn.Linear(in_ch, hidden)
        self.fc2 = nn.Linear(hidden, out_ch)
        self.in_scale = scale

    def forward(self, x):
        src = self.__dict__["tap"].value * self.in_scale
        v = src.mean(dim=tuple(range(2, src.dim()))) if src.dim() > 2 else src
        g = torch.sigmoid(self.fc2(torch.relu(self.fc1(self.norm(v)))))
        return x * g.reshape(*g.shape, *([1] * (x.dim() - 2)))


class BiRealBlock(nn.Module):
    """sign -> [-1 pad] -> binary conv -> [scale] -> BN -> [FPReLU] -> int8 stream [+ shortcut].

    The shortcut adds the block's integer input stream to its integer output (exact: both are
    integers with scale 1); without `shortcut` (channel changes) it is a plain binary block
    whose output is the integer stream.
    """

    def __init__(self, in_ch, out_ch, kernel=3, padding=1, shortcut=True, weights="bipolar",
                 groups=1, fprelu=False, scale=False, fprelu_min_slope=0.0,
                 stream_scale=1.0):  # fmt: skip
        super().__init__()
        if shortcut and in_ch != out_ch:
            raise ValueError("a shortcut block needs in_ch == out_ch")
        self.shortcut = shortcut
        self.act = RecipeAct(stream_scale)
        self.pad = BipolarPad(padding, -1.0) if padding else nn.Identity()
        self.conv = RecipeConv2d(in_ch, out_ch, kernel, 0, groups, weights)
        if scale:
            self.scale = ChannelScale(out_ch)
        self.bn = nn.BatchNorm2d(out_ch)
        if fprelu:
            self.prelu = FPReLU(out_ch, min_slope=fprelu_min_slope)
        self.q = int_stream()

    def forward(self, h):
        y = self.conv(self.pad(self.act(h)))
        if hasattr(self, "scale"):
            y = self.scale(y)
        y = self.bn(y)
        if hasattr(self, "prelu"):
            y = self.prelu(y)
        y = self.q(y)
        return h + y if self.shortcut else y
