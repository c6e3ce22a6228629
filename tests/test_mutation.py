"""onebit verify --mutants: single faults in copies of a build's memories, caught or not."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onebit.errors import UserInputError
from onebit.flows.mutation import Fault, Memory, _field, mutate, verify_build

WEIGHTS = Memory("L", "weights", "w.mem", 1, 8, 4)  # 4 lanes of 2 one-bit weights
THRESH = Memory("L", "thresholds", "t.mem", 6, 3, 3)  # 3 lanes of one 6-bit threshold
FINN_DAT = Memory("T", "thresholds", "T/T_threshs_0_0.dat", 0, 1, 1)


@given(st.integers(0, 255), st.integers(0, 7))
def test_weight_bit_flip_changes_exactly_that_bit(word, bit):
    f = Fault("weight_bit", "L", "w.mem", 0, f"bit {bit}")
    got = int(mutate(f"{word:02x}", f, WEIGHTS), 16)
    assert got ^ word == 1 << bit
    assert mutate(mutate(f"{word:02x}", f, WEIGHTS), f, WEIGHTS) == f"{word:02x}"


@given(st.lists(st.integers(-32, 31), min_size=3, max_size=3), st.integers(0, 2),
       st.sampled_from([-1, 1]))
def test_threshold_step_moves_one_signed_field(values, i, step):
    word = sum((v & 63) << (6 * k) for k, v in enumerate(values))
    f = Fault("threshold_step", "L", "t.mem", 0, f"threshold {i} {step:+d}")
    got = int(mutate(f"{word:05x}", f, THRESH), 16)
    want = list(values)
    want[i] = ((values[i] + step + 32) % 64) - 32  # two's complement in 6 bits
    assert [_field(got, k, 6) for k in range(3)] == want


def test_pe_swap_and_finn_threshold_value():
    # lanes (2 bits each, lane 0 lowest): 0b11, 0b00, 0b01, 0b10
    word = 0b10_01_00_11
    f = Fault("pe_swap", "L", "w.mem", 0, "PE 0 <-> PE 3")
    assert int(mutate(f"{word:02x}", f, WEIGHTS), 16) == 0b11_01_00_10
    assert mutate("080", Fault("threshold_step", "T", FINN_DAT.file, 0, "value -1"),
                  FINN_DAT) == "07f"


def _files(d):
    return {p.relative_to(d): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.verilator
def test_mutation_score_of_a_build(mlp_build, tmp_path):
    """Faults of every kind are drawn and run without touching the build's own design; more
    vectors catch at least what fewer catch; a gross fault is always caught."""
    from onebit.flows.mutation import draw_faults, memories, run_mutants
    from onebit.hw.accelerator import Accelerator

    out = tmp_path / "b"
    shutil.copytree(mlp_build[0], out)  # relocatable: the copy is a build of its own
    before = _files(out / "rtl")
    simulated = json.loads((out / "report.json").read_text())["sim"]["distinct_vectors"]
    few = verify_build(out, 12, seed=3, vectors=1)
    many = verify_build(out, 12, seed=3, vectors=8)
    assert _files(out / "rtl") == before
    assert few["injected"] == many["injected"] == 12 and many["vectors"] == 8
    assert {"weight_bit", "threshold_step"} <= set(many["kinds"])  # pe_swap needs PE > 1
    survivors = {json.dumps(s, sort_keys=True) for s in many["survivors"]}
    assert survivors <= {json.dumps(s, sort_keys=True) for s in few["survivors"]}
    assert many["caught"] >= few["caught"] and many["caught"] > 0
    report = json.loads((out / "report.json").read_text())
    assert report["mutation"]["caught"] == many["caught"] and report["mutation"]["seed"] == 3
    assert verify_build(out, 2, seed=3)["vectors"] == simulated  # default: what rtlsim ran

    rtl = out / "rtl"
    acc = Accelerator.load(rtl)
    mems = memories(acc, rtl)
    w = next(m for m in mems if m.role == "weights")
    lines = (rtl / w.file).read_text().split()
    gross = [Fault("weight_bit", w.layer, w.file, k, "bit 0") for k in range(len(lines))]
    x = np.load(out / "vectors.npz")["x"][:8]
    from onebit.flows.build import golden_contexts, golden_outputs, load_intermediate

    parent, golden_model = load_intermediate(out, "hw_layers"), load_intermediate(
        out, "dataflow_golden")
    folded = load_intermediate(out, "dataflow_folded")
    xin, golden = golden_contexts(parent, golden_model, x)
    expected = golden_outputs(golden_model, golden)
    assert any(run_mutants(acc, rtl, xin, expected, gross, mems, folded, golden))
    assert len(draw_faults(rtl, mems, 5, seed=1)) == 5


def test_a_build_without_rtl_is_refused(tmp_path):
    with pytest.raises(UserInputError, match="not a onebit build with RTL"):
        verify_build(tmp_path, 4)
