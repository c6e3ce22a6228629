"""conv -> MaxPool -> BatchNorm -> activation: the threshold moves before the pool, exactly
(negative BatchNorm scales included); what cannot be reordered is refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from qonnx.core.modelwrapper import ModelWrapper

from onebit.errors import UnsupportedOpError
from onebit.flows import pool_threshold
from onebit.flows.build import BuildConfig, BuildInput, build
from onebit.flows.pool_threshold import integer_thresholds

from build_outcome import run_case
from nets import conv_bn_pool, conv_pool_bn, pixels
from random_nets import Case, ConvSpec, Folding, NetSpec

NO_SIM = ["export", "finn", "streamline", "hw_layers"]


@pytest.mark.parametrize("act_bits", [1, 2])
def test_conv_pool_bn_sign_simulated_bit_exact(tmp_path, act_bits):
    net = conv_pool_bn(act_bits=act_bits)
    assert (net[6].weight < 0).any() and (net[6].weight > 0).any()
    r = build(BuildInput("pool", pixels(6), torch_model=net),
              BuildConfig(tmp_path / "b", target_fps=20_000, sim_frames=6, vectors=6))
    assert r["status"] == "ok" and r["sim"]["bit_exact"]
    assert all(s["max_abs_diff"] == 0.0 for s in r["stages"].values())
    hw = ModelWrapper(str(tmp_path / "b" / "intermediate" / "05_dataflow_golden.onnx"))
    ops = [n.op_type for n in hw.graph.node]
    # the threshold sits in the MVAU before the pool; no software node inside the accelerator
    assert ops.index("MVAU") < ops.index("Pool") and ops.count("MVAU") == 3


@pytest.mark.parametrize("act_bits", [1, 2])
def test_sign_of_negative_channels_moves_into_the_next_conv(tmp_path, act_bits):
    net = conv_pool_bn(act_bits, tail="conv")
    assert (net[6].weight < 0).any()
    r = build(BuildInput("pool", pixels(6), torch_model=net),
              BuildConfig(tmp_path / "b", vectors=6), steps=NO_SIM)
    assert all(s["max_abs_diff"] == 0.0 for s in r["stages"].values())
    assert not any("Pool" in n or "Conv" in n for n in r["software_nodes"])


def _built_exactly(tmp_path, net, sim: bool, not_in_software: tuple[str, ...]) -> None:
    """Every stage exact, nothing named `not_in_software` left around the partition (one
    partition: a software node between HW layers is refused), the RTL bit-exact if `sim`."""
    r = build(BuildInput("pool", pixels(6), torch_model=net),
              BuildConfig(tmp_path / "b", target_fps=20_000, sim_frames=6, vectors=6),
              steps=None if sim else NO_SIM)
    assert all(s["max_abs_diff"] == 0.0 for s in r["stages"].values())
    assert not any(op in n for n in r["software_nodes"] for op in not_in_software)
    if sim:
        assert r["status"] == "ok" and r["sim"]["bit_exact"]


@pytest.mark.parametrize("act", ["sign", "int2"])
def test_conv_bn_pool_act_builds_bit_exact(tmp_path, act):
    """BatchNorm -> MaxPool -> activation: the activation moves before the pool (max commutes
    with any non-decreasing function, negative BatchNorm scales included); the int2
    activation's offset goes along: simulated, as a threshold left without it would count
    0..3 into a signed 2-bit stream, which only the RTL reads differently."""
    net = conv_bn_pool(act=act)
    assert (net[4].weight < 0).any() and (net[4].weight > 0).any()
    _built_exactly(tmp_path, net, sim=act == "int2", not_in_software=("Pool", "Threshold"))


@pytest.mark.parametrize("act, tail", [("uint2", "conv"), ("int2", "conv"), ("uint2", "fc")])
def test_negative_scale_with_levels_not_symmetric_is_a_min_pool(tmp_path, act, tail):
    """Levels 0..3 or -2..1: a negative-scale channel pools the complementary count and an Add
    restores min f = q T + 2 r - max g before the sign goes into the next conv or fc (the Add
    past it, into its thresholds or after the output layer). Simulated for uint2 -> conv."""
    net = conv_pool_bn(act_bits=act, tail=tail)
    assert (net[6].weight < 0).any()
    _built_exactly(tmp_path, net, sim=(act, tail) == ("uint2", "conv"),
                   not_in_software=("Pool", "MatMul"))


@pytest.mark.verilator
def test_zero_padded_conv_pool_bn_simulates_bit_exactly(tmp_path):
    """conv (zero padding of a +-1 map) -> MaxPool -> BatchNorm -> sign: the padding correction
    keeps the conv's output an integer, so the threshold moves before the pool."""
    spec = NetSpec((1, 6, 6), 3, convs=(ConvSpec(4, 3, pad=1),
                                        ConvSpec(5, 3, pad=1, pool=2, pool_at="before_bn")))
    o = run_case(Case(spec, Folding(target_fps=1e4), weight_seed=2, vectors=6, seed=-1),
                 tmp_path / "w", sim=True)
    assert o.outcome == "built", o.message


def test_negative_scale_before_padding_is_refused_by_name(tmp_path):
    with pytest.raises(UnsupportedOpError, match=r"'Pad_\d+' \(Pad\).*negative") as e:
        build(BuildInput("pool", pixels(2), torch_model=conv_pool_bn(tail="pad_conv")),
              BuildConfig(tmp_path / "b"), steps=NO_SIM)
    assert "\n" not in str(e.value)


def test_without_the_reorder_the_node_left_in_software_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(pool_threshold.MoveMaxPoolPastThreshold, "apply",
                        lambda self, model: (model, False))
    with pytest.raises(UnsupportedOpError, match="stays in software between HW layers") as e:
        build(BuildInput("pool", pixels(2), torch_model=conv_pool_bn()),
              BuildConfig(tmp_path / "b"), steps=NO_SIM)
    assert e.value.node and "\n" not in str(e.value)


def test_integer_thresholds_match_the_batchnorm_on_every_integer():
    rng = np.random.default_rng(0)
    c, lo, hi = 40, -30, 30
    a = rng.normal(size=c)
    a[:5] = [0.0, 0.25, -0.5, 1e-310, -1e-310]  # constant; steps on integers; steps at +-inf
    b = rng.normal(size=c) * 5
    b[3:5] = -10.0
    t = np.sort(rng.normal(size=(c, 3)), axis=1)
    t[1:3, 0] = [b[1] + 0.25 * 7, b[2] - 0.5 * 4]
    thr, sign = integer_thresholds(a, b, t, lo, hi)
    x = np.arange(lo, hi + 1)
    for ch in range(c):
        f = (a[ch] * x[:, None] + b[ch] >= t[ch]).sum(axis=1)  # counts, increasing or not
        got = (x[:, None] >= thr[ch]).sum(axis=1)
        want = f if sign[ch] > 0 else t.shape[1] - f
        assert np.array_equal(got, want), ch
    assert np.array_equal(sign, np.where(a < 0, -1.0, 1.0))
