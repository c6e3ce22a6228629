"""Run one random case (`random_nets.Case`) through `onebit.flows.build.build`; classify it.

onebit's promise: what it accepts it builds and simulates bit-exactly; what it cannot build it
refuses before `fold`, in one line naming the layer. So a case ends in one of:

| outcome | meaning |
|---|---|
| `built` | report status ok, every stage verified (the simulation bit-exact when simulated) |
| `refused_early` | a UserInputError at export/finn/streamline/hw_layers: one line, names a node |
| `refused_unclear` | such a refusal whose message is several lines or names no node |
| `failed_late` | any error at fold/estimate/rtl/rtlsim, or a VerificationError at any step: a bug |
| `crashed` | a non-onebit exception, escaping or wrapped by the build as BuildError: a bug |
| `timeout` | no result within the campaign's per-case time limit (set by the runner) |

A case with a random folding first builds up to `fold` (FINN's default folding) to learn the
specialized node names and their MH/MW/channels, draws legal PE/SIMD from them
(`random_nets.random_folding`), then builds again with that folding.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import onnx
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import BuildError, OnebitError, UserInputError, VerificationError
from onebit.flows.build import BuildConfig, BuildInput, build

from random_nets import Case, describe_folding, random_folding

EARLY_STEPS = ("export", "finn", "streamline", "hw_layers")
OUTCOMES = ("built", "refused_early", "refused_unclear", "failed_late", "crashed", "timeout")
BUGS = ("refused_unclear", "failed_late", "crashed")
"""Outcomes that break the promise (a `timeout` is slow, not known to be wrong)."""
NODE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*_\d+")
"""How ONNX/FINN node names look (`Conv_1`, `MVAU_rtl_0`): a quoted token of this shape names a
node even when the graph it lives in was not saved (the step failed before saving it)."""


@dataclass
class Outcome:
    """What became of one case."""

    outcome: str
    step: str | None = None  # the failed step
    error: str | None = None  # the exception's type
    message: str = ""  # its first line
    detail: str = ""  # the whole message, shortened
    seconds: float = 0.0
    folding: str = ""  # the random folding applied (empty for a frame-rate target)
    sim: dict = field(default_factory=dict)  # cycles/frame and its ratio to FINN's estimate

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def is_bug(self) -> bool:
        return self.outcome in BUGS


def _failed_step(out: Path, error: BaseException) -> str | None:
    if isinstance(error, BuildError):
        return error.step
    try:
        return json.loads((out / "report.json").read_text()).get("failed_step")
    except (OSError, json.JSONDecodeError):
        return None


def graph_node_names(out: Path) -> set[str]:
    """Names of the nodes in every graph a build saved (its intermediates and the export)."""
    names: set[str] = set()
    for p in [*sorted((out / "intermediate").glob("*.onnx")), out / "model.qonnx.onnx"]:
        if p.is_file():
            names.update(n.name for n in onnx.load(str(p), load_external_data=False).graph.node)
    return names


def names_a_node(message: str, names: set[str]) -> bool:
    """Does `message` quote a node name (one of `names`, or shaped like one)?"""
    quoted = re.findall(r"'([^'\s]+)'", message)
    return any(q in names or NODE_NAME.fullmatch(q) for q in quoted)


def classify(error: BaseException, out: Path) -> Outcome:
    """The outcome of a build of `out` that raised `error`."""
    step = _failed_step(out, error)
    text = str(error).strip()
    first = text.splitlines()[0] if text else ""
    o = Outcome("crashed", step, type(error).__name__, first, text[:2000])
    if not isinstance(error, OnebitError) or isinstance(error, BuildError):
        return o  # an exception onebit did not anticipate (BuildError wraps such a one)
    if isinstance(error, VerificationError) or step not in EARLY_STEPS:
        o.outcome = "failed_late"
    elif isinstance(error, UserInputError):
        one_line = "\n" not in text
        o.outcome = ("refused_early" if one_line and names_a_node(text, graph_node_names(out))
                     else "refused_unclear")  # fmt: skip
    else:
        o.outcome = "crashed"  # another OnebitError (a missing tool) stopped an early step
    return o


def built(report: dict, sim: bool) -> Outcome:
    """The outcome of a build that returned `report`."""
    stages = report.get("stages", {})
    verified = all(s.get("verified") for s in stages.values())
    simulated = not sim or bool((report.get("sim") or {}).get("bit_exact"))
    if report.get("status") == "ok" and verified and simulated:
        s = report.get("sim") or {}
        return Outcome("built", sim={k: s[k] for k in ("cycles_per_frame", "ratio_to_estimate")
                                     if k in s})  # fmt: skip
    return Outcome("failed_late", report.get("failed_step"), None,
                   f"status {report.get('status')}, stages verified {verified}, "
                   f"simulated bit-exactly {simulated}")  # fmt: skip



def _build(case: Case, out: Path, sim: bool, **cfg) -> tuple[dict | None, BaseException | None]:
    inp = BuildInput(f"case{case.seed}", case.pixels(), torch_model=case.module())
    config = BuildConfig(out, vectors=case.vectors, sim_frames=case.vectors, sim=sim,
                         seed=case.weight_seed % 1000, **cfg)  # fmt: skip
    try:
        return build(inp, config), None
    except KeyboardInterrupt:
        raise
    except Exception as e:  # classified, not hidden: every exception is an outcome
        return None, e


def run_case(case: Case, workdir: Path, sim: bool = True) -> Outcome:
    """Build `case` under `workdir` (emptied first) and classify the result."""
    workdir = Path(workdir)
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    t0 = time.perf_counter()
    folding: dict | None = None
    if case.folding.seed is not None:
        probe = workdir / "probe"
        report, error = _build(case, probe, False, target_fps=None)
        if error is not None or report is None:
            o = classify(error, probe) if error is not None else built({}, False)
            o.seconds = round(time.perf_counter() - t0, 2)
            return o
        folded = ModelWrapper(str(next((probe / "intermediate").glob("*_dataflow_folded.onnx"))))
        folding = random_folding(folded, case.folding.seed)
        shutil.rmtree(probe)
    out = workdir / "build"
    cfg = {"folding": folding} if folding is not None else {"target_fps": case.folding.target_fps}
    report, error = _build(case, out, sim, **cfg)
    o = classify(error, out) if error is not None else built(report, sim)
    o.seconds = round(time.perf_counter() - t0, 2)
    o.folding = describe_folding(folding) if folding else ""
    return o
