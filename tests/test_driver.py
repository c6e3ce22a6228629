"""The board driver (`onebit.driver`) against recording stand-ins of pynq and pyxrt: the
register sequence, buffer sizes and layout, syncs and packing, and the design checks."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from onebit.driver import Accelerator
from onebit.driver.errors import DeviceError, DriverError

from driver_fakes import MAGIC, Memory, ShellModel, fake_pynq, fake_pyxrt

DESIGN_ID = 0x1234ABCD
IP, KERNEL = "onebit_shell_0", "onebit_shell"
# input: 16 UINT8 per frame, 4 per 32-bit word; output: 6 INT4, 3 per 12-bit word (2 bytes)
GEOMETRY = {"in": {"bits": 8, "signed": False, "epw": 4, "words": 4, "word_bytes": 4},
            "out": {"bits": 4, "signed": True, "epw": 3, "words": 2, "word_bytes": 2}}


def reference(vals):
    return [(vals[2 * k] + vals[2 * k + 1]) % 16 - 8 for k in range(6)]


def write_bundle(root, shell="zynq", design_id=DESIGN_ID):
    root.mkdir(parents=True, exist_ok=True)
    bitfile = "onebit.bit" if shell == "zynq" else "onebit.xclbin"
    (root / bitfile).write_bytes(b"bits")
    io = {"input": {"datatype": "UINT8", "shape": [2, 2, 4], "elems_per_word": 4,
                    "word_bits": 32, "words": 4},
          "output": {"datatype": "INT4", "shape": [6], "elems_per_word": 3, "word_bits": 12,
                     "words": 2}}
    (root / "bundle.json").write_text(json.dumps({
        "format": 1, "board": "pynq-z2" if shell == "zynq" else "u250", "shell": shell,
        "clock_mhz": 100.0, "design_id": design_id, "bitfile": bitfile, "ip_name": IP,
        "kernel": KERNEL, "memory": "bank0", **io}))
    return root


@pytest.fixture
def device(monkeypatch):
    """(log, shell, install): install('pynq'|'pyxrt') puts the stand-in into sys.modules."""
    log: list = []
    shell = ShellModel(log, Memory(), GEOMETRY, reference, DESIGN_ID)

    def install(name):
        mod = fake_pynq(log, shell, IP) if name == "pynq" else fake_pyxrt(log, shell, KERNEL)
        monkeypatch.setitem(sys.modules, name, mod)

    return log, shell, install


def frames(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, 2, 2, 4)).astype(np.uint8)


def expected(x):
    return np.array([reference(list(f.reshape(-1).astype(int))) for f in x], dtype=np.float32)


CHECK_READS = [0x40, 0x44, 0x48, 0x4C, 0x50, 0x54]


def run_sequence(in_addr, out_addr, n):
    return [("write", 0x10, in_addr & 0xFFFFFFFF), ("write", 0x14, in_addr >> 32),
            ("write", 0x1C, out_addr & 0xFFFFFFFF), ("write", 0x20, out_addr >> 32),
            ("write", 0x28, n), ("write", 0x00, 1)]


def test_pynq_execute_register_sequence_buffers_and_packing(tmp_path, device):
    log, shell, install = device
    install("pynq")
    root = write_bundle(tmp_path / "deploy")
    x = frames(3)
    with Accelerator(root, "pynq", batch_size=2) as acc:
        y = acc.execute(x)
    assert y.dtype == np.float32 and y.shape == (3, 6)
    np.testing.assert_array_equal(y, expected(x))
    assert log[0] == ("Overlay", str(root / "onebit.bit"), True)
    assert [e[1] for e in log[1:7]] == CHECK_READS and all(e[0] == "read" for e in log[1:7])
    # buffers: allocated once, for the batch (2 frames x 16 B in, 2 frames x 4 B out), no target
    allocs = [e for e in log if e[0] == "allocate"]
    assert allocs == [("allocate", (32,), "uint8", None), ("allocate", (8,), "uint8", None)]
    in_addr = next(e[1] for e in log if e[0] == "sync_to_device")
    out_addr = next(e[1] for e in log if e[0] == "sync_from_device")
    body = [e for e in log[7:] if e[0] != "allocate" and not (e[0] == "read" and e[1] == 0)]
    one_run = lambda n: [("sync_to_device", in_addr, 32), *run_sequence(in_addr, out_addr, n),  # noqa: E731
                         ("sync_from_device", out_addr, 8)]
    cyc = lambda n: [("read", 0x30, n * 1000 + 77), ("read", 0x34, 0)]  # noqa: E731
    assert body == one_run(2) + cyc(2) + one_run(1) + cyc(1) + [("freebuffer", in_addr),
                                                                  ("freebuffer", out_addr)]
    # ap_done was polled (and read once set) after each start
    starts = [i for i, e in enumerate(log) if e == ("write", 0x00, 1)]
    assert all(log[i + 1][:2] == ("read", 0x00) for i in starts)


def test_pynq_bytes_in_memory_are_the_layout(tmp_path, device):
    """Input words little-endian, element 0 in the LSBs; INT4 outputs sign-decoded."""
    log, shell, install = device
    install("pynq")
    x = np.arange(16, dtype=np.uint8).reshape(1, 2, 2, 4) * 15
    with Accelerator(write_bundle(tmp_path / "d"), "pynq") as acc:
        y = acc.execute(x)
        src = acc.inbuf.address
    assert bytes(shell.mem.view(src, 16)) == bytes(x.reshape(-1))  # UINT8, 4 per LE word
    assert y.min() < 0
    np.testing.assert_array_equal(y, expected(x))


def test_pynq_alveo_allocates_in_the_linked_bank(tmp_path, device):
    log, shell, install = device
    install("pynq")
    with Accelerator(write_bundle(tmp_path / "d", shell="alveo"), "pynq") as acc:
        acc.execute(frames(1))
    assert [e[3] for e in log if e[0] == "allocate"] == ["<memory bank0>"] * 2
    assert log[0] == ("Overlay", str(tmp_path / "d" / "onebit.xclbin"), True)


def test_xrt_execute_register_sequence_and_syncs(tmp_path, device):
    log, shell, install = device
    install("pyxrt")
    root = write_bundle(tmp_path / "deploy", shell="alveo")
    x = frames(4, seed=3)
    with Accelerator(root, "xrt", batch_size=4) as acc:
        y = acc.execute(x)
    np.testing.assert_array_equal(y, expected(x))
    xclbin = str(root / "onebit.xclbin")
    assert log[:4] == [("device", 0), ("xclbin", xclbin), ("load_xclbin", xclbin),
                       ("kernel", "uuid-1", KERNEL, "exclusive")]
    assert [e[1] for e in log[4:10]] == CHECK_READS
    bos = [e for e in log if e[0] == "bo"]
    assert bos == [("bo", 64, "normal", 10), ("bo", 16, "normal", 11)]  # group_id(0), (1)
    in_addr, out_addr = shell.mem.regions  # allocation order
    body = [e for e in log[10:] if e[0] != "bo" and not (e[0] == "read" and e[1] == 0)]
    assert body == [("bo.write", in_addr, 64, 0), ("bo.sync", in_addr, "to_device", 64, 0),
                    *run_sequence(in_addr, out_addr, 4),
                    ("bo.sync", out_addr, "from_device", 16, 0), ("bo.read", out_addr, 16, 0),
                    ("read", 0x30, 4077), ("read", 0x34, 0)]


def test_throughput_test_uses_the_cycle_counter(tmp_path, device):
    log, shell, install = device
    install("pynq")
    with Accelerator(write_bundle(tmp_path / "d"), "pynq", batch_size=8) as acc:
        r = acc.throughput_test()
    assert r["frames"] == 8 and r["cycles"] == 8077
    assert r["cycles_per_frame"] == pytest.approx(8077 / 8)
    assert r["hw_fps"] == pytest.approx(8 / (8077 / 100e6))
    assert r["wall_s"] > 0


def test_wrong_design_on_the_device_is_refused(tmp_path, device):
    log, shell, install = device
    install("pynq")
    with pytest.raises(DeviceError, match="runs design 0x1234abcd, the bundle is design "
                                          "0x00000007"):
        Accelerator(write_bundle(tmp_path / "d", design_id=7), "pynq")
    shell.regs[0x40] = 0
    with pytest.raises(DeviceError, match="no onebit shell"):
        Accelerator(write_bundle(tmp_path / "e"), "pynq")
    shell.regs[0x40], shell.regs[0x50] = MAGIC, 5
    with pytest.raises(DeviceError, match="IN_WORDS reads 5, the bundle says 4"):
        Accelerator(write_bundle(tmp_path / "f"), "pynq")


def test_bad_input_and_missing_pieces_are_one_line_errors(tmp_path, device, monkeypatch):
    log, shell, install = device
    with pytest.raises(DriverError, match="not a onebit bundle"):
        Accelerator(tmp_path, "pynq")
    root = write_bundle(tmp_path / "d")
    monkeypatch.setitem(sys.modules, "pynq", None)
    with pytest.raises(DriverError, match="needs the pynq package"):
        Accelerator(root, "pynq")
    install("pynq")
    with Accelerator(root, "pynq") as acc:
        with pytest.raises(DriverError, match=r"expected \(N, 2, 2, 4\)"):
            acc.execute(np.zeros((1, 3)))
        with pytest.raises(DriverError, match="value 256.0 at flat index 0 is not a UINT8"):
            acc.execute(np.full((1, 16), 256))
        with pytest.raises(DriverError, match="this bundle has no runtime-writable layers"):
            acc.load_weights(tmp_path)
    with pytest.raises(DriverError, match="unknown backend 'fpga'"):
        Accelerator(root, "fpga")
    (root / "onebit.bit").unlink()
    with pytest.raises(DriverError, match="onebit.bit is missing"):
        Accelerator(root, "pynq")


LAYER = {"name": "MVAU_hls_1", "mw": 8, "mh": 4, "simd": 4, "pe": 2, "weight_type": "BIPOLAR",
         "n_thres": 1, "acc_bits": 5, "acc_lo": -8, "acc_hi": 8, "base": 0x1000}


def test_load_weights_writes_the_window_through_the_registers(tmp_path, device):
    from onebit.driver.weights import write_dir

    log, shell, install = device
    install("pynq")
    root = write_bundle(tmp_path / "b")
    d = json.loads((root / "bundle.json").read_text())
    (root / "bundle.json").write_text(json.dumps({**d, "weights": [LAYER]}))
    w = np.where(np.arange(32).reshape(8, 4) % 3 == 0, 1, -1)  # (MW, MH)
    t = np.array([[-2.5], [0], [3.2], [100]])  # ceil, clamped into [lo, hi + 1]
    with Accelerator(root, "pynq") as acc:
        del log[:]
        assert acc.load_weights(write_dir(tmp_path / "w", {"MVAU_hls_1": (w, t)})) == 4 + 2
    assert log[0] == ("read", 0x00, 0x4)  # idle
    writes = [e[1:] for e in log[1:]]
    # weight word nf*SF+sf: rows nf*2+pe, columns sf*4+s at bit pe*4+s; +1 -> 1
    def word(nf, sf):
        return sum(1 << (p * 4 + s) for p in range(2) for s in range(4)
                   if w[sf * 4 + s, nf * 2 + p] > 0)
    assert writes[:4] == [(0x1000 + 4 * i, word(i // 2, i % 2)) for i in range(4)]
    # thresholds at base + S (S = 16 bytes): word nf, row nf*2+pe at bits pe*5, INT5
    thr = [-2, 0, 4, 9]
    assert writes[4:] == [(0x1010 + 4 * nf, (thr[2 * nf] & 31) | (thr[2 * nf + 1] & 31) << 5)
                          for nf in range(2)]
    with Accelerator(root, "pynq") as acc:
        bad = write_dir(tmp_path / "bad", {"MVAU_hls_1": (np.zeros((8, 4)), None)})
        with pytest.raises(DriverError, match="MVAU_hls_1: weights hold values outside BIPOLAR"):
            acc.load_weights(bad)
        with pytest.raises(DriverError, match=r"'MVAU_hls_7' has no weight window \(runtime-"
                           r"writable layers: MVAU_hls_1\)"):
            acc.load_weights(write_dir(tmp_path / "x", {"MVAU_hls_7": (w, None)}))


def test_driver_command_line(tmp_path, device, capsys):
    from onebit.driver.cli import main

    log, shell, install = device
    install("pynq")
    root = write_bundle(tmp_path / "d")
    x = frames(5, seed=9)
    np.save(tmp_path / "x.npy", x)
    argv = ["--exec_mode", "execute", "--input", str(tmp_path / "x.npy"), "--output",
            str(tmp_path / "y.npy"), "--batchsize", "2", "--backend", "pynq"]
    assert main(argv, bundle_dir=root) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected(x))
    assert main(["--exec_mode", "throughput_test", "--batchsize", "4", "--report",
                 str(tmp_path / "t.json")], bundle_dir=root) == 0
    assert json.loads((tmp_path / "t.json").read_text())["cycles"] == 4077
    assert main(["--input", str(tmp_path / "nope.npy")], bundle_dir=root) == 1
    assert capsys.readouterr().err.strip().endswith("nope.npy: no such file")
