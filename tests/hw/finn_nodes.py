"""Scaffolding of the tests that check one onebit RTL module against one FINN node.

A test builds the node's one-node model (`single_node_model`), takes FINN's Python execution as
the golden output, generates the onebit instance and runs its stream simulation under every
valid/ready throttle of `STALLS` (`simulate_under_stalls`), output words compared exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from onnx import NodeProto, TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.util.basic import qonnx_make_model

from onebit.hw import sim

PART = "xczu3eg-sbva484-1-e"
# (seed, p_valid, p_ready) of each simulation: free-running, then throttled on both sides
STALLS = [(0, 1.0, 1.0), (1, 0.6, 0.5), (2, 0.3, 0.9), (3, 0.9, 0.25)]


def single_node_model(node: NodeProto, in_shape: list[int], out_shape: list[int],
                      in_dt: DataType, out_dt: DataType | None = None) -> ModelWrapper:  # fmt: skip
    """A model of `node` alone, input "inp" and output "out" (float tensors with datatypes)."""
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("inp", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, out_shape)],
    )  # fmt: skip
    model = ModelWrapper(qonnx_make_model(graph))
    model.set_tensor_datatype("inp", in_dt)
    if out_dt is not None:
        model.set_tensor_datatype("out", out_dt)
    return model


def simulate_under_stalls(
    inst, words: np.ndarray, want: np.ndarray, cache_dir: Path | None
) -> list[tuple[tuple[int, float, float], sim.SimResult]]:
    """Builds `inst`'s stream simulation, feeds `words` under each of `STALLS` and asserts the
    output words equal `want` exactly; returns ((seed, p_valid, p_ready), result) per run."""
    exe = sim.build_instance_sim(inst, cache_dir=cache_dir)
    runs = []
    for seed, pv, pr in STALLS:
        res = sim.run_stream_sim(
            exe, words, len(want), in_width=inst.in_width, out_width=inst.out_width,
            seed=seed, p_valid=pv, p_ready=pr,
        )
        bad = np.flatnonzero((res.out_words != want).any(axis=1))
        assert bad.size == 0, f"seed {seed}: first wrong output word {bad[:1]}"
        runs.append(((seed, pv, pr), res))
    return runs
