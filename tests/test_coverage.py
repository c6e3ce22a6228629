"""RTL coverage (`hw/coverage.py`, `--coverage`): coverage.dat parsing, the per-layer summary,
and a build's coverage growing with its vectors."""

from __future__ import annotations

import json
import shutil

import pytest

from onebit.hw import coverage

DUT = "TOP.onebit_sim_top.dut"


def _point(kind: str, file: str, line: int, comment: str, hier: str, count: int) -> str:
    keys = [("f", file), ("l", str(line)), ("n", "3"), ("t", kind),
            ("page", f"v_{kind}/m"), ("o", comment), ("h", hier)]
    return "C '" + "".join(f"\x01{k}\x02{v}" for k, v in keys) + f"' {count}\n"


def _write(d, lines, functional):
    d.mkdir()
    (d / coverage.DAT).write_text("# SystemC::Coverage-3\n" + "".join(lines))
    (d / coverage.FUNCTIONAL).write_text("".join(f"{r}\n" for r in functional))


def test_summary_of_a_hand_written_run(tmp_path):
    """Points go to the layer whose instance holds them (submodules included), FIFOs apart, the
    top and the wrapper nowhere; a finn-rtllib layer is outside the total."""
    m = "/elsewhere/rtl/lib/onebit_mvau.sv"
    lines = [
        _point("line", m, 10, "block", f"{DUT}.u_MVAU_0", 5),
        _point("line", m, 12, "block", f"{DUT}.u_MVAU_0", 0),
        _point("branch", m, 12, "if", f"{DUT}.u_MVAU_0", 1),
        _point("toggle", m, 3, "go:0->1", f"{DUT}.u_MVAU_0", 2),
        _point("toggle", m, 3, "go:1->0", f"{DUT}.u_MVAU_0", 0),
        _point("toggle", "/x/lib/onebit_fifo.sv", 5, "v:0->1", f"{DUT}.u_MVAU_0.u_out", 1),
        _point("toggle", "/x/lib/onebit_fifo.sv", 5, "v:0->1", f"{DUT}.u_MVAU_01.u_out", 0),
        _point("line", "/x/lib/onebit_fifo.sv", 7, "block", f"{DUT}.u_fifo_2", 3),
        _point("line", "/x/lib/onebit_fifo.sv", 8, "block", f"{DUT}.u_fifo_2", 0),
        _point("toggle", "/x/Thresholding_rtl_0/thresholding.sv", 9, "a:0->1",
               f"{DUT}.u_Thresholding_rtl_0.core", 0),
        _point("line", "/x/Thresholding_rtl_0/thresholding.sv", 9, "block",
               f"{DUT}.u_Thresholding_rtl_0.core", 7),
        _point("toggle", "/x/onebit_accel.sv", 1, "e1_p_tvalid:0->1", DUT, 0),
        _point("toggle", "/x/onebit_sim_top.sv", 1, "clk:0->1", "TOP.onebit_sim_top", 0),
    ]
    functional = [
        f"{DUT}.u_MVAU_0.unnamedblk1 weight_words 6 8",
        f"{DUT}.u_MVAU_0.unnamedblk1 input_columns 3 4",
        f"{DUT}.u_MVAU_0.g_thres.unnamedblk2 thresholds 1 2 0 4",
        f"{DUT}.u_MVAU_01.unnamedblk1 weight_words 8 8",
    ]
    d = tmp_path / "cov"
    _write(d, lines, functional)
    layers = ["MVAU_0", "Thresholding_rtl_0", "MVAU_01"]
    sources = [tmp_path / "rtl" / "lib" / "onebit_mvau.sv", tmp_path / "rtl" / "onebit_accel.sv"]
    s = coverage.summarize_run(d, layers, sources, tmp_path / "rtl")
    mv = s["layers"]["MVAU_0"]
    assert mv["rtl"] == "onebit"
    assert (mv["line"], mv["branch"], mv["toggle"]) == (0.5, 1.0, round(2 / 3, 4))
    assert (mv["weight_words_read"], mv["weights_exercised"], mv["thresholds_both_ways"]) == (
        0.75, 0.75, 0.25)
    assert mv["points"]["thresholds"] == [1, 2, 0, 4]
    other = s["layers"]["MVAU_01"]  # u_MVAU_01 is not u_MVAU_0's
    assert (other["toggle"], other["weight_words_read"]) == (0.0, 1.0)
    assert other["thresholds_both_ways"] is None and other["line"] is None
    th = s["layers"]["Thresholding_rtl_0"]
    assert (th["rtl"], th["line"], th["toggle"]) == ("finn-rtllib", 1.0, 0.0)
    assert s[coverage.FIFOS]["line"] == 0.5
    # the total: onebit's RTL in layers and stream FIFOs, not the top, wrapper or finn-rtllib
    assert s["total"]["points"]["line"] == [2, 4]
    assert s["total"]["points"]["toggle"] == [2, 4]
    assert s["total"]["points"]["weight_words"] == [14, 16]
    assert s["worst"] == {"layer": "MVAU_0", "key": "thresholds_both_ways", "value": 0.25}
    # files renamed inside the build, whatever directory the cached executable was built in
    files = {p.file for p in coverage.read_dat(d / coverage.DAT)}
    assert "lib/onebit_mvau.sv" in files and "onebit_fifo.sv" in files
    assert not any(f.startswith("/") for f in files)


def test_worst_layer_falls_back_to_toggle():
    layers = {"a": {"rtl": "onebit", "toggle": 0.9}, "b": {"rtl": "onebit", "toggle": 0.4},
              "c": {"rtl": "finn-rtllib", "toggle": 0.1}}
    assert coverage.worst_layer(layers) == {"layer": "b", "key": "toggle", "value": 0.4}
    assert coverage.worst_layer({}) is None


@pytest.mark.verilator
def test_coverage_of_a_build_grows_with_its_vectors(mlp_build, tmp_path):
    """`onebit sim --coverage` on a copy of a build: every layer summarised in [0, 1]; one
    vector leaves every threshold on one side, the build's vectors put some on both; a plain
    re-simulation removes the coverage it no longer describes."""
    from onebit.flows.build import COVERAGE, resimulate

    out = tmp_path / "b"
    shutil.copytree(mlp_build[0], out)
    full = resimulate(out, frames=8, coverage=True)["coverage"]["rtl"]
    weak = resimulate(out, frames=1, coverage=True)["coverage"]["rtl"]
    acc = json.loads((out / "rtl" / "accelerator.json").read_text())
    names = [la["name"] for la in acc["layers"]]
    for cov in (full, weak):
        assert list(cov["layers"]) == names
        for e in [*cov["layers"].values(), cov["total"], cov[coverage.FIFOS]]:
            for key in (*coverage.KINDS, *coverage.FUNCTIONAL_KEYS.values()):
                assert e.get(key) is None or 0.0 <= e[key] <= 1.0, (key, e)
    mvaus = [n for n, la in zip(names, acc["layers"], strict=True)
             if la["inst"]["module"] == "onebit_mvau"]
    assert all(full["layers"][n]["weight_words_read"] == 1.0 for n in mvaus)
    assert weak["total"]["thresholds_both_ways"] == 0.0  # one vector: one side per threshold
    assert full["total"]["thresholds_both_ways"] > 0.0
    assert full["total"]["toggle"] > weak["total"]["toggle"]
    assert (out / COVERAGE / coverage.DAT).is_file()
    plain = resimulate(out, frames=2)
    assert "coverage" not in plain and not (out / COVERAGE).exists()


def test_cli_summary_names_the_worst_layer():
    from onebit.cli import _coverage_line

    e = {"line": 0.9, "toggle": 0.8, "weights_exercised": 1.0, "thresholds_both_ways": 0.25}
    cov = {"total": {**e, "thresholds_both_ways": 0.5}, "layers": {"MVAU_1": e},
           "worst": {"layer": "MVAU_1", "key": "thresholds_both_ways", "value": 0.25}}
    assert _coverage_line(cov) == (
        "line 0.90, toggle 0.80, weights exercised 1.00, thresholds both ways 0.50; worst layer "
        "MVAU_1 (thresholds both ways 0.25: line 0.90, toggle 0.80, weights exercised 1.00, "
        "thresholds both ways 0.25)")


@pytest.mark.parametrize("args, match", [
    (["build", "x.onnx", "--out", "b", "--no-sim", "--coverage"], "drop --no-sim"),
    (["sim", "b", "--system", "--coverage"], "without --system"),
    (["sim", "b", "--test-set", "--coverage"], "not --test-set"),
])
def test_cli_refuses_coverage_without_a_stream_simulation(args, match, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from onebit.cli import cli
    from onebit.errors import UserInputError

    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, args)
    assert isinstance(r.exception, UserInputError) and match in str(r.exception)


@pytest.mark.verilator
@pytest.mark.parametrize("params", [
    {"N_THRES": 3, "PE": 2, "SIMD": 4, "OUT_ROWS": 3, "OUT_COLS": 3, "N_ROW_CLS": 2,
     "N_COL_CLS": 2},
    {"PIPE_LEVELS": 2, "N_THRES": 3, "MW": 4, "SIMD": 4, "MH": 2, "PE": 2},
    {"GATED": 1, "IN_BITS": 2, "XNOR": 0, "N_THRES": 0},
])
def test_mvau_coverage_points_lint_clean(params):
    """onebit_mvau's functional coverage (`ONEBIT_COVERAGE`) elaborates and lints clean."""
    from onebit.hw import mvau, verilator

    assert verilator.lint(mvau.rtl_sources(), "onebit_mvau", params,
                          extra_args=coverage.VERILATOR_ARGS) == ""


@pytest.mark.slow
@pytest.mark.verilator
def test_build_with_coverage_reports_it(tmp_path):
    """`BuildConfig(coverage=True)`: the build's own simulation is the coverage run; its report
    holds `coverage.rtl` per layer and the files stay in the build."""
    from onebit.flows.build import COVERAGE, BuildConfig, BuildInput, build

    from nets import mlp, pixels

    r = build(BuildInput("mlp", pixels(8), torch_model=mlp()),
              BuildConfig(tmp_path / "b", sim_frames=8, coverage=True))
    cov = r["coverage"]["rtl"]
    assert r["status"] == "ok" and r["sim"]["bit_exact"] and "coverage" not in r["sim"]
    assert set(cov) == {"layers", coverage.FIFOS, "total", "worst"}
    assert cov["worst"]["layer"] in cov["layers"]
    assert 0.0 < cov["total"]["thresholds_both_ways"] < 1.0
    assert json.loads((tmp_path / "b" / "report.json").read_text())["coverage"] == r["coverage"]
    assert (tmp_path / "b" / COVERAGE / coverage.FUNCTIONAL).is_file()
