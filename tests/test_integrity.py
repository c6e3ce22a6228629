"""Build integrity: a build directory never claims what it did not verify, and no input gets a
traceback. Bad inputs as a careless or hostile user gives them, real signals sent to real
builds, concurrent and moved builds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import torch

from onebit.flows.builddir import LOCK, claim
from onebit.hw import verilator

CLI = "from onebit.cli import main; main()"


def onebit(*args: str, cwd=None, env=None, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI, *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def one_line_error(r: subprocess.CompletedProcess, match: str) -> None:
    """Non-zero exit, exactly one line on stderr, `onebit: error: ...` containing `match`."""
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode in (1, 2), r.stderr
    assert len(lines) == 1 and lines[0].startswith("onebit: error: "), r.stderr
    assert match in lines[0], lines[0]


def no_ok_report(out: Path) -> None:
    """Nothing left that looks like a verified build."""
    report = out / "report.json"
    assert not report.exists() or json.loads(report.read_text())["status"] != "ok"
    assert not (out / "report.json.tmp").exists()


@pytest.fixture(scope="module")
def digits_ckpt(tmp_path_factory) -> Path:
    ckpt = tmp_path_factory.mktemp("ckpt") / "tfc.pt"
    r = onebit("-q", "train", "--epochs", "1", "--out", str(ckpt))
    assert r.returncode == 0, r.stderr
    return ckpt


# ------------------------------------------------------------------ bad inputs, one line each

BAD_BUILD_OPTIONS = [
    (["--vectors", "0"], "'--vectors': 0 is not in the range"),
    (["--vectors", "-3"], "'--vectors': -3 is not in the range"),
    (["--frames", "0"], "'--frames': 0 is not in the range"),
    (["--target-fps", "0"], "'--target-fps': 0 is not a frame rate in (0, 1e+12]"),
    (["--target-fps", "inf"], "'--target-fps': inf is not a frame rate"),
    (["--target-fps", "nan"], "'--target-fps': nan is not a frame rate"),
    (["--target-fps", "1e15"], "'--target-fps': 1e15 is not a frame rate"),
    (["--target-fps", "fast"], "'--target-fps': 'fast' is not a number"),
    (["--synth", "--no-sim"], "--synth synthesizes the simulated RTL: drop --no-sim"),
    (["--folding", "/nonexistent/f.json"], "--folding /nonexistent/f.json: no such file"),
    (["--board", "kc705"], "unknown board 'kc705'"),
]


@pytest.mark.parametrize("opts,match", BAD_BUILD_OPTIONS, ids=[" ".join(o) for o, _ in
                                                               BAD_BUILD_OPTIONS])
def test_bad_build_option_is_one_line_before_any_work(tmp_path, opts, match):
    out = tmp_path / "b"
    r = onebit("build", "bnn_pynq:tfc", "--out", str(out), *opts, timeout=120)
    one_line_error(r, match)
    assert not out.exists()


def test_bad_out_directories(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    one_line_error(onebit("build", "bnn_pynq:tfc", "--out", str(f)), "is a file, not a directory")
    one_line_error(onebit("build", "bnn_pynq:tfc", "--out", str(f / "sub")),
                   "is a file, not a directory")
    assert f.read_text() == "x"


def test_foreign_files_are_never_cleared(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    (out / "rtl").mkdir()
    r = onebit("build", "bnn_pynq:tfc", "--out", str(out), "--no-sim")
    one_line_error(r, "holds files onebit did not write (thesis.tex)")
    assert (out / "thesis.tex").read_text() == "years of work" and (out / "rtl").is_dir()


def test_bad_train_and_export_inputs(tmp_path, digits_ckpt):
    one_line_error(onebit("train", "--lr", "-1", "--out", str(tmp_path / "m.pt")),
                   "'--lr': -1.0 is not in the range")
    one_line_error(onebit("train", "--epochs", "0", "--out", str(tmp_path / "m.pt")),
                   "'--epochs': 0 is not in the range")
    one_line_error(onebit("train", "--out", str(tmp_path)), "is a directory")
    one_line_error(onebit("export", str(tmp_path / "model.onnx"), "--out",
                          str(tmp_path / "y.onnx")), "export takes a onebit checkpoint")
    one_line_error(onebit("export", str(digits_ckpt), "--out", str(tmp_path / "y.onnx"),
                          "--vectors", "0"), "'--vectors': 0 is not in the range")
    assert not list(tmp_path.iterdir())
    # a folder that does not exist yet is made for the checkpoint
    nested = tmp_path / "new" / "dir" / "m.pt"
    assert onebit("-q", "train", "--epochs", "1", "--out", str(nested)).returncode == 0
    assert nested.is_file()


def test_export_writes_only_a_verified_readable_file(tmp_path, digits_ckpt):
    out = tmp_path / "m.onnx"
    r = onebit("export", str(digits_ckpt), "--out", str(out), "--vectors", "4")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
    assert out.stat().st_mode & 0o044 == 0o044  # readable by others, as any written file


def test_foreign_checkpoints(tmp_path, digits_ckpt):
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    one_line_error(onebit("build", str(plain), "--out", str(tmp_path / "b")),
                   "is not a onebit checkpoint")
    pickled = tmp_path / "pickled.pt"
    torch.save(torch.nn.Linear(2, 2), pickled)
    one_line_error(onebit("build", str(pickled), "--out", str(tmp_path / "b")),
                   "is not a onebit checkpoint")
    # a digits network (8x8) asked to verify on Fashion-MNIST (28x28)
    r = onebit("build", str(digits_ckpt), "--out", str(tmp_path / "b"), "--dataset",
               "fashion-mnist")
    if "not found" in r.stderr:
        pytest.skip("Fashion-MNIST is not installed")
    one_line_error(r, "takes inputs of shape (1, 8, 8), the dataset has (1, 28, 28)")
    assert not (tmp_path / "b").exists()


def test_sim_of_what_is_not_a_simulated_build(tmp_path):
    one_line_error(onebit("sim", str(tmp_path)), "is not a onebit build with RTL")
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / "report.json").write_text(json.dumps({"status": "failed", "failed_step": "fold"}))
    one_line_error(onebit("sim", str(failed)), "its build failed at step 'fold'")


def test_broken_verilator_toolchain_is_named(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(verilator.shutil, "which",
                        lambda exe: None if exe in ("make", "perl") else real(exe))
    with pytest.raises(verilator.ToolNotFoundError,
                       match="missing: make, perl .install: apt-get install make perl"):
        verilator.check_compile_tools()


# ------------------------------------------------------------------ processes and signals


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_stale_verilator_temp_dirs_are_removed(tmp_path):
    dead, live = tmp_path / ".onebit_sim_top-dead", tmp_path / ".onebit_sim_top-live"
    for d, pid in ((dead, _dead_pid()), (live, os.getpid())):
        d.mkdir()
        (d / verilator.OWNER).write_text(f"{pid}\n")
    verilator.remove_stale_builds(tmp_path)
    assert not dead.exists() and live.exists()


def _default_sigint() -> None:
    """A child that takes Ctrl-C as a user's shell gives it, even where pytest itself runs with
    SIGINT ignored (a background job: Python then installs no KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def test_tool_process_group_dies_with_an_interrupted_caller(tmp_path):
    """A tool's grandchildren (make -> c++) are killed when onebit is interrupted."""
    pidfile = tmp_path / "grandchild"
    code = ("from onebit.hw import proc\n"
            f"proc.run(['bash', '-c', 'sleep 300 & echo $! > {pidfile}; wait'])\n")
    p = subprocess.Popen([sys.executable, "-c", code], preexec_fn=_default_sigint)
    deadline = time.time() + 60
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.time() < deadline:
        time.sleep(0.1)
    grandchild = int(pidfile.read_text())
    assert psutil.pid_exists(grandchild)
    p.send_signal(signal.SIGINT)
    p.wait(timeout=30)
    gone = psutil.wait_procs([psutil.Process(grandchild)], timeout=10)[0] if \
        psutil.pid_exists(grandchild) else True
    assert gone and not (psutil.pid_exists(grandchild)
                         and psutil.Process(grandchild).status() != psutil.STATUS_ZOMBIE)


def test_kill_all_stops_the_tools_of_every_thread(tmp_path):
    """What a process about to exit on a signal calls (the robustness campaign's timed-out
    cases): the tools its worker threads wait for die too, with their children."""
    from concurrent.futures import ThreadPoolExecutor

    from onebit.hw import proc

    pidfiles = [tmp_path / f"g{i}" for i in range(2)]
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(proc.run, ["bash", "-c", f"sleep 300 & echo $! > {f}; wait"])
                for f in pidfiles]
        deadline = time.time() + 60
        while not all(f.exists() and f.read_text().strip() for f in pidfiles) \
                and time.time() < deadline:
            time.sleep(0.1)
        t0 = time.time()
        proc.kill_all()
        codes = [r.result(timeout=30).returncode for r in runs]
    assert codes == [-signal.SIGKILL] * 2 and time.time() - t0 < 30 and not proc._LIVE
    for f in pidfiles:
        pid = int(f.read_text())
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("sig,rc", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_build_says_so_and_leaves_no_compiler(tmp_path, sig, rc):
    """A real signal during the rtl step: exit 128+n, report 'interrupted' at that step."""
    out = tmp_path / "b"
    home = tmp_path / "home"  # an empty Verilator cache: the rtl step compiles
    home.mkdir()
    env = dict(os.environ, HOME=str(home))
    p = subprocess.Popen([sys.executable, "-c", CLI, "-q", "build", "bnn_pynq:tfc", "--out",
                          str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=_default_sigint)
    proc = psutil.Process(p.pid)
    deadline = time.time() + 600
    compilers: list[psutil.Process] = []
    while time.time() < deadline and p.poll() is None:
        compilers = [c for c in proc.children(recursive=True)
                     if c.name() in ("make", "cc1plus", "c++", "g++", "verilator_bin")]
        if compilers:
            break
        time.sleep(0.2)
    assert compilers, "the build never started Verilator"
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == rc, err
    assert err.strip().splitlines()[-1] == f"onebit: interrupted ({signal.Signals(sig).name})"
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "interrupted" and report["failed_step"] == "rtl"
    assert "rtlsim" not in report["stages"]
    psutil.wait_procs([c for c in compilers if c.is_running()], timeout=10)
    alive = [c for c in compilers if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, alive


def test_a_locked_build_directory_is_refused(tmp_path):
    out = tmp_path / "b"
    with claim(out, fresh=False):
        r = onebit("build", "bnn_pynq:tfc", "--out", str(out), "--no-sim")
        one_line_error(r, f"is in use by another onebit process (pid {os.getpid()})")
        r = onebit("sim", str(out))
        one_line_error(r, "is not a onebit build with RTL")  # no report: checked before
    assert sorted(p.name for p in out.iterdir()) == [LOCK]


def test_rebuild_keeps_nothing_of_the_previous_build(tmp_path):
    out = tmp_path / "b"
    for stale in ("rtl/Conv_old_layer", "finn/dataflow_partition_old", "intermediate"):
        (out / stale).mkdir(parents=True)
    (out / "intermediate" / "09_old_step.onnx").write_text("old")
    (out / "report.json").write_text(json.dumps({"status": "ok", "model": "cnv"}))
    r = onebit("-q", "build", "bnn_pynq:tfc", "--out", str(out), "--no-sim", "--vectors", "4")
    assert r.returncode == 0, r.stderr
    assert not (out / "rtl").exists() and not (out / "finn" / "dataflow_partition_old").exists()
    assert not (out / "intermediate" / "09_old_step.onnx").exists()
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "ok" and report["model"] == "bnn_pynq:tfc"
    r = onebit("sim", str(out))
    one_line_error(r, "it was built with --no-sim")


def test_estimate_over_the_board_warns_and_strict_fails(tmp_path):
    out = tmp_path / "b"
    r = onebit("build", "bnn_pynq:lfc", "--out", str(out), "--no-sim", "--vectors", "2",
               "--target-fps", "1e12")
    assert r.returncode == 0, r.stderr
    assert "warning: the estimate does not fit xc7z020clg400-1 (LUT" in r.stdout
    fit = json.loads((out / "report.json").read_text())["fit"]
    assert fit["fits"] is False and fit["resources"]["LUT"]["capacity"] == 53_200
    r = onebit("build", "bnn_pynq:lfc", "--out", str(out), "--no-sim", "--vectors", "2",
               "--target-fps", "1e12", "--strict")
    one_line_error(r, "the estimate does not fit pynq-z2 (xc7z020clg400-1): LUT")
    report = json.loads((out / "report.json").read_text())
    assert report["status"] == "failed" and report["failed_step"] == "estimate"


# ------------------------------------------------------------------ relocatable builds


def _flip_first_weight_bit(build: Path) -> None:
    """In the output layer (accumulators out, no thresholds), so every frame shows it."""
    mem = next(m for m in sorted((build / "rtl").glob("MVAU*/*_weights.mem"))
               if not list(m.parent.glob("*_thres.mem")))
    lines = mem.read_text().splitlines()
    lines[0] = format(int(lines[0], 16) ^ 1, f"0{len(lines[0])}x")
    mem.write_text("\n".join(lines) + "\n")


def test_moved_and_copied_builds_simulate_their_own_files(tmp_path):
    """Built with a relative --out, moved, copied; the original corrupted: the copy still
    simulates bit-exactly from another directory, and the corrupted one fails."""
    work = tmp_path / "work"
    work.mkdir()
    r = onebit("-q", "build", "bnn_pynq:tfc", "--out", "rel", "--vectors", "8", "--frames",
               "8", "--directed", "0", cwd=work)
    assert r.returncode == 0, r.stderr
    assert not [p for p in (work / "rel").rglob("*") if p.is_file() and str(work) in
                p.read_bytes().decode(errors="replace")], "absolute paths in the build"
    moved = tmp_path / "moved"
    (work / "rel").rename(moved)
    copy = tmp_path / "copy"
    shutil.copytree(moved, copy, symlinks=True)
    _flip_first_weight_bit(moved)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = onebit("sim", str(copy), "--frames", "24", cwd=elsewhere)
    assert r.returncode == 0, r.stderr
    assert "rtlsim: bit-exact on 24 frames (8 distinct vectors)" in r.stdout
    assert "rtlsim       verified vs finn_golden on 8 vectors" in r.stdout
    report = json.loads((copy / "report.json").read_text())
    assert report["status"] == "ok" and report["sim"]["distinct_vectors"] == 8
    r = onebit("sim", str(moved), cwd=elsewhere)
    assert r.returncode == 1 and "verification of stage 'rtlsim' failed" in r.stderr
    assert json.loads((moved / "report.json").read_text())["status"] == "failed"
    assert np.load(copy / "vectors.npz")["x"].shape[0] == 8


def test_two_builds_of_one_model_are_identical_but_for_timings(tmp_path):
    dirs = [tmp_path / "a", tmp_path / "b"]
    for d in dirs:
        r = onebit("-q", "build", "bnn_pynq:tfc", "--out", str(d), "--no-sim", "--vectors", "4")
        assert r.returncode == 0, r.stderr
    files = sorted(p.relative_to(dirs[0]) for p in dirs[0].rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(dirs[1]) for p in dirs[1].rglob("*") if p.is_file())
    reports = [json.loads((d / "report.json").read_text()) for d in dirs]
    for r in reports:
        r.pop("timings_s")
    assert reports[0] == reports[1]
    differ = [str(f) for f in files if f.name != "report.json"
              and (dirs[0] / f).read_bytes() != (dirs[1] / f).read_bytes()]
    assert not differ, differ


def test_a_full_disk_leaves_no_half_written_report(tmp_path, monkeypatch):
    """ENOSPC while writing the report: one line, the old report intact, no temporary file."""
    import errno

    from onebit.errors import UserInputError
    from onebit.flows.build import write_report

    path = tmp_path / "report.json"
    path.write_text('{"status": "failed"}')

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(UserInputError, match="cannot write .*report.json: No space left"):
        write_report(path, {"status": "ok"})
    monkeypatch.undo()
    assert path.read_text() == '{"status": "failed"}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
