"""The named recipes: which estimators, binarizers, architecture options and stages each uses.

| recipe | stages | activations | weights | architecture |
|---|---|---|---|---|
| ste | binary | clipped STE | sign | plain |
| fp | real (reference, not deployable) | ReLU | real | plain |
| bireal | real pre-training (clip) -> binary | ApproxSign | magnitude-aware sign | int8 residual |
| siman | binary | clipped STE | {0,1} by magnitude (first/last layer +-1) | plain, {0,1} weights |
| real2bin | real teacher -> binary acts -> binary | ApproxSign | sign | static re-scaling |
| ftbnn | binary | ApproxSign | sign | FPReLU (slope >= 0) [, groups] |
| irnet | binary | EDE | Libra-PB (pow-2 scale) | plain |
| fracbnn | binary | 2-bit fractional, STE | sign | `fracnet`: thermometer input, PG layers |

`real2bin-gated`, `ftbnn-free` and `ftbnn-grouped` are the papers' originals (input-dependent
gate, unconstrained PReLU slope, grouped binary convs) trained in torch only, to measure what the
hardware variants cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from onebit.errors import UserInputError

from ..precision_gate import THRESHOLD_DECAY
from .estimators import (
    ActEstimator,
    ApproxSignAct,
    ClipAct,
    EDEAct,
    LibraPBWeight,
    MagnitudeAwareWeight,
    RealWeight,
    ReluAct,
    SiMaNWeight,
    WeightBinarizer,
)


@dataclass(frozen=True)
class Stage:
    """One training stage: estimators, optional init/teacher from an earlier stage."""

    name: str
    act: Callable[[], ActEstimator]
    weight: type[WeightBinarizer]
    init: str | None = None
    teacher: str | None = None
    lr_scale: float = 1.0

    @property
    def binary(self) -> bool:
        return self.weight is not RealWeight and self.act not in (ClipAct, ReluAct)


@dataclass(frozen=True)
class Recipe:
    """A named training method."""

    name: str
    summary: str
    stages: tuple[Stage, ...]
    arch: dict = field(default_factory=dict)
    deployable: bool = True
    attention_weight: float = 0.0
    kd_weight: float = 0.0
    clip_latent: bool = True  # clamp latent weights to [-1, 1] after each step
    net: str = "rnet"  # the registered architecture the recipe trains
    threshold_decay: float = 0.0  # weight of 0.5 ||thr||^2 over PG gate thresholds (FracBNN)


_BIN = "binary"
# Real-to-Binary's three stages, shared by the hardware variant and the paper's gated original
_REAL2BIN_STAGES = (
    Stage("teacher", ReluAct, RealWeight),
    Stage("binact", ApproxSignAct, RealWeight, init="teacher", teacher="teacher", lr_scale=0.1),
    Stage(_BIN, ApproxSignAct, WeightBinarizer, init="binact", teacher="binact"),
)
RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe("ste", "sign activations and weights, clipped straight-through estimator",
               (Stage(_BIN, ActEstimator, WeightBinarizer),)),
        Recipe("fp", "full-precision reference: real weights, ReLU (not deployable)",
               (Stage("real", ReluAct, RealWeight),), deployable=False,
               clip_latent=False),
        Recipe("bireal", "Bi-Real Net: int8 residual stream, ApproxSign, magnitude-aware "
               "weights, real pre-training with clip",
               (Stage("pretrain", ClipAct, RealWeight),
                Stage(_BIN, ApproxSignAct, MagnitudeAwareWeight, init="pretrain")),
               arch={"residual": True}),
        Recipe("siman", "SiMaN: {0,+1} weights by magnitude (angle alignment), no weight decay",
               (Stage(_BIN, ActEstimator, SiMaNWeight),),
               arch={"weights": "binary01", "io_weights": "bipolar", "pad_inner": 0},
               clip_latent=False),
        Recipe("real2bin", "Real-to-Binary: real teacher, binary activations, then binary "
               "weights; attention matching + distillation; static channel re-scaling",
               _REAL2BIN_STAGES,
               arch={"rescale": "static"}, attention_weight=1.0, kd_weight=1.0),
        Recipe("real2bin-gated", "Real-to-Binary with the paper's input-dependent gate "
               "(torch only)",
               _REAL2BIN_STAGES,
               arch={"rescale": "gated"}, attention_weight=1.0, kd_weight=1.0,
               deployable=False),
        Recipe("ftbnn", "FTBNN: FPReLU after each binary layer (slope >= 0, folds into the "
               "threshold), ApproxSign",
               (Stage(_BIN, ApproxSignAct, WeightBinarizer),), arch={"fprelu": True}),
        Recipe("ftbnn-free", "FTBNN with unconstrained PReLU slopes (torch only)",
               (Stage(_BIN, ApproxSignAct, WeightBinarizer),),
               arch={"fprelu": True, "fprelu_min_slope": None}, deployable=False),
        Recipe("ftbnn-grouped", "FTBNN with the paper's group execution: hidden binary convs in "
               "2 groups (torch only: onebit maps dense convs)",
               (Stage(_BIN, ApproxSignAct, WeightBinarizer),), arch={"fprelu": True, "groups": 2},
               deployable=False),
        Recipe("irnet", "IR-Net: Libra-PB weights (balanced, standardised, pow-2 scale), EDE",
               (Stage(_BIN, EDEAct, LibraPBWeight),), clip_latent=False),
        Recipe("fracbnn", "FracBNN: thermometer-encoded input into a binary first layer, "
               "precision-gated 2-bit (fractional) activations",
               (Stage(_BIN, ActEstimator, WeightBinarizer),), net="fracnet",
               threshold_decay=THRESHOLD_DECAY),
    ]
}  # fmt: skip


def get_recipe(name: str) -> Recipe:
    key = name.strip().lower().replace("_", "-")
    if key not in RECIPES:
        raise UserInputError(f"unknown recipe '{name}': expected one of {', '.join(RECIPES)}")
    return RECIPES[key]


def list_recipes() -> dict[str, str]:
    """Recipe name -> one-line summary."""
    return {n: r.summary for n, r in RECIPES.items()}
