"""Robustness campaign: random networks and foldings either build bit-exactly or are refused
early by name (`random_nets`, `build_outcome`; the long campaign is benchmarks/robustness.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from onebit.errors import BuildError, UnsupportedOpError, UserInputError, VerificationError

from build_outcome import BUGS, classify, run_case
from random_nets import BlockSpec, Case, ConvSpec, Folding, NetSpec, build_module, case_from_seed


def test_a_seed_always_draws_the_same_case():
    a, b = case_from_seed(7), case_from_seed(7)
    assert a == b and a.describe() == b.describe()
    x = torch.from_numpy(a.pixels())
    np.testing.assert_array_equal(a.module()(x).detach().numpy(), b.module()(x).detach().numpy())
    assert len({case_from_seed(s).describe() for s in range(8)}) == 8


def test_a_seed_draws_the_same_case_whatever_was_imported():
    """Hypothesis mixes constants from imported local modules into its draws; a seed must not
    depend on them (a fresh process that imported nothing else draws the same case)."""
    import subprocess
    import sys
    from pathlib import Path

    import onebit.flows.build  # noqa: F401  (local modules full of constants)

    here = Path(__file__).parent
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from random_nets import case_from_seed;"
            " print('|'.join(case_from_seed(s).describe() for s in range(4)))")
    fresh = subprocess.run([sys.executable, "-c", code, str(here)], capture_output=True,
                           text=True, check=True).stdout.strip()  # fmt: skip
    assert fresh == "|".join(case_from_seed(s).describe() for s in range(4))


def test_random_batchnorms_have_negative_scales_and_hardened_thresholds():
    spec = NetSpec((1, 6, 6), 3, convs=(ConvSpec(7, 3, pad=1),), fcs=((5, "sign"),))
    net = build_module(spec, weight_seed=3)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d | torch.nn.BatchNorm2d)]
    gammas = torch.cat([m.weight for m in bns])
    assert (gammas < 0).any() and (gammas > 0).any()
    from onebit.models import harden_thresholds

    assert sum(harden_thresholds(net).values()) == 0  # already half-way between integers


def _failed(tmp_path, step: str):
    (tmp_path / "report.json").write_text(json.dumps({"status": "failed", "failed_step": step}))
    return tmp_path


@pytest.mark.parametrize("error, step, outcome", [
    (UnsupportedOpError("Conv_1", "Conv", "zero-pads a bipolar input"), "finn", "refused_early"),
    (UserInputError("the layer 'MatMul_0' needs\nmore bits"), "streamline", "refused_unclear"),
    (UserInputError("something is unsupported"), "hw_layers", "refused_unclear"),
    (UnsupportedOpError("MVAU_rtl_0", "MVAU_rtl", "PE=3"), "rtl", "failed_late"),
    (VerificationError("streamline", "differs", layer="out"), "streamline", "failed_late"),
    (BuildError("hw_layers", "AssertionError: cycle"), "hw_layers", "crashed"),
    (KeyError("MVAU_0"), "fold", "crashed"),
])  # fmt: skip
def test_outcomes_follow_the_promise(tmp_path, error, step, outcome):
    o = classify(error, _failed(tmp_path, step))
    assert o.outcome == outcome and o.step == step
    assert o.is_bug == (outcome in BUGS)


# Seeds of benchmarks/robustness.py cases (`case_from_seed`), each a different shape:
SAMPLE_NO_SIM = [
    3,  # CNN, 2-bit activations, strided 5x5 convs down to a 1x1 map: refused at export
    4,  # CNN, max-pool between BatchNorm and sign, {0,1} weights
    1001,  # residual, 1x1 blocks, 8-bit first/last layer, 2-bit fc, 100 fps
    1003,  # CNN, 8-bit first/last layer, prime widths
    1004,  # residual, random PE/SIMD
    107,  # +1 padding of a max-pooled sign map 1 pixel high: refused at export (was a crash)
]
SAMPLE_SIM = [7]  # CNN, stride 2, 3x3 max-pool, random PE/SIMD
SAMPLE_SLOW = [8, 20]  # residual with a 2-bit fc; CNN with 1x1 convs, 2-bit maps, 3x3 pool


def _check(case: Case, tmp_path, sim: bool):
    o = run_case(case, tmp_path / "w", sim=sim)
    assert not o.is_bug, f"seed {case.seed}: {case.describe()}: {o.outcome} at {o.step}: " \
                         f"{o.message} {o.folding}"
    if o.outcome == "built" and case.folding.seed is not None:
        # the random folding was applied, not silently replaced
        folding = json.loads((tmp_path / "w" / "build" / "folding.json").read_text())
        for part in o.folding.split():
            name, attrs = part.split(":")
            for a in attrs.split("/"):
                key = a.rstrip("0123456789")
                assert folding[name][key] == int(a[len(key):]), (name, a)
    return o


@pytest.mark.parametrize("seed", SAMPLE_NO_SIM)
def test_campaign_sample_builds_or_refuses_early(tmp_path, seed):
    _check(case_from_seed(seed), tmp_path, sim=False)


@pytest.mark.verilator
@pytest.mark.parametrize("seed", SAMPLE_SIM)
def test_campaign_sample_simulates_bit_exactly(tmp_path, seed):
    assert _check(case_from_seed(seed), tmp_path, sim=True).outcome == "built"


@pytest.mark.slow
@pytest.mark.verilator
@pytest.mark.parametrize("seed", SAMPLE_SLOW)
def test_campaign_more_cases_simulate_bit_exactly(tmp_path, seed):
    assert _check(case_from_seed(seed), tmp_path, sim=True).outcome == "built"


def test_zero_padded_bipolar_conv_builds(tmp_path):
    """Zero padding of a +-1 map is computed exactly (flows/zero_pad.py), not refused."""
    spec = NetSpec((1, 6, 6), 3, convs=(ConvSpec(4, 3, pad=1), ConvSpec(5, 3, pad=1)))
    o = run_case(Case(spec, Folding(target_fps=1e4), seed=-1), tmp_path / "w", sim=False)
    assert o.outcome == "built", o.message


def test_strided_1x1_conv_builds(tmp_path):
    """A 1x1 sliding window (FINN's 'parallel' style) is built, not refused."""
    spec = NetSpec((1, 6, 6), 3, convs=(ConvSpec(4, 1, stride=2),))
    o = run_case(Case(spec, Folding(target_fps=1e4), seed=-1), tmp_path / "w", sim=False)
    assert o.outcome == "built", o.message


def test_stride_beyond_the_map_is_refused_before_fold(tmp_path):
    """FINN asserts on it when specializing at `fold`: refused at hw_layers, named."""
    spec = NetSpec((1, 2, 2), 3, convs=(ConvSpec(4, 2, stride=3),))
    o = run_case(Case(spec, Folding(target_fps=1e4), seed=-1), tmp_path / "w", sim=False)
    assert (o.outcome, o.step) == ("refused_early", "hw_layers"), o.message
    assert "stride 3x3 over a 2x2x1 map" in o.message and "within the map" in o.message


def test_a_1x1_stride_leaving_one_output_and_pixels_over_is_refused_before_fold(tmp_path):
    """Seed 230: a 1x1 conv at stride 2 over a 2x2 map; FINN's 1x1 window fails its code
    generation at SIMD = channels and emits wrong words at SIMD 1: refused at hw_layers."""
    spec = NetSpec((1, 4, 4), 3, convs=(ConvSpec(4, 3), ConvSpec(5, 1, stride=2)))
    o = run_case(Case(spec, Folding(target_fps=1e4), seed=-1), tmp_path / "w", sim=False)
    assert (o.outcome, o.step) == ("refused_early", "hw_layers"), o.message
    assert "1x1 conv with stride 2x2 over a 2x2x4 map" in o.message, o.message
    assert "one output pixel with pixels of the map left over" in o.message


def test_residual_sign_feeding_the_8bit_output_layer_builds(tmp_path):
    """The residual's last sign is a threshold of its own (not an MVAU's): FINN's Thresholding
    layer has no +-1 output (out_scale 2), so it emits the {0,1} code and the 8-bit output layer
    reads codes (x . W = 2 b . W - colsum(W), flows/and_popcount.py)."""
    spec = NetSpec((1, 6, 6), 3, convs=(ConvSpec(2, 3),), blocks=(BlockSpec(2, 3),),
                   io_weights="int8")  # fmt: skip
    o = run_case(Case(spec, Folding(target_fps=1e4), seed=-1), tmp_path / "w", sim=False)
    assert o.outcome == "built", o.message


def test_one_channel_conv_builds(tmp_path):
    """A conv from one channel to one is no depthwise conv for FINN (flows/one_channel_conv.py)."""
    spec = NetSpec((1, 6, 6), 3, convs=(ConvSpec(1, 3, pad=1), ConvSpec(3, 3)))
    o = run_case(Case(spec, Folding(target_fps=1e4), seed=-1), tmp_path / "w", sim=False)
    assert o.outcome == "built", o.message


def test_campaign_runs_timed_out_cases_again_with_the_retry_limit(tmp_path, monkeypatch):
    """`--retry-timeouts S`: the journal's timed-out cases run again under S seconds (their
    new records replace the old), the others are not run again."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parent.parent / "benchmarks" / "robustness.py"
    spec = importlib.util.spec_from_file_location("robustness_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "r.json"
    out.with_suffix(".jsonl").write_text(
        json.dumps({"seed": 0, "case": "a", "outcome": "timeout", "message": "no result",
                    "seconds": 9.0}) + "\n"
        + json.dumps({"seed": 1, "case": "b", "outcome": "built", "seconds": 1.0}) + "\n")
    ran = []

    def fake(seed, workdir, sim, timeout):
        ran.append((seed, timeout))
        return {"seed": seed, "case": "a", "outcome": "built", "seconds": 20.0}

    monkeypatch.setattr(bench, "run_isolated", fake)
    monkeypatch.setattr(bench, "_commit", lambda: "abc")
    assert bench.main(["--cases", "2", "--out", str(out)]) == 0 and ran == []
    assert bench.main(["--cases", "2", "--out", str(out), "--retry-timeouts", "7200"]) == 0
    assert ran == [(0, 7200.0)]
    summary = json.loads(out.read_text())
    assert summary["counts"]["built"] == 2 and summary["counts"]["timeout"] == 0
    last = json.loads(out.with_suffix(".jsonl").read_text().splitlines()[-1])
    assert last["timeout_s"] == 7200.0
