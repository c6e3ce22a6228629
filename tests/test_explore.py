"""`onebit explore`: many foldings of one model, each built from the shared model steps on a
Dask cluster and simulated bit-exact; the Pareto front, the plot and the recommendation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from onebit.errors import UserInputError
from onebit.flows import pareto
from onebit.flows.build import BuildConfig, BuildInput, build
from onebit.flows.explore import ExploreConfig, Target, explore, parse_fps, recommend

from nets import mlp, pixels
from test_cli import onebit


def test_fps_specs():
    assert parse_fps("1e3:1e6:4") == [1000.0, 10000.0, 100000.0, 1000000.0]
    assert parse_fps("1000, 5000,20000") == [1000.0, 5000.0, 20000.0]
    assert parse_fps("2e3:2e3:1") == [2000.0]
    for bad in ("fast", "0:10:3", "10:1:3", "1:10:0", "1:10:x", "", "1,-2", "1,inf", "1:2:3:4"):
        with pytest.raises(UserInputError, match="--fps"):
            parse_fps(bad)


def _point(k, fps, luts, brams, fits=True, status="ok", folding=None):
    return {"k": k, "status": status, "bit_exact": status == "ok", "fps": fps, "fits": fits,
            "target": {"folding": folding} if folding else {"fps": fps},
            "resources": {"source": "finn estimate", "luts": luts, "brams_18k": brams}}


def test_front_and_recommendation():
    points = [_point(0, 1e3, 1000, 4), _point(1, 2e3, 3000, 4), _point(2, 2e3, 2500, 8),
              _point(3, 4e3, 9000, 2, fits=False), _point(4, 9e3, 1, 1, status="failed"),
              _point(5, 1e3, 1200, 1)]
    # 1 is dominated by 2 (as fast, fewer LUTs); 5 by 0 on LUTs; the failed point counts nowhere
    assert pareto.front(points, "luts") == [0, 2, 3]
    assert pareto.front(points, "brams_18k") == [5, 3]
    rec = recommend(points, 1500.0)
    assert rec["fastest_fitting"] == 2  # 3 is faster but does not fit
    assert rec["cheapest_meeting"] == 2  # 2 and 1 meet 1500 fps; 2 has fewer LUTs
    assert recommend(points, 1e5)["cheapest_meeting"] is None
    result = {"points": points, "pareto": {r: pareto.front(points, r) for r in pareto.RESOURCES},
              "capacity": {"LUT": 53200, "BRAM_18K": 280}, "board": "pynq-z2",
              "clock_mhz": 100.0, "model": "m", "part": "xc7z020clg400-1"}
    page = pareto.plot(result)
    assert page.startswith("<svg") and "Pareto front" in page and "pynq-z2 capacity" in page


@pytest.mark.verilator
def test_explore_mlp_three_targets_and_a_failed_point(tmp_path):
    """Three frame rates and a folding file onebit refuses (PE 3 of 32 channels) on two local
    workers: the refused point is reported with its reason, the others are built bit-exact,
    faster for more LUTs; `onebit build --folding` of a point gives its cycles/frame."""
    bad = tmp_path / "bad-folding.json"
    bad.write_text(json.dumps({"MVAU_hls_0": {"PE": 3}}))
    out = tmp_path / "x"
    (out).mkdir()
    (out / "explore.json").write_text('{"stale": true}')  # a previous run's: removed first
    targets = [Target(fps=f) for f in (2e5, 1e6, 1e7)] + [Target(folding=bad)]
    cfg = ExploreConfig(out, targets, workers=2, vectors=8, frames=8, layer_check=False)
    lines = []
    r = explore(BuildInput("mlp", pixels(8), torch_model=mlp()), cfg, progress=lines.append)
    assert json.loads((out / "explore.json").read_text()) == json.loads(json.dumps(r))
    ok = [p for p in r["points"] if p["status"] == "ok"]
    assert [p["k"] for p in ok] == [0, 1, 2]
    assert all(p["bit_exact"] and p["fits"] for p in ok)
    assert [p["resources"]["source"] for p in ok] == ["finn estimate"] * 3
    fps = [p["fps"] for p in ok]
    luts = [p["resources"]["luts"] for p in ok]
    assert fps == sorted(fps) and luts == sorted(luts) and len(set(fps)) == len(set(luts)) == 3
    assert all(p["fps"] >= p["target"]["fps"] for p in ok)  # SetFolding met every target
    failed = r["points"][3]
    assert failed["status"] == "failed" and failed["failed_step"] == "fold"
    assert "MVAU_hls_0" in failed["error"] and "'PE'" in failed["error"]
    assert any(ln.startswith("point 3 (bad-folding): FAILED at fold") for ln in lines)
    assert r["pareto"]["luts"] == [0, 1, 2]
    assert r["recommendation"]["fastest_fitting"] == 2
    svg = (out / "pareto.svg").read_text()
    assert svg.startswith("<svg") and "Pareto front" in svg
    for p in ok:  # each point is a whole build directory of its own
        report = json.loads((out / p["dir"] / "report.json").read_text())
        assert report["status"] == "ok" and report["base"] == "../../base"
        assert set(report["stages"]) == {"qonnx", "finn", "streamline", "hw_layers", "rtlsim"}
    # the shared model steps ran once, in base/
    assert json.loads((out / "base" / "report.json").read_text())["timings_s"].keys() == {
        "export", "finn", "streamline", "hw_layers", "total"}
    again = build(BuildInput("mlp", pixels(8), torch_model=mlp()),
                  BuildConfig(tmp_path / "again", folding=out / ok[1]["folding"], vectors=8,
                              sim_frames=8, layer_check=False))
    assert again["sim"]["cycles_per_frame"] == ok[1]["cycles_per_frame"]


def test_a_failed_model_step_leaves_no_result(tmp_path):
    """The shared steps fail (a file that is not ONNX): no explore.json, the old one gone."""
    bad = tmp_path / "bad.onnx"
    bad.write_text("not protobuf")
    out = tmp_path / "x"
    (out / "points" / "0").mkdir(parents=True)
    (out / "explore.json").write_text('{"stale": true}')
    inp = BuildInput("bad", pixels(2), qonnx_path=bad)
    with pytest.raises(UserInputError, match="not a valid ONNX"):
        explore(inp, ExploreConfig(out, [Target(fps=1e5)], workers=1))
    assert not (out / "explore.json").exists() and not (out / "points").exists()


def test_explore_refuses_a_directory_of_other_files(tmp_path):
    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(UserInputError, match="holds files onebit did not write"):
        explore(BuildInput("m", pixels(2), torch_model=mlp()),
                ExploreConfig(tmp_path, [Target(fps=1e5)], workers=1))
    assert (tmp_path / "mine.txt").read_text() == "keep"


@pytest.mark.slow
@pytest.mark.verilator
def test_explore_tfc_on_two_workers_and_rebuild_a_point(tmp_path):
    """bnn_pynq:tfc at three frame rates on two local workers, from the command line; every
    point bit-exact, faster for more LUTs; `onebit build --folding` reproduces a point."""
    out = tmp_path / "x"
    opts = ["--vectors", "8", "--frames", "8", "--no-layer-check"]
    r = onebit("explore", "bnn_pynq:tfc", "--out", str(out), "--fps", "1e4:1e6:3",
               "--workers", "2", "--target-fps", "5e4", *opts)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((out / "explore.json").read_text())
    points = res["points"]
    assert len(points) == 3 and all(p["status"] == "ok" and p["bit_exact"] for p in points)
    fps = [p["fps"] for p in points]
    luts = [p["resources"]["luts"] for p in points]
    assert fps == sorted(fps) and luts == sorted(luts) and len(set(luts)) == 3
    assert (out / "pareto.svg").read_text().startswith("<svg")
    rec = res["recommendation"]
    assert rec["fastest_fitting"] == 2 and rec["cheapest_meeting"] == 1
    assert "fastest that fits: point 2" in r.stdout and "cheapest at >= 50,000 fps" in r.stdout
    b = onebit("build", "bnn_pynq:tfc", "--out", str(tmp_path / "b"), "--folding",
               str(out / points[1]["folding"]), *opts)
    assert b.returncode == 0, b.stderr[-3000:]
    again = json.loads((tmp_path / "b" / "report.json").read_text())
    assert again["sim"]["cycles_per_frame"] == points[1]["cycles_per_frame"]
    assert again["estimate"]["luts"] == points[1]["resources"]["luts"]


def test_targets():
    assert Target(fps=1e3).to_json() == {"fps": 1e3}
    assert Target(folding=Path("f/cnv.json")).label == "cnv"
