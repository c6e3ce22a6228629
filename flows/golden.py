"""FINN's golden execution of a build, fast enough for a whole test set.

`qonnx.core.onnx_exec.execute_onnx` runs a graph one vector at a time with per-node checks, and
a `StreamingDataflowPartition` loads its child graph from disk on every call: ~60 ms an image
for the demo network. Here the build's graph is cut at its dataflow partition:

- before and after it (the software nodes: reshapes, scales, a TopK), one onnxruntime session
  each, built once, run on the whole batch where the nodes' shapes allow (checked against one
  image at a time on the first images), else per image (qonnx's execution where onnxruntime
  cannot take the nodes);
- the partition itself, FINN's golden graph, with every node's own `execute_node` on a whole
  batch at once: the nodes are told the batch through their shape methods (FINN's HW ops compute
  on numpy arrays whose first axis is the batch, but reshape to their one-image shape). Each
  node's batched result is checked against its one-image execution on the first images; a node
  that cannot take a batch, or differs, runs one image at a time (`Dataflow.single`). FINN's
  sliding-window generator executes an Im2Col of one image's shape: its batch is computed by
  `sliding_windows` (numpy, the same windows), checked the same way; an MVAU is given its
  batch as one matrix of pixels (`_matmul_rows`).
"""

from __future__ import annotations

import copy

import numpy as np
from onnx import ModelProto, helper, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

CHECKED = 4
"""Images run both ways before a batch is trusted."""

_SHAPES = ("get_normal_input_shape", "get_normal_output_shape", "get_folded_input_shape",
           "get_folded_output_shape")


def _part(model: ModelWrapper, nodes: list, inp: str, out: str) -> ModelWrapper:
    """The subgraph of `nodes` from tensor `inp` to tensor `out` as a model of its own."""
    m: ModelProto = copy.deepcopy(model.model)
    g = m.graph
    del g.node[:]
    g.node.extend(nodes)
    used = {t for n in nodes for t in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    vi = {v.name: v for v in [*model.graph.input, *model.graph.output, *model.graph.value_info]}
    del g.input[:], g.output[:]
    g.input.append(vi[inp] if inp in vi else helper.make_tensor_value_info(inp, 1, None))
    g.output.append(vi[out] if out in vi else helper.make_tensor_value_info(out, 1, None))
    inner = [v for v in g.value_info if v.name not in (inp, out)]
    del g.value_info[:]
    g.value_info.extend(inner)
    del g.quantization_annotation[:]
    return ModelWrapper(m)


def _session(model: ModelProto):
    """An onnxruntime session of `model`, or None where onnxruntime cannot take it."""
    try:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 4  # a batch a reshape refuses is tried, not an error to print
        return ort.InferenceSession(model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
    except Exception:  # a custom op (MultiThreshold, ...), or a shape that cannot batch
        return None


def _batch_dim(part: ModelWrapper) -> ModelProto:
    """`part` with a symbolic first dimension on its input and output, no inner shapes."""
    m = copy.deepcopy(part.model)
    for v in (*m.graph.input, *m.graph.output):
        v.type.tensor_type.shape.dim[0].dim_param = "N"
    del m.graph.value_info[:]
    return m


LAYOUT_OPS = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
"""Ops that only reshape: an image's values keep their (C) order, so a part made of them maps a
batch's rows to the same rows (numpy's reshape, no onnxruntime session to build and check)."""


class _Software:
    """Nodes outside the partition: onnxruntime if it takes them (on the whole batch where
    their shapes allow, checked against one image at a time), else qonnx, per image; a part
    that only reshapes (`LAYOUT_OPS`) is each image's values in their order."""

    def __init__(self, part: ModelWrapper | None):
        self.part, self.session, self.batch = part, None, None
        if part is not None and all(n.op_type in LAYOUT_OPS for n in part.graph.node):
            self.part = None
        if self.part is None:
            return
        g = part.graph
        self.inp, self.out = g.input[0].name, g.output[0].name
        self.shape = part.get_tensor_shape(self.inp)
        self.session = _session(part.model)
        if self.session is not None and self.shape and self.shape[0] == 1:
            self.batch = _session(_batch_dim(part))

    def _one(self, v: np.ndarray) -> np.ndarray:
        v = np.asarray(v, dtype=np.float32).reshape(self.shape)
        if self.session is not None:
            return self.session.run([self.out], {self.inp: v})[0].reshape(-1)
        from qonnx.core.onnx_exec import execute_onnx

        return execute_onnx(self.part, {self.inp: v})[self.out].reshape(-1)

    def _all(self, x: np.ndarray) -> np.ndarray:
        v = np.asarray(x, dtype=np.float32).reshape(len(x), *self.shape[1:])
        return self.batch.run([self.out], {self.inp: v})[0].reshape(len(x), -1)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Rows of `x` (one image each) through the part: one row each."""
        if self.part is None:
            return np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        if self.batch is not None:
            k = min(CHECKED, len(x))
            try:
                same = np.array_equal(self._all(x[:k]), np.stack([self._one(v) for v in x[:k]]))
            except Exception:  # a reshape to one image's shape: not batchable
                same = False
            if same:
                return self._all(x)
            self.batch = None
        return np.stack([self._one(v) for v in x])


def sliding_windows(x: np.ndarray, op) -> np.ndarray:
    """What FINN's ConvolutionInputGenerator computes (qonnx's Im2Col of one image, no
    padding), for a whole NHWC batch at once: (b, OH, OW, KH * KW * C), the window's pixels
    row by row, each pixel's channels innermost."""
    (kh, kw), (sh, sw), (dh, dw) = (op.get_nodeattr(a) for a in ("ConvKernelDim", "Stride",
                                                                 "Dilation"))
    oh, ow = op.get_nodeattr("OFMDim")
    win = np.lib.stride_tricks.sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1),
                                                   axis=(1, 2))  # (b, y, x, C, ky, kx)
    win = win[:, : sh * (oh - 1) + 1 : sh, : sw * (ow - 1) + 1 : sw, :, ::dh, ::dw]
    return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(len(x), oh, ow, -1)


def _plain_window(op) -> bool:
    """Whether `op` executes as FINN's ConvolutionInputGenerator does (an Im2Col)."""
    from finn.custom_op.fpgadataflow.convolutioninputgenerator import ConvolutionInputGenerator

    return type(op).execute_node is ConvolutionInputGenerator.execute_node


def _matmul_rows(op) -> bool:
    """Whether `op` executes as FINN's MVAU does: a matmul of its input reshaped to its
    one-image shape (numpy then runs one small product per image and row of pixels; all
    pixels of the batch as the rows of one matrix give the same rows, in one product)."""
    from finn.custom_op.fpgadataflow.matrixvectoractivation import MVAU

    return type(op).execute_node is MVAU.execute_node


EXACT_F32 = 1 << 24
"""Integers of magnitude below this are exact in float32, whatever order BLAS sums them in."""


def _count_at_least(v: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """qonnx's multithreshold count, channels last: how many of each channel's thresholds
    (`thr`: (C or 1, T)) every value of `v` (..., C) reaches, in float32, one pass a threshold
    instead of a (..., C, T) comparison tensor."""
    count = (v >= thr[:, 0]).astype(np.float32)
    for t in thr.T[1:]:
        count += v >= t
    return count


def _dtype(op, attr: str):
    from qonnx.core.datatype import DataType

    return DataType[op.get_nodeattr(attr)]


def _mvau(op, ctx: dict, node) -> np.ndarray | None:
    """FINN's MVAU execution (`MVAU.execute_node`: an XNOR-popcount or plain matmul, then
    multithreshold) of a whole batch as one float32 product of its pixels, where every
    accumulator is an integer float32 holds exactly (else None: FINN's own, which sums in
    float32 too, in an order of its own)."""
    idt = _dtype(op, "inputDataType")
    xnor = op.get_nodeattr("binaryXnorMode")
    w = ctx[node.input[1]].astype(np.float32)
    both = idt.name == "BIPOLAR" and _dtype(op, "weightDataType").name == "BIPOLAR"
    if xnor:  # agreements of {0, 1} codes: ((2x - 1) . w' + K) / 2 = x . w' + (K - sum w') / 2
        w = 2 * w - 1
    xmax = 1 if xnor else max(abs(idt.min()), abs(idt.max()))
    if xmax * float(np.abs(w).sum(axis=0).max(initial=0)) >= EXACT_F32:
        return None
    acc = ctx[node.input[0]].reshape(-1, w.shape[0]) @ w
    if xnor:
        acc += (w.shape[0] - w.sum(axis=0)) / 2
    elif both:  # FINN's XNOR-popcount of the {0, 1} codes of +-1 x and w: (x . w + K) / 2
        acc = (acc + w.shape[0]) * 0.5
    if op.get_nodeattr("noActivation") == 0:
        scale, bias = (2, -1) if _dtype(op, "outputDataType").name == "BIPOLAR" else (
            1, op.get_nodeattr("ActVal"))
        acc = scale * _count_at_least(acc, ctx[node.input[2]]) + bias
    return acc


def _thresholding(op, ctx: dict, node) -> np.ndarray:
    """FINN's Thresholding execution (multithreshold of the channels-last input, ActVal added,
    then 2 y - 1 for a BIPOLAR output) of a whole batch."""
    y = _count_at_least(ctx[node.input[0]], ctx[node.input[1]]) + op.get_nodeattr("ActVal")
    return 2 * y - 1 if _dtype(op, "outputDataType").name == "BIPOLAR" else y


def _labelselect(op, ctx: dict, node) -> np.ndarray:
    """FINN's LabelSelect execution (ONNX TopK in an onnxruntime session built per call: the
    indices of the K largest values along the last axis, largest first, equal values by their
    index) of a whole batch: a stable sort of the negated values, no session."""
    v = ctx[node.input[0]]
    return np.argsort(-v, axis=-1, kind="stable")[..., : op.get_nodeattr("K")]


def _kernel(op):
    """onebit's numpy execution of `op` where it is FINN's MVAU, Thresholding or LabelSelect
    (the same arithmetic without FINN's temporaries or sessions; checked against FINN's
    one-image execution like every batch), else None."""
    from finn.custom_op.fpgadataflow.labelselect import LabelSelect
    from finn.custom_op.fpgadataflow.thresholding import Thresholding

    if _matmul_rows(op):
        return _mvau
    kernels = {Thresholding.execute_node: _thresholding, LabelSelect.execute_node: _labelselect}
    return kernels.get(type(op).execute_node)


class Dataflow:
    """FINN's golden graph of the partition, executed node by node on a batch of images; a node
    whose execution does not take a batch (it differs, or fails, on the first images against
    one image at a time, e.g. a sliding window's Im2Col of one image's shape) runs one image
    at a time inside the batch (`single`)."""

    def __init__(self, model: ModelWrapper):
        self.model = model
        g = model.graph
        self.inp, self.out = g.input[0].name, g.output[0].name
        self.init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.nodes = [(n, getCustomOp(n)) for n in g.node]
        self.shapes = {t: tuple(model.get_tensor_shape(t)) for n in g.node for t in n.output}
        self.shapes[self.inp] = tuple(model.get_tensor_shape(self.inp))
        self.single: set[str] | None = None  # decided on the first call

    @property
    def image_bytes(self) -> int:
        """Bytes of the tensors the graph computes for one image (float32; the nodes' own
        temporaries come on top)."""
        return 4 * sum(int(np.prod(s[1:])) for s in self.shapes.values())

    @property
    def batched(self) -> bool | None:
        """Whether every node ran on whole batches (None before the first call)."""
        return None if self.single is None else not self.single

    def _exec(self, node, op, ctx: dict, b: int) -> None:
        """`node`'s own execution on the `b` images of `ctx`, told the batch through its
        shape methods."""
        if b != 1 and _plain_window(op):  # FINN's runs one image (its Im2Col's shape)
            ctx[node.output[0]] = sliding_windows(ctx[node.input[0]], op).astype(np.float32)
            return
        kernel = _kernel(op) if b != 1 else None
        y = kernel(op, ctx, node) if kernel else None
        if y is not None:
            ctx[node.output[0]] = y.astype(np.float32, copy=False).reshape(
                (b, *self.shapes[node.output[0]][1:]))
            return
        if b != 1:
            rows = _matmul_rows(op)
            for name in _SHAPES:  # the node's one-image shapes, batch b
                if hasattr(op, name):
                    f = getattr(type(op), name)
                    if rows and name == "get_normal_input_shape":  # one (pixels, MW) matrix
                        setattr(op, name, lambda ind=0, f=f, op=op: (
                            b * int(np.prod(tuple(f(op, ind))[1:-1])), tuple(f(op, ind))[-1]))
                    else:
                        setattr(op, name, lambda ind=0, f=f, op=op: (b, *tuple(f(op, ind))[1:]))
        try:
            for t in node.output:
                ctx[t] = np.zeros((b, *self.shapes[t][1:]), dtype=np.float32)
            op.execute_node(ctx, self.model.graph)
        finally:
            for name in _SHAPES:
                op.__dict__.pop(name, None)

    def _each(self, node, op, ctx: dict, b: int) -> dict:
        """`node`'s outputs for the `b` images of `ctx`, one image at a time."""
        outs: dict[str, list] = {t: [] for t in node.output}
        for i in range(b):
            sub = dict(self.init)
            sub.update({t: ctx[t][i:i + 1] for t in node.input if t not in self.init})
            self._exec(node, op, sub, 1)
            for t in node.output:
                outs[t].append(sub[t])
        return {t: np.concatenate(v) for t, v in outs.items()}

    def _start(self, x: np.ndarray) -> dict:
        ctx = dict(self.init)
        ctx[self.inp] = x.reshape((len(x), *self.shapes[self.inp][1:])).astype(np.float32)
        return ctx

    def _decide(self, x: np.ndarray) -> None:
        """Run each node on the images `x` both ways (from the one-image results of the nodes
        before it) and keep the batch only where the two agree."""
        self.single = set()
        ctx = self._start(x)
        for node, op in self.nodes:
            one = self._each(node, op, ctx, len(x))
            try:
                trial = dict(ctx)
                self._exec(node, op, trial, len(x))
                same = all(np.array_equal(trial[t], one[t]) for t in node.output)
            except Exception:  # a node whose execution knows only one image
                same = False
            if not same:
                self.single.add(node.name)
            ctx.update(one)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Rows of `x` (the partition's input, one image each) -> its output, one row each."""
        if self.single is None:
            self._decide(x[:CHECKED])
        ctx = self._start(x)
        for node, op in self.nodes:
            if node.name in self.single:
                ctx.update(self._each(node, op, ctx, len(x)))
            else:
                self._exec(node, op, ctx, len(x))
        return ctx[self.out].reshape(len(x), -1)


class Golden:
    """A build's graph (`hw_layers`) cut at its dataflow partition, whose golden graph is
    `dataflow`: images -> (the partition's input, FINN's golden output, the graph's output)."""

    def __init__(self, parent: ModelWrapper, dataflow: ModelWrapper):
        g = parent.graph
        nodes = list(g.node)
        k = next(i for i, n in enumerate(nodes) if n.op_type == "StreamingDataflowPartition")
        sdp = nodes[k]
        self.pre = _Software(_part(parent, nodes[:k], g.input[0].name, sdp.input[0])
                             if k else None)
        self.post = _Software(_part(parent, nodes[k + 1:], sdp.output[0], g.output[0].name)
                              if k + 1 < len(nodes) else None)
        self.dataflow = Dataflow(dataflow)

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        xin = self.pre(x)
        out = self.dataflow(xin)
        return xin, out, self.post(out)
