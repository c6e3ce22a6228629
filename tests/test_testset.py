"""`onebit sim BUILD --test-set`: the whole test split through the simulated accelerator, every
output checked, the hardware's accuracy equal to torch's; the batched golden execution."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from onebit.errors import UserInputError, VerificationError

from test_cli import _one_line_error, onebit


@pytest.fixture(scope="module")
def digits_build(tmp_path_factory):
    """tfc trained briefly on digits and built (its checkpoint holds torch's test accuracy)."""
    d = tmp_path_factory.mktemp("testset")
    r = onebit("-q", "train", "--epochs", "2", "--out", str(d / "tfc.pt"))
    assert r.returncode == 0, r.stderr
    r = onebit("-q", "build", str(d / "tfc.pt"), "--out", str(d / "b"), "--vectors", "8",
               "--frames", "8", "--directed", "0", "--no-layer-check")
    assert r.returncode == 0, r.stderr
    return d / "b"


def test_golden_batched_equals_finn_per_image(mlp_build):
    from qonnx.core.onnx_exec import execute_onnx

    from onebit.flows.build import load_intermediate
    from onebit.flows.golden import Golden

    out = mlp_build[0]
    parent = load_intermediate(out, "hw_layers")
    x = np.load(out / "vectors.npz")["x"]
    golden = Golden(parent, load_intermediate(out, "dataflow_golden"))
    xin, df, final = golden(x)
    assert golden.dataflow.batched
    sdp = next(n for n in parent.graph.node if n.op_type == "StreamingDataflowPartition")
    iname = parent.graph.input[0].name
    for i, v in enumerate(x):
        ctx = execute_onnx(parent, {iname: v.reshape(parent.get_tensor_shape(iname))},
                           return_full_exec_context=True)
        assert np.array_equal(ctx[sdp.input[0]].reshape(-1), xin[i].reshape(-1))
        assert np.array_equal(ctx[sdp.output[0]].reshape(-1), df[i])
        assert np.array_equal(ctx[parent.graph.output[0].name].reshape(-1), final[i])


@pytest.mark.verilator
def test_test_set_accuracy_is_torchs(digits_build):
    from onebit import data

    r = onebit("sim", str(digits_build), "--test-set")
    assert r.returncode == 0, r.stderr
    assert "every output bit-exact" in r.stdout and "the same" in r.stdout
    report = json.loads((digits_build / "report.json").read_text())
    t = report["sim"]["test_set"]
    n = len(data.load("digits").split("test")[1])
    assert t["frames"] == n and t["bit_exact"] and t["golden_batched"]
    assert t["accuracy"] == report["meta"]["test_accuracy"] and t["matches_torch"]
    assert t["frames_per_s"] > 0 and t["jobs"] == 2
    assert t["compile_s"] >= 0 and t["frames_per_s_steady"] >= t["frames_per_s"]


@pytest.mark.verilator
def test_test_set_names_the_first_wrong_image(digits_build, tmp_path):
    """A layer's weights inverted in a copy of the design: the run fails naming a test image
    (a single bit may well be invisible: the digits' border pixels are all 0)."""
    from onebit.flows.mutation import memories
    from onebit.flows.testset import run_test_set
    from onebit.hw.accelerator import Accelerator

    out = tmp_path / "b"
    shutil.copytree(digits_build, out)
    rtl = out / "rtl"
    mem = next(m for m in memories(Accelerator.load(rtl), rtl) if m.role == "weights")
    lines = (rtl / mem.file).read_text().split()
    ones = (1 << mem.bits * mem.fields) - 1
    lines = [f"{int(w, 16) ^ ones:0{len(w)}x}" for w in lines]  # every weight of the layer
    (rtl / mem.file).write_text("\n".join(lines) + "\n")
    with pytest.raises(VerificationError, match="test image") as e:
        run_test_set(out, limit=64, jobs=1)
    assert e.value.stage == "rtlsim" and e.value.index[0] < 64


def test_test_set_needs_a_dataset(mlp_build):
    from onebit.flows.testset import run_test_set

    with pytest.raises(UserInputError, match="names no dataset; give --dataset"):
        run_test_set(mlp_build[0])


def test_test_set_options_go_together(tmp_path):
    _one_line_error(onebit("sim", str(tmp_path), "--limit", "5"),
                    "--dataset, --data-dir and --limit go with --test-set")
    _one_line_error(onebit("sim", str(tmp_path), "--test-set"), "is not a onebit build with RTL")
