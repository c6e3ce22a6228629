"""FracBNN's fractional activations and precision-gated (PG) binary layers.

**Fractional activation.** The paper's 2-bit activation clamps x to [-1, 1] and rounds it to the
grid {-1, -1/3, +1/3, +1} (step 2/3, round half to even), with a straight-through gradient on
|x| < 1. onebit streams the grid index, the code q = round(1.5 x + 1.5) clamped to 0..3, so
that every value is an exact integer; the activation is a = 2 q - 3 = 3 x in {-3, -1, +1, +3}.
Its two bits are two +-1 planes: msb = sign(a) (q >= 2) and lsb (q odd), a = 2 msb + lsb.

**PG layer.** With binary weights w, the paper computes the MSB part out_msb =
conv(sign(x), w) * 2/3 everywhere and the full 2-bit result conv(x, w) only where out_msb > thr_c
(one learnable threshold per output channel, initialised to -1). In thirds (units of 1/3, so
integers): acc_m = conv(msb, w), acc_l = conv(lsb, w), and the output is

    2 acc_m + acc_l   where 2 acc_m > 3 thr_c   (the full result, conv(a, w))
    2 acc_m           elsewhere                 (the MSB plane alone)

At inference the gate is this hard compare (strict: out_msb == thr keeps the MSB result); in
training it is relaxed to sigmoid(5 (out_msb - thr)) and `pg_threshold_loss` adds
1e-5 * 0.5 * ||thr - target||^2. A PG layer takes codes q; its padding is code 0 (both planes -1,
like onebit's -1 padding of +-1 maps; the paper pads x with 0). The eval forward is exact
integer arithmetic and exports as one `PGConv` / `PGGemm` node (`onebit.flows.fracbnn_ops`).

    >>> frac_quantize(torch.tensor([-2.0, -0.5, 0.0, 0.4, 0.9]))
    tensor([-1.0000, -0.3333,  0.3333,  0.3333,  1.0000])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from brevitas.inject.enum import ScalingImplType
from brevitas.nn import QuantIdentity
from brevitas.quant.scaled_int import Uint8ActPerTensorFloat
from torch import nn

from .recipes.estimators import hard_sign
from .recipes.layers import RecipeConv2d, RecipeLinear

PG_DOMAIN = "onebit.flows.fracbnn_ops"
GATE_SLOPE = 5.0  # sigmoid(5 (out_msb - thr)): the paper's relaxation of the gate
THRESHOLD_DECAY = 1e-5  # the paper's weight on 0.5 * ||thr - target||^2
CODE_MAX = 3


def frac_codes(x: torch.Tensor) -> torch.Tensor:
    """q = clamp(round(1.5 x + 1.5), 0, 3): the 2-bit code (round half to even)."""
    return torch.clamp(torch.round(x * 1.5 + 1.5), 0.0, float(CODE_MAX))


def frac_quantize(x: torch.Tensor) -> torch.Tensor:
    """The paper's values {-1, -1/3, +1/3, +1}: (2 q - 3) / 3."""
    return (2.0 * frac_codes(x) - 3.0) / 3.0


class FracCodeSTE(torch.autograd.Function):
    """Codes forward; straight-through backward d q / d x = 1.5 on |x| < 1, else 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return frac_codes(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 1.5 * (x.abs() < 1).to(g.dtype)


class OnebitUint2Act(Uint8ActPerTensorFloat):
    """Unsigned 2-bit codes 0..3, constant scale 1 (round half to even): a QONNX 2-bit `Quant`."""

    bit_width = 2
    scaling_impl_type = ScalingImplType.CONST
    scaling_const = float(CODE_MAX)  # scale = 3 / (2^2 - 1) = 1
    max_val = float(CODE_MAX)


class FracAct(QuantIdentity):
    """FracBNN's 2-bit activation as codes: q = clamp(round(1.5 x + 1.5), 0, 3).

    Exported as Mul 1.5, Add 1.5 and a 2-bit unsigned `Quant` of scale 1; trains with
    `FracCodeSTE` (the paper's clipped straight-through gradient).
    """

    def __init__(self):
        super().__init__(act_quant=OnebitUint2Act, return_quant_tensor=False)

    def forward(self, x):
        if self.training:
            return FracCodeSTE.apply(x)
        return super().forward(x * 1.5 + 1.5)


def _planes(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, msb) of codes: a = 2 q - 3 and sign(a) with a straight-through gradient to a / 3."""
    a = 2.0 * codes - 3.0
    x = a / 3.0
    return a, x + (hard_sign(a) - x).detach()


class _PrecisionGate:
    """Mixin: the PG forward over a layer's binary weights; `_op` applies them (conv/linear)."""

    gate_soft = True  # training relaxes the gate (sigmoid); False: hard gate, straight-through

    def _init_gate(self, out_features: int, padding: int, threshold_init: float) -> None:
        self.code_padding = int(padding)
        self.threshold = nn.Parameter(torch.full((out_features,), float(threshold_init)))

    def _thr(self, acc: torch.Tensor) -> torch.Tensor:
        return self.threshold.reshape(1, -1, *([1] * (acc.dim() - 2)))

    def pg_forward(self, codes: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The layer's output in thirds: 2 acc_m + gate * acc_l (see the module docstring)."""
        p = self.code_padding
        if p:
            codes = F.pad(codes, (p, p, p, p), value=0.0)
        a, msb = _planes(codes)
        acc_m, acc_full = self._op(msb, w), self._op(a, w)
        thr = self._thr(acc_m)
        if not self.training:
            return torch.where(2.0 * acc_m > 3.0 * thr, acc_full, 2.0 * acc_m)
        soft = torch.sigmoid(GATE_SLOPE * (acc_m * (2.0 / 3.0) - thr))
        mask = soft if self.gate_soft else soft + ((soft > 0.5).to(soft.dtype) - soft).detach()
        return 2.0 * acc_m + mask * (acc_full - 2.0 * acc_m)

    def forward(self, x):
        b = self.binarizer
        if b is None:
            return super().forward(x)  # Brevitas' weight quantizer, then inner_forward_impl
        return self.pg_forward(x, b.train_weight(self.weight))

    def inner_forward_impl(self, x, quant_weight, quant_bias):
        w = getattr(quant_weight, "value", quant_weight)
        if torch.compiler.is_exporting():
            return self._export(x, w)
        return self.pg_forward(x, w)


class PGBinaryConv2d(_PrecisionGate, RecipeConv2d):
    """Precision-gated binary conv on 2-bit codes (stride 1, code-0 padding), output in thirds."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, padding: int = 0,
                 threshold_init: float = -1.0):  # fmt: skip
        super().__init__(in_ch, out_ch, kernel, 0)
        self._init_gate(out_ch, padding, threshold_init)

    def _op(self, x, w):
        return F.conv2d(x, w)

    def _export(self, x, w):
        n, _, h, wd = x.shape
        k, p = self.kernel_size[0], self.code_padding
        shape = (n, self.out_channels, h + 2 * p - k + 1, wd + 2 * p - k + 1)
        return torch.onnx.ops.symbolic(
            f"{PG_DOMAIN}::PGConv", (x, w, self.threshold),
            {"kernel_shape": list(self.kernel_size), "pads": [p, p, p, p]},
            dtype=x.dtype, shape=shape, version=1)  # fmt: skip

    def extra_repr(self) -> str:
        return super().extra_repr() + f", code_padding={self.code_padding}"


class PGBinaryLinear(_PrecisionGate, RecipeLinear):
    """Precision-gated binary fully connected layer on 2-bit codes, output in thirds."""

    def __init__(self, in_f: int, out_f: int, threshold_init: float = -1.0):
        super().__init__(in_f, out_f)
        self._init_gate(out_f, 0, threshold_init)

    def _op(self, x, w):
        return F.linear(x, w)

    def _export(self, x, w):
        return torch.onnx.ops.symbolic(
            f"{PG_DOMAIN}::PGGemm", (x, w, self.threshold), {},
            dtype=x.dtype, shape=(x.shape[0], self.out_features), version=1)  # fmt: skip


def pg_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _PrecisionGate)]


def pg_threshold_loss(model: nn.Module, target: float = 0.0,
                      weight: float = THRESHOLD_DECAY) -> torch.Tensor:  # fmt: skip
    """weight * 0.5 * sum over PG layers of ||thr - target||^2 (0 without PG layers)."""
    terms = [((m.threshold - target) ** 2).sum() for m in pg_layers(model)]
    return weight * 0.5 * torch.stack(terms).sum() if terms else torch.zeros(())

