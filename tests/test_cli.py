"""The `onebit` command line: one-line errors with a non-zero exit, help everywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = ["datasets", "train", "export", "build", "explore", "sim", "report", "verify", "demo",
            "boards", "bitstream"]


def onebit(*args: str, cwd=None) -> subprocess.CompletedProcess:
    code = "from onebit.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def _one_line_error(r: subprocess.CompletedProcess, match: str) -> None:
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("onebit: error: "), r.stderr
    assert match in lines[0]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help(cmd):
    r = onebit(cmd, "--help")
    assert r.returncode == 0 and "Usage:" in r.stdout


def test_malformed_onnx(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_text("this is not protobuf")
    r = onebit("build", str(bad), "--out", str(tmp_path / "b"), "--no-sim")
    _one_line_error(r, "not a valid ONNX model")
    report = tmp_path / "b" / "report.json"
    assert not report.exists() or '"status": "failed"' in report.read_text()


def test_unknown_board(tmp_path):
    r = onebit("build", "bnn_pynq:tfc", "--out", str(tmp_path / "b"), "--board", "kc705")
    _one_line_error(r, "unknown board 'kc705'")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("args, match", [
    (["bnn_pynq:tfc", "--fps", "1e3:1e5:3", "--board", "kc705"], "unknown board 'kc705'"),
    (["bnn_pynq:tfc", "--fps", "1e5:1e3:3"], "--fps 1e5:1e3:3: expected 0 < A <= B"),
    (["bnn_pynq:tfc", "--fps", "fast"], "--fps 'fast': expected A:B:N"),
    (["bnn_pynq:tfc"], "nothing to explore: give --fps and/or --folding"),
    (["bnn_pynq:tfc", "--folding", "missing.json"], "--folding missing.json: no such file"),
    (["resnet50", "--fps", "1e3"], "'resnet50' is neither a file nor bnn_pynq:"),
])
def test_explore_bad_input_before_any_work(tmp_path, args, match):
    r = onebit("explore", *args, "--out", str(tmp_path / "x"), cwd=tmp_path)
    _one_line_error(r, match)
    assert not (tmp_path / "x").exists()


def test_bitstream_needs_a_build(tmp_path):
    _one_line_error(onebit("bitstream", str(tmp_path)), "is not a onebit build (no report.json)")


def test_missing_dataset(tmp_path):
    r = onebit("train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out",
               str(tmp_path / "m.pt"))
    _one_line_error(r, "dataset 'mnist' not found")
    assert not (tmp_path / "m.pt").exists()


def test_unknown_model_spec(tmp_path):
    r = onebit("build", "resnet50", "--out", str(tmp_path / "b"))
    _one_line_error(r, "neither a file nor bnn_pynq")


def test_train_export_roundtrip(tmp_path):
    ckpt = tmp_path / "tfc.pt"
    r = onebit("-q", "train", "--epochs", "2", "--out", str(ckpt))
    assert r.returncode == 0, r.stderr
    r = onebit("export", str(ckpt), "--out", str(tmp_path / "tfc.onnx"), "--vectors", "8")
    assert r.returncode == 0, r.stderr
    assert "QONNX equals torch on 8 test images" in r.stdout
    assert (tmp_path / "tfc.onnx").exists()


def test_sim_needs_a_build(tmp_path):
    r = onebit("sim", str(tmp_path))
    _one_line_error(r, "is not a onebit build with RTL")


def test_train_with_a_recipe_builds(tmp_path):
    """A recipe with 8-bit first/last layers: the checkpoint reloads as that network."""
    ckpt = tmp_path / "irnet.pt"
    r = onebit("-q", "train", "--recipe", "irnet", "--arch", "cnv", "--epochs", "1",
               "--io-weights", "int8", "--out", str(ckpt))
    assert r.returncode == 0, r.stderr
    from onebit.models.checkpoint import load_checkpoint

    net, meta = load_checkpoint(ckpt)
    assert net.arch_kwargs["io_weights"] == "int8"
    assert net.layers.out.quant_weight().value.abs().max() == 127
    stage = tmp_path / "irnet.binary.pt"
    assert stage.is_file()
    mtime = stage.stat().st_mtime_ns
    r = onebit("-q", "train", "--recipe", "irnet", "--arch", "cnv", "--epochs", "1",
               "--io-weights", "int8", "--resume", "--out", str(ckpt))
    assert r.returncode == 0, r.stderr
    assert stage.stat().st_mtime_ns == mtime  # the stage was loaded, not trained again
    assert load_checkpoint(ckpt)[1]["test_accuracy"] == meta["test_accuracy"]
    r = onebit("build", str(ckpt), "--out", str(tmp_path / "b"), "--no-sim", "--vectors", "4")
    assert r.returncode == 0, r.stderr
    assert "hw_layers    verified vs qonnx" in r.stdout
    # not a terminal (a CI log): one line per step, no carriage-return redraws
    assert "build: export (1/" in r.stdout and "build: estimate (" in r.stdout
    assert "\r" not in r.stdout + r.stderr


def test_training_progress_in_a_log_is_one_line_per_epoch(tmp_path):
    r = onebit("train", "--epochs", "2", "--out", str(tmp_path / "tfc.pt"))
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "epoch 1/2: loss" in out and "epoch 2/2: loss" in out
    assert "\r" not in out and "batch/s" not in out


def test_train_refuses_a_torch_only_recipe(tmp_path):
    ckpt = tmp_path / "free.pt"
    r = onebit("-q", "train", "--recipe", "ftbnn-free", "--epochs", "1", "--out", str(ckpt))
    _one_line_error(r, "recipe 'ftbnn-free' trains a torch-only variant")
    assert not ckpt.exists() and not list(tmp_path.iterdir())
