"""Training recipe "ste": Adam on the latent weights, straight-through sign, cosine LR.

The model outputs integer accumulators; the loss is cross-entropy of `logits / temperature`
(default: the model's `logit_temperature`, sqrt of the output layer's fan-in). Runs are
deterministic for a seed: the init (via `build(seed=)`), the batch order and dropout all draw
from seeded generators; the global RNG state is restored afterwards.

    >>> ds = onebit.data.load("digits")
    >>> net = onebit.models.build("tfc", ds.input_shape, ds.num_classes, seed=0)
    >>> result = train(net, ds, epochs=30, seed=0)
    >>> save_checkpoint("tfc.pt", net, result.meta())
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from onebit.data import Dataset, loader
from onebit.errors import UserInputError

from .checkpoint import load_checkpoint, model_meta, save_checkpoint
from .harden import harden_thresholds

__all__ = [
    "TrainResult",
    "evaluate",
    "load_checkpoint",
    "model_meta",
    "save_checkpoint",
    "train",
    "train_checkpoint",
]

SCHEDULES = ("cosine", "step", "constant")


@dataclass
class TrainResult:
    """What a training run did: per-epoch loss/accuracy on train, final test accuracy."""

    dataset: str
    epochs: int
    batch_size: int
    lr: float
    seed: int
    temperature: float
    schedule: str
    limit: int | None
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: float = float("nan")
    seconds: float = 0.0
    recipe: str = "ste"

    def meta(self) -> dict:
        """The checkpoint metadata of this run (merged into `model_meta` by save_checkpoint)."""
        d = asdict(self)
        d["train_loss"] = self.train_loss[-1] if self.train_loss else None
        d["train_accuracy"] = self.train_accuracy[-1] if self.train_accuracy else None
        return d


def _lr_lambda(schedule: str, total_steps: int):
    if schedule == "cosine":
        return lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total_steps) / total_steps))
    if schedule == "step":  # /10 at 50% and 75% of training
        return lambda s: 0.1 ** ((s >= total_steps // 2) + (s >= 3 * total_steps // 4))
    return lambda s: 1.0


def check_run_args(epochs: int, schedule: str) -> None:
    """Rejects an epoch count below 1 and an unknown LR schedule (`train`, `train_recipe`)."""
    if epochs < 1:
        raise UserInputError(f"epochs must be at least 1, got {epochs}")
    if schedule not in SCHEDULES:
        raise UserInputError(f"unknown LR schedule '{schedule}': expected {', '.join(SCHEDULES)}")


def adam_schedule(
    model: nn.Module, lr: float, weight_decay: float, schedule: str, total_steps: int
) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.LambdaLR]:
    """Adam on `model`'s parameters and its per-step LR schedule over `total_steps` steps."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(schedule, total_steps))


@contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Torch intra-op threads set to `num_threads` inside (None: unchanged), restored after."""
    threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    split: str = "test",
    batch_size: int = 512,
    limit: int | None = None,
) -> float:
    """Top-1 accuracy (0..1) of `model` in eval mode on `split`; the model's mode is restored."""
    was_training = model.training
    model.eval()
    correct = total = 0
    for x, y in loader(dataset, split, batch_size, shuffle=False, limit=limit):
        correct += int((model(x).argmax(1) == y).sum())
        total += len(y)
    model.train(was_training)
    return correct / max(total, 1)


def train(
    model: nn.Module,
    dataset: Dataset,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = True,
    limit: int | None = None,
    temperature: float | None = None,
    schedule: str = "cosine",
    weight_decay: float = 0.0,
    num_threads: int | None = 1,
) -> TrainResult:
    """Trains `model` in place on `dataset`'s train split; returns a TrainResult.

    `num_threads` (torch intra-op threads while training, restored afterwards) defaults to 1:
    small binary networks train many times faster single-threaded (per-op overhead dominates,
    and a loaded machine makes threads wait), and a run is bit-reproducible only for a fixed
    thread count. None keeps torch's setting.

    Ends with the model in eval mode and its thresholds hardened (`harden_thresholds`), so the
    model is the exact function the hardware computes.
    """
    check_run_args(epochs, schedule)
    if tuple(getattr(model, "input_shape", dataset.input_shape)) != tuple(dataset.input_shape):
        raise UserInputError(
            f"model input {tuple(model.input_shape)} does not match dataset '{dataset.name}' "
            f"images {dataset.input_shape}"
        )
    if getattr(model, "num_classes", dataset.num_classes) != dataset.num_classes:
        raise UserInputError(
            f"model has {model.num_classes} classes, dataset '{dataset.name}' has "
            f"{dataset.num_classes}"
        )
    temp = float(temperature or getattr(model, "logit_temperature", 1.0))
    result = TrainResult(dataset.name, epochs, batch_size, lr, seed, temp, schedule, limit)
    batches = loader(dataset, "train", batch_size, shuffle=True, seed=seed, limit=limit)
    opt, sched = adam_schedule(model, lr, weight_decay, schedule, epochs * len(batches))
    start = time.perf_counter()
    with torch_threads(num_threads):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            _epochs(model, batches, opt, sched, temp, epochs, progress, result)
        model.eval()
        harden_thresholds(model)
        result.test_accuracy = evaluate(model, dataset, "test")
    result.seconds = time.perf_counter() - start
    return result


def train_checkpoint(
    arch: str,
    dataset: Dataset,
    out,
    recipe: str = "ste",
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-2,
    seed: int = 0,
    progress: bool = True,
    io_weights: str | None = None,
    resume: bool = False,
) -> dict:
    """Train `arch` on `dataset` with `recipe` and write the hardware checkpoint `out`.

    What `onebit train` and `onebit demo` run; returns the checkpoint's meta. "ste" with binary
    first/last layers trains a registered architecture (`tfc`, `cnv`, ...) with `train`; other
    recipes, `io_weights="int8"` (8-bit first and output layer weights) and `resume` (skip the
    stages whose checkpoint `<out stem>.<stage>.pt` exists) run
    `onebit.models.recipes.train_recipe` (architecture presets of `rnet`) and must be
    deployable: a torch-only variant is refused before training.
    """
    if recipe != "ste" or io_weights is not None or resume:
        from .recipes import get_recipe, train_recipe

        r = get_recipe(recipe)
        if not r.deployable:
            raise UserInputError(
                f"recipe '{r.name}' trains a torch-only variant with no hardware mapping; use "
                "benchmarks/accuracy.py to measure it, or a deployable recipe"
            )
        _, result = train_recipe(r.name, dataset, arch=arch, epochs=epochs, batch_size=batch_size,
                                 lr=lr, seed=seed, progress=progress, out=out, resume=resume,
                                 io_weights=io_weights)  # fmt: skip
        return result.meta()
    from .registry import build

    model = build(arch, dataset.input_shape, dataset.num_classes)
    result = train(model, dataset, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                   progress=progress)  # fmt: skip
    meta = result.meta()
    save_checkpoint(out, model, meta)
    return meta


def _epochs(model, batches, opt, sched, temp, epochs, progress, result) -> None:
    """Runs the epochs, appending per-epoch train loss and accuracy to `result`."""
    clip = getattr(model, "clip_weights", None)
    for epoch in range(epochs):
        model.train()
        loss_sum = correct = seen = 0
        bar = tqdm(batches, desc=f"epoch {epoch + 1}/{epochs}", leave=False, unit="batch",
                   disable=not progress or not sys.stderr.isatty())  # logs: epoch lines only
        for x, y in bar:
            logits = model(x)
            loss = F.cross_entropy(logits / temp, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if clip is not None:
                clip(-1.0, 1.0)
            loss_sum += loss.item() * len(y)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        result.train_loss.append(loss_sum / seen)
        result.train_accuracy.append(correct / seen)
        if progress:
            tqdm.write(
                f"epoch {epoch + 1}/{epochs}: loss {loss_sum / seen:.4f}, "
                f"train accuracy {correct / seen:.4f}"
            )
