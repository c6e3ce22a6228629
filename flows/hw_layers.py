"""Streamlined FINN graph -> HW layers -> one dataflow partition."""

from __future__ import annotations

from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.general import GiveUniqueNodeNames, RemoveUnusedTensors
from qonnx.transformation.infer_data_layouts import InferDataLayouts
from qonnx.util.basic import get_by_name

from onebit.errors import OnebitError, UnsupportedOpError
from onebit.flows.binary_mvau import InferBinaryMVAU
from onebit.flows.passes import run_passes
from onebit.flows.precision_gate import InferGatedMVAU
from onebit.flows.thermometer import InferThermometerEncoder
from onebit.flows.zero_pad import attach_pad_corrections, detach_pad_corrections

HW_DOMAIN = "finn.custom_op.fpgadataflow"
ONEBIT_DOMAINS = "onebit.flows."


def to_hw_layers(model: ModelWrapper) -> ModelWrapper:
    """Replace MatMul/MultiThreshold/Im2Col/MaxPool/TopK by FINN HW layers.

    InferPool runs before InferConvInpGen: the other order leaves an Im2Col behind and the
    dataflow partition then depends on itself. Residual adds become ElementwiseAdd and the
    fan-out of their shortcut a DuplicateStreams, once every other node is a HW layer.
    """
    from finn.transformation.fpgadataflow.convert_to_hw.conv_inp_gen import InferConvInpGen
    from finn.transformation.fpgadataflow.convert_to_hw.duplicate_streams import (
        InferDuplicateStreamsLayer,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.elementwise_binary_operation import (
        InferElementwiseBinaryOperation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.label_select import (
        InferLabelSelectLayer,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.pool import InferPool
    from finn.transformation.fpgadataflow.convert_to_hw.quantized_matrix_vector_activation import (  # noqa: E501
        InferQuantizedMatrixVectorActivation,
    )
    from finn.transformation.fpgadataflow.convert_to_hw.thresholding import (
        InferThresholdingLayer,
    )
    from finn.transformation.move_reshape import RemoveCNVtoFCFlatten
    from finn.transformation.streamline.absorb import AbsorbConsecutiveTransposes

    # zero-padding corrections: off while FINN merges MatMul + thresholds, then onto the MVAU
    model, stash = detach_pad_corrections(model)
    model = run_passes(model, [_named_failure(p) for p in [
        RemoveUnusedTensors(),
        InferThermometerEncoder(),
        InferGatedMVAU(),
        InferBinaryMVAU(),
        InferQuantizedMatrixVectorActivation(),
        InferLabelSelectLayer(),
        InferElementwiseBinaryOperation(_two_streams_add),
        InferThresholdingLayer(),
        InferPool(),
        InferConvInpGen(),
        RemoveCNVtoFCFlatten(),
        AbsorbConsecutiveTransposes(),
        InferDuplicateStreamsLayer(),
        InferDataLayouts(),
        GiveUniqueNodeNames(),
    ]])
    return attach_pad_corrections(model, stash)


def mvaus_to_finn_domain(model: ModelWrapper) -> ModelWrapper:
    """onebit's MVAUs (the zero-padded conv's `PaddedMVAU`, FracBNN's `GatedMVAU`: op type MVAU
    in an `onebit.flows` domain) back to FINN's MVAU, for SpecializeLayers, folding and FINN's
    estimates; their own attributes (corrections, gates) stay for `hw/mvau.py`. The result is
    not executable exactly: it is the input of code generation."""
    for node in model.graph.node:
        if node.op_type == "MVAU" and node.domain.startswith(ONEBIT_DOMAINS):
            node.domain = HW_DOMAIN
    return model


def _is_hw(node) -> bool:
    """A FINN HW layer, or one of onebit's (the zero-padded MVAU, FracBNN's layers): an op of
    an `onebit.flows` domain with FINN's backend attribute "fpgadataflow"."""
    if node.domain == HW_DOMAIN or node.domain.startswith(HW_DOMAIN + "."):
        return True
    backend = get_by_name(node.attribute, "backend")
    return (node.domain.startswith(ONEBIT_DOMAINS) and backend is not None
            and backend.s.decode() == "fpgadataflow")


def _named_failure(p):
    """`p` as a model->model function whose FINN exceptions become an UnsupportedOpError naming
    the node the message names, else the first node that is not a HW layer."""

    def run(model: ModelWrapper) -> ModelWrapper:
        try:
            return model.transform(p)
        except OnebitError:
            raise
        except Exception as e:  # FINN asserts and raises FINNUserError on graphs it cannot map
            msg = " ".join(f"{type(e).__name__}: {e}".split())  # one line
            named = sorted((n for n in model.graph.node if n.name and n.name in msg),
                           key=lambda n: -len(n.name))  # MultiThreshold_10, not _1
            soft = [n for n in model.graph.node if not _is_hw(n)]
            node = (named or soft or list(model.graph.node))[0]
            raise UnsupportedOpError(
                node.name, node.op_type, f"FINN's {type(p).__name__} cannot map it ({msg})"
            ) from e

    return run


def _two_streams_add(model: ModelWrapper, node) -> bool:
    """Only residual adds (two streamed operands) become HW; scales and biases stay software."""
    return node.op_type == "Add" and all(model.get_initializer(i) is None for i in node.input)


def partition(model: ModelWrapper) -> tuple[ModelWrapper, ModelWrapper]:
    """Split off the HW layers: returns (parent graph, dataflow graph).

    The HW nodes must form one contiguous chain; anything FINN could not map inside it is
    reported by name.
    """
    from finn.transformation.fpgadataflow.create_dataflow_partition import (
        CreateDataflowPartition,
    )
    from finn.transformation.fpgadataflow.minimize_accumulator_width import (
        MinimizeAccumulatorWidth,
    )
    from qonnx.transformation.infer_datatypes import InferDataTypes

    from onebit.flows.binary_mvau import PopcountAccumulator
    from onebit.flows.wide_activation import SplitWideActivations

    check_no_software_between_hw(model)
    parent = run_passes(model, [_named_failure(CreateDataflowPartition())])
    sdps = [n for n in parent.graph.node if n.op_type == "StreamingDataflowPartition"]
    if len(sdps) != 1:
        stray = [n for n in parent.graph.node if n.op_type != "StreamingDataflowPartition"]
        raise UnsupportedOpError(
            stray[0].name if stray else "?",
            stray[0].op_type if stray else "?",
            f"the HW layers form {len(sdps)} partitions instead of one; nodes outside: "
            + ", ".join(f"{n.name} ({n.op_type})" for n in stray),
        )
    path = getCustomOp(sdps[0]).get_nodeattr("model")
    dataflow = ModelWrapper(path)
    check_all_hw(dataflow)
    check_sliding_windows(dataflow)
    # narrowest accumulators (and the datatypes that follow), as FINN's builder does, and
    # wide activations split off their MVAUs (`flows/wide_activation.py`), then the nodes
    # named as a folding file names them; saved in place so the parent graph executes the
    # same dataflow graph
    dataflow = run_passes(dataflow, [_named_failure(MinimizeAccumulatorWidth()),
                                     SplitWideActivations(), PopcountAccumulator(),
                                     GiveUniqueNodeNames(), InferDataTypes()])
    dataflow.save(path)
    return parent, dataflow


def check_no_software_between_hw(model: ModelWrapper) -> None:
    """Name the first node left in software with HW layers both before and after it (FINN's
    partitioning would assert that the partition depends on itself)."""
    def reach(step) -> set[str]:
        seen: set[str] = set()
        todo = [n for n in model.graph.node if _is_hw(n)]
        while todo:
            for nxt in step(todo.pop()) or []:
                if nxt.name not in seen:
                    seen.add(nxt.name)
                    todo.append(nxt)
        return seen

    after_hw, before_hw = reach(model.find_direct_successors), reach(
        model.find_direct_predecessors)
    between = [n for n in model.graph.node
               if not _is_hw(n) and n.name in after_hw and n.name in before_hw]
    if between:
        n = between[0]
        raise UnsupportedOpError(
            n.name, n.op_type,
            "stays in software between HW layers (no FINN hardware layer for it here), so the "
            "accelerator cannot be one dataflow partition; in software: "
            + ", ".join(f"{b.name} ({b.op_type})" for b in between),
        )


def check_all_hw(model: ModelWrapper) -> None:
    """Every node of a dataflow graph is a FINN HW layer (or onebit's padded MVAU), else name
    the stragglers."""
    bad = [n for n in model.graph.node if not _is_hw(n)]
    if bad:
        n = bad[0]
        raise UnsupportedOpError(
            n.name, n.op_type,
            "no FINN hardware layer for it; unmapped: "
            + ", ".join(f"{b.name} ({b.op_type})" for b in bad),
        )


def check_sliding_windows(model: ModelWrapper) -> None:
    """Refuse now a sliding window FINN would only reject when specializing at `fold`, or
    build wrongly: a kernel or stride larger than the map; a 1x1 kernel (FINN's parallel
    style) whose stride leaves a single output with pixels of the map over (robustness seed
    230: a 1x1 conv at stride 2 over a 2x2 map; FINN's generator fails or emits wrong words)."""
    for n in model.graph.node:
        if not n.op_type.startswith("ConvolutionInputGenerator"):
            continue
        inst = getCustomOp(n)
        dims, kernel = inst.get_nodeattr("IFMDim"), inst.get_nodeattr("ConvKernelDim")
        stride = inst.get_nodeattr("Stride")
        shape = (f"a {kernel[0]}x{kernel[1]} conv with stride {stride[0]}x{stride[1]} over a "
                 f"{dims[0]}x{dims[1]}x{inst.get_nodeattr('IFMChannels')} map (feeding "
                 f"{', '.join(c.name for c in model.find_consumers(n.output[0]) or [])})")
        if any(k > d or s > d for k, s, d in zip(kernel, stride, dims, strict=True)):
            raise UnsupportedOpError(n.name, n.op_type, f"{shape}: FINN's sliding window needs "
                                     "kernel and stride within the map")
        if list(kernel) == [1, 1] and any((d - 1) // s == 0 < d - 1 for s, d in
                                          zip(stride, dims, strict=True)):
            raise UnsupportedOpError(n.name, n.op_type, f"{shape}: one output pixel with "
                                     "pixels of the map left over, which FINN's 1x1 sliding "
                                     "window computes wrongly; crop or pool the map first")


def outside_nodes(parent: ModelWrapper) -> list[str]:
    """Names/op types of the nodes left in software around the dataflow partition."""
    return [f"{n.name} ({n.op_type})" for n in parent.graph.node
            if n.op_type != "StreamingDataflowPartition"]
