"""onebit_mvau against FINN's MVAU python execution: bit-exact, random stalls, cycle counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.util.basic import qonnx_make_model

from onebit.errors import UnsupportedOpError
from onebit.hw import mvau, sim, verilator
from onebit.hw.packing import pack, unpack

BIN, BIP = DataType["BINARY"], DataType["BIPOLAR"]
INT2, UINT2 = DataType["INT2"], DataType["UINT2"]


def make_mvau(mw, mh, simd, pe, idt, wdt, odt, *, w=None, thr=None, xnor=0, act_val=0,
              n_vec=(1,), seed=0, **attrs):
    """A one-node model holding an MVAU with random weights (unless given)."""
    rng = np.random.default_rng(seed)
    if w is None:
        w = rng.integers(0, 2, (mw, mh)).astype(np.float32)
        if wdt == BIP:
            w = 2 * w - 1
        elif wdt != BIN:
            w = rng.integers(int(wdt.min()), int(wdt.max()) + 1, (mw, mh)).astype(np.float32)
    no_act = thr is None
    ishape = [*n_vec, mw]
    oshape = [*n_vec, mh]
    inp = helper.make_tensor_value_info("inp", TensorProto.FLOAT, ishape)
    outp = helper.make_tensor_value_info("outp", TensorProto.FLOAT, oshape)
    inputs = ["inp", "weights"] + ([] if no_act else ["thresh"])
    node = helper.make_node(
        "MVAU", inputs, ["outp"], name="mvau0", domain="finn.custom_op.fpgadataflow",
        backend="fpgadataflow", MW=mw, MH=mh, SIMD=simd, PE=pe,
        inputDataType=idt.name, weightDataType=wdt.name, outputDataType=odt.name,
        ActVal=act_val, binaryXnorMode=xnor, noActivation=int(no_act),
        numInputVectors=list(n_vec), **attrs)
    graph = helper.make_graph([node], "mvau", [inp], [outp])
    model = ModelWrapper(qonnx_make_model(graph, producer_name="onebit-test"))
    model.set_tensor_datatype("inp", idt)
    model.set_tensor_datatype("outp", odt)
    model.set_tensor_datatype("weights", wdt)
    model.set_initializer("weights", np.asarray(w, dtype=np.float32))
    if not no_act:
        model.set_tensor_datatype("thresh", DataType["FLOAT32"])
        model.set_initializer("thresh", np.asarray(thr, dtype=np.float32))
    return model


def random_input(model, rng):
    idt = model.get_tensor_datatype("inp")
    shape = model.get_tensor_shape("inp")
    if idt == BIP:
        return (2 * rng.integers(0, 2, shape) - 1).astype(np.float32)
    return rng.integers(int(idt.min()), int(idt.max()) + 1, shape).astype(np.float32)


def golden(model, x):
    return execute_onnx(model, {"inp": x})["outp"]


def run_rtl(model, x, tmp_path, vcache, **kw):
    node = model.graph.node[0]
    inst = mvau.generate(node, model, tmp_path, absolute_paths=False)
    p = inst.params
    idt = model.get_tensor_datatype("inp")
    odt = model.get_tensor_datatype("outp")
    words = pack(x, idt, p["SIMD"])
    n_vec = x.size // p["MW"]
    n_out = n_vec * p["MH"] // p["PE"]
    res = sim.simulate_instance(inst, words, n_out, run_dir=tmp_path, cache_dir=vcache, **kw)
    y = unpack(res.out_words, odt, p["PE"])
    return y.reshape(model.get_tensor_shape("outp")), res, inst


def thresholds(lo, hi, rows, t, rng):
    """Sorted random thresholds around [lo, hi], half of them exact integers (tests >=)."""
    thr = rng.uniform(lo - 1, hi + 1, (rows, t))
    thr = np.where(rng.random((rows, t)) < 0.5, np.round(thr), thr)
    return np.sort(thr, axis=1).astype(np.float32)


STALLS = [(1, 1.0, 1.0), (2, 0.6, 0.4), (3, 0.3, 0.9)]

# name: (MW, MH, SIMD, PE, idt, wdt, odt, thresholds (acc_lo, acc_hi, T, shared) or None,
#        extra attributes, numInputVectors)
CASES = {
    "xnor_bipolar_out": (16, 8, 4, 2, BIN, BIN, BIP, (0, 16, 1, False),
                         {"binaryXnorMode": 1}, (3,)),
    "xnor_noact_full_fold": (16, 8, 16, 8, BIN, BIN, DataType["UINT5"], None,
                             {"binaryXnorMode": 1}, (2,)),
    "uint8_x_bipolar": (12, 6, 3, 3, DataType["UINT8"], BIP, BIP, (-1000, 1000, 1, False),
                        {}, (1, 2, 2)),
    "int4_x_bipolar_int2_out": (6, 4, 1, 1, DataType["INT4"], BIP, INT2,
                                (-30, 30, 3, False), {"ActVal": -2}, (2,)),
    "bipolar_x_binary_noact": (8, 4, 2, 4, BIP, BIN, DataType["INT8"], None, {}, (3,)),
    "and_popcount_shared_thr": (8, 4, 8, 1, BIN, BIN, UINT2, (0, 8, 3, True),
                                {}, (2,)),
    "bipolar_x_bipolar": (8, 4, 2, 2, BIP, BIP, BIP, (-8, 8, 1, False), {}, (2,)),
    # a binary network's first layer (pixels x int8) and output layer (+-1 x int8 -> logits)
    "uint8_x_int8": (18, 4, 3, 2, DataType["UINT8"], DataType["INT8"], BIP,
                     (-40000, 40000, 1, False), {}, (1, 2, 2)),
    "bipolar_x_int8_noact": (16, 6, 4, 3, BIP, DataType["INT8"], DataType["INT13"], None,
                             {}, (3,)),
    "binary_x_uint3": (6, 4, 2, 2, BIN, DataType["UINT3"], UINT2,
                       (0, 42, 3, False), {}, (2,)),
    # bit-plane dot products (IN_BITS * W_BITS <= 4): wide SIMD, signed and unsigned planes
    # (thresholds around the sums' mean +- 2 sd: -65 +- 13 and 65 +- 24, so outputs depend on them)
    "int2_x_binary_wide": (260, 6, 130, 3, INT2, BIN, INT2, (-92, -38, 3, False),
                           {"ActVal": -2}, (4,)),
    "int2_x_int2_wide": (260, 6, 130, 3, INT2, INT2, INT2, (17, 113, 3, False), {"ActVal": -2},
                         (4,)),
    "bipolar_x_int2_noact": (16, 4, 8, 2, BIP, INT2, DataType["INT8"], None, {}, (3,)),
    "uint2_x_uint2_noact": (12, 4, 6, 2, UINT2, UINT2, DataType["UINT8"], None, {}, (3,)),
}


def build_case(name, seed=0):
    mw, mh, simd, pe, idt, wdt, odt, th, attrs, n_vec = CASES[name]
    rng = np.random.default_rng(seed)
    thr = None
    if th is not None:
        lo, hi, t, shared = th
        thr = thresholds(lo, hi, 1 if shared else mh, t, rng)
    attrs = dict(attrs)
    act_val = attrs.pop("ActVal", 0)
    return make_mvau(mw, mh, simd, pe, idt, wdt, odt, thr=thr, act_val=act_val, n_vec=n_vec,
                     seed=seed, **{k: v for k, v in attrs.items() if k != "binaryXnorMode"},
                     xnor=attrs.get("binaryXnorMode", 0))


@pytest.mark.verilator
@pytest.mark.parametrize("name", list(CASES))
def test_mvau_matches_finn(name, tmp_path, vcache):
    check_under_stalls(build_case(name), random_input, tmp_path, vcache)


def check_under_stalls(model, make_input, tmp_path, vcache):
    """The RTL of one-node `model` equals its golden for inputs `make_input(model, rng)` under
    each of STALLS; unstalled, it takes `expected_cycles`. Returns the instance."""
    rng = np.random.default_rng(1)
    for seed, pv, pr in STALLS:
        x = make_input(model, rng)
        want = golden(model, x)
        got, res, inst = run_rtl(model, x, tmp_path, vcache, seed=seed, p_valid=pv, p_ready=pr)
        assert np.array_equal(got, want), f"seed {seed}: first mismatch at " \
            f"{np.flatnonzero(got.reshape(-1) != want.reshape(-1))[:1]}"
        if pv == 1.0 and pr == 1.0:
            assert res.cycles == mvau.expected_cycles(inst, x.size // inst.params["MW"])
    return inst


@pytest.mark.verilator
@pytest.mark.parametrize("res_type", ["lut", "dsp"])
def test_mvau_synthesis_attributes_keep_the_arithmetic(res_type, tmp_path, vcache):
    """ram_style / resType (FINN's folding keys) become parameters; the results stay exact."""
    from qonnx.custom_op.registry import getCustomOp

    model = build_case("uint8_x_int8")
    op = getCustomOp(model.graph.node[0])
    op.set_nodeattr("resType", res_type)
    op.set_nodeattr("ram_style", "block")
    op.set_nodeattr("ram_style_thresholds", "distributed")
    x = random_input(model, np.random.default_rng(2))
    got, _, inst = run_rtl(model, x, tmp_path, vcache, seed=1, p_valid=0.6, p_ready=0.5)
    assert inst.params["RES_TYPE"] == res_type and inst.params["RAM_STYLE"] == "block"
    assert np.array_equal(got, golden(model, x))


@pytest.mark.verilator
def test_mvau_steady_state_throughput(tmp_path, vcache):
    model = build_case("xnor_bipolar_out")
    # same parameters as in test_mvau_matches_finn, so the build is reused; 200 vectors
    x = (np.random.default_rng(5).integers(0, 2, (200, 16))).astype(np.float32)
    node = model.graph.node[0]
    inst = mvau.generate(node, model, tmp_path, absolute_paths=False)
    words = pack(x, BIN, 4)
    res = sim.simulate_instance(inst, words, 200 * 4, run_dir=tmp_path, cache_dir=vcache)
    per_vec = np.diff(res.out_cycles[3::4]).mean()  # last output word of each vector
    assert per_vec == pytest.approx(mvau.cycles_per_vector(inst), rel=0.02)
    assert res.cycles == mvau.expected_cycles(inst, 200)
    exec_model = make_mvau(16, 8, 4, 2, BIN, BIN, BIP, xnor=1, n_vec=(200,),
                           w=model.get_initializer("weights"),
                           thr=model.get_initializer("thresh"))
    want = golden(exec_model, x)
    assert np.array_equal(unpack(res.out_words, BIP, 2).reshape(200, 8), want)


@pytest.mark.verilator
def test_mvau_corrupted_weights_detected(tmp_path, vcache):
    model = build_case("xnor_bipolar_out")
    x = random_input(model, np.random.default_rng(2))
    want = golden(model, x)
    got, _, inst = run_rtl(model, x, tmp_path, vcache)
    assert np.array_equal(got, want)
    # flip every weight of row 0 (word 0.., bits pe=0): its accumulator becomes MW - acc
    wfile = tmp_path / inst.params["WEIGHT_FILE"]
    words = [int(line, 16) for line in wfile.read_text().split()]
    words = [w ^ 0xF if i < 4 else w for i, w in enumerate(words)]
    wfile.write_text("".join(f"{w:02x}\n" for w in words))
    p = inst.params
    res = sim.simulate_instance(inst, pack(x, BIN, p["SIMD"]), 3 * 4, run_dir=tmp_path,
                                cache_dir=vcache)
    bad = unpack(res.out_words, BIP, p["PE"]).reshape(want.shape)
    assert not np.array_equal(bad, want)


@pytest.mark.verilator
def test_mvau_lint_clean(tmp_path):
    for name in ("xnor_bipolar_out", "uint8_x_bipolar", "bipolar_x_binary_noact"):
        model = build_case(name)
        inst = mvau.generate(model.graph.node[0], model, tmp_path)
        assert verilator.lint(inst.sources, inst.module, inst.params) == ""


@pytest.mark.verilator
def test_mvau_rtl_rejects_bad_folding():
    with pytest.raises(verilator.VerilatorError, match="multiple of SIMD"):
        verilator.lint(mvau.rtl_sources(), "onebit_mvau", {"MW": 6, "SIMD": 4})


def test_generate_writes_memory_layout(tmp_path):
    model = build_case("xnor_bipolar_out")
    inst = mvau.generate(model.graph.node[0], model, tmp_path)
    w = model.get_initializer("weights")  # (MW, MH)
    lines = (tmp_path / "mvau0_weights.mem").read_text().split()
    assert len(lines) == (8 // 2) * (16 // 4)
    # row r = nf*PE+pe, column c = sf*SIMD+s at word nf*SF+sf, bit pe*SIMD+s
    nf, pe, sf, s = 2, 1, 3, 2
    bit = (int(lines[nf * 4 + sf], 16) >> (pe * 4 + s)) & 1
    assert bit == int(w[sf * 4 + s, nf * 2 + pe])
    assert inst.in_width == 4 and inst.out_width == 2 and inst.params["XNOR"] == 1


@pytest.mark.parametrize(
    "change, match",
    [
        ({"wdt": DataType["INT32"]}, "weightDataType"),
        ({"mem_mode": "external"}, "mem_mode"),
        ({"idt": BIP, "xnor": 1}, "binaryXnorMode"),
    ],
)
def test_generate_rejects_unsupported(change, match, tmp_path):
    wdt = change.get("wdt", BIN)
    w = np.random.default_rng(0).integers(-2, 2, (8, 4)) if wdt != BIN else None  # in INT32
    extra = {"mem_mode": change["mem_mode"]} if "mem_mode" in change else {}
    model = make_mvau(8, 4, 2, 2, change.get("idt", BIN), wdt, DataType["UINT4"], w=w,
                      xnor=change.get("xnor", 0), **extra)
    with pytest.raises(UnsupportedOpError, match=match) as err:
        mvau.generate(model.graph.node[0], model, tmp_path)
    assert "mvau0" in str(err.value)


@st.composite
def mvau_configs(draw):
    simd, sf = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    pe, nf = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    mode = draw(st.sampled_from(["xnor", "int_bip", "bip_bin", "bin_bin", "int_int", "int_bin",
                                 "small_small"]))
    small = st.sampled_from([INT2, UINT2])
    ints = st.sampled_from([DataType["UINT3"], DataType["INT4"]])
    idt, wdt, xnor = {
        "xnor": (BIN, BIN, 1),
        "int_bip": (draw(ints), BIP, 0),
        "bip_bin": (BIP, BIN, 0),
        "bin_bin": (BIN, BIN, 0),
        "int_int": (draw(st.sampled_from([BIP, DataType["UINT3"]])), draw(ints), 0),
        "int_bin": (draw(ints), BIN, 0),
        "small_small": (draw(st.sampled_from([BIP, INT2, UINT2])), draw(small), 0),
    }[mode]
    n_thres = draw(st.sampled_from([0, 1, 3]))
    return simd * sf, pe * nf, simd, pe, idt, wdt, xnor, n_thres, draw(st.integers(0, 2**16))


@pytest.mark.slow
@pytest.mark.verilator
@settings(max_examples=10, deadline=None, derandomize=True)
@given(cfg=mvau_configs())
def test_mvau_sweep(cfg, tmp_path_factory, vcache):
    mw, mh, simd, pe, idt, wdt, xnor, n_thres, seed = cfg
    rng = np.random.default_rng(seed)
    lo, hi = mvau._acc_range(idt, wdt, bool(xnor), mw)
    if n_thres == 0:
        odt, thr, act = DataType[f"INT{mvau._signed_bits(lo, hi)}"], None, 0
    elif n_thres == 1:
        odt, thr, act = BIP, thresholds(lo, hi, mh, 1, rng), 0
    else:
        odt, thr, act = INT2, thresholds(lo, hi, mh, 3, rng), -2
    model = make_mvau(mw, mh, simd, pe, idt, wdt, odt, thr=thr, xnor=xnor, act_val=act,
                      n_vec=(3,), seed=seed)
    x = random_input(model, rng)
    got, _, _ = run_rtl(model, x, tmp_path_factory.mktemp("sweep"), vcache, seed=seed,
                        p_valid=0.7, p_ready=0.6)
    assert np.array_equal(got, golden(model, x))


def test_accumulator_range_from_actual_weights(tmp_path):
    """FINN sizes a noActivation outputDataType from the actual weights (TFC-W1A2's last layer:
    INT8 for 64 INT2 x +-1 terms whose worst case is [-128, 128]); so does onebit_mvau."""
    w = np.where(np.random.default_rng(3).random((64, 10)) < 0.55, 1.0, -1.0)
    lo, hi = mvau.acc_range(INT2, w, False)
    assert (lo, hi) != (-128, 128) and -128 <= lo and hi <= 127
    model = make_mvau(64, 10, 8, 2, INT2, BIP, DataType["INT8"], w=w)
    assert mvau.generate(model.graph.node[0], model, tmp_path).params["ACC_BITS"] == 8
    all_minus = make_mvau(64, 10, 8, 2, INT2, BIP, DataType["INT8"], w=-np.ones((64, 10)))
    with pytest.raises(UnsupportedOpError, match=r"INT8 cannot hold accumulators in \[-64, 128\]"):
        mvau.generate(all_minus.graph.node[0], all_minus, tmp_path)
    # with thresholds: ACC_BITS from the actual range too (clamped thresholds: hi + 1)
    thr = np.full((10, 2), 1e6, dtype=np.float32)
    act = make_mvau(64, 10, 8, 2, INT2, BIP, INT2, w=w, thr=thr, act_val=-1)
    assert mvau.mvau_params(act.graph.node[0], act)["params"]["ACC_BITS"] == mvau._signed_bits(
        lo, hi + 1)


@pytest.mark.verilator
def test_exact_accumulator_width_at_its_extremes(tmp_path, vcache):
    """Inputs that drive columns to their exact minimum and maximum: RTL == FINN."""
    w = np.where(np.random.default_rng(4).random((64, 4)) < 0.6, 1.0, -1.0)
    lo, hi = mvau.acc_range(INT2, w, False)
    odt = DataType[f"INT{mvau._signed_bits(lo, hi)}"]
    model = make_mvau(64, 4, 8, 2, INT2, BIP, odt, w=w, n_vec=(8,))
    lo_x = np.where(w > 0, INT2.min(), INT2.max()).T  # (4, 64): column j at its minimum
    hi_x = np.where(w > 0, INT2.max(), INT2.min()).T
    x = np.concatenate([lo_x, hi_x]).astype(np.float32).reshape(8, 64)
    want = golden(model, x)
    assert want.min() == lo and want.max() == hi
    got, _, inst = run_rtl(model, x, tmp_path, vcache, seed=2, p_valid=0.7, p_ready=0.6)
    assert inst.params["ACC_BITS"] == odt.bitwidth() and np.array_equal(got, want)


# name: (MW, MH, SIMD, PE, idt, odt, thresholds T, LUT-level budget)
PACKED = {
    "uint8_x_int8_thr": (18, 8, 3, 4, DataType["UINT8"], UINT2, 3, None),
    "int4_x_int8_noact": (12, 4, 6, 2, DataType["INT4"], DataType["INT14"], 0, None),
    "uint8_x_int8_pipelined_noact": (27, 6, 9, 6, DataType["UINT8"], DataType["INT21"], 0, 3),
}


def packed_mvau(name, seed=0, pack=True):
    """An MVAU of INT8 weights whose extreme columns (all -128, all 127) put every product's
    corner on the packed lanes."""
    mw, mh, simd, pe, idt, odt, t, budget = PACKED[name]
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (mw, mh)).astype(np.float32)
    w[0], w[1] = -128, 127
    lo, hi = -128 * mw * int(idt.max()), 127 * mw * int(idt.max())
    thr = None if t == 0 else thresholds(lo // 8, hi // 8, mh, t, rng)
    m = make_mvau(mw, mh, simd, pe, idt, DataType["INT8"], odt, w=w, thr=thr, n_vec=(3,))
    if pack:
        mvau.set_pack_dsp(m.graph.node[0], True)
    if budget is not None:
        mvau.set_lut_levels(m.graph.node[0], budget)
    return m


def extreme_input(model, rng):
    """Random inputs, the first vector at the input type's minimum, the second its maximum."""
    x = random_input(model, rng)
    idt = model.get_tensor_datatype("inp")
    x[0], x[1] = idt.min(), idt.max()
    return x


@pytest.mark.verilator
@pytest.mark.parametrize("name", list(PACKED))
def test_two_products_per_multiplier_match_finn(name, tmp_path, vcache):
    """`--pack-dsp`: rows 2q and 2q+1 share one multiply of x by a * 2^G + b; bit-exact under
    stalls, plain and pipelined, same cycles."""
    inst = check_under_stalls(packed_mvau(name), extreme_input, tmp_path, vcache)
    assert inst.params["PACK_SHIFT"] == (16 if name.startswith("uint8") else 12)


def test_packing_only_when_asked_and_the_widths_allow(tmp_path):
    assert "PACK_SHIFT" not in mvau.generate(
        packed_mvau("uint8_x_int8_thr", pack=False).graph.node[0],
        packed_mvau("uint8_x_int8_thr", pack=False), tmp_path / "a").params
    m = packed_mvau("uint8_x_int8_thr")
    for attr, value in (("PE", 1), ("resType", "lut")):  # odd PE; LUT products asked for
        m2 = packed_mvau("uint8_x_int8_thr")
        node = m2.graph.node[0]
        for a in node.attribute:
            if a.name == attr:
                if isinstance(value, int):
                    a.i = value
                else:
                    a.s = value.encode()
        if attr == "resType" and not any(a.name == "resType" for a in node.attribute):
            node.attribute.append(helper.make_attribute("resType", value))
        assert "PACK_SHIFT" not in mvau.generate(node, m2, tmp_path / attr).params
    # 16-bit weights do not fit a DSP48E1's 25-bit operand twice
    assert mvau.pack_shift(DataType["UINT8"], DataType["INT16"], 2, "auto") == 0
    assert mvau.pack_shift(DataType["UINT8"], DataType["INT8"], 2, "auto") == 16
    assert mvau.generate(m.graph.node[0], m, tmp_path / "p").params["PACK_SHIFT"] == 16
