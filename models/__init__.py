"""onebit.models: binary networks (Brevitas) whose hardware mapping is exact.

    >>> from onebit import models
    >>> net = models.build("tfc", (1, 8, 8), 10, seed=0)
    >>> net(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])

Training and checkpoints live in `onebit.models.train`.
"""

from .archs import OnebitNet, binary_conv, binary_linear, cnv, tfc
from .bnn_pynq import BNN_PYNQ_MODELS, BnnPynqNet, bnn_pynq
from .harden import bn_feeding_sign, harden_thresholds
from .quant import BipolarPad, OnebitBinaryAct, OnebitBinaryWeight, PixelScale, binary_act
from .registry import ARCHS, arch_options, build, list_archs

__all__ = [
    "ARCHS",
    "BNN_PYNQ_MODELS",
    "BipolarPad",
    "BnnPynqNet",
    "OnebitBinaryAct",
    "OnebitBinaryWeight",
    "OnebitNet",
    "PixelScale",
    "arch_options",
    "binary_act",
    "binary_conv",
    "binary_linear",
    "bn_feeding_sign",
    "bnn_pynq",
    "build",
    "cnv",
    "harden_thresholds",
    "list_archs",
    "tfc",
]
