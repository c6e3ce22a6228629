"""onebit.models.recipes: the training methods of five BNN papers as composable pieces, plus a
named recipe each, all ending in a network onebit builds into hardware.

    >>> from onebit.models.recipes import train_recipe, list_recipes
    >>> net, result = train_recipe("bireal", onebit.data.load("digits"), epochs=10)
    >>> onebit.export.export_qonnx(net, (1, 8, 8), "bireal.onnx")

Pieces: `estimators` (sign estimators, weight binarizers, EDE schedule, Libra-PB, SiMaN code),
`layers` (swappable Brevitas layers, FPReLU, re-scaling, int8 residual blocks), `losses`
(attention matching, distillation), `net` (`rnet` and `fold`), `recipes` (the named recipes),
`trainer` (`train_recipe`, staged, distributed). See docs/recipes.md.
"""

from .estimators import (
    ApproxSign,
    EDESign,
    LibraPBWeight,
    MagnitudeAwareWeight,
    SignSTE,
    SiMaNWeight,
    ede_schedule,
    libra_pb,
    siman_code,
)
from .layers import BiRealBlock, FPReLU, OnebitBinary01Weight, OnebitIntStream
from .losses import attention_loss, attention_map, distillation_loss
from .net import fold, rnet
from .recipes import RECIPES, Recipe, Stage, get_recipe, list_recipes

_LAZY = {"train_recipe", "RecipeResult", "attach", "detach_recipe"}


def __getattr__(name):  # the trainer imports onebit.models.registry, which imports `rnet`
    if name in _LAZY:
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(name)


__all__ = ["RECIPES", "ApproxSign", "BiRealBlock", "EDESign", "FPReLU", "LibraPBWeight",
           "MagnitudeAwareWeight", "OnebitBinary01Weight", "OnebitIntStream", "Recipe",
           "SiMaNWeight", "SignSTE", "Stage", "attention_loss", "attention_map",
           "detach_recipe", "distillation_loss", "ede_schedule", "fold", "get_recipe",
           "libra_pb", "list_recipes", "rnet", "siman_code", "train_recipe", "RecipeResult",
           "attach"]  # fmt: skip
