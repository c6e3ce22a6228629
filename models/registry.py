"""`build(arch, input_shape, num_classes, **kw)`: every network onebit knows, by name."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from onebit.errors import UserInputError

from .archs import cnv, tfc
from .bnn_pynq import BNN_PYNQ_MODELS, bnn_pynq
from .recipes.fracnet import fracnet
from .recipes.net import rnet


def _bnn_pynq_builder(name: str) -> Callable[..., nn.Module]:
    def build_bnn_pynq(input_shape, num_classes, weights=None):
        return bnn_pynq(name, weights, input_shape, num_classes, seed=None)

    build_bnn_pynq.__doc__ = f"Brevitas bnn_pynq {name.upper()} W1A1 (random init or `weights`)."
    return build_bnn_pynq


ARCHS: dict[str, Callable[..., nn.Module]] = {"tfc": tfc, "cnv": cnv, "rnet": rnet,
                                            "fracnet": fracnet}
ARCHS.update({f"bnn-pynq-{n}": _bnn_pynq_builder(n) for n in BNN_PYNQ_MODELS})


def list_archs() -> dict[str, str]:
    """Architecture name -> one-line description."""
    return {name: (fn.__doc__ or "").strip().splitlines()[0] for name, fn in ARCHS.items()}


def arch_options(arch: str) -> dict[str, object]:
    """The keyword options of `arch` with their defaults."""
    fn = ARCHS[_check_arch(arch)]
    params = list(inspect.signature(fn).parameters.values())[2:]
    return {p.name: p.default for p in params}


def _check_arch(arch: str) -> str:
    key = arch.strip().lower().replace("_", "-")
    if key not in ARCHS:
        raise UserInputError(f"unknown architecture '{arch}': expected one of {', '.join(ARCHS)}")
    return key


def build(
    arch: str, input_shape: tuple[int, ...], num_classes: int, seed: int = 0, **kw
) -> nn.Module:
    """A freshly initialised network; the init is a pure function of `seed` (global RNG untouched).

    `input_shape` is (C, H, W) (or (H, W) for one channel). The model has attributes `arch`,
    `arch_kwargs`, `input_shape`, `num_classes` and `logit_temperature`.
    """
    key = _check_arch(arch)
    shape = tuple(int(d) for d in input_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise UserInputError(f"input shape must be (C, H, W), got {tuple(input_shape)}")
    if int(num_classes) < 2:
        raise UserInputError(f"need at least 2 classes, got {num_classes}")
    unknown = set(kw) - set(arch_options(key))
    if unknown:
        raise UserInputError(
            f"architecture '{key}' has no option {', '.join(sorted(unknown))}: "
            f"expected {', '.join(arch_options(key)) or 'none'}"
        )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHS[key](shape, int(num_classes), **kw)
