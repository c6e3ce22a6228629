"""FracBNN's thermometer encoding of 8-bit pixels: a binary first layer on +-1 channels.

Resolution r (an integer, 8 in the paper) gives L = round(255 / r) levels per input channel;
for a pixel p in 0..255, level bit k (k = 0..L-1) is +1 if k < round(p / r) else -1. Both
roundings are the paper's `torch.round`, half to even: with r = 8, p = 4 (p / r = 0.5) has
no level on, p = 12 (1.5) has two, p = 20 (2.5) has two. round(255 / r) = L, so pixel 255 turns
every level on and pixel 0 none.

Because round(p / r) never decreases with p, bit k is one integer comparison, p >= t_k with
t_k the smallest pixel whose level count exceeds k (`thermometer_thresholds`): the torch module,
the graph's `Thermometer` node (`onebit.flows.fracbnn_ops`) and the hardware all compute that.
A C-channel image becomes C * L channels, channel c * L + k holding bit k of channel c.

    >>> thermometer_thresholds(8)[:4], thermometer_levels(8)
    ([5, 12, 21, 28], 32)
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import torch
from torch import nn

from onebit.errors import UserInputError

PIXEL_MAX = 255
THERMOMETER_OP = "onebit.flows.fracbnn_ops::Thermometer"
"""The graph node the encoder exports as (executed by `onebit.flows.fracbnn_ops`)."""


def check_resolution(resolution: int) -> int:
    """`resolution` as an int in 1..255, else a UserInputError."""
    if int(resolution) != resolution or not 1 <= int(resolution) <= PIXEL_MAX:
        raise UserInputError(f"thermometer resolution must be an integer in 1..{PIXEL_MAX}, "
                             f"got {resolution}")  # fmt: skip
    return int(resolution)


def thermometer_levels(resolution: int) -> int:
    """L = round(255 / r), half to even (Python's and torch's rounding)."""
    return round(Fraction(PIXEL_MAX, check_resolution(resolution)))


@cache
def _thresholds(resolution: int) -> tuple[int, ...]:
    counts = [round(Fraction(p, resolution)) for p in range(PIXEL_MAX + 1)]
    return tuple(next(p for p, n in enumerate(counts) if n > k)
                 for k in range(thermometer_levels(resolution)))  # fmt: skip


def thermometer_thresholds(resolution: int) -> list[int]:
    """t_k = the smallest pixel p with round(p / r) > k, for k = 0..L-1 (exact rationals)."""
    return list(_thresholds(check_resolution(resolution)))


class ThermometerEncoder(nn.Module):
    """(N, C, H, W) pixels 0..255 -> (N, C * L, H, W) +-1 thermometer codes (no gradient).

    Exported as one `Thermometer` node with attribute `resolution`.
    """

    def __init__(self, resolution: int = 8):
        super().__init__()
        self.resolution = check_resolution(resolution)
        self.levels = thermometer_levels(resolution)
        t = torch.tensor(thermometer_thresholds(resolution), dtype=torch.float32)
        self.register_buffer("thresholds", t.reshape(1, 1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        shape = (n, c * self.levels, h, w)
        if torch.compiler.is_exporting():
            return torch.onnx.ops.symbolic(THERMOMETER_OP, (x,), {"resolution": self.resolution},
                                           dtype=x.dtype, shape=shape, version=1)  # fmt: skip
        on = x.detach().unsqueeze(2) >= self.thresholds
        return torch.where(on, 1.0, -1.0).to(x.dtype).reshape(shape)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, levels={self.levels}"
