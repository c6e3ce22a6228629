"""Brevitas' `brevitas_examples.bnn_pynq` networks (TFC, SFC, LFC, CNV) behind onebit's input.

Names are `<model>` (W1A1) or `<model>-w<W>a<A>` for the other configurations Brevitas ships
(`BNN_PYNQ_VARIANTS`: FINN's end-to-end test matrix, e.g. `tfc-w1a2`, `cnv-w2a2`); Brevitas'
own spelling `tfc_1w2a` is accepted too. W1A2 models have 2-bit activations in {-1, 0, +1};
W2A2 models (2-bit weights in hidden layers) export, and the build refuses them by name.

The third-party models expect pixels in [0, 1] and compute `2x - 1` themselves; the wrapper
puts a constant `PixelScale(1/255)` in front so that they take onebit's 0..255 integer pixels.
Their pretrained weights are downloaded by Brevitas, which onebit never does: the weights are a
seeded random init, or a state_dict file (`weights=`), e.g. Brevitas' released `.pth`.

Input quantization inside the wrapped models (for the export flow):
- FC (tfc/sfc/lfc): `QuantIdentity` 1-bit sign of `2x/255 - 1`: +1 iff pixel >= 128.
- CNV: `QuantIdentity` 8-bit, scale 2^-7, of `2x/255 - 1`; 256x/255 - 128 is never a
  half-integer, so float rounding cannot flip it. The first conv's accumulators step by 2^-7.
"""

from __future__ import annotations

import ast
from pathlib import Path

import torch
from brevitas_examples.bnn_pynq.models import get_model_cfg
from brevitas_examples.bnn_pynq.models.CNV import CNV
from brevitas_examples.bnn_pynq.models.FC import FC
from torch import nn

from onebit.errors import ModelFormatError, UserInputError

from .quant import PixelScale

BNN_PYNQ_MODELS = ("tfc", "sfc", "lfc", "cnv")
BNN_PYNQ_VARIANTS = {
    "tfc": ("w1a1", "w1a2", "w2a2"),
    "sfc": ("w1a1", "w1a2", "w2a2"),
    "lfc": ("w1a1", "w1a2"),
    "cnv": ("w1a1", "w1a2", "w2a2"),
}
"""The weight/activation bit widths Brevitas has a configuration for, per model."""
DEFAULT_INPUT_SHAPES = {
    "tfc": (1, 28, 28),
    "sfc": (1, 28, 28),
    "lfc": (1, 28, 28),
    "cnv": (3, 32, 32),
}


class BnnPynqNet(nn.Module):
    """`PixelScale(1/255)` followed by a bnn_pynq model; same attributes as `OnebitNet`."""

    def __init__(self, name: str, net: nn.Module, input_shape, num_classes: int):
        super().__init__()
        self.scale = PixelScale(1.0 / 255.0)
        self.net = net
        self.arch = f"bnn-pynq-{name}"
        self.arch_kwargs: dict = {}
        self.input_shape = tuple(input_shape)
        self.num_classes = int(num_classes)
        self.logit_temperature = 1.0  # their TensorNorm output is already a float logit
        # accumulator grid per BatchNorm feeding a sign (harden_thresholds); default 1
        self.accumulator_steps: dict[str, float] = {}
        if isinstance(net, CNV):
            in_scale = float(net.conv_features[0].act_quant.scale())
            self.accumulator_steps["net.conv_features.2"] = in_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.scale(x))

    def clip_weights(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        """Clamps the latent weights, as Brevitas' bnn_pynq trainer does after every step."""
        self.net.clip_weights(min_val, max_val)


def parse_bnn_pynq_name(name: str) -> tuple[str, str]:
    """`tfc`, `tfc-w1a2`, `bnn-pynq-tfc-w1a2` or `tfc_1w2a` -> ("tfc", "w1a2")."""
    key = name.strip().lower().removeprefix("bnn-pynq-").removeprefix("bnn_pynq_")
    model, _, variant = key.replace("_", "-").partition("-")
    variant = variant or "w1a1"
    if len(variant) == 4 and variant[1] == "w" and variant[3] == "a":  # Brevitas' "1w2a"
        variant = f"w{variant[0]}a{variant[2]}"
    if model not in BNN_PYNQ_VARIANTS or variant not in BNN_PYNQ_VARIANTS[model]:
        known = ", ".join(m if v == "w1a1" else f"{m}-{v}"
                          for m, vs in BNN_PYNQ_VARIANTS.items() for v in vs)
        raise UserInputError(f"unknown bnn_pynq model '{name}': expected one of {known}")
    return model, variant


def bnn_pynq_names() -> list[str]:
    """Every bnn_pynq name the CLI accepts (`bnn_pynq:<name>`)."""
    return [m if v == "w1a1" else f"{m}-{v}" for m, vs in BNN_PYNQ_VARIANTS.items() for v in vs]


def bnn_pynq(
    name: str,
    weights: str | Path | None = None,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int = 10,
    seed: int | None = 0,
    random_bn: bool = False,
) -> BnnPynqNet:
    """Brevitas' bnn_pynq `<model>_<W>w<A>a` network, taking 0..255 pixels (N, C, H, W).

    `name` as in `parse_bnn_pynq_name`. `input_shape` defaults to (1, 28, 28) for the FC models
    and (3, 32, 32) for CNV (which only works at 32x32). `weights` is a state_dict file of the
    Brevitas model (keys as in Brevitas' released checkpoints) or of the wrapper (keys prefixed
    `net.`). `random_bn` gives every BatchNorm seeded per-channel statistics
    (`randomize_batchnorm`), so that a random-weight model has distinct thresholds.
    """
    key, variant = parse_bnn_pynq_name(name)
    shape = tuple(int(d) for d in (input_shape or DEFAULT_INPUT_SHAPES[key]))
    if len(shape) != 3:
        raise UserInputError(f"input shape must be (C, H, W), got {shape}")
    cfg = get_model_cfg(f"{key}_{variant[1]}w{variant[3]}a")
    bits = {
        k: cfg.getint("QUANT", k) for k in ("WEIGHT_BIT_WIDTH", "ACT_BIT_WIDTH", "IN_BIT_WIDTH")
    }
    with torch.random.fork_rng(devices=[]):
        if seed is not None:  # None: draw from the caller's RNG (build() seeds it)
            torch.manual_seed(seed)
        if key == "cnv":
            if shape[1:] != (32, 32):
                raise UserInputError(f"bnn_pynq cnv needs 32x32 inputs, got {shape[1]}x{shape[2]}")
            net = CNV(num_classes, bits["WEIGHT_BIT_WIDTH"], bits["ACT_BIT_WIDTH"],
                      bits["IN_BIT_WIDTH"], in_ch=shape[0])  # fmt: skip
        else:
            net = FC(
                num_classes=num_classes,
                weight_bit_width=bits["WEIGHT_BIT_WIDTH"],
                act_bit_width=bits["ACT_BIT_WIDTH"],
                in_bit_width=bits["IN_BIT_WIDTH"],
                in_channels=shape[0],
                out_features=ast.literal_eval(cfg.get("MODEL", "OUT_FEATURES")),
                in_features=shape,  # FC flattens everything: C*H*W inputs
            )
    model = BnnPynqNet(key if variant == "w1a1" else f"{key}-{variant}", net, shape, num_classes)
    if random_bn:
        randomize_batchnorm(model, 0 if seed is None else seed)
    if weights is not None:
        _load_weights(model, Path(weights))
    return model


@torch.no_grad()
def randomize_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Seeded, trained-looking statistics for every BatchNorm after a linear layer, in place.

    Per channel: mean ~ N(0, sqrt(fan_in) / 2), std ~ sqrt(fan_in) * U(0.5, 1.5), gamma ~ N(0, 1)
    (so some are negative), beta ~ N(0, 0.5): the thresholds differ per channel and activations
    of every level occur on random inputs. `fan_in` is the preceding layer's input size.
    """
    g = torch.Generator().manual_seed(seed)
    fan_in = 1
    for m in model.modules():
        if isinstance(m, nn.Linear):
            fan_in = m.in_features
        elif isinstance(m, nn.Conv2d):
            fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            c, s = m.num_features, float(fan_in) ** 0.5
            m.running_mean.copy_(torch.randn(c, generator=g) * s / 2)
            m.running_var.copy_((s * (0.5 + torch.rand(c, generator=g))) ** 2)
            m.weight.copy_(torch.randn(c, generator=g))
            m.bias.copy_(torch.randn(c, generator=g) * 0.5)
    return model


def _load_weights(model: BnnPynqNet, path: Path) -> None:
    if not path.is_file():
        raise UserInputError(f"weights file '{path}' does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a non-checkpoint file
        raise ModelFormatError(f"cannot read weights '{path}': {e}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelFormatError(f"weights '{path}' are not a state_dict")
    target = model if any(k.startswith("net.") for k in state) else model.net
    result = target.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelFormatError(
            f"weights '{path}' do not fit bnn_pynq {model.arch}: missing "
            f"{result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]}"
        )
