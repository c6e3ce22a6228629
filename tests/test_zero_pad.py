"""Zero padding of +-1 conv inputs: the correction math against a direct zero-padded conv, the
flow's stages bit-exact, a missing correction caught, unsupported cases refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from onebit.flows.zero_pad import (
    apply_correction,
    class_thresholds,
    pad_classes,
    padding_correction,
)


def conv2d(x, w, stride, pads, dilation, pad_value):
    """Direct NCHW convolution, input padded with `pad_value` (pads: top, left, bottom, right)."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.full((n, c, h + pads[0] + pads[2], wd + pads[1] + pads[3]), float(pad_value))
    xp[:, :, pads[0]:pads[0] + h, pads[1]:pads[1] + wd] = x
    oh = (xp.shape[2] - dilation * (kh - 1) - 1) // stride + 1
    ow = (xp.shape[3] - dilation * (kw - 1) - 1) // stride + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + dilation * (kh - 1) + 1:dilation,
                       j * stride:j * stride + dilation * (kw - 1) + 1:dilation]
            y[:, :, i, j] = np.einsum("nckl,ockl->no", patch, w)
    return y


CONVS = [  # (H, W, kernel, stride, pads (t, l, b, r), dilation)
    (6, 6, 3, 1, (1, 1, 1, 1), 1),
    (7, 5, 5, 2, (2, 2, 2, 2), 1),
    (8, 8, 3, 2, (1, 1, 1, 1), 1),
    (6, 9, 3, 1, (0, 2, 1, 0), 1),  # asymmetric
    (9, 9, 3, 1, (2, 2, 2, 2), 2),  # dilated
    (4, 4, 5, 1, (2, 2, 2, 2), 1),  # kernel wider than the interior: no interior class
]


@pytest.mark.parametrize("h, w, k, s, pads, d", CONVS)
def test_correction_is_zero_padding(h, w, k, s, pads, d):
    """-1-padded conv + corr[class] == zero-padded conv, exactly, for +-1 inputs and weights;
    without the correction they differ."""
    rng = np.random.default_rng(h * 100 + k)
    x = (2 * rng.integers(0, 2, (3, 4, h, w)) - 1).astype(np.float64)
    wt = (2 * rng.integers(0, 2, (6, 4, k, k)) - 1).astype(np.float64)
    want = conv2d(x, wt, s, pads, d, 0)
    minus1 = conv2d(x, wt, s, pads, d, -1)
    oh, ow = want.shape[2:]
    rows, rmasks = pad_classes(h, k, s, d, pads[0], oh)
    cols, cmasks = pad_classes(w, k, s, d, pads[1], ow)
    corr = padding_correction(wt, rmasks, cmasks)
    got = apply_correction(minus1, rows, cols, corr, channels_last=False)
    np.testing.assert_array_equal(got, want)
    nhwc = apply_correction(minus1.transpose(0, 2, 3, 1), rows, cols, corr, channels_last=True)
    np.testing.assert_array_equal(nhwc, want.transpose(0, 2, 3, 1))
    assert not np.array_equal(minus1, want)
    # +1 padding adds the padded taps once more: twice the correction
    plus1 = apply_correction(minus1, rows, cols, 2 * corr, channels_last=False)
    np.testing.assert_array_equal(plus1, conv2d(x, wt, s, pads, d, 1))
    # the classes are the distinct padding masks: a 3x3 kernel with padding 1 has 3 x 3
    if (k, s, pads, d) == (3, 1, (1, 1, 1, 1), 1):
        assert len(rmasks) == len(cmasks) == 3 and corr.shape == (9, 6)


def test_class_thresholds_keep_every_comparison():
    """acc + corr >= T  <=>  acc >= T - corr, for integer acc and half-integer corrections."""
    rng = np.random.default_rng(0)
    thr = np.sort(rng.uniform(-5, 20, (4, 3)).round(1), axis=1)
    corr = rng.integers(-9, 10, (5, 4)) / 2
    per_class = class_thresholds(thr, corr)
    for acc in range(-10, 30):
        direct = (acc + corr[:, :, None]) >= thr[None]
        assert np.array_equal(direct, acc >= per_class)
        assert np.array_equal(direct, acc >= np.ceil(per_class))


NO_SIM = ["export", "finn", "streamline", "hw_layers", "fold", "estimate"]


def _build(tmp_path, net, n=6, steps=NO_SIM, **kw):
    from onebit.flows.build import BuildConfig, BuildInput, build

    from nets import pixels

    return build(BuildInput("zp", pixels(n), torch_model=net), BuildConfig(tmp_path / "b", **kw),
                 steps=steps)


def test_zero_padded_cnn_every_stage_bit_exact(tmp_path):
    """conv3 pad 1 and conv5 pad 2 stride 2 on +-1 maps: each stage equals the torch model; the
    golden holds onebit's padded MVAUs (3 x 3 position classes each) after FMPadding."""
    from qonnx.core.modelwrapper import ModelWrapper

    from onebit.flows.zero_pad import DOMAIN, node_correction

    from nets import zero_padded_cnn

    r = _build(tmp_path, zero_padded_cnn())
    assert r["status"] == "ok"
    assert all(s["verified"] and s["max_abs_diff"] == 0.0 for s in r["stages"].values())
    d = tmp_path / "b" / "intermediate"
    golden = ModelWrapper(str(d / "05_dataflow_golden.onnx"))
    padded = [n for n in golden.graph.node if n.domain == DOMAIN]
    assert [n.op_type for n in padded] == ["MVAU", "MVAU"]
    classes = [(max(c[0]) + 1, max(c[1]) + 1) for c in map(node_correction, padded)]
    assert classes == [(3, 3), (3, 3)]  # 8x8 -> 8x8 (k3 p1), 8x8 -> 4x4 (k5 p2 s2)
    assert [n.op_type for n in golden.graph.node].count("FMPadding") == 3
    folded = ModelWrapper(str(d / "06_dataflow_folded.onnx"))
    assert sum(node_correction(n) is not None for n in folded.graph.node) == 2


def test_estimate_counts_every_threshold_set(tmp_path):
    """FINN's LUT model of a padded MVAU whose thresholds sit in LUTs counts its 9 threshold
    sets (3 x 3 position classes), not the one FINN's calc_tmem knows."""
    from finn.util.basic import getHWCustomOp
    from qonnx.core.modelwrapper import ModelWrapper

    from onebit.flows.zero_pad import node_correction

    from nets import zero_padded_cnn

    lut_thresholds = {"Defaults": {"ram_style_thresholds": ["distributed", ["MVAU_hls"]]}}
    r = _build(tmp_path, zero_padded_cnn(), folding=lut_thresholds)
    folded = ModelWrapper(str(tmp_path / "b" / "intermediate" / "06_dataflow_folded.onnx"))
    padded = [n for n in folded.graph.node if node_correction(n) is not None]
    assert len(padded) == 2
    for n in padded:
        inst = getHWCustomOp(n)
        one_set = inst.node_res_estimation("xc7z020clg400-1")["LUT"]
        pe, b = inst.get_nodeattr("PE"), inst.get_output_datatype().bitwidth()
        tmem, acc = inst.calc_tmem(), inst.get_accumulator_datatype().bitwidth()
        extra = 1.1 * pe * (2**b - 1) * acc * (-(-9 * tmem // 64) - -(-tmem // 64))
        assert extra > 0
        assert r["estimate"]["resources_per_layer"][n.name]["LUT"] >= one_set + int(extra) - 1


def test_missing_correction_fails_verification(tmp_path, monkeypatch):
    """Without the correction the -1-padded conv is not the zero-padded one: the finn stage
    (the first that pads with -1) differs from the torch/QONNX model."""
    from onebit.errors import VerificationError
    from onebit.flows import zero_pad

    from nets import zero_padded_cnn

    monkeypatch.setattr(zero_pad, "padding_correction",
                        lambda w, r, c: np.zeros((len(r) * len(c), w.shape[0])))
    with pytest.raises(VerificationError, match="stage 'finn'"):
        _build(tmp_path, zero_padded_cnn(), steps=NO_SIM[:2])


def test_zero_padded_conv_without_thresholds_refused(tmp_path):
    """A zero-padded +-1 conv whose output is not thresholded (here: the logits) cannot take
    the correction into thresholds: refused at the finn step, naming the conv."""
    import torch
    from brevitas.nn import QuantConv2d
    from torch import nn

    from onebit.errors import UnsupportedOpError
    from onebit.models.quant import OnebitBinaryWeight, binary_act

    from nets import randomize_bn

    torch.manual_seed(0)
    net = randomize_bn(nn.Sequential(
        QuantConv2d(1, 4, 3, padding=1, bias=False, weight_quant=OnebitBinaryWeight,
                    input_quant=None),
        nn.BatchNorm2d(4), binary_act(),
        QuantConv2d(4, 2, 3, padding=1, bias=False, weight_quant=OnebitBinaryWeight,
                    input_quant=None),
        nn.Flatten()))
    with pytest.raises(UnsupportedOpError, match="'Conv_1' \\(Conv\\).*not followed by"):
        _build(tmp_path, net, n=2, steps=NO_SIM[:2])
    import json

    r = json.loads((tmp_path / "b" / "report.json").read_text())
    assert r["status"] == "failed" and r["failed_step"] == "finn"


@pytest.mark.verilator
def test_zero_padded_cnn_rtl_bit_exact_and_uncorrected_rtl_caught(tmp_path, monkeypatch):
    """The padded CNN simulated in Verilator equals the golden (also under backpressure); the
    same RTL with one layer's thresholds left uncorrected is caught at that layer."""
    from qonnx.core.modelwrapper import ModelWrapper

    from onebit.errors import VerificationError
    from onebit.flows import zero_pad
    from onebit.flows.build import resimulate
    from onebit.hw import mvau

    from nets import zero_padded_cnn

    r = _build(tmp_path, zero_padded_cnn(), steps=None, target_fps=50_000, sim_frames=6)
    assert r["status"] == "ok" and r["sim"]["bit_exact"]
    assert r["stages"]["rtlsim"]["max_abs_diff"] == 0.0
    assert 0.9 <= r["sim"]["ratio_to_estimate"] <= 1.05
    out = tmp_path / "b"
    assert resimulate(out, frames=6, seed=2, backpressure=True)["sim"]["bit_exact"]

    folded = ModelWrapper(str(out / "intermediate" / "06_dataflow_folded.onnx"))
    node = next(n for n in folded.graph.node if zero_pad.node_correction(n) is not None)
    monkeypatch.setattr(zero_pad, "class_thresholds",
                        lambda thr, corr: np.broadcast_to(thr, (len(corr), *thr.shape)))
    plain = mvau.generate(node, folded, tmp_path / "plain")
    thres = out / "rtl" / node.name / f"{node.name}_thres.mem"
    original = thres.read_text()
    uncorrected = (tmp_path / "plain" / f"{node.name}_thres.mem").read_text()
    assert uncorrected != original and plain.params["ACC_BITS"] > 0
    thres.write_text(uncorrected)
    with pytest.raises(VerificationError, match=f"'rtlsim' failed at layer '{node.name}'"):
        resimulate(out, frames=4)


@pytest.mark.verilator
def test_plus_one_padding_simulates_bit_exact(tmp_path):
    """A +1 `Pad` of a +-1 map (FMPadding inserts only -1) is -1 padding plus twice the
    zero-padding correction; simulated bit-exactly."""
    import torch
    from torch import nn

    from onebit.models.quant import BipolarPad, binary_act

    from nets import _conv, _fc, randomize_bn

    torch.manual_seed(0)
    net = randomize_bn(nn.Sequential(
        _conv(1, 7, padding=1), nn.BatchNorm2d(7), binary_act(),
        BipolarPad(1, 1.0), _conv(7, 6), nn.BatchNorm2d(6), binary_act(),
        nn.Flatten(), _fc(6 * 8 * 8, 5)))
    r = _build(tmp_path, net, steps=None, target_fps=50_000, sim_frames=6)
    assert r["status"] == "ok" and r["sim"]["bit_exact"]
    assert all(s["max_abs_diff"] == 0.0 for s in r["stages"].values())
