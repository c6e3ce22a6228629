"""Streamlined FINN graph -> HW layers -> one dataflow partition."""

from __future__ import annotations

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.general import GiveUniqueNodeNames, RemoveUnusedTensors
from qonnx.transformation.infer_data_layouts import InferDataLayouts

from onebit.errors import UnsupportedOpError
from onebit.flows.passes import run_passes

HW_DOMAIN = "finn.custom_op.fpgadataflow"


def to_hw_layers(model: ModelWrapper) -> ModelWrapper:
    """Replace MatMul/MultiThreshold/Im2Col/MaxPool/TopK by FINN HW layers.

    InferPool runs before InferConvInpGen: the other order leaves an Im2Col behind and the
    dataflow partition then depends on itself. Residual adds become ElementwiseAdd and the
    fan-out of their shortcut a DuplicateStreams, once every other node is a HW layer.
    """
    from finn.transformation.fpgadataflow.convert_to_hw.binary_matrix_vector_activation import (
        InferBinaryMatrixVectorActivation,
    )
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
    from finn.util.exception import FINNUserError

    passes = [
        RemoveUnusedTensors(),
        InferBinaryMatrixVectorActivation(),
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
    ]
    try:
        return run_passes(model, passes)
    except FINNUserError as e:  # FINN declines a node: refuse it by name
        refusal = finn_refusal(model, e)
        if refusal is None:
            raise
        raise refusal from e


def finn_refusal(model: ModelWrapper, error: Exception) -> UnsupportedOpError | None:
    """FINN declining a node ("<node>: <why>", a FINNUserError) as a refusal naming the node
    (None when the message names no node of `model`)."""
    name, _, why = str(error).partition(": ")
    node = model.get_node_from_name(name) if why else None
    if node is None:
        return None
    why = " ".join(why.split())  # one line
    return UnsupportedOpError(name, node.op_type, f"FINN maps no HW layer to it: {why}")


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

    check_no_software_between_hw(model)
    parent = run_passes(model, [CreateDataflowPartition()])
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
    # narrowest accumulators (and the datatypes that follow), as FINN's builder does;
    # saved in place so the parent graph executes the same dataflow graph
    dataflow = run_passes(dataflow, [MinimizeAccumulatorWidth(), InferDataTypes()])
    dataflow.save(path)
    return parent, dataflow


def _is_hw(node) -> bool:
    return node.domain == HW_DOMAIN or node.domain.startswith(HW_DOMAIN + ".")


def _reach(model: ModelWrapper, tensors: list[str], downstream: bool) -> set[str]:
    """Names of the nodes reachable from `tensors` (through consumers, or producers)."""
    seen: set[str] = set()
    todo = list(tensors)
    while todo:
        t = todo.pop()
        if downstream:
            nodes = model.find_consumers(t) or []
        else:
            nodes = [p] if (p := model.find_producer(t)) is not None else []
        for n in nodes:
            if n.name not in seen:
                seen.add(n.name)
                todo += list(n.output if downstream else n.input)
    return seen


def check_no_software_between_hw(model: ModelWrapper) -> None:
    """No software node may sit downstream of one HW layer and upstream of another.

    Such a node (a BatchNorm that could not move past a max-pool into a threshold, a leftover
    transpose) would split the dataflow partition into two that depend on each other; FINN's
    CreateDataflowPartition then fails an assertion. Name the first one and list them all.
    """
    nodes = list(model.graph.node)
    down = _reach(model, [t for n in nodes if _is_hw(n) for t in n.output], downstream=True)
    up = _reach(model, [t for n in nodes if _is_hw(n) for t in n.input], downstream=False)
    between = [n for n in nodes if not _is_hw(n) and n.name in down and n.name in up]
    if between:
        n = between[0]
        raise UnsupportedOpError(
            n.name, n.op_type,
            "left in software between two HW layers (streamlining could not absorb it into a "
            "threshold), which would split the accelerator; between HW layers: "
            + ", ".join(f"{b.name} ({b.op_type})" for b in between),
        )


def check_all_hw(model: ModelWrapper) -> None:
    """Every node of a dataflow graph is a FINN HW layer, else name the stragglers."""
    bad = [n for n in model.graph.node if not _is_hw(n)]
    if bad:
        n = bad[0]
        raise UnsupportedOpError(
            n.name, n.op_type,
            "no FINN hardware layer for it; unmapped: "
            + ", ".join(f"{b.name} ({b.op_type})" for b in bad),
        )


def check_sliding_windows(model: ModelWrapper) -> None:
    """Refuse now the sliding windows FINN or onebit would only reject at `fold` or `rtl`: a 1x1
    window (a strided 1x1 conv; FINN generates it in its 'parallel' style, which onebit does
    not take) and a kernel or stride larger than the map (FINN asserts when specializing)."""
    for n in model.graph.node:
        if not n.op_type.startswith("ConvolutionInputGenerator"):
            continue
        inst = getCustomOp(n)
        dims, kernel = inst.get_nodeattr("IFMDim"), inst.get_nodeattr("ConvKernelDim")
        stride = inst.get_nodeattr("Stride")
        where = (f"a {kernel[0]}x{kernel[1]} conv with stride {stride[0]}x{stride[1]} over a "
                 f"{dims[0]}x{dims[1]}x{inst.get_nodeattr('IFMChannels')} map (feeding "
                 f"{', '.join(c.name for c in model.find_consumers(n.output[0]) or [])})")
        if int(np.prod(kernel)) == 1:
            raise UnsupportedOpError(
                n.name, n.op_type,
                f"{where}: FINN generates a 1x1 sliding window in its 'parallel' style, which "
                "onebit does not; use a kernel of at least 2 or stride 1",
            )
        if any(k > d or s > d for k, s, d in zip(kernel, stride, dims, strict=True)):
            raise UnsupportedOpError(
                n.name, n.op_type,
                f"{where}: FINN's sliding window needs kernel and stride within the map",
            )


def outside_nodes(parent: ModelWrapper) -> list[str]:
    """Names/op types of the nodes left in software around the dataflow partition."""
    return [f"{n.name} ({n.op_type})" for n in parent.graph.node
            if n.op_type != "StreamingDataflowPartition"]
