"""Sign estimators (autograd Functions) and weight binarizers of the five recipes.

Every estimator's forward is onebit's hardware sign, +1 where x >= 0 else -1; they differ only
in the gradient they pass back:

- `SignSTE`: straight-through, clipped: dL/dx = dL/dy * 1[|x| <= 1];
- `ApproxSign` (Bi-Real Net): the derivative of a piecewise quadratic, 2 + 2x on [-1, 0),
  2 - 2x on [0, 1), 0 outside;
- `EDESign` (IR-Net): the derivative of k * tanh(t x), i.e. k t (1 - tanh^2(t x)), with (k, t)
  from `ede_schedule(progress)`.

A weight binarizer maps latent weights W (out channel first) to the training-time weight (with
gradient), the hardware code (+-1, or {0, 1} for SiMaN) and a per-output-channel scale alpha,
such that train_weight == alpha[:, None...] * code in the forward pass. The scale is folded
into the following BatchNorm at deployment (`onebit.models.recipes.net.fold`).

    >>> x = torch.tensor([-0.5, 0.0, 0.5], requires_grad=True)
    >>> ApproxSign.apply(x).sum().backward(); x.grad
    tensor([1., 2., 1.])
"""

from __future__ import annotations

import math

import torch


def hard_sign(x: torch.Tensor) -> torch.Tensor:
    """+1 where x >= 0, else -1 (the hardware's sign)."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


class _SignFunction(torch.autograd.Function):
    """sign(x) forward with x saved for the backward, which each subclass defines."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return hard_sign(x)


class SignSTE(_SignFunction):
    """sign(x) forward; clipped straight-through backward, 1 on |x| <= 1."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1).to(g.dtype)


class ApproxSign(_SignFunction):
    """sign(x) forward; Bi-Real's ApproxSign backward: 2 - 2|x| on |x| < 1, else 0."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.clamp(2.0 - 2.0 * x.abs(), min=0.0)


class EDESign(torch.autograd.Function):
    """sign(x) forward; IR-Net's error-decay estimator backward: k t (1 - tanh^2(t x))."""

    @staticmethod
    def forward(ctx, x, k: float, t: float):
        ctx.save_for_backward(x)
        ctx.k, ctx.t = float(k), float(t)
        return hard_sign(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        th = torch.tanh(ctx.t * x)
        return g * (ctx.k * ctx.t) * (1.0 - th * th), None, None


def ede_schedule(progress: float, t_min: float = 0.1, t_max: float = 10.0) -> tuple[float, float]:
    """IR-Net's (k, t) at training progress i/N in [0, 1].

    t = t_min * 10^(progress * log10(t_max / t_min)), k = max(1 / t, 1).
    """
    p = min(max(float(progress), 0.0), 1.0)
    t = t_min * 10.0 ** (p * math.log10(t_max / t_min))
    return max(1.0 / t, 1.0), t


# ------------------------------------------------------------------ activation estimators


class ActEstimator:
    """Callable applied to a sign activation's input while a recipe trains (None = Brevitas)."""

    name = "ste"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return SignSTE.apply(x)

    def set_progress(self, progress: float) -> None:
        """Training progress in [0, 1] (used by schedules)."""


class ApproxSignAct(ActEstimator):
    name = "approxsign"

    def __call__(self, x):
        return ApproxSign.apply(x)


class EDEAct(ActEstimator):
    """EDE with the paper's schedule; `k`, `t` follow `set_progress`."""

    name = "ede"

    def __init__(self, t_min: float = 0.1, t_max: float = 10.0):
        self.t_min, self.t_max = t_min, t_max
        self.k, self.t = ede_schedule(0.0, t_min, t_max)

    def set_progress(self, progress):
        self.k, self.t = ede_schedule(progress, self.t_min, self.t_max)

    def __call__(self, x):
        return EDESign.apply(x, self.k, self.t)


class ClipAct(ActEstimator):
    """Real-valued clip(x, -1, 1) (Bi-Real's pre-training activation instead of ReLU)."""

    name = "clip"

    def __call__(self, x):
        return torch.clamp(x, -1.0, 1.0)


class ReluAct(ActEstimator):
    """Real-valued ReLU (the full-precision reference network)."""

    name = "relu"

    def __call__(self, x):
        return torch.relu(x)


# ------------------------------------------------------------------------ weight binarizers


def _per_channel(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(O,) -> broadcastable against w (O, ...)."""
    return v.reshape(-1, *([1] * (w.dim() - 1)))


def _flat(w: torch.Tensor) -> torch.Tensor:
    return w.reshape(w.shape[0], -1)


class WeightBinarizer:
    """Latent weights -> (training weight, hardware code, per-channel scale)."""

    name = "sign"
    code_values = (-1.0, 1.0)

    def __init__(self, use_scale: bool = True):
        self.use_scale = use_scale

    def code(self, w: torch.Tensor) -> torch.Tensor:
        return hard_sign(w)

    def scale(self, w: torch.Tensor) -> torch.Tensor:
        return torch.ones(w.shape[0], dtype=w.dtype, device=w.device)

    def train_weight(self, w: torch.Tensor) -> torch.Tensor:
        """Clipped STE sign, no scale."""
        return SignSTE.apply(w)

    def set_progress(self, progress: float) -> None:
        """Training progress in [0, 1]."""


class RealWeight(WeightBinarizer):
    """No binarization (full-precision stages); has no hardware code."""

    name = "real"
    code_values = ()

    def train_weight(self, w):
        return w

    def code(self, w):
        raise ValueError("a real-valued weight has no binary code")


class MagnitudeAwareWeight(WeightBinarizer):
    """Bi-Real: W_b = mean|W_c| * sign(W) per output channel; the gradient flows through both.

    Autograd differentiates through alpha = mean|W_c| as well as through the (clipped STE) sign:
    dW_b/dW = alpha * 1[|W| <= 1] + sign(W) * sign(W) / n.
    """

    name = "magnitude"

    def scale(self, w):
        if not self.use_scale:
            return super().scale(w)
        return _flat(w).abs().mean(1).detach()

    def train_weight(self, w):
        s = SignSTE.apply(w)
        if not self.use_scale:
            return s
        return s * _per_channel(_flat(w).abs().mean(1), w)


def libra_pb(w: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """IR-Net's Libra-PB: (standardised W, power-of-2 scale 2^round(log2(mean|W_std|))).

    Per output channel: W_std = (W - mean) / std (zero mean, unit std: maximal information
    entropy of sign(W_std)), s = round(log2(||W_std||_1 / n)).
    """
    f = _flat(w)
    mu = f.mean(1, keepdim=True)
    sd = f.std(1, keepdim=True, unbiased=True)
    std = (f - mu) / (sd + eps)
    s = torch.round(torch.log2(std.abs().mean(1).clamp_min(eps)))
    return std.reshape(w.shape), (2.0 ** s).detach()


class LibraPBWeight(WeightBinarizer):
    """IR-Net: sign(W_std) * 2^s with EDE as the backward of the sign."""

    name = "libra-pb"

    def __init__(self, use_scale: bool = True, t_min: float = 0.1, t_max: float = 10.0):
        super().__init__(use_scale)
        self.ede = EDEAct(t_min, t_max)

    def set_progress(self, progress):
        self.ede.set_progress(progress)

    def code(self, w):
        return hard_sign(libra_pb(w)[0])

    def scale(self, w):
        if not self.use_scale:
            return super().scale(w)
        return libra_pb(w)[1]

    def train_weight(self, w):
        std, s = libra_pb(w)
        b = self.ede(std)
        return b * _per_channel(s, w) if self.use_scale else b


def siman_code(w: torch.Tensor) -> torch.Tensor:
    """SiMaN's {0, 1} encoding: per output channel the k largest |W| become 1, the rest 0.

    k maximises the cosine between |W| and the {0,1} vector, (sum of the k largest |W|)/sqrt(k)
    (the angle-alignment solution; ties broken by sort order, so exactly k ones per channel).
    """
    f = _flat(w).abs().detach()
    vals, idx = torch.sort(f, dim=1, descending=True)
    n = f.shape[1]
    k = torch.arange(1, n + 1, dtype=f.dtype, device=f.device)
    k_best = torch.argmax(torch.cumsum(vals, 1) / torch.sqrt(k), dim=1) + 1  # (O,)
    ranks = torch.arange(n, device=f.device)[None, :] < k_best[:, None]
    code = torch.zeros_like(f).scatter(1, idx, ranks.to(f.dtype))
    return code.reshape(w.shape)


class SiMaNWeight(WeightBinarizer):
    """SiMaN: {0, 1} weights by magnitude; straight-through gradient via |W| (d|W|/dW = sign W)."""

    name = "siman"
    code_values = (0.0, 1.0)

    def code(self, w):
        return siman_code(w)

    def train_weight(self, w):
        a = w.abs()
        return siman_code(w) + (a - a.detach())


class IntWeight(WeightBinarizer):
    """k-bit integer weights (narrow range, |code| <= 2^(k-1) - 1) for a binary network's first
    and last layers, which the papers keep real-valued: code = round(W / alpha), alpha = max|W| /
    (2^(k-1) - 1); straight-through rounding. alpha is per output channel, or without
    `use_scale` (the output layer) one per tensor: deployment drops it, the argmax is the codes'.
    """

    name = "int8"
    code_values = ()

    def __init__(self, use_scale: bool = True, bits: int = 8):
        super().__init__(use_scale)
        self.q_max = 2 ** (int(bits) - 1) - 1

    def _alpha(self, w: torch.Tensor) -> torch.Tensor:
        a = _flat(w).abs().detach()
        a = a.amax(1) if self.use_scale else a.amax().expand(w.shape[0])
        return a.clamp_min(1e-8) / self.q_max

    def _code(self, w: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.round(w / alpha), -self.q_max, self.q_max)

    def code(self, w):
        return self._code(w, _per_channel(self._alpha(w), w))

    def scale(self, w):
        return self._alpha(w)

    def train_weight(self, w):
        alpha = _per_channel(self._alpha(w), w)
        q = self._code(w, alpha) * alpha
        return q + (w - w.detach())  # exactly q forward, identity gradient


ESTIMATORS = {c.name: c for c in (ActEstimator, ApproxSignAct, EDEAct, ClipAct, ReluAct)}
BINARIZERS = {c.name: c for c in (WeightBinarizer, RealWeight, MagnitudeAwareWeight,
                                  LibraPBWeight, SiMaNWeight, IntWeight)}  # fmt: skip

__all__ = ["ApproxSign", "ApproxSignAct", "BINARIZERS", "ClipAct", "EDEAct", "EDESign",
           "ESTIMATORS", "IntWeight", "LibraPBWeight", "MagnitudeAwareWeight", "RealWeight",
           "ReluAct", "SiMaNWeight", "SignSTE", "WeightBinarizer", "ede_schedule", "hard_sign",
           "libra_pb", "siman_code"]  # fmt: skip
