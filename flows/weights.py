"""Weights directories for a build's runtime-writable layers (`onebit.driver.weights`).

A build with `runtime_writeable_weights: 1` records its writable layers (`rtl/accelerator.json`
"writable_layers", `report.json`, the bundle's `bundle.json`). `weights_from_graph` takes the
weights and thresholds of those layers from another FINN graph of the same network (e.g. the
`dataflow_golden` of a build of a retrained or perturbed model: the MVAU initializers are found
by the tensor names the build's own graph gives them) and writes the directory
`Accelerator.load_weights` loads. `golden_with` is the build's golden dataflow graph with new
weights, whose execution is what the accelerator must compute after loading them.
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper

from onebit.driver.weights import WritableLayer, write_dir
from onebit.errors import UserInputError
from onebit.flows.build import load_intermediate


def writable_layers(build: Path) -> list[WritableLayer]:
    """The runtime-writable layers of a build (with their windows)."""
    from onebit.hw.accelerator import MANIFEST, Accelerator

    rtl = Path(build) / "rtl"
    if not (rtl / MANIFEST).is_file():
        raise UserInputError(f"{build} is not a onebit build with RTL (no rtl/{MANIFEST})")
    return list(Accelerator.load(rtl).windows)


def _tensors(build: Path) -> dict[str, tuple[str, str | None]]:
    """Per writable layer: the names of its weight and threshold initializers."""
    folded = load_intermediate(Path(build), "dataflow_folded")
    nodes = {n.name: n for n in folded.graph.node}
    out = {}
    for la in writable_layers(build):
        n = nodes[la.name]
        out[la.name] = (n.input[1], n.input[2] if la.n_thres else None)
    return out


def weights_from_graph(build: Path, source: ModelWrapper, out_dir: Path) -> Path:
    """Write the weights directory of `build`'s writable layers with `source`'s values."""
    arrays = {}
    for name, (wt, tt) in _tensors(build).items():
        w = source.get_initializer(wt)
        t = None if tt is None else source.get_initializer(tt)
        if w is None or (tt is not None and t is None):
            raise UserInputError(f"the source graph has no initializer '{wt if w is None else tt}'"
                                 f" (layer {name}): not a graph of the same network")
        arrays[name] = (np.asarray(w), None if t is None else np.asarray(t))
    if not arrays:
        raise UserInputError(f"{build} has no runtime-writable layers")
    return write_dir(out_dir, arrays)


def golden_with(build: Path, arrays: dict[str, tuple]) -> ModelWrapper:
    """The build's golden dataflow graph with {layer: (weights, thresholds or None)} set."""
    model = ModelWrapper(deepcopy(load_intermediate(Path(build), "dataflow_golden").model))
    tensors = _tensors(build)
    for name, (w, t) in arrays.items():
        if name not in tensors:
            raise UserInputError(f"layer '{name}' is not runtime-writable in {build} "
                                 f"(writable: {', '.join(tensors) or 'none'})")
        wt, tt = tensors[name]
        model.set_initializer(wt, np.asarray(w, dtype=np.float32))
        if t is not None:
            model.set_initializer(tt, np.asarray(t, dtype=np.float32))
    return model
