"""Folding: PE/SIMD per layer, from a frame-rate target or an explicit per-node config."""

from __future__ import annotations

import json
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from onebit.errors import UserInputError
from onebit.flows.passes import run_passes

FOLD_ATTRS = ("PE", "SIMD", "parallel_window", "ram_style", "mem_mode", "resType")


def target_cycles(target_fps: float, clock_mhz: float) -> int:
    """Cycles per frame that meet `target_fps` at `clock_mhz`."""
    if target_fps <= 0:
        raise UserInputError(f"--target-fps must be positive, got {target_fps}")
    return max(1, int(clock_mhz * 1e6 // target_fps))


def fold_for_fps(model: ModelWrapper, target_fps: float, clock_mhz: float) -> ModelWrapper:
    """FINN's SetFolding towards `target_fps` (MVAU weight width capped as FINN does)."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding

    return run_passes(model, [SetFolding(target_cycles(target_fps, clock_mhz),
                                         mvau_wwidth_max=8191, two_pass_relaxation=True)])


def apply_folding_config(model: ModelWrapper, config: dict | Path) -> ModelWrapper:
    """Set PE/SIMD/... from {node_name: {attr: value}} (FINN's folding JSON format)."""
    if not isinstance(config, dict):
        try:
            config = json.loads(Path(config).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserInputError(f"folding config {config}: {e}") from None
    names = {n.name: n for n in model.graph.node}
    for name, attrs in config.items():
        if name == "Defaults":
            continue
        if name not in names:
            raise UserInputError(f"folding config names node '{name}', which is not in the graph")
        inst = getCustomOp(names[name])
        for k, v in attrs.items():
            inst.set_nodeattr(k, v)
    return model


def folding_of(model: ModelWrapper) -> dict[str, dict]:
    """The folding attributes of every node (what apply_folding_config reads)."""
    out = {}
    for n in model.graph.node:
        inst = getCustomOp(n)
        types = inst.get_nodeattr_types()
        attrs = {k: inst.get_nodeattr(k) for k in FOLD_ATTRS if k in types}
        if attrs:
            out[n.name] = attrs
    return out
