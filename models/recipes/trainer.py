"""`train_recipe`: run a recipe's stages on a dataset, fold to the hardware network, save.

    >>> ds = onebit.data.load("digits")
    >>> net, result = train_recipe("irnet", ds, arch="cnv", epochs=10, seed=0, out="irnet.pt")

Deterministic for a seed and a world size (see `onebit.models.distributed`). Each stage's
network is checkpointed next to `out` (`<out stem>.<stage>.pt`); `resume=True` skips stages
whose checkpoint exists.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from onebit.data import Dataset, loader
from onebit.errors import UserInputError

from .. import distributed as D
from ..checkpoint import load_checkpoint, save_checkpoint
from ..precision_gate import pg_threshold_loss
from ..registry import build
from ..train import TrainResult, adam_schedule, check_run_args, evaluate, torch_threads
from .estimators import IntWeight, RealWeight, WeightBinarizer
from .fracnet import fold_fracnet
from .layers import RecipeAct, RecipeConv2d, RecipeLinear
from .losses import attention_loss, distillation_loss
from .net import fold
from .recipes import Recipe, Stage, get_recipe

ARCH_PRESETS = {
    "cnv": {"channels": (16, 32), "fc": (64,)},
    "cnv-wide": {"channels": (32, 64), "fc": (128,)},  # benchmarks/accuracy.py's default
    "cnv-xwide": {"channels": (64, 128), "fc": (256,)},  # the Fashion-MNIST goal runs
    # cnv-wide on FracBNN's thermometer input (r = 8), binary first layer, no gating (rnet only)
    "cnv-wide-thermo": {"channels": (32, 64), "fc": (128,), "thermometer": 8},
    "tfc": {"channels": (), "fc": (64, 64, 64)},
    "rnet": {},
    "fracnet-28": {"channels": (32, 64), "fc": (128,)},  # 28x28x1 (Fashion-MNIST, MNIST)
    "fracnet-32": {"channels": (64, 128, 256), "fc": (256,)},  # 32x32x3 (CIFAR-10)
}
FOLDS = {"rnet": fold, "fracnet": fold_fracnet}  # the hardware network of a trained net


@dataclass
class RecipeResult(TrainResult):
    """TrainResult plus per-stage records and the folding check."""

    stages: list[dict] = field(default_factory=list)
    torch_accuracy: float = float("nan")  # trained network before folding
    fold_mismatches: int | None = None  # test images whose logits changed by folding
    world_size: int = 1
    deployed: bool = False

    def meta(self) -> dict:
        d = super().meta()
        d["stages"] = [{k: v for k, v in s.items() if k != "train_loss"} for s in self.stages]
        return d


def attach(model: nn.Module, stage: Stage) -> list:
    """Set the stage's estimators/binarizers on every layer; returns them (for schedules)."""
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, RecipeConv2d | RecipeLinear):
            cls = stage.weight
            if m.weight_kind == "int8" and cls is not RealWeight:
                cls = IntWeight  # the first/last layer of a binary stage: 8-bit integers
            elif m.weight_kind == "bipolar" and cls.code_values == (0.0, 1.0):
                cls = WeightBinarizer  # a +-1 layer (io_weights) in a {0,1} recipe: sign
            m.binarizer = cls(use_scale=not name.endswith("out"))
            hooks.append(m.binarizer)
        elif isinstance(m, RecipeAct):
            m.estimator = stage.act()
            hooks.append(m.estimator)
    return hooks


def detach_recipe(model: nn.Module) -> None:
    """Remove estimators and binarizers: the model computes its Brevitas (hardware) function."""
    for m in model.modules():
        if isinstance(m, RecipeConv2d | RecipeLinear):
            m.binarizer = None
        elif isinstance(m, RecipeAct):
            m.estimator = None


def _resolve_arch(recipe: Recipe, arch: str, arch_kw: dict) -> dict:
    key = arch.strip().lower()
    if key not in ARCH_PRESETS:
        raise UserInputError(f"recipes train {', '.join(ARCH_PRESETS)}, not '{arch}'")
    return {**ARCH_PRESETS[key], **recipe.arch, **arch_kw}


class _Capture:
    """Forward hooks storing the outputs of named submodules."""

    def __init__(self, model: nn.Module, names: list[str]):
        self.out: dict[str, torch.Tensor] = {}
        self.handles = [model.get_submodule(f"layers.{n}").register_forward_hook(self._hook(n))
                        for n in names]  # fmt: skip

    def _hook(self, name):
        def hook(_m, _i, o):
            self.out[name] = o

        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def train_recipe(
    recipe: str,
    dataset: Dataset,
    arch: str = "cnv",
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = True,
    limit: int | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    schedule: str = "cosine",
    num_threads: int | None = 1,
    io_weights: str | None = None,
    **arch_kw,
) -> tuple[nn.Module, RecipeResult]:
    """Train `recipe` (every stage `epochs` epochs); returns (network, result).

    The network is the folded hardware network (eval mode, thresholds hardened; what
    `export_qonnx` and the build take) for deployable recipes, else the trained torch network.
    Under torchrun the process group is joined here; only rank 0 writes `out`.
    `io_weights="int8"` gives the first and output layers 8-bit weights (None: the recipe's).
    """
    r = get_recipe(recipe)
    check_run_args(epochs, schedule)
    if io_weights is not None:  # None: the recipe's own first/last layer weights
        arch_kw["io_weights"] = io_weights
    kw = _resolve_arch(r, arch, arch_kw)
    ctx = D.init_from_env()
    out = Path(out) if out is not None else None
    start = time.perf_counter()
    nets: dict[str, nn.Module] = {}
    with torch_threads(num_threads):
        result = None
        for stage in r.stages:
            net = build(r.net, dataset.input_shape, dataset.num_classes, seed=seed, **kw)
            if stage.init:
                net.load_state_dict(nets[stage.init].state_dict())
            attach(net, stage)
            if result is None:
                result = RecipeResult(dataset.name, epochs, batch_size, lr, seed,
                                      net.logit_temperature, schedule, limit, recipe=r.name,
                                      world_size=ctx.world)  # fmt: skip
            ck = _stage_path(out, stage)
            if resume and ck is not None and ck.is_file():
                loaded, meta = load_checkpoint(ck)
                net.load_state_dict(loaded.state_dict())
                result.stages.append(meta.get("stage_record", {"stage": stage.name}))
            else:
                rec = _run_stage(net, stage, r, dataset, nets, epochs, batch_size,
                                 lr * stage.lr_scale,
                                 seed, progress and ctx.is_main, limit, schedule, ctx)  # fmt: skip
                result.stages.append(rec)
                if ck is not None and ctx.is_main:
                    save_checkpoint(ck, net, {"recipe": r.name, "stage": stage.name,
                                              "stage_record": rec})  # fmt: skip
            net.eval()
            nets[stage.name] = net
        trained = nets[r.stages[-1].name]
        result.train_loss = [x for s in result.stages for x in s.get("train_loss", [])]
        result.train_accuracy = [s["train_accuracy"] for s in result.stages
                                 if "train_accuracy" in s]  # fmt: skip
        result.torch_accuracy = evaluate(trained, dataset, "test")
        final = trained
        if r.deployable:
            final = FOLDS[r.net](trained)
            result.deployed = True
            result.fold_mismatches = _fold_mismatches(trained, final, dataset)
        result.test_accuracy = evaluate(final, dataset, "test")
        result.seconds = time.perf_counter() - start
        if out is not None and ctx.is_main:
            save_checkpoint(out, final, result.meta())
        D.barrier(ctx)
    return final, result


def _stage_path(out: Path | None, stage: Stage) -> Path | None:
    return None if out is None else out.with_name(f"{out.stem}.{stage.name}{out.suffix or '.pt'}")


@torch.no_grad()
def _fold_mismatches(trained: nn.Module, folded: nn.Module, ds: Dataset) -> int:
    """Test images on which the folded network's logits differ from the trained network's.

    The folded logits are integers (+-1 features times integer codes). The output layer's
    scale is not deployed (an 8-bit output layer's per-tensor scale: the argmax is unchanged),
    so the trained logits are divided by it and rounded before the comparison.
    """
    out = trained.get_submodule("layers.out")
    gain = 1.0 if out.binarizer is None else out.binarizer.scale(out.weight)
    bad = 0
    for x, _ in loader(ds, "test", 512, shuffle=False):
        bad += int((torch.round(trained(x) / gain) != folded(x)).any(1).sum())
    return bad


def _run_stage(net, stage: Stage, r: Recipe, ds, nets, epochs, batch_size, lr, seed, progress,
               limit, schedule, ctx: D.DistContext) -> dict:  # fmt: skip
    """One stage's epochs; returns its record (losses, accuracy, seconds)."""
    t0 = time.perf_counter()
    schedules = attach(net, stage)
    teacher = nets.get(stage.teacher) if stage.teacher else None
    batches = loader(ds, "train", batch_size, shuffle=True, seed=seed, limit=limit)
    total = epochs * len(batches)
    opt, sched = adam_schedule(net, lr, 0.0, schedule, total)
    model = D.wrap(net, ctx)
    temp = net.logit_temperature
    caps = None
    if teacher is not None and r.attention_weight > 0:
        caps = (_Capture(net, net.attention_points), _Capture(teacher, teacher.attention_points))
    clip = r.clip_latent and stage.weight.__name__ != "RealWeight"
    clip_sign = stage.weight.__name__ != "RealWeight"  # plain sign layers are always clipped
    rec = {"stage": stage.name, "act": stage.act.name, "weight": stage.weight.name,
           "epochs": epochs, "lr": lr, "train_loss": []}  # fmt: skip
    step = 0
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1000 * ctx.rank)
            for epoch in range(epochs):
                model.train()
                sums = [0.0, 0.0, 0.0]  # loss * n, correct, n
                bar = tqdm(batches, desc=f"{r.name}/{stage.name} {epoch + 1}/{epochs}",
                           disable=not progress or not sys.stderr.isatty(), leave=False,
                           unit="batch")  # a bar in terminals; in logs the epoch lines only
                for xg, yg in bar:
                    if len(yg) < 2 * ctx.world:
                        step += 1  # too small to split with BatchNorm statistics on every rank
                        sched.step()
                        continue
                    x, y = D.shard(xg, yg, ctx)
                    for h in schedules:
                        h.set_progress(step / max(total - 1, 1))
                    logits = model(x)
                    loss = F.cross_entropy(logits / temp, y)
                    if teacher is not None:
                        with torch.no_grad():
                            t_logits = teacher(x)
                        if r.kd_weight:
                            loss = loss + r.kd_weight * distillation_loss(
                                logits / temp, t_logits / teacher.logit_temperature)
                        if caps is not None:
                            pts = net.attention_points
                            loss = loss + r.attention_weight * attention_loss(
                                [caps[0].out[p] for p in pts], [caps[1].out[p] for p in pts])
                    if r.threshold_decay:
                        loss = loss + pg_threshold_loss(net, weight=r.threshold_decay)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    step += 1
                    if clip or clip_sign:
                        _clip_latent(net, every=clip)
                    _clamp_bn_scales(net)
                    sums[0] += loss.item() * len(y)
                    sums[1] += int((logits.argmax(1) == y).sum())
                    sums[2] += len(y)
                    bar.set_postfix(loss=f"{sums[0] / sums[2]:.3f}")
                loss_sum, correct, seen = D.sum_all(sums, ctx)
                rec["train_loss"].append(loss_sum / max(seen, 1))
                rec["train_accuracy"] = correct / max(seen, 1)
                if progress:
                    tqdm.write(f"{r.name}/{stage.name} epoch {epoch + 1}/{epochs}: loss "
                               f"{rec['train_loss'][-1]:.4f}, train accuracy "
                               f"{rec['train_accuracy']:.4f}")  # fmt: skip
    finally:
        if caps is not None:
            caps[0].remove()
            caps[1].remove()
    net.eval()
    rec["test_accuracy"] = evaluate(net, ds, "test")
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    return rec


@torch.no_grad()
def _clip_latent(net: nn.Module, every: bool = True) -> None:
    """Clamps latent weights to [-1, 1]: every binary layer, or (every=False) plain sign ones."""
    for m in net.modules():
        if isinstance(m, RecipeConv2d | RecipeLinear):
            if every or type(m.binarizer) is WeightBinarizer:
                m.weight.clamp_(-1.0, 1.0)


@torch.no_grad()
def _clamp_bn_scales(net: nn.Module) -> None:
    """BatchNorms that must keep a positive scale (fracnet's, before a 2-bit activation)."""
    for m in net.modules():
        if hasattr(m, "clamp_scale_"):
            m.clamp_scale_()


__all__ = ["RecipeResult", "attach", "detach_recipe", "train_recipe"]
