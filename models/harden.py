"""`harden_thresholds`: move every BatchNorm->sign decision threshold half-way between integers.

A BatchNorm feeding a sign activation decides `BN(x) >= 0`. On the integer accumulator x this is
`x >= ceil(t)` (gamma > 0) or `x <= floor(t)` (gamma < 0), with t = mu - beta*sqrt(var+eps)/gamma.
A t that lies on, or a float rounding away from, an integer makes later float evaluations
(QONNX, FINN's thresholds) disagree with torch on exactly that input. Changing beta so that the
threshold becomes `k - 0.5` keeps the decision on every integer and removes every near-tie.

The boundary integer k is read off the float32 BatchNorm itself (evaluated on the integers around
t), so the hardened network computes what the trained one computed, not what exact arithmetic
would have. Accumulators that step by s instead of 1 (a model's `accumulator_steps`, keyed by
BatchNorm name) use the grid s*Z.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from brevitas.nn import QuantIdentity
from torch import nn

_MAX_GRID_INDEX = 2**22  # beyond this float32 cannot hold a half-integer threshold: left alone
_CANDIDATES = torch.arange(-3, 5, dtype=torch.float64)  # integers around floor(t)


def _is_sign(module: nn.Module) -> bool:
    if not isinstance(module, QuantIdentity) or not module.act_quant.is_quant_enabled:
        return False
    return float(module.act_quant.bit_width()) == 1.0


def bn_feeding_sign(model: nn.Module) -> list[tuple[str, nn.modules.batchnorm._BatchNorm]]:
    """(qualified name, module) of every BatchNorm directly followed by a binary activation."""
    found = []
    for prefix, container in model.named_modules():
        if not isinstance(container, (nn.Sequential, nn.ModuleList)):
            continue
        children = list(container.named_children())
        for (name, mod), (_, nxt) in zip(children, children[1:], strict=False):
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and _is_sign(nxt):
                found.append((f"{prefix}.{name}" if prefix else name, mod))
    return found


@torch.no_grad()
def _harden_bn(bn: nn.modules.batchnorm._BatchNorm, step: float) -> int:
    if bn.running_mean is None or bn.running_var is None or bn.weight is None:
        return 0  # no running statistics or no affine: nothing to move
    gamma = bn.weight.detach().double()
    beta = bn.bias.detach().double()
    mu = bn.running_mean.double()
    sigma = torch.sqrt(bn.running_var.double() + bn.eps)
    t = (mu - beta * sigma / gamma) / step  # threshold in grid units
    ok = (gamma != 0) & torch.isfinite(t) & (t.abs() < _MAX_GRID_INDEX)
    if not ok.any():
        return 0
    # decisions of the float32 BN (as the model computes them) on the grid points around t
    grid = torch.floor(torch.where(ok, t, 0.0))[None, :] + _CANDIDATES[:, None]  # (K, C)
    x = (grid * step).float()
    if isinstance(bn, nn.BatchNorm2d):
        x = x[:, :, None, None]
    elif isinstance(bn, nn.BatchNorm3d):
        x = x[:, :, None, None, None]
    y = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    fires = y.reshape(len(_CANDIDATES), -1) >= 0  # (K, C): sign gives +1
    pos = gamma > 0
    # gamma > 0: first grid point that fires; gamma < 0: last grid point that fires
    switch_up = fires[1:] & ~fires[:-1]
    switch_down = fires[:-1] & ~fires[1:]
    has_up, has_down = switch_up.any(0), switch_down.any(0)
    first_fire = grid[1:][switch_up.int().argmax(0), torch.arange(grid.shape[1])]
    last_fire = grid[:-1][switch_down.int().argmax(0), torch.arange(grid.shape[1])]
    new_t = torch.where(pos, first_fire - 0.5, last_fire + 0.5)
    ok &= torch.where(pos, has_up, has_down)
    new_beta = gamma * (mu - new_t * step) / sigma
    changed = ok & (new_beta.float() != bn.bias.detach())
    bn.bias.copy_(torch.where(ok, new_beta, beta).to(bn.bias.dtype))
    return int(changed.sum())


def harden_thresholds(model: nn.Module, steps: dict[str, float] | None = None) -> dict[str, int]:
    """Moves every BN->sign threshold to the middle between two accumulator values, in place.

    The network's function on its (integer-accumulator) inputs is unchanged; idempotent. `steps`
    overrides the accumulator grid per BatchNorm name (default: the model's `accumulator_steps`,
    else 1). Returns, per BatchNorm name, how many channels' biases changed.
    """
    grid = dict(getattr(model, "accumulator_steps", {}) or {})
    grid.update(steps or {})
    report = {}
    for name, bn in bn_feeding_sign(model):
        step = float(grid.get(name, 1.0))
        if not (step > 0 and math.isfinite(step)):
            raise ValueError(f"accumulator step of '{name}' must be positive, got {step}")
        report[name] = _harden_bn(bn, step)
    return report
