"""The onebit build: named steps from a model to a verified, folded dataflow accelerator.

Each step is `step(state) -> None` on a `BuildState`, writes its graph to
`<out>/intermediate/<n>_<step>.onnx`, and, where it changes what is computed, verifies its
graph against the previous stage on the same real vectors. A mismatch raises; a failed build
leaves a report with `"status": "failed"` naming the step, never one that claims success.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.general import GiveUniqueNodeNames

from onebit import __version__
from onebit.boards import Board, get_board, over_capacity
from onebit.errors import BuildError, OnebitError, UserInputError
from onebit.export.qonnx import export_qonnx, run_qonnx
from onebit.export.verify import torch_forward
from onebit.flows.builddir import claim
from onebit.flows.check import check_supported
from onebit.hw.accelerator import MANIFEST
from onebit.hw.synth import TOP_TIMEOUT_S
from onebit.verify import StageCheck, compare

DEFAULT_TARGET_FPS = 100_000.0
"""Without --target-fps or --folding: FINN's SetFolding folds as little as this rate allows."""


@dataclass
class BuildConfig:
    """Everything a build needs besides the model itself."""

    out_dir: Path
    board: str = "pynq-z2"
    target_fps: float | None = None
    folding: Path | dict | None = None
    vectors: int = 16  # each stage is verified on the first `vectors` inputs
    sim: bool = True
    sim_frames: int = 16
    backpressure: bool = False
    synth: bool = False  # Yosys resource counts of the stitched design (slow for big nets)
    synth_top_timeout: float = TOP_TIMEOUT_S  # s of Yosys on the whole design, then parts
    strict: bool = False  # an estimate over the board's capacity fails the build
    seed: int = 0
    top_k: int | None = None  # output the indices of the k best classes (a LabelSelect layer)
    lut_levels: int | None = None  # MVAUs, LabelSelect pipelined for this depth (None: not)
    pack_dsp: bool | None = None  # two products a multiplier in multi-bit MVAUs (`hw.mvau`);
    # None: on parts with DSP48E2 (UltraScale/UltraScale+), where it halves the DSPs for a few
    # LUTs; on DSP48E1 parts the unpacked sums fit the DSP cascade (benchmarks/dsp_packing.py)
    directed: int = 16  # vectors chosen from the input's pool to hit thresholds (rtlsim)
    layer_check: bool = True  # each MVAU also simulated alone on its thresholds (layersim)
    coverage: bool = False  # RTL coverage of the simulation (`hw.coverage`, <out>/coverage/)


@dataclass
class BuildInput:
    """The model to build: a torch module (exported here) or a QONNX file, plus test vectors."""

    name: str
    x: np.ndarray  # (N, C, H, W) integer pixels as float32
    y: np.ndarray | None = None  # labels, for accuracy
    torch_model: object | None = None
    qonnx_path: Path | None = None
    vectors_source: str = "dataset"
    meta: dict = field(default_factory=dict)
    input_datatype: str | None = None  # the graph input's datatype if not annotated (UINT8)
    pool: np.ndarray | None = None  # candidates for directed vectors (`flows/vectors.py`)
    pool_y: np.ndarray | None = None


@dataclass
class BuildState:
    cfg: BuildConfig
    inp: BuildInput
    board: Board
    models: dict[str, ModelWrapper] = field(default_factory=dict)
    expected: np.ndarray | None = None  # reference outputs of the current stage chain
    stages: dict[str, dict] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    verified: int = 0  # how many of inp.x every stage is verified on (set from cfg.vectors)

    def __post_init__(self):
        self.verified = min(self.cfg.vectors, len(self.inp.x))

    @property
    def out(self) -> Path:
        return Path(self.cfg.out_dir)

    @property
    def x_verify(self) -> np.ndarray:
        """The inputs every stage is verified on (the simulation may stream more: directed
        vectors follow them in `inp.x`)."""
        return self.inp.x[: self.verified]

    def path(self, step: str) -> Path:
        """`intermediate/<n>_<step>.onnx`, numbered in the order steps are first named."""
        return self.files.setdefault(
            step, self.out / "intermediate" / f"{len(self.files) + 1:02d}_{step}.onnx")

    def save(self, step: str, model: ModelWrapper) -> None:
        self.models[step] = model
        path = self.path(step)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_relocatable(model, path, self.out)

    def record(self, stage: str, check: StageCheck) -> None:
        self.stages[stage] = check.to_json()


def _is_integer(a: np.ndarray) -> bool:
    return bool(np.all(np.asarray(a) == np.rint(a)))


def distinct_count(x: np.ndarray) -> int:
    """How many different vectors `x` (first axis) holds."""
    x = np.asarray(x)
    return int(len(np.unique(x.reshape(len(x), -1), axis=0))) if len(x) else 0


def _partition_node(model: ModelWrapper):
    return next((n for n in model.graph.node if n.op_type == "StreamingDataflowPartition"), None)


def save_relocatable(model: ModelWrapper, path: Path, root: Path) -> None:
    """Save `model` with its dataflow partition's file named relative to the build `root`."""
    sdp = _partition_node(model)
    if sdp is None:
        model.save(str(path))
        return
    copy = ModelWrapper(deepcopy(model.model))
    inst = getCustomOp(_partition_node(copy))
    inst.set_nodeattr("model", os.path.relpath(inst.get_nodeattr("model"), Path(root).resolve()))
    copy.save(str(path))


def load_intermediate(out: Path, step: str) -> ModelWrapper:
    """A build's saved graph of `step`, its partition file resolved inside the build `out`."""
    hits = sorted((Path(out) / "intermediate").glob(f"*_{step}.onnx"))
    if not hits:
        raise UserInputError(f"{out}: missing intermediate/*_{step}.onnx")
    model = ModelWrapper(str(hits[-1]))
    sdp = _partition_node(model)
    if sdp is not None:
        inst = getCustomOp(sdp)
        rel = Path(inst.get_nodeattr("model"))
        target = (Path(out) / rel).resolve()
        if rel.is_absolute() or not target.is_relative_to(Path(out).resolve()):
            raise UserInputError(f"{hits[-1]}: its dataflow partition is outside the build "
                                 "(built by an older onebit: build it again)")
        inst.set_nodeattr("model", str(target))
    return model


def check_stage(state: BuildState, stage: str, model: ModelWrapper, reference: str) -> None:
    """Run the verification vectors through `model`; compare with the stage chain's reference."""
    actual = run_qonnx(model, state.x_verify)
    expected = state.expected
    if _is_integer(expected):
        check = compare(stage, expected, actual, reference=reference,
                        layer=model.graph.output[0].name)
    else:
        # float outputs (a trailing software scale): equal up to float re-association
        exp = expected.reshape(-1)
        act = actual.reshape(-1)
        tol = 1e-5 * max(1.0, float(np.abs(exp).max()))
        diff = np.abs(exp - act)
        if not np.all(diff <= tol):
            compare(stage, expected, actual, reference=reference, layer=model.graph.output[0].name)
        check = StageCheck(True, len(state.x_verify), float(diff.max()), reference)
    check.vectors = distinct_count(state.x_verify)
    state.record(stage, check)


# ---------------------------------------------------------------------------- steps


VECTORS = "vectors.npz"
TRACE = "trace.vcd"  # `onebit sim --trace`: the waveform, beside it its GTKWave view
COVERAGE = "coverage"  # --coverage: the simulation's coverage.dat and functional.txt


def save_vectors(state: BuildState) -> None:
    """`vectors.npz`: the build's stored inputs (and labels), what re-simulation reads."""
    inp = state.inp
    np.savez(state.out / VECTORS, x=inp.x, **({"y": inp.y} if inp.y is not None else {}))


def step_export(state: BuildState) -> None:
    """torch -> QONNX (Brevitas export), verified against the torch forward."""
    from onebit.flows.inputs import (
        PIXELS,
        check_bipolar_input,
        check_vectors,
        graph_input_datatype,
        parse_datatype,
    )

    inp = state.inp
    save_vectors(state)
    if inp.torch_model is None:
        from onebit.export.qonnx import load_model_file
        from onebit.flows.check import has_hw_layers

        model = load_model_file(inp.qonnx_path)
        _check_input_shape(model, inp.x)
        check_supported(model)
        dt = graph_input_datatype(model, inp.input_datatype, source=str(inp.qonnx_path))
        check_vectors(inp.x, dt, "the verification vectors")
        model.set_tensor_datatype(model.graph.input[0].name, dt)
        check_bipolar_input(model, dt)
        if has_hw_layers(model):  # checked: every HW layer is one onebit builds
            from qonnx.transformation.infer_shapes import InferShapes

            model = model.transform(InferShapes())
        state.expected = run_qonnx(model, state.x_verify)
        state.save("qonnx", model)
        _top_k(state, model)
        return
    shape = tuple(inp.x.shape[1:])
    dt = parse_datatype(inp.input_datatype) if inp.input_datatype else PIXELS
    check_vectors(inp.x, dt, "the verification vectors")
    model = export_qonnx(inp.torch_model, shape, state.out / "model.qonnx.onnx", dt)
    check_supported(model)
    state.expected = torch_forward(inp.torch_model, state.x_verify)
    state.save("qonnx", model)
    check_stage(state, "qonnx", model, reference="torch")
    _top_k(state, model)


def _top_k(state: BuildState, model: ModelWrapper) -> None:
    """With `--top-k`: the verified QONNX graph ends in a TopK, checked against the indices
    of the reference scores (`flows/topk.py`); later stages are verified on those indices."""
    from onebit.flows.check import has_hw_layers
    from onebit.flows.topk import append_topk, topk_reference

    k = state.cfg.top_k
    if k is None:
        return
    if has_hw_layers(model):
        raise UserInputError("--top-k: this graph already holds FINN HW layers; add the "
                             "LabelSelect layer to it instead")
    model = append_topk(model, k)
    state.expected = topk_reference(state.expected, k)
    state.save("qonnx_topk", model)
    check_stage(state, "topk", model, reference="qonnx")
    state.models["qonnx"] = model


def _check_input_shape(model: ModelWrapper, x: np.ndarray) -> None:
    want = tuple(model.get_tensor_shape(model.graph.input[0].name))
    got = (1, *x.shape[1:])
    if int(np.prod(want)) != int(np.prod(got)):
        raise UserInputError(f"the model expects input shape {want}, the data has {got}")


def step_finn(state: BuildState) -> None:
    """QONNX -> FINN-ONNX (MultiThreshold activations), verified against QONNX."""
    from onebit.flows.check import has_hw_layers
    from onebit.flows.streamline import to_finn

    if has_hw_layers(state.models["qonnx"]):
        return  # a FINN-ONNX graph of HW layers: the flow starts at hw_layers
    model = to_finn(state.models["qonnx"])
    state.save("finn", model)
    check_stage(state, "finn", model, reference="qonnx")


def step_streamline(state: BuildState) -> None:
    """Streamline, lower convs, XNOR-popcount; verified against QONNX."""
    from onebit.flows.streamline import streamline

    if "finn" not in state.models:
        return  # HW layers given (step_finn)
    model = streamline(state.models["finn"])
    state.save("streamline", model)
    check_stage(state, "streamline", model, reference="qonnx")
    if state.cfg.sim and state.cfg.directed and state.inp.pool is not None:
        add_directed_vectors(state, model)


def add_directed_vectors(state: BuildState, model: ModelWrapper) -> None:
    """Put up to `cfg.directed` vectors of the input's pool that bring the most accumulators
    onto their thresholds (`flows/vectors.py`) right after the verification vectors: the
    simulation runs them too (their reference is FINN's golden, as for every rtlsim frame)."""
    from onebit.flows import vectors

    inp, k = state.inp, len(state.x_verify)
    pool = inp.pool[: vectors.CANDIDATES * state.cfg.directed]
    ctxs = vectors.contexts(model, np.concatenate([state.x_verify, pool]))
    hits, owner = vectors.boundary_hits(model, ctxs)
    picked = vectors.choose(hits, k, state.cfg.directed)
    rows = [i - k for i in picked]  # in the pool
    inp.x = np.concatenate([inp.x[:k], pool[rows], inp.x[k:]])
    if inp.y is not None and inp.pool_y is not None:
        inp.y = np.concatenate([inp.y[:k], inp.pool_y[rows], inp.y[k:]])
    save_vectors(state)
    state.report["directed"] = {
        "count": len(picked), "candidates": int(len(pool)),
        "coverage_verification": vectors.coverage(hits, owner, range(k)),
        "coverage": vectors.coverage(hits, owner, [*range(k), *picked])}


def step_hw_layers(state: BuildState) -> None:
    """Convert to FINN HW layers and split off the dataflow partition; verified against QONNX.

    A graph that already holds FINN HW layers (as FINN's own tests build them) is wrapped into
    its dataflow partition as it is: it is its own golden.
    """
    from onebit.flows.finn_env import use_build_dir
    from onebit.flows.hw_layers import outside_nodes, partition, to_hw_layers

    use_build_dir(state.out / "finn")
    given = "streamline" not in state.models
    if given:
        from qonnx.transformation.infer_data_layouts import InferDataLayouts

        from onebit.flows.passes import run_passes

        model = run_passes(state.models["qonnx"], [InferDataLayouts(), GiveUniqueNodeNames()])
    else:
        model = to_hw_layers(state.models["streamline"])
    parent, dataflow = partition(model)
    # the parent runs the partition from the build's own copy of it, not FINN's scratch file
    state.path("hw_layers")  # numbered before the partition's file, as the two are saved
    getCustomOp(_partition_node(parent)).set_nodeattr(
        "model", str(state.path("dataflow_golden").resolve()))
    state.save("hw_layers", parent)
    state.save("dataflow_golden", dataflow)
    for scratch in (state.out / "finn").glob("dataflow_partition_*"):
        shutil.rmtree(scratch)  # FINN's copy of the partition, under a random name
    state.report["software_nodes"] = outside_nodes(parent)
    check_stage(state, "hw_layers", parent, reference="finn_onnx" if given else "qonnx")


def step_fold(state: BuildState) -> None:
    """Specialize layers for the board's part and set PE/SIMD (target fps or config); weight
    memories left "auto" go to block RAM or LUTs by a BRAM budget (`flows/memory_styles.py`).

    When the build goes on to RTL, every node of the folded graph is checked against what its
    RTL generator accepts (`codegen.check`): a folding it cannot build is refused here, naming
    the node and attribute, not at the rtl step.
    """
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    from onebit.flows.folding import (
        apply_folding_config,
        fold_for_fps,
        folding_of,
        set_onebit_defaults,
    )
    from onebit.flows.hw_layers import mvaus_to_finn_domain
    from onebit.flows.memory_styles import place_weight_memories
    from onebit.flows.passes import run_passes
    from onebit.hw.codegen import check, prefer_variants

    model = ModelWrapper(deepcopy(state.models["dataflow_golden"].model))
    model = prefer_variants(mvaus_to_finn_domain(model))
    model = set_onebit_defaults(run_passes(model, [SpecializeLayers(state.board.part)]))
    if state.cfg.folding is not None:
        model = apply_folding_config(model, state.cfg.folding, state.board.part)
    else:
        fps = state.cfg.target_fps or DEFAULT_TARGET_FPS
        model = fold_for_fps(model, fps, state.board.clock_mhz)
    model = prefer_variants(run_passes(model, [InsertDWC()]))
    model = run_passes(model, [SpecializeLayers(state.board.part), GiveUniqueNodeNames()])
    place_weight_memories(model, state.board.part, state.board.capacity["BRAM_18K"])
    name_new_tensors(model, state.models["dataflow_golden"])
    state.save("dataflow_folded", model)
    (state.out / "folding.json").write_text(json.dumps(folding_of(model), indent=1))
    if state.cfg.sim:
        check(model)


def name_new_tensors(model: ModelWrapper, before: ModelWrapper) -> None:
    """Give the tensors FINN's passes added (width converters: random names) stable names.

    Tensors of `before` keep their names (the golden execution is looked up by them); a new
    one is named after its producer, so two builds of one model write identical graphs.
    """
    known = {t for n in before.graph.node for t in [*n.input, *n.output]}
    for node in model.graph.node:
        for i, t in enumerate(node.output):
            if t not in known:
                model.rename_tensor(t, f"{node.name}_out{i}")


def step_estimate(state: BuildState) -> None:
    """FINN's analytic cycle and resource estimates for the folded graph."""
    from onebit.flows.estimate import estimate

    est = estimate(state.models["dataflow_folded"], state.board.part, state.board.clock_mhz)
    state.report["estimate"] = est
    state.report["fit"] = fit = state.board.fit(est["resources"])
    if state.cfg.strict and not fit["fits"]:
        raise UserInputError(f"the estimate does not fit {state.board.name} "
                             f"({state.board.part}): {over_capacity(fit)} (--strict)")


def golden_contexts(parent: ModelWrapper, dataflow: ModelWrapper, x: np.ndarray,
                    with_context: bool = True):
    """Per vector: the dataflow partition's input and FINN's full execution context of it."""
    from qonnx.core.onnx_exec import execute_onnx

    from onebit.flows import vectors

    sdp = next(n for n in parent.graph.node if n.op_type == "StreamingDataflowPartition")
    iname = parent.graph.input[0].name
    ishape = parent.get_tensor_shape(iname)
    xin = np.stack([execute_onnx(parent, {iname: v.reshape(ishape)},
                                 return_full_exec_context=True)[sdp.input[0]]
                    for v in np.asarray(x, dtype=np.float32)])
    return xin, vectors.contexts(dataflow, xin) if with_context else []


def step_rtl(state: BuildState) -> None:
    """Generate each layer's RTL, size the FIFOs in simulation, stitch the accelerator top."""
    from onebit.hw.accelerator import make_layers, size_fifos

    n = min(state.cfg.sim_frames, len(state.inp.x), 4)
    xin, _ = golden_contexts(state.models["hw_layers"], state.models["dataflow_golden"],
                             state.inp.x[:n], with_context=False)
    rtl = state.out / "rtl"
    if state.cfg.lut_levels is not None:
        from onebit.hw.mvau import set_lut_levels

        for node in state.models["dataflow_folded"].graph.node:
            if node.op_type.startswith(("MVAU", "LabelSelect")):
                set_lut_levels(node, state.cfg.lut_levels)
    pack = state.cfg.pack_dsp
    if pack is None:
        from onebit.hw.synth import family_of

        pack = family_of(state.board.part) in ("xcu", "xcup")
    if pack:
        from onebit.hw.mvau import set_pack_dsp

        for node in state.models["dataflow_folded"].graph.node:
            if node.op_type.startswith("MVAU"):
                set_pack_dsp(node, True)
    acc = make_layers(state.models["dataflow_folded"], rtl)
    acc.depths, state.report["fifo_sizing"] = size_fifos(acc, xin, rtl)
    shutil.rmtree(rtl / "sizing")  # the simulation-only top that sized the FIFOs
    acc.top = acc.stitch(rtl)
    acc.save(rtl)
    if acc.windows:  # runtime_writeable_weights: each layer's window and memory geometry
        state.report["writable_layers"] = [w.to_json() for w in acc.windows]


def step_resources(state: BuildState) -> None:
    """Yosys synth_xilinx of the stitched accelerator and of each layer on its own: LUT/FF/
    BRAM/DSP beside FINN's estimate, per layer LUT levels and an fmax estimate (`hw.timing`),
    the layers whose estimate is below the board clock listed in `below_clock`."""
    from onebit.hw.synth import layer_timing, synthesize_build

    res = synthesize_build(state.out, state.board.part, per_layer=True, jobs=2,
                           top_timeout=state.cfg.synth_top_timeout)
    res.update(layer_timing(res.pop("per_layer"), state.board.clock_mhz))
    state.report["resources"] = res


def step_rtlsim(state: BuildState) -> None:
    """Simulate the stitched accelerator in Verilator; bit-exact against FINN's golden."""
    directed = state.report.get("directed", {}).get("count", 0)
    state.report["sim"] = simulate_build(
        state.out, state.models["hw_layers"], state.models["dataflow_golden"],
        state.models["dataflow_folded"], state.inp.x,
        max(state.cfg.sim_frames, len(state.x_verify) + directed),
        state.report["estimate"]["cycles_per_frame"], seed=state.cfg.seed,
        backpressure=state.cfg.backpressure, on_check=lambda c: state.record("rtlsim", c),
        coverage=state.cfg.coverage)
    if state.cfg.coverage:
        state.report["coverage"] = {"rtl": state.report["sim"].pop("coverage")}
    if state.cfg.layer_check:
        from onebit.flows.layer_check import check_layers
        from onebit.hw.accelerator import Accelerator

        rtl = state.out / "rtl"
        t0 = time.perf_counter()
        layers = check_layers(Accelerator.load(rtl), state.models["dataflow_golden"], rtl,
                              seed=state.cfg.seed)
        state.report["layer_check"] = {
            "seed": state.cfg.seed, "layers": layers,
            "seconds": round(time.perf_counter() - t0, 3)}
        state.record("layersim", StageCheck(True, sum(e["vectors"] for e in layers.values()),
                                            0.0, "finn_golden_node"))


def golden_outputs(golden_model: ModelWrapper, golden: list[dict]) -> np.ndarray:
    """The dataflow graph's output in each of `golden_contexts`' contexts, a row per vector."""
    oname = golden_model.graph.output[0].name
    return np.stack([g[oname] for g in golden]).reshape(len(golden), -1)


def simulate_build(out: Path, parent: ModelWrapper, golden_model: ModelWrapper,
                   folded: ModelWrapper, x: np.ndarray, frames: int, est_cycles: float, *,
                   seed: int = 0, backpressure: bool = False, on_check=None,
                   trace: bool = False, coverage: bool = False) -> dict:
    """Stream `frames` frames (cycling over the vectors `x`) through `<out>/rtl`'s design;
    `trace`: also write its waveform, `<out>/trace.vcd`, and a GTKWave view of it,
    `<out>/trace.gtkw` (each layer's output stream); `coverage`: simulate a coverage build
    instead, its files in `<out>/coverage/`, its summary per layer under `"coverage"`."""
    from onebit.hw.accelerator import (
        Accelerator,
        frame_timing,
        run_frames,
        stream_mismatch,
        waveform_view,
    )
    from onebit.hw.activity import timeline
    from onebit.hw.coverage import summarize_run

    rtl = Path(out) / "rtl"
    acc = Accelerator.load(rtl)
    distinct = min(frames, len(x))
    xin, golden = golden_contexts(parent, golden_model, x[:distinct])
    order = np.arange(frames) % distinct
    oname = golden_model.graph.output[0].name
    expected = golden_outputs(golden_model, golden)[order]
    vcd = Path(out) / TRACE if trace else None
    cov = Path(out) / COVERAGE if coverage else None
    out_vals, res = run_frames(acc, acc.top, xin[order], seed=seed, backpressure=backpressure,
                               run_dir=rtl, taps=True, trace=vcd, coverage=cov)
    if vcd is not None:
        vcd.with_suffix(".gtkw").write_text(waveform_view(acc, TRACE))
    # every layer's output stream, not only the last: a wrong layer is named where it is
    wrong = stream_mismatch(acc, folded, [golden[i] for i in order], res.taps)
    if wrong is not None:
        raise wrong
    check = compare("rtlsim", expected, out_vals, reference="finn_golden", layer=oname)
    check.vectors = distinct_count(x[:distinct])
    if on_check:
        on_check(check)
    timing = frame_timing(res, acc.last.words, frames)
    activity = timeline(res.activity, [la.name for la in acc.layers], acc.edges,
                        [k for k, _ in acc.taps()], frames)
    return {
        "bit_exact": True,
        "frames": frames,
        "distinct_vectors": check.vectors,
        "backpressure": backpressure,
        **timing,
        "ratio_to_estimate": timing["cycles_per_frame"] / est_cycles,
        "fifo_depths": acc.fifo_depths(),
        "sim_cycles_per_s": res.cycles_per_s,
        "activity": activity,
        **({"coverage": summarize_run(cov, [la.name for la in acc.layers], acc.top.sources, rtl)}
           if cov is not None else {}),
    }


STEPS: dict[str, Callable[[BuildState], None]] = {
    "export": step_export,
    "finn": step_finn,
    "streamline": step_streamline,
    "hw_layers": step_hw_layers,
    "fold": step_fold,
    "estimate": step_estimate,
    "rtl": step_rtl,
    "rtlsim": step_rtlsim,
    "resources": step_resources,
}


SIM_STEPS = ("rtl", "rtlsim", "resources")
MODEL_STEPS = ("export", "finn", "streamline", "hw_layers")
"""The steps that depend on the model alone, not on the board or the folding: a build can
start after them from another build's files (`build_from`)."""


def default_steps(cfg: BuildConfig) -> list[str]:
    """The steps a build runs: RTL and simulation unless --no-sim, Yosys only with --synth."""
    return [s for s in STEPS if (cfg.sim or s not in SIM_STEPS)
            and (cfg.synth or s != "resources")]


def accuracy(state: BuildState) -> float | None:
    """Test accuracy of the verified reference outputs on the build vectors (if labelled)."""
    if state.inp.y is None or state.expected is None:
        return None
    out = state.expected.reshape(len(state.x_verify), -1)
    pred = out[:, 0] if state.cfg.top_k else out.argmax(axis=1)
    return float((pred == state.inp.y[: len(pred)]).mean())


def build(inp: BuildInput, cfg: BuildConfig, steps: list[str] | None = None,
          progress: Callable[[str], None] | None = None) -> dict:
    """Run the build steps; returns the report (also written to `<out>/report.json`).

    The directory is claimed first (`flows.builddir`: one process at a time, the previous
    build's outputs removed). The report is written once, at the end, atomically: `"ok"` only
    when every step ran; `"failed"` or `"interrupted"` (Ctrl-C, SIGTERM) with the step.
    """
    return _run(inp, cfg, steps or default_steps(cfg), progress)


def build_from(base: Path, cfg: BuildConfig,
               progress: Callable[[str], None] | None = None) -> dict:
    """Build from the HW graph of the finished build `base` (one that ran `MODEL_STEPS`): its
    intermediate files, vectors and verified stages are copied into `cfg.out_dir`, and only
    the steps after them run (fold for `cfg`'s board and folding, estimate, RTL, simulation).

    The result is a build directory like any other (`onebit sim` re-simulates it); what was
    verified in `base` is in its report, and `"base"` names where it came from. Every build of
    one model shares the model steps, so `onebit explore` runs them once.
    """
    base = Path(base)
    try:
        report = json.loads((base / "report.json").read_text())
        vectors = np.load(base / VECTORS)
    except (OSError, json.JSONDecodeError) as e:
        raise UserInputError(f"{base}: not a onebit build ({e})") from None
    done = [s for s in MODEL_STEPS if s in report.get("timings_s", {})]
    if report.get("status") != "ok" or done != list(MODEL_STEPS):
        raise UserInputError(f"{base}: its build did not finish the model steps "
                             f"({', '.join(MODEL_STEPS)})")
    inp = BuildInput(report["model"], x=vectors["x"], y=vectors["y"] if "y" in vectors else None,
                     vectors_source=report["vectors"]["source"], meta=report["meta"])
    steps = [s for s in default_steps(cfg) if s not in MODEL_STEPS]
    return _run(inp, cfg, steps, progress, base=(base, report))


def _start_from(state: BuildState, base: Path, report: dict) -> None:
    """`build_from`: take `base`'s model-step files, stages and vectors as this build's."""
    try:
        _copy_model_steps(state, base, report)
    except (OSError, KeyError) as e:
        raise UserInputError(f"{base}: cannot start from this build ({type(e).__name__}: "
                             f"{e})") from None


def _copy_model_steps(state: BuildState, base: Path, report: dict) -> None:
    (state.out / "intermediate").mkdir()
    for f in sorted((base / "intermediate").glob("*.onnx")):
        step = f.stem.split("_", 1)[1]
        state.files[step] = state.out / "intermediate" / f.name
        shutil.copyfile(f, state.files[step])  # partition paths in them are relative to the root
    for name in (VECTORS, "model.qonnx.onnx"):
        if (base / name).is_file():
            shutil.copyfile(base / name, state.out / name)
    for step in ("hw_layers", "dataflow_golden"):
        state.models[step] = load_intermediate(state.out, step)
    state.stages.update(report["stages"])
    state.verified = report["vectors"]["count"]
    if report["vectors"]["directed"] is not None:
        state.report["directed"] = report["vectors"]["directed"]
    state.report.update({"software_nodes": report["software_nodes"],
                         "vector_accuracy": report["vector_accuracy"],
                         "base": os.path.relpath(base.resolve(), state.out.resolve())})


def _run(inp: BuildInput, cfg: BuildConfig, steps: list[str],
         progress: Callable[[str], None] | None, base: tuple[Path, dict] | None = None) -> dict:
    board = get_board(cfg.board)
    with claim(cfg.out_dir, fresh=True) as out:
        state = BuildState(cfg, inp, board)
        if base is not None:
            _start_from(state, *base)
        t_all = time.perf_counter()
        status, failed = "ok", None
        try:
            for name in steps:
                if progress:
                    progress(name)
                t0 = time.perf_counter()
                status, failed = "failed", name
                try:
                    STEPS[name](state)
                except (OnebitError, KeyboardInterrupt):
                    raise
                except Exception as e:  # a bug or a FINN failure: keep the cause, name the step
                    raise BuildError(name, f"{type(e).__name__}: {e}") from e
                status, failed = "ok", None
                state.timings[name] = round(time.perf_counter() - t0, 3)
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            report = make_report(state, status, failed, time.perf_counter() - t_all)
            write_report(out / "report.json", report)
    return report


def make_report(state: BuildState, status: str, failed: str | None, seconds: float) -> dict:
    """The build report (report.json): `status` is "ok", "failed" or "interrupted"."""
    r = {
        "onebit_version": __version__,
        "status": status,
        "failed_step": failed,
        "model": state.inp.name,
        "board": state.board.name,
        "part": state.board.part,
        "clock_mhz": state.board.clock_mhz,
        "vectors": {"count": int(len(state.x_verify)), "stored": int(len(state.inp.x)),
                    "source": state.inp.vectors_source,
                    "directed": state.report.get("directed")},
        "stages": state.stages,
        "estimate": state.report.get("estimate"),
        "fit": state.report.get("fit"),
        "software_nodes": state.report.get("software_nodes"),
        "test_accuracy": state.inp.meta.get("test_accuracy"),
        "vector_accuracy": (accuracy(state) if state.expected is not None
                            else state.report.get("vector_accuracy")),
        "timings_s": state.timings | {"total": round(seconds, 3)},
        "meta": state.inp.meta,
    }
    for k in ("writable_layers", "fifo_sizing", "sim", "layer_check", "resources", "coverage",
              "base"):
        if k in state.report:
            r[k] = state.report[k]
    return r


def write_report(path: Path, data: dict) -> None:
    """Write `path` atomically: a reader sees the old file or the whole new one, never a part.

    A failed write (a full disk) leaves no temporary file and raises a one-line error. The
    report page beside it (`report.html`, `flows/report_html.py`) showed the old report: it is
    removed (the CLI writes it again after a command that succeeds).
    """
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, default=_json_default))
        os.replace(tmp, path)
        (path.parent / "report.html").unlink(missing_ok=True)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserInputError(f"cannot write {path}: {e.strerror}") from None


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def resimulate(out_dir: Path, frames: int, *, seed: int = 0, backpressure: bool = False,
               trace: bool = False, coverage: bool = False) -> dict:
    """Re-run the simulation of a finished build (its RTL as generated, its stored vectors);
    `trace`: with its waveform, `coverage`: with its RTL coverage (`simulate_build`; without,
    a previous run's coverage is removed: the report describes this simulation).

    Reads only files inside the build directory (it may have been moved or copied). Updates
    `report.json` with the new `sim` entry and `rtlsim` stage; a mismatch raises and marks the
    report failed.
    """
    out = Path(out_dir)
    report_path = out / "report.json"
    if not report_path.is_file():
        raise UserInputError(f"{out} is not a onebit build with RTL (no report.json; run "
                             "onebit build)")
    with claim(out, fresh=False):
        try:
            report = json.loads(report_path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserInputError(f"{report_path}: unreadable report ({e})") from None
        if not (out / "rtl" / MANIFEST).is_file() or not (out / VECTORS).is_file():
            why = (f"its build {report.get('status')} at step '{report['failed_step']}'"
                   if report.get("failed_step") else "it was built with --no-sim")
            raise UserInputError(f"{out} is not a onebit build with RTL ({why}); run onebit "
                                 "build again")
        x = np.load(out / VECTORS)["x"]
        est = report["estimate"]["cycles_per_frame"]
        report["stages"].pop("rtlsim", None)
        checks = {}
        try:
            sim = simulate_build(out, load_intermediate(out, "hw_layers"),
                                 load_intermediate(out, "dataflow_golden"),
                                 load_intermediate(out, "dataflow_folded"), x, frames, est,
                                 seed=seed, backpressure=backpressure,
                                 on_check=lambda c: checks.update(c=c), trace=trace,
                                 coverage=coverage)
        except OnebitError:
            report.update(status="failed", failed_step="rtlsim", sim=None)
            write_report(report_path, report)
            raise
        report["stages"]["rtlsim"] = checks["c"].to_json()
        report.pop("coverage", None)
        if coverage:
            report["coverage"] = {"rtl": sim.pop("coverage")}
        else:
            shutil.rmtree(out / COVERAGE, ignore_errors=True)
        if "test_set" in (report.get("sim") or {}):  # a check of this RTL this run did not redo
            sim["test_set"] = report["sim"]["test_set"]
        report.update(status="ok", failed_step=None, sim=sim)
        write_report(report_path, report)
    return report
