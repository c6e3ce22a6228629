"""The onebit build: named steps from a model to a verified, folded dataflow accelerator.

Each step is `step(state) -> None` on a `BuildState`, writes its graph to
`<out>/intermediate/<n>_<step>.onnx`, and, where it changes what is computed, verifies its
graph against the previous stage on the same real vectors. A mismatch raises; a failed build
leaves a report with `"status": "failed"` naming the step, never one that claims success.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.general import GiveUniqueNodeNames

from onebit import __version__
from onebit.boards import Board, get_board
from onebit.errors import BuildError, OnebitError, UserInputError
from onebit.export.qonnx import export_qonnx, run_qonnx
from onebit.export.verify import torch_forward
from onebit.flows.check import check_supported
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
    seed: int = 0


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

    @property
    def out(self) -> Path:
        return Path(self.cfg.out_dir)

    @property
    def x_verify(self) -> np.ndarray:
        """The inputs every stage is verified on (the simulation may stream more)."""
        return self.inp.x[: self.cfg.vectors]

    def save(self, step: str, model: ModelWrapper) -> None:
        self.models[step] = model
        d = self.out / "intermediate"
        d.mkdir(parents=True, exist_ok=True)
        model.save(str(d / f"{len(self.models):02d}_{step}.onnx"))

    def record(self, stage: str, check: StageCheck) -> None:
        self.stages[stage] = check.to_json()


def _is_integer(a: np.ndarray) -> bool:
    return bool(np.all(np.asarray(a) == np.rint(a)))


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
    state.record(stage, check)


# ---------------------------------------------------------------------------- steps


VECTORS = "vectors.npz"


def step_export(state: BuildState) -> None:
    """torch -> QONNX (Brevitas export), verified against the torch forward."""
    inp = state.inp
    np.savez(state.out / VECTORS, x=inp.x, **({"y": inp.y} if inp.y is not None else {}))
    if inp.torch_model is None:
        from onebit.export.qonnx import load_onnx

        model = load_onnx(inp.qonnx_path)
        _check_input_shape(model, inp.x)
        check_supported(model)
        state.expected = run_qonnx(model, state.x_verify)
        state.save("qonnx", model)
        return
    shape = tuple(inp.x.shape[1:])
    model = export_qonnx(inp.torch_model, shape, state.out / "model.qonnx.onnx")
    check_supported(model)
    state.expected = torch_forward(inp.torch_model, state.x_verify)
    state.save("qonnx", model)
    check_stage(state, "qonnx", model, reference="torch")


def _check_input_shape(model: ModelWrapper, x: np.ndarray) -> None:
    want = tuple(model.get_tensor_shape(model.graph.input[0].name))
    got = (1, *x.shape[1:])
    if int(np.prod(want)) != int(np.prod(got)):
        raise UserInputError(f"the model expects input shape {want}, the data has {got}")


def step_finn(state: BuildState) -> None:
    """QONNX -> FINN-ONNX (MultiThreshold activations), verified against QONNX."""
    from onebit.flows.streamline import to_finn

    model = to_finn(state.models["qonnx"])
    state.save("finn", model)
    check_stage(state, "finn", model, reference="qonnx")


def step_streamline(state: BuildState) -> None:
    """Streamline, lower convs, XNOR-popcount; verified against QONNX."""
    from onebit.flows.streamline import streamline

    model = streamline(state.models["finn"])
    state.save("streamline", model)
    check_stage(state, "streamline", model, reference="qonnx")


def step_hw_layers(state: BuildState) -> None:
    """Convert to FINN HW layers and split off the dataflow partition; verified against QONNX."""
    from onebit.flows.finn_env import use_build_dir
    from onebit.flows.hw_layers import outside_nodes, partition, to_hw_layers

    use_build_dir(state.out / "finn")
    model = to_hw_layers(state.models["streamline"])
    parent, dataflow = partition(model)
    state.save("hw_layers", parent)
    state.save("dataflow_golden", dataflow)
    state.report["software_nodes"] = outside_nodes(parent)
    check_stage(state, "hw_layers", parent, reference="qonnx")


def step_fold(state: BuildState) -> None:
    """Specialize layers for the board's part and set PE/SIMD (target fps or config).

    When the build goes on to RTL, every node of the folded graph is checked against what its
    RTL generator accepts (`codegen.check`): a folding it cannot build is refused here, naming
    the node and attribute, not at the rtl step.
    """
    from finn.transformation.fpgadataflow.insert_dwc import InsertDWC
    from finn.transformation.fpgadataflow.specialize_layers import SpecializeLayers

    from onebit.flows.folding import apply_folding_config, fold_for_fps, folding_of
    from onebit.flows.passes import run_passes
    from onebit.hw.codegen import check, prefer_rtl

    model = prefer_rtl(ModelWrapper(deepcopy(state.models["dataflow_golden"].model)))
    model = run_passes(model, [SpecializeLayers(state.board.part)])
    if state.cfg.folding is not None:
        model = apply_folding_config(model, state.cfg.folding)
    else:
        fps = state.cfg.target_fps or DEFAULT_TARGET_FPS
        model = fold_for_fps(model, fps, state.board.clock_mhz)
    model = prefer_rtl(run_passes(model, [InsertDWC()]))
    model = run_passes(model, [SpecializeLayers(state.board.part), GiveUniqueNodeNames()])
    state.save("dataflow_folded", model)
    (state.out / "folding.json").write_text(json.dumps(folding_of(model), indent=1))
    if state.cfg.sim:
        check(model)


def step_estimate(state: BuildState) -> None:
    """FINN's analytic cycle and resource estimates for the folded graph."""
    from onebit.flows.estimate import estimate

    state.report["estimate"] = estimate(state.models["dataflow_folded"], state.board.part,
                                        state.board.clock_mhz)


def golden_contexts(parent: ModelWrapper, dataflow: ModelWrapper, x: np.ndarray,
                    with_context: bool = True):
    """Per vector: the dataflow partition's input and FINN's full execution context of it."""
    from qonnx.core.onnx_exec import execute_onnx

    sdp = next(n for n in parent.graph.node if n.op_type == "StreamingDataflowPartition")
    iname = parent.graph.input[0].name
    ishape = parent.get_tensor_shape(iname)
    xin, ctxs = [], []
    for v in np.asarray(x, dtype=np.float32):
        pctx = execute_onnx(parent, {iname: v.reshape(ishape)}, return_full_exec_context=True)
        d_in = pctx[sdp.input[0]]
        xin.append(d_in)
        if with_context:
            ctxs.append(execute_onnx(dataflow, {dataflow.graph.input[0].name: d_in},
                                     return_full_exec_context=True))
    return np.stack(xin), ctxs


def step_rtl(state: BuildState) -> None:
    """Generate each layer's RTL, size the FIFOs in simulation, stitch the accelerator top."""
    from onebit.hw.accelerator import make_layers, size_fifos

    n = min(state.cfg.sim_frames, len(state.inp.x), 4)
    xin, _ = golden_contexts(state.models["hw_layers"], state.models["dataflow_golden"],
                             state.inp.x[:n], with_context=False)
    rtl = state.out / "rtl"
    acc = make_layers(state.models["dataflow_folded"], rtl)
    acc.depths = size_fifos(acc, xin, rtl)
    acc.top = acc.stitch(rtl)
    acc.save(rtl)


def step_resources(state: BuildState) -> None:
    """Yosys synth_xilinx of the stitched accelerator: LUT/FF/BRAM/DSP beside FINN's estimate."""
    from onebit.hw.synth import synthesize_build

    state.report["resources"] = synthesize_build(state.out, state.board.part, per_layer=False)


def step_rtlsim(state: BuildState) -> None:
    """Simulate the stitched accelerator in Verilator; bit-exact against FINN's golden."""
    state.report["sim"] = simulate_build(
        state.out, state.models["hw_layers"], state.models["dataflow_golden"],
        state.models["dataflow_folded"], state.inp.x, state.cfg.sim_frames,
        state.report["estimate"]["cycles_per_frame"], seed=state.cfg.seed,
        backpressure=state.cfg.backpressure, on_check=lambda c: state.record("rtlsim", c))


def simulate_build(out: Path, parent: ModelWrapper, golden_model: ModelWrapper,
                   folded: ModelWrapper, x: np.ndarray, frames: int, est_cycles: float, *,
                   seed: int = 0, backpressure: bool = False, on_check=None) -> dict:
    """Stream `frames` frames (cycling over the vectors `x`) through `<out>/rtl`'s design."""
    from onebit.errors import VerificationError
    from onebit.hw.accelerator import Accelerator, frame_timing, locate_mismatch, run_frames

    rtl = Path(out) / "rtl"
    acc = Accelerator.load(rtl)
    distinct = min(frames, len(x))
    xin, golden = golden_contexts(parent, golden_model, x[:distinct])
    order = np.arange(frames) % distinct
    oname = golden_model.graph.output[0].name
    expected = np.stack([g[oname] for g in golden]).reshape(distinct, -1)[order]
    out_vals, res = run_frames(acc, acc.top, xin[order], seed=seed, backpressure=backpressure,
                               run_dir=rtl)
    try:
        check = compare("rtlsim", expected, out_vals, reference="finn_golden", layer=oname)
    except VerificationError:
        locate_mismatch(acc, folded, golden, rtl / "per_layer")
        raise
    if on_check:
        on_check(check)
    timing = frame_timing(res, acc.last.words, frames)
    return {
        "bit_exact": True,
        "frames": frames,
        "distinct_vectors": distinct,
        "backpressure": backpressure,
        **timing,
        "ratio_to_estimate": timing["cycles_per_frame"] / est_cycles,
        "fifo_depths": acc.fifo_depths(),
        "sim_cycles_per_s": res.cycles_per_s,
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


def default_steps(cfg: BuildConfig) -> list[str]:
    """The steps a build runs: RTL and simulation unless --no-sim, Yosys only with --synth."""
    return [s for s in STEPS if (cfg.sim or s not in SIM_STEPS)
            and (cfg.synth or s != "resources")]


def accuracy(state: BuildState) -> float | None:
    """Test accuracy of the verified reference outputs on the build vectors (if labelled)."""
    if state.inp.y is None or state.expected is None:
        return None
    pred = state.expected.reshape(len(state.x_verify), -1).argmax(axis=1)
    return float((pred == state.inp.y[: len(pred)]).mean())


def build(inp: BuildInput, cfg: BuildConfig, steps: list[str] | None = None,
          progress: Callable[[str], None] | None = None) -> dict:
    """Run the build steps; returns the report (also written to `<out>/report.json`)."""
    board = get_board(cfg.board)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report_path = out / "report.json"
    if report_path.exists():
        report_path.unlink()
    state = BuildState(cfg, inp, board)
    steps = steps or default_steps(cfg)
    t_all = time.perf_counter()
    failed = None
    try:
        for name in steps:
            if progress:
                progress(name)
            t0 = time.perf_counter()
            try:
                STEPS[name](state)
            except OnebitError:
                failed = name
                raise
            except Exception as e:  # a bug or a FINN failure: keep the cause, name the step
                failed = name
                raise BuildError(name, f"{type(e).__name__}: {e}") from e
            state.timings[name] = round(time.perf_counter() - t0, 3)
    finally:
        report = make_report(state, failed, time.perf_counter() - t_all)
        _write_json_atomic(report_path, report)
    return report


def make_report(state: BuildState, failed: str | None, seconds: float) -> dict:
    """The build report (report.json), success or not."""
    r = {
        "onebit_version": __version__,
        "status": "failed" if failed else "ok",
        "failed_step": failed,
        "model": state.inp.name,
        "board": state.board.name,
        "part": state.board.part,
        "clock_mhz": state.board.clock_mhz,
        "vectors": {"count": int(len(state.x_verify)), "stored": int(len(state.inp.x)),
                    "source": state.inp.vectors_source},
        "stages": state.stages,
        "estimate": state.report.get("estimate"),
        "software_nodes": state.report.get("software_nodes"),
        "test_accuracy": state.inp.meta.get("test_accuracy"),
        "vector_accuracy": accuracy(state),
        "timings_s": state.timings | {"total": round(seconds, 3)},
        "meta": state.inp.meta,
    }
    for k in ("sim", "resources"):
        if k in state.report:
            r[k] = state.report[k]
    return r


def _write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=_json_default))
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def resimulate(out_dir: Path, frames: int, *, seed: int = 0, backpressure: bool = False) -> dict:
    """Re-run the simulation of a finished build (its RTL as generated, its stored vectors).

    Updates `report.json` with the new `sim` entry and `rtlsim` stage; a mismatch raises and
    marks the report failed.
    """
    out = Path(out_dir)
    report_path = out / "report.json"
    needed = (report_path, out / "rtl" / "accelerator.json", out / VECTORS)
    if not all(p.exists() for p in needed):
        raise UserInputError(f"{out} is not a onebit build with RTL (run onebit build --sim)")
    report = json.loads(report_path.read_text())
    inter = out / "intermediate"

    def load(step: str) -> ModelWrapper:
        hits = sorted(inter.glob(f"*_{step}.onnx"))
        if not hits:
            raise UserInputError(f"{out}: missing intermediate/*_{step}.onnx")
        return ModelWrapper(str(hits[-1]))

    x = np.load(out / VECTORS)["x"]
    est = report["estimate"]["cycles_per_frame"]
    report["stages"].pop("rtlsim", None)
    checks = {}
    try:
        sim = simulate_build(out, load("hw_layers"), load("dataflow_golden"),
                             load("dataflow_folded"), x, frames, est, seed=seed,
                             backpressure=backpressure, on_check=lambda c: checks.update(c=c))
    except OnebitError:
        report.update(status="failed", failed_step="rtlsim", sim=None)
        _write_json_atomic(report_path, report)
        raise
    report["stages"]["rtlsim"] = checks["c"].to_json()
    report.update(status="ok", failed_step=None, sim=sim)
    _write_json_atomic(report_path, report)
    return report
