"""Directed verification vectors (`flows/vectors.py`): boundary events of thresholds, the greedy
choice, and a build that simulates the chosen vectors too."""

from __future__ import annotations

import json

import numpy as np
import pytest
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper

from onebit.flows import vectors
from onebit.flows.build import BuildConfig, build
from onebit.flows.inputs import resolve


def threshold_model(thresholds: np.ndarray) -> ModelWrapper:
    """x (1, C) -> MultiThreshold(x, thresholds) -> y."""
    c = thresholds.shape[0]
    node = helper.make_node("MultiThreshold", ["x", "t"], ["y"], domain="qonnx.custom_op.general",
                            out_dtype="UINT4")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c])])
    model = ModelWrapper(helper.make_model(graph))
    model.set_initializer("t", thresholds.astype(np.float32))
    return model


def test_lattice_step():
    assert vectors.lattice_step(np.array([-3, 1, 5, 7])) == 2
    assert vectors.lattice_step(np.array([0, 3, 4])) == 1
    assert vectors.lattice_step(np.array([6, 6])) == 1


def test_boundary_events_at_and_just_below_each_threshold():
    model = threshold_model(np.array([[1.0, 5.0], [0.0, 2.0]]))
    # odd accumulators only (a +-1 dot product of odd length): lattice step 2, so "at t" is
    # t <= acc < t + 2 and "just below" t - 2 <= acc < t
    x = np.array([[1, 1], [3, -1], [5, 3], [-1, 5]], dtype=np.float32)
    hits, owner = vectors.boundary_hits(model, vectors.contexts(model, x))
    assert hits.shape == (4, 8) and set(owner) == {model.graph.node[0].name}
    at, below = hits[:, :4].reshape(4, 2, 2), hits[:, 4:].reshape(4, 2, 2)
    assert at[0].tolist() == [[True, False], [True, False]]
    assert at[2].tolist() == [[False, True], [False, True]]
    assert below[0].tolist() == [[False, False], [False, True]]
    assert below[1].tolist() == [[False, True], [True, False]]
    assert below[3].tolist() == [[True, False], [False, False]]
    even = threshold_model(np.array([[1.0, 5.0], [0.0, 2.0]]))  # integers: step 1, at = equal
    hits, _ = vectors.boundary_hits(even, vectors.contexts(even, x + np.array([[1, 0]])))
    assert hits[0, :4].reshape(2, 2).tolist() == [[False, False], [False, False]]


def test_choose_covers_greedily_and_stops_without_gain():
    hits = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]],
                    dtype=bool)
    assert vectors.choose(hits, 1, 5) == [2, 4]  # row 0 given; 1 and 3 add nothing then
    assert vectors.choose(hits, 1, 1) == [2]
    cov = vectors.coverage(hits, ["a", "a", "b", "b"], [0, 2])
    assert cov["covered"] == 3 and cov["layers"] == {"a": 1.0, "b": 0.5}


@pytest.mark.verilator
def test_build_simulates_directed_vectors(tmp_path):
    inp = resolve("bnn_pynq:tfc", vectors=4)
    r = build(inp, BuildConfig(tmp_path / "b", vectors=4, sim_frames=4, directed=8))
    d = r["vectors"]["directed"]
    assert r["status"] == "ok" and r["sim"]["bit_exact"] and 1 <= d["count"] <= 8
    assert d["candidates"] == 32
    assert d["coverage"]["covered"] > d["coverage_verification"]["covered"]
    assert r["sim"]["distinct_vectors"] == 4 + d["count"]
    x = np.load(tmp_path / "b" / "vectors.npz")["x"]
    assert len(x) == 4 + d["count"] and np.array_equal(x[:4], inp.x[:4])
    report = json.loads((tmp_path / "b" / "report.json").read_text())
    assert report["vectors"]["directed"]["count"] == d["count"]
    off = build(resolve("bnn_pynq:tfc", vectors=4),
                BuildConfig(tmp_path / "c", vectors=4, sim_frames=4, directed=0))
    assert off["vectors"]["directed"] is None and off["sim"]["distinct_vectors"] == 4
