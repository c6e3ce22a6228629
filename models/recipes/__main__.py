"""`python -m onebit.models.recipes` (also under `torchrun --nproc_per_node N -m ...`)."""

from __future__ import annotations

import argparse
import json

from onebit import data

from .trainer import train_recipe


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m onebit.models.recipes")
    p.add_argument("--recipe", required=True)
    p.add_argument("--arch", default="cnv")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int)
    p.add_argument("--io-weights", choices=["int8"], help="8-bit first and output layers")
    p.add_argument("--out")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    ds = data.load(a.dataset, a.data_dir)
    _, result = train_recipe(a.recipe, ds, arch=a.arch, epochs=a.epochs,
                             batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                             progress=not a.quiet, limit=a.limit, out=a.out, resume=a.resume,
                             io_weights=a.io_weights)  # fmt: skip
    if result.world_size == 1 or __import__("torch").distributed.get_rank() == 0:
        print(json.dumps({k: result.meta()[k] for k in ("recipe", "test_accuracy", "seconds",
                                                       "world_size")}))  # fmt: skip


if __name__ == "__main__":
    main()
