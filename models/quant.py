"""The quantizers and small modules onebit networks are built from.

Conventions the hardware flow relies on (see docs/architecture.md):

- weights are binary, +-1 with a constant scale of exactly 1 (`OnebitBinaryWeight`), so every
  accumulator over integer pixels or bipolar activations is an exact integer;
- activations are sign with +1 at 0, scale 1 (`OnebitBinaryAct`): exported as QONNX
  `BipolarQuant` with scale 1;
- a +-1 feature map is padded with a bipolar value (`BipolarPad`, an ONNX `Pad`), never with 0.

    >>> from brevitas.nn import QuantLinear
    >>> fc = QuantLinear(4, 2, bias=False, weight_quant=OnebitBinaryWeight, input_quant=None)
    >>> set(fc.quant_weight().value.unique().tolist()) <= {-1.0, 1.0}
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from brevitas.nn import QuantIdentity
from brevitas.quant.binary import SignedBinaryActPerTensorConst, SignedBinaryWeightPerTensorConst
from torch import nn

from onebit.errors import UserInputError

BIPOLAR_PAD_VALUES = (-1.0, 1.0)


class OnebitBinaryWeight(SignedBinaryWeightPerTensorConst):
    """Binary weights sign(w) in {-1, +1}, constant scale 1; latent weights clamped to [-1, 1]."""

    scaling_const = 1.0


class OnebitBinaryAct(SignedBinaryActPerTensorConst):
    """Binary activation: +1 where x >= 0 else -1, constant scale 1 (STE clipped to [-1, 1])."""

    min_val = -1.0
    max_val = 1.0


def binary_act() -> QuantIdentity:
    """The sign activation every hidden layer ends with."""
    return QuantIdentity(act_quant=OnebitBinaryAct, return_quant_tensor=False)


class BipolarPad(nn.Module):
    """Pads a bipolar (+-1) feature map by `padding` pixels on each side with `value` (-1 or +1).

    Exported as an ONNX `Pad` (mode constant) in front of the unpadded convolution: FINN's
    streamlining turns a bipolar tensor into {0, 1} and would compute zero padding wrongly.
    """

    def __init__(self, padding: int, value: float = -1.0):
        super().__init__()
        if float(value) not in BIPOLAR_PAD_VALUES:
            raise UserInputError(f"bipolar pad value must be -1 or +1, got {value}")
        if padding < 0:
            raise UserInputError(f"padding must be >= 0, got {padding}")
        self.padding = int(padding)
        self.value = float(value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.padding
        return F.pad(x, (p, p, p, p), mode="constant", value=self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value:+.0f}"


class PixelScale(nn.Module):
    """Multiplies by a constant (1/255 maps 0..255 pixels onto [0, 1]); exported as a `Mul`."""

    def __init__(self, factor: float):
        super().__init__()
        self.register_buffer("factor", torch.tensor(float(factor)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={float(self.factor):.6g}"
