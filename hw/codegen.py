"""FINN HW node -> RtlInstance: the registry of onebit's RTL generators.

Nodes FINN ships as simulatable RTL (sliding window, padding) use FINN's own HDL generation
(the sliding window's common modules onebit's); nodes FINN only has as HLS (the MVAU, pooling,
label select, residual forks and adds), FracBNN's thermometer encoder
(`onebit.flows.fracbnn_ops`; its gated MVAU is an MVAU), thresholding (with finn-rtllib's,
bnn_pynq TFC's simulation took 45% more instructions a frame: `onebit.hw.thresholding`), width
converters (finn-rtllib's crashes Verilator at large ratios) and FIFOs get onebit's
SystemVerilog.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path

from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UnsupportedOpError
from onebit.hw.instance import RtlInstance

GENERATORS = {
    "MVAU": "onebit.hw.mvau",
    "MVAU_hls": "onebit.hw.mvau",
    "MVAU_rtl": "onebit.hw.mvau",
    "Pool_hls": "onebit.hw.pool",
    "StreamingMaxPool_hls": "onebit.hw.pool",
    "LabelSelect_hls": "onebit.hw.labelselect",
    "Thresholding_rtl": "onebit.hw.thresholding",
    "ConvolutionInputGenerator_rtl": "onebit.hw.finn_rtl",
    "FMPadding_rtl": "onebit.hw.finn_rtl",
    "StreamingDataWidthConverter_rtl": "onebit.hw.dwc",
    "StreamingDataWidthConverter_hls": "onebit.hw.dwc",
    "StreamingFIFO_rtl": "onebit.hw.finn_rtl",
    "DuplicateStreams": "onebit.hw.residual",
    "DuplicateStreams_hls": "onebit.hw.residual",
    "ElementwiseAdd": "onebit.hw.residual",
    "ElementwiseAdd_hls": "onebit.hw.residual",
    "ThermometerEncoder": "onebit.hw.thermometer",
}

PREFERRED = {**dict.fromkeys(("Thresholding", "ConvolutionInputGenerator", "FMPadding",
                              "StreamingDataWidthConverter", "StreamingFIFO"), "rtl"),
             "MVAU": "hls"}
"""The variant of each FINN op that onebit builds, asked of SpecializeLayers: the RTL one where
onebit simulates FINN's RTL (or builds its own in its place), the MVAU as `MVAU_hls`
(`onebit_mvau`; FINN would pick its DSP-based `MVAU_rtl` for a layer of 4-bit-or-wider inputs
and weights without activation)."""


def _generator(node):
    mod = GENERATORS.get(node.op_type)
    if mod is None:
        raise UnsupportedOpError(
            node.name, node.op_type,
            "no onebit RTL for it (supported: " + ", ".join(sorted(GENERATORS)) + ")",
        )
    return importlib.import_module(mod)


def generate(node, model: ModelWrapper, out_dir: Path) -> RtlInstance:
    """Generate the RTL of one HW node into `out_dir/<node name>/`."""
    gen = _generator(node)
    d = Path(out_dir) / node.name
    d.mkdir(parents=True, exist_ok=True)
    inst = gen.generate(node, model, d)
    inst.op_type = node.op_type
    return inst


def check(model: ModelWrapper) -> None:
    """Raise `UnsupportedOpError` for the first node whose RTL `generate` would refuse.

    The fold step calls this on the folded graph, so a folding the RTL cannot honour is refused
    there, by node and attribute, and not later at RTL generation. Generators without a
    `check` of their own write nothing and are run into a scratch directory.
    """
    for node in model.graph.node:
        gen = _generator(node)
        if hasattr(gen, "check"):
            gen.check(node, model)
        else:
            with tempfile.TemporaryDirectory(prefix="onebit-check-") as d:
                gen.generate(node, model, Path(d))


def prefer_variants(model: ModelWrapper) -> ModelWrapper:
    """Ask SpecializeLayers for the variant onebit builds of every node (`PREFERRED`)."""
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        if node.op_type in PREFERRED:
            getCustomOp(node).set_nodeattr("preferred_impl_style", PREFERRED[node.op_type])
    return model
