"""Folding: PE/SIMD per layer, from a frame-rate target or an explicit per-node config."""

from __future__ import annotations

import json
from collections.abc import Callable
from copy import deepcopy
from pathlib import Path
from typing import TypeVar

from onnx import TensorProto
from onnx import helper as oh
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp

from onebit.errors import UserInputError
from onebit.flows.passes import run_passes

T = TypeVar("T")
FOLD_ATTRS = ("PE", "SIMD", "parallel_window", "ram_style", "ram_style_thresholds", "mem_mode",
              "resType")


def target_cycles(target_fps: float, clock_mhz: float) -> int:
    """Cycles per frame that meet `target_fps` at `clock_mhz`."""
    if target_fps <= 0:
        raise UserInputError(f"--target-fps must be positive, got {target_fps}")
    return max(1, int(clock_mhz * 1e6 // target_fps))


def fold_for_fps(model: ModelWrapper, target_fps: float, clock_mhz: float) -> ModelWrapper:
    """FINN's SetFolding towards `target_fps` (MVAU weight width capped as FINN does), then
    onebit's own HW layers (`fold_onebit_layers`)."""
    from finn.transformation.fpgadataflow.set_folding import SetFolding

    target = target_cycles(target_fps, clock_mhz)
    model = finn_layers_only(model, lambda m: run_passes(m, [SetFolding(
        target, mvau_wwidth_max=8191, two_pass_relaxation=True)]))
    return fold_onebit_layers(align_pool_windows(avoid_unsound_parallel_window(model)),
                              target)


def _onebit_input_layers(model: ModelWrapper) -> list:
    inputs = {t.name for t in model.graph.input}
    return [n for n in model.graph.node if n.op_type in ONEBIT_PE_LAYERS
            and n.domain.startswith("onebit.") and n.input[0] in inputs]


def finn_layers_only(model: ModelWrapper, fn: Callable[[ModelWrapper], T]) -> T:
    """`fn` of the graph without onebit's HW layers at its inputs (FracBNN's thermometer; their
    outputs become the graph inputs): FINN's SetFolding and dataflow_performance need every
    predecessor of a layer to be FINN's. A graph `fn` returns gets those layers back."""
    detached = _onebit_input_layers(model)
    if not detached:
        return fn(model)
    m = ModelWrapper(deepcopy(model.model))
    g = m.graph
    saved = []
    for name in [n.name for n in detached]:
        node = next(n for n in g.node if n.name == name)
        i = next(k for k, t in enumerate(g.input) if t.name == node.input[0])
        out = m.get_tensor_valueinfo(node.output[0]) or oh.make_tensor_value_info(
            node.output[0], TensorProto.FLOAT, m.get_tensor_shape(node.output[0]))
        if out in g.value_info:
            g.value_info.remove(out)
        saved.append((node, g.input[i]))
        g.input.remove(g.input[i])
        g.input.insert(i, out)
        g.node.remove(node)
    result = fn(m)
    if isinstance(result, ModelWrapper):
        g = result.graph
        for node, inp in reversed(saved):
            i = next(k for k, t in enumerate(g.input) if t.name == node.output[0])
            out = g.input[i]
            g.input.remove(out)
            g.input.insert(i, inp)
            g.value_info.append(out)
            g.node.insert(0, node)
    return result


def fold_onebit_layers(model: ModelWrapper, target: int) -> ModelWrapper:
    """The PE of each HW layer of onebit's domains that SetFolding does not see (FracBNN's
    `ThermometerEncoder`): the smallest divisor of its channels that meets `target` cycles, or
    the slowest FINN layer's cycles where SetFolding relaxed the target to them."""
    from finn.analysis.fpgadataflow.exp_cycles_per_layer import exp_cycles_per_layer

    slowest = max(model.analysis(exp_cycles_per_layer).values(), default=0)
    for node in model.graph.node:
        if node.op_type not in ONEBIT_PE_LAYERS or not node.domain.startswith("onebit."):
            continue
        inst = getCustomOp(node)
        ch = inst.get_nodeattr(DIVIDES[(node.op_type, "PE")])
        for pe in (d for d in range(1, ch + 1) if ch % d == 0):
            inst.set_nodeattr("PE", pe)
            if inst.get_exp_cycles() <= max(target, slowest):
                break
    return model


def pool_windows(model: ModelWrapper) -> list[tuple]:
    """(window, pool) pairs: a depthwise sliding window feeding a Pool layer."""
    pairs = []
    for node in model.graph.node:
        if base_op(node.op_type) != "ConvolutionInputGenerator":
            continue
        consumer = model.find_consumer(node.output[0])
        if (consumer is not None and base_op(consumer.op_type) == "Pool"
                and getCustomOp(node).get_nodeattr("depthwise")):
            pairs.append((node, consumer))
    return pairs


def align_pool_windows(model: ModelWrapper, named: frozenset = frozenset()) -> ModelWrapper:
    """A depthwise window streams SIMD channels of one kernel position after another, each
    channel fold in turn, and its Pool takes PE channels at a time: they only agree when
    SIMD = PE (a width converter between them would join words of different positions). Where
    they differ, the one the folding file did not name (`named`: (node, key) pairs) follows the
    other; neither named (SetFolding): both take the larger, keeping the throughput. Both named
    differently is refused."""
    for win, pool in pool_windows(model):
        w, p = getCustomOp(win), getCustomOp(pool)
        simd, pe = w.get_nodeattr("SIMD"), p.get_nodeattr("PE")
        if simd == pe:
            continue
        by_file = ((win.name, "SIMD") in named, (pool.name, "PE") in named)
        if all(by_file):
            raise UserInputError(
                f"folding config: '{win.name}' (a depthwise window, SIMD {simd}) feeds "
                f"'{pool.name}' (PE {pe}): the pool must take the channels the window streams "
                "at a time, set both to one value")
        value = simd if by_file[0] else pe if by_file[1] else max(simd, pe)
        w.set_nodeattr("SIMD", value)
        p.set_nodeattr("PE", value)
    return model


def avoid_unsound_parallel_window(model: ModelWrapper) -> ModelWrapper:
    """SetFolding's parallel windows that FINN's RTL computes wrongly
    (`hw.finn_rtl.unsound_parallel_window`) go back to the default style: slower, exact; and
    a SIMD FINN's generator cannot build the window at (`hw.finn_rtl.swg_generation_error`)
    goes down to the largest divisor of the channels it can."""
    from onebit.hw.finn_rtl import buildable_simds, swg_generation_error, unsound_parallel_window

    for node in model.get_nodes_by_op_type("ConvolutionInputGenerator_rtl"):
        op = getCustomOp(node)
        if op.get_nodeattr("parallel_window") and unsound_parallel_window(op):
            op.set_nodeattr("parallel_window", 0)
        if swg_generation_error(op) is not None:
            lower = [d for d in buildable_simds(op) if d < op.get_nodeattr("SIMD")]
            if lower:
                op.set_nodeattr("SIMD", lower[-1])
    return model


ONEBIT_PE_LAYERS = ("ThermometerEncoder",)
"""onebit's HW layers folded by `fold_onebit_layers` (their PE divides `DIVIDES`' attribute)."""

HONOURED: dict[str, frozenset[str]] = {
    "MVAU": frozenset({"PE", "SIMD", "ram_style", "ram_style_thresholds", "resType", "mem_mode",
                       "runtime_writeable_weights"}),
    "Thresholding": frozenset({"PE", "depth_trigger_uram", "depth_trigger_bram",
                               "runtime_writeable_weights"}),
    "ConvolutionInputGenerator": frozenset({"SIMD", "parallel_window", "ram_style"}),
    "FMPadding": frozenset({"SIMD"}),
    "Pool": frozenset({"PE"}),
    "StreamingMaxPool": frozenset({"PE"}),
    "LabelSelect": frozenset({"PE"}),
    "DuplicateStreams": frozenset({"PE"}),
    "ElementwiseAdd": frozenset({"PE"}),
    "ThermometerEncoder": frozenset({"PE"}),
}
"""Per FINN op (without _hls/_rtl): the folding-config keys onebit's RTL honours. Any other
attribute of the node is accepted only at its current value (nothing to honour)."""

DIVIDES = {("MVAU", "SIMD"): "MW", ("MVAU", "PE"): "MH", ("Thresholding", "PE"): "NumChannels",
           ("ConvolutionInputGenerator", "SIMD"): "IFMChannels",
           ("FMPadding", "SIMD"): "NumChannels", ("Pool", "PE"): "Channels",
           ("LabelSelect", "PE"): "Labels", ("DuplicateStreams", "PE"): "NumChannels",
           ("ThermometerEncoder", "PE"): "NumChannels"}
"""(op, folding key) -> the attribute it must divide."""

WEIGHT_MEM_MODES = ("internal_embedded", "internal_decoupled")


def base_op(op_type: str) -> str:
    """FINN's op name without the _hls/_rtl backend suffix."""
    for suffix in ("_hls", "_rtl"):
        if op_type.endswith(suffix):
            return op_type[: -len(suffix)]
    return op_type


def has_uram(part: str) -> bool:
    """Whether an FPGA part has UltraRAM: not the 7 series, nor the smallest Zynq US+ (ZU2/3)."""
    p = part.lower()
    return not (p.startswith("xc7") or p.startswith(("xczu2", "xczu3")))


def set_onebit_defaults(model: ModelWrapper) -> ModelWrapper:
    """onebit's RTL defaults where FINN's HLS ones differ: the MVAU's resType is 'auto' (the
    synthesis tool picks LUTs or DSPs; FINN's MVAU_hls says 'lut', which onebit_mvau would
    otherwise pin with use_dsp)."""
    for n in model.graph.node:
        if base_op(n.op_type) == "MVAU" and not any(a.name == "resType" for a in n.attribute):
            getCustomOp(n).set_nodeattr("resType", "auto")  # a graph's own resType stays
    return model


def apply_folding_config(model: ModelWrapper, config: dict | Path,
                         part: str | None = None) -> ModelWrapper:
    """Set PE/SIMD/... from FINN's folding JSON: {node_name: {attr: value}} and optional
    "Defaults": {attr: [value, [op_types] or "all", ...]}.

    Every key is checked before anything is set: a key onebit's RTL honours (`HONOURED`) with a
    value it can build, or any other attribute at its current value; anything else raises
    UserInputError naming the node and the key.
    """
    if not isinstance(config, dict):
        try:
            config = json.loads(Path(config).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserInputError(f"folding config {config}: {e}") from None
    if not isinstance(config, dict):
        raise UserInputError("folding config: expected a JSON object {node: {attr: value}}")
    names = {n.name: n for n in model.graph.node}
    config = {_backend_alias(k, names): v for k, v in config.items()}
    settings: dict[str, dict] = {}
    for name, attrs in _defaults(config.get("Defaults", {}), model.graph.node, config).items():
        settings.setdefault(name, {}).update(attrs)
    for name, attrs in config.items():
        if name == "Defaults":
            continue
        if name not in names:
            raise UserInputError(
                f"folding config names node '{name}', which is not in the graph (nodes: "
                + ", ".join(names) + ")"
            )
        if not isinstance(attrs, dict):
            raise UserInputError(f"folding config, node '{name}': expected {{attr: value}}")
        settings.setdefault(name, {}).update(attrs)
    settings = {name: _rtl_equivalents(names[name], attrs) for name, attrs in settings.items()}
    for name, attrs in settings.items():
        for k, v in attrs.items():
            _check_key(model, names[name], k, v, part)
    for name, attrs in settings.items():
        inst = getCustomOp(names[name])
        for k, v in attrs.items():
            inst.set_nodeattr(k, v)
    return align_pool_windows(model, frozenset((n, k) for n, a in settings.items() for k in a))


def _backend_alias(name: str, names: dict) -> str:
    """A node named for the other backend (FINN's `Thresholding_hls_0` where onebit specialized
    `Thresholding_rtl_0`) is that node, as long as the graph has no node of the given name."""
    if name in names:
        return name
    for a, b in (("_hls_", "_rtl_"), ("_rtl_", "_hls_")):
        other = name.replace(a, b)
        if a in name and other in names:
            return other
    return name


NEVER = 2**31 - 1  # a depth no threshold memory reaches
THRESHOLD_TRIGGERS = {  # Thresholding_hls ram_style -> Thresholding_rtl depth triggers
    "auto": {"depth_trigger_uram": 0, "depth_trigger_bram": 0},
    "distributed": {"depth_trigger_uram": NEVER, "depth_trigger_bram": NEVER},
    "block": {"depth_trigger_uram": NEVER, "depth_trigger_bram": 1},
    "ultra": {"depth_trigger_uram": 1, "depth_trigger_bram": 0},
}
"""finn-rtllib's thresholding puts a memory of depth >= DEPTH_TRIGGER_URAM (if non-zero) in
URAM, else of depth >= DEPTH_TRIGGER_BRAM (if non-zero) in BRAM, else in LUTs when the BRAM
trigger is set and where the tool likes when not: each HLS ram_style is one setting of both.
(A zero URAM trigger beside a BRAM one would read as URAM in FINN's resource estimate.)"""


def _rtl_equivalents(node, attrs: dict) -> dict:
    """A folding file written for FINN's HLS thresholding (finn-examples' `ram_style` on
    `Thresholding_hls_N`) applied to the RTL one onebit builds: `ram_style` becomes the depth
    triggers that select the same memory (`THRESHOLD_TRIGGERS`)."""
    if node.op_type != "Thresholding_rtl" or "ram_style" not in attrs:
        return attrs
    style = attrs["ram_style"]
    if style not in THRESHOLD_TRIGGERS:
        raise UserInputError(f"folding config, node '{node.name}' ({node.op_type}), key "
                             f"'ram_style': {style!r} is not one of {sorted(THRESHOLD_TRIGGERS)}")
    rest = {k: v for k, v in attrs.items() if k != "ram_style"}
    return {**THRESHOLD_TRIGGERS[style], **rest}


def _defaults(defaults, nodes, config: dict) -> dict[str, dict]:
    """FINN's "Defaults" section: {attr: [value, op_types, ...]} -> {node: {attr: value}}."""
    if not isinstance(defaults, dict):
        raise UserInputError('folding config: "Defaults" must be {attr: [value, op_types]}')
    out: dict[str, dict] = {}
    for key, spec in defaults.items():
        if not isinstance(spec, list) or len(spec) % 2:
            raise UserInputError(f'folding config, "Defaults" {key}: expected [value, op_types '
                                 '(a list or "all"), ...]')
        for value, ops in zip(spec[::2], spec[1::2], strict=True):
            for n in nodes:
                own = config.get(n.name, {})
                hit = ops == "all" or n.op_type in ops or base_op(n.op_type) in ops
                if hit and key not in own and (ops != "all" or _has_attr(n, key)):
                    out.setdefault(n.name, {})[key] = value
    return out


def _has_attr(node, key: str) -> bool:
    return key in getCustomOp(node).get_nodeattr_types()


def _check_key(model: ModelWrapper, node, key: str, value, part: str | None) -> None:
    """Raise UserInputError unless onebit builds `node` with `key` = `value`."""
    inst = getCustomOp(node)
    types = inst.get_nodeattr_types()
    op = base_op(node.op_type)
    where = f"folding config, node '{node.name}' ({node.op_type}), key '{key}'"
    if key not in types:
        raise UserInputError(f"{where}: {node.op_type} has no such attribute (onebit honours "
                             + (", ".join(sorted(HONOURED.get(op, ()))) or "no key")
                             + " on it)")
    allowed = types[key][3] if len(types[key]) > 3 else None
    if allowed and value not in allowed:
        raise UserInputError(f"{where}: {value!r} is not one of {sorted(allowed, key=str)}")
    if key not in HONOURED.get(op, ()):
        if value != inst.get_nodeattr(key):
            raise UserInputError(
                f"{where}: {value!r} is not honoured by onebit's RTL (it keeps "
                f"{inst.get_nodeattr(key)!r}; onebit honours "
                + (", ".join(sorted(HONOURED.get(op, ()))) or "no key") + f" on {op})"
            )
        return
    if key in ("PE", "SIMD"):
        total = inst.get_nodeattr(DIVIDES[(op, key)]) if (op, key) in DIVIDES else None
        if not isinstance(value, int) or value < 1 or (total is not None and total % value):
            raise UserInputError(f"{where}: {value!r} must be a positive integer dividing "
                                 f"{DIVIDES.get((op, key), 'the channels')}={total}")
    elif key == "runtime_writeable_weights" and value and op != "MVAU":
        raise UserInputError(f"{where}: not yet on {op}: onebit's runtime-writable memories "
                             "are the MVAU's weights and thresholds (onebit_mvau)")
    elif key == "runtime_writeable_weights" and value and (act := _activation_layer(model, node)):
        raise UserInputError(f"{where}: its activation is the thresholding layer '{act}' (more "
                             "thresholds than an MVAU compares at once), whose thresholds are "
                             "not runtime-writable yet")
    elif key == "mem_mode" and value not in WEIGHT_MEM_MODES:
        raise UserInputError(f"{where}: {value!r}: onebit_mvau holds its weights "
                             f"({' or '.join(WEIGHT_MEM_MODES)}); streamed weights not yet")
    elif part is not None and not has_uram(part) and (
            (key.startswith("ram_style") and value == "ultra")
            or (key == "depth_trigger_uram" and value and value != NEVER)):
        raise UserInputError(f"{where}: {value!r} needs UltraRAM, which {part} does not have")


def _activation_layer(model: ModelWrapper, node) -> str | None:
    """The thresholding layer an MVAU without activation feeds (a wide activation split off
    it, `flows/wide_activation.py`), else None."""
    if not getCustomOp(node).get_nodeattr("noActivation"):
        return None
    nxt = model.find_consumers(node.output[0]) or []
    return next((n.name for n in nxt if base_op(n.op_type) == "Thresholding"), None)


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
