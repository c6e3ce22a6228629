"""Mutation score: how strong a build's verification vectors are.

Single faults go into copies of the build's generated memories (the simulated copies only):

| kind | fault |
|---|---|
| `weight_bit` | one bit of one weight-memory word of an MVAU flipped (a) |
| `threshold_step` | a threshold one step up or down (MVAU, RTL thresholding, FracBNN gate/level) |
| `pe_swap` | the weights of two PE lanes of one weight word exchanged (a mis-wired lane) |

(a) An MVAU on thermometer codes reads a table made from its weights (`hw.mvau.thermo_table`):
its mutant's table is made again from the faulty weights.

Each mutant runs the build's verification vectors through the same compiled accelerator (the
memories are read at run time from the simulation's working directory, so nothing is
recompiled) and is *caught* as the build's own check would catch it: when any layer's output
stream (`hw.sim.Tap`) or the output differs from FINN's golden result, or the simulation fails
(hang, protocol), or, for a build that ran the per-layer check (`flows/layer_check.py`), when
the faulty layer fails its directed check. Some faults cannot change what the layer computes
for any input (a threshold stepped across an accumulator value its channel never takes, a
weight of a channel whose output is constant): `equivalent` proves this from the layer's
arithmetic, and the score is caught / (injected - equivalent); survivors name the layer and
the fault. Faults are drawn uniformly over the mutable memory bits, with a fixed seed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from onebit.errors import UserInputError
from onebit.hw import mvau
from onebit.hw.packing import from_hex

KINDS = ("weight_bit", "threshold_step", "pe_swap")


@dataclass(frozen=True)
class Memory:
    """One memory file of a layer: hex words, `fields` values of `bits` bits each per word."""

    layer: str
    role: str  # "weights" or "thresholds"
    file: str  # relative to rtl/
    bits: int  # bits of one value
    fields: int  # values per word
    lanes: int  # PE lanes per word (values of lane p: fields/lanes consecutive ones)
    params: tuple = ()  # (key, value) of an MVAU whose table derives from these weights


@dataclass(frozen=True)
class Fault:
    kind: str
    layer: str
    file: str
    word: int
    detail: str

    def to_json(self) -> dict:
        return asdict(self)


def memories(acc, rtl: Path) -> list[Memory]:
    """The mutable memories of the accelerator `acc` saved in `rtl`."""
    out = []
    for la in acc.layers:
        p = la.inst.params
        if la.inst.module == mvau.MODULE:
            pe, simd = int(p["PE"]), int(p["SIMD"])
            if p.get("PACK_SHIFT"):  # two rows' weights a value (hw.mvau.pack_weights)
                out.append(Memory(la.name, "weights", str(p["WEIGHT_FILE"]),
                                  int(p["W_BITS"]) + int(p["PACK_SHIFT"]) + 1, pe // 2 * simd,
                                  pe // 2))
            else:  # on thermometer codes the weights reach the hardware as their table
                derived = tuple(sorted(p.items())) if "THERMO_FILE" in p else ()
                out.append(Memory(la.name, "weights", str(p["WEIGHT_FILE"]), int(p["W_BITS"]),
                                  pe * simd, pe, derived))
            if int(p.get("N_THRES", 0)) and "THRES_FILE" in p:
                t = int(p["N_THRES"])
                out.append(Memory(la.name, "thresholds", str(p["THRES_FILE"]),
                                  int(p["ACC_BITS"]), pe * t, pe))
            if p.get("GATE_FILE"):  # FracBNN's precision gate: a threshold on the MSB plane
                out.append(Memory(la.name, "thresholds", str(p["GATE_FILE"]),
                                  int(p["ACC_BITS"]), pe, pe))
        elif la.inst.module == "onebit_thermometer":  # one unsigned level a line
            out.append(Memory(la.name, "thresholds", str(la.inst.params["LEVEL_FILE"]), 0, 1, 1))
        elif la.op_type.startswith("Thresholding"):
            # FINN's RTL thresholding: one value per line in `<name>_threshs_<pe>_<stage>.dat`
            for dat in sorted((Path(rtl) / la.name).glob(f"{la.name}_threshs_*.dat")):
                out.append(Memory(la.name, "thresholds", f"{la.name}/{dat.name}", 0, 1, 1))
    return out


def _read(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]


def draw_faults(rtl: Path, mems: list[Memory], n: int, seed: int) -> list[Fault]:
    """`n` distinct faults over `mems` (files under `rtl`), kinds in turn, places at random."""
    rng = np.random.default_rng(seed)
    words = {m.file: _read(rtl / m.file) for m in mems}
    by_kind = {"weight_bit": [m for m in mems if m.role == "weights"],
               "threshold_step": [m for m in mems if m.role == "thresholds"],
               "pe_swap": [m for m in mems if m.role == "weights" and m.lanes > 1]}
    kinds = [k for k in KINDS if by_kind[k]]
    if not kinds:
        raise UserInputError("the build has no weight or threshold memories to mutate")
    faults: list[Fault] = []
    seen = set()
    for attempt in range(50 * n):
        if len(faults) == n:
            break
        kind = kinds[attempt % len(kinds)]
        cands = by_kind[kind]
        # memories weighted by their size: every stored value equally likely
        sizes = np.array([len(words[m.file]) * max(1, m.fields) for m in cands], dtype=float)
        m = cands[rng.choice(len(cands), p=sizes / sizes.sum())]
        w = int(rng.integers(len(words[m.file])))
        f = _fault(kind, m, words[m.file][w], w, rng)
        if f is not None and (f.file, f.word, f.detail) not in seen:
            seen.add((f.file, f.word, f.detail))
            faults.append(f)
    return faults


def _fault(kind: str, m: Memory, word: str, w: int, rng) -> Fault | None:
    if kind == "weight_bit":
        bit = int(rng.integers(m.bits * m.fields))
        return Fault(kind, m.layer, m.file, w, f"bit {bit}")
    if kind == "threshold_step":
        if m.bits == 0:  # a FINN .dat line: the value as it is coded, one step
            v, digits = int(word, 16), len(word)
            step = -1 if v == 16**digits - 1 else (1 if v == 0 else int(rng.choice([-1, 1])))
            return Fault(kind, m.layer, m.file, w, f"value {step:+d}")
        i = int(rng.integers(m.fields))
        step = int(rng.choice([-1, 1]))
        v = _field(int(word, 16), i, m.bits)
        lo, hi = -(1 << (m.bits - 1)), (1 << (m.bits - 1)) - 1
        step = -step if not lo <= v + step <= hi else step
        return Fault(kind, m.layer, m.file, w, f"threshold {i} {step:+d}")
    a, b = (int(x) for x in rng.choice(m.lanes, size=2, replace=False))
    lane = m.fields // m.lanes * m.bits
    v = int(word, 16)
    if (v >> (a * lane)) & ((1 << lane) - 1) == (v >> (b * lane)) & ((1 << lane) - 1):
        return None  # equal lanes: swapping them changes nothing
    return Fault(kind, m.layer, m.file, w, f"PE {min(a, b)} <-> PE {max(a, b)}")


def _field(word: int, i: int, bits: int) -> int:
    """Signed value of field `i` of `bits` bits."""
    v = (word >> (i * bits)) & ((1 << bits) - 1)
    return v - (1 << bits) if v >> (bits - 1) else v


def mutate(word: str, fault: Fault, m: Memory) -> str:
    """The hex word `word` with `fault` applied (same number of digits)."""
    v, digits = int(word, 16), len(word)
    if fault.kind == "weight_bit":
        v ^= 1 << int(fault.detail.split()[1])
    elif fault.kind == "threshold_step" and m.bits == 0:
        v += int(fault.detail.split()[1])
    elif fault.kind == "threshold_step":
        _, i, step = fault.detail.split()
        i, bits = int(i), m.bits
        new = (_field(v, i, bits) + int(step)) & ((1 << bits) - 1)
        v = (v & ~(((1 << bits) - 1) << (i * bits))) | (new << (i * bits))
    else:
        a, b = (int(s) for s in fault.detail.replace("PE", "").split("<->"))
        lane = m.fields // m.lanes * m.bits
        mask = (1 << lane) - 1
        la, lb = (v >> (a * lane)) & mask, (v >> (b * lane)) & mask
        v = (v & ~(mask << (a * lane)) & ~(mask << (b * lane))) | (lb << (a * lane)) | (
            la << (b * lane))
    return f"{v:0{digits}x}"


def mutant_dir(rtl: Path, fault: Fault, m: Memory, into: Path) -> Path:
    """A copy of `rtl` (hard links) whose memory `fault.file` carries `fault`."""
    shutil.copytree(rtl, into, copy_function=os.link)
    path = into / fault.file
    lines = _read(path)
    lines[fault.word] = mutate(lines[fault.word], fault, m)
    path.unlink()  # a new file: the build's own (linked) one stays as it is
    path.write_text("".join(ln + "\n" for ln in lines))
    if m.params:  # the table the hardware reads, made from the faulty weights
        p = dict(m.params)
        table = into / p["THERMO_FILE"]
        table.unlink()
        mvau.write_thermo_table(table, from_hex(lines, m.fields * m.bits), p)
    return into


def run_mutants(acc, rtl: Path, xin: np.ndarray, expected: np.ndarray, faults: list[Fault],
                mems: list[Memory], folded, golden: list[dict], jobs: int = 1,
                layer_golden=None, seed: int = 0) -> list[bool]:
    """Whether each fault is caught by streaming `xin` through its mutant of `acc`: an output
    other than `expected`, or a layer's stream other than in FINN's contexts `golden` of the
    `folded` graph (`hw.accelerator.stream_mismatch`); with `layer_golden` (the golden graph of
    a build that ran the per-layer check) also by the faulty layer's directed check
    (`flows.layer_check`, its `seed`)."""
    from onebit.errors import VerificationError
    from onebit.flows.layer_check import check_layers
    from onebit.hw.accelerator import run_frames, stream_mismatch
    from onebit.hw.sim import SimulationError

    by_file = {m.file: m for m in mems}
    run_frames(acc, acc.top, xin[:1], run_dir=rtl, taps=True)  # compiles once, before the pool
    if layer_golden is not None:  # the layers' models too; and the fault-free design passes
        check_layers(acc, layer_golden, rtl, seed)

    def caught(k: int) -> bool:
        f = faults[k]
        with tempfile.TemporaryDirectory(prefix="onebit-mutant-") as tmp:
            d = mutant_dir(rtl, f, by_file[f.file], Path(tmp) / "rtl")
            try:
                got, res = run_frames(acc, acc.top, xin, run_dir=d, taps=True)
                if (not np.array_equal(got.reshape(expected.shape), expected)
                        or stream_mismatch(acc, folded, golden, res.taps) is not None):
                    return True
                if layer_golden is not None:
                    check_layers(acc, layer_golden, d, seed, only={f.layer})
            except (SimulationError, VerificationError):
                return True
        return False

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(caught, range(len(faults))))


def equivalent(f: Fault, m: Memory, params: dict, word: str, dom) -> bool:
    """Whether `f` provably leaves its MVAU's function unchanged for every input of its
    datatype (an *equivalent mutant*: no check can catch it). `dom`: the layer's arithmetic
    (`flows.layer_check.domain` of its golden node; None: nothing is claimed). Equivalent: a
    threshold stepped across a value its channel's accumulator never takes (beyond its range,
    or off its lattice), or a weight bit / PE lanes of channels whose output stays constant
    (every threshold beyond the range before and after)."""
    from onebit.flows.layer_check import channel_range, constant

    if dom is None or m.bits == 0 or m.file == params.get("GATE_FILE") or params.get(
            "PACK_SHIFT"):
        return False
    pe, simd = int(params["PE"]), int(params["SIMD"])
    mw, mh = dom.w.shape
    if m.role == "thresholds":
        _, i, step = f.detail.split()
        nthr = int(params["N_THRES"])
        ch = f.word * pe + int(i) // nthr
        old = _field(int(word, 16), int(i), m.bits)
        v = min(old, old + int(step))  # the one accumulator value the two compare differently
        lo, hi, lattice, offset = channel_range(dom, dom.w[:, ch])
        return not (lo <= v <= hi and (v - offset) % lattice == 0)
    nf, sf = divmod(f.word, mw // simd)
    if f.kind == "weight_bit":
        bit = int(f.detail.split()[1])
        lane, s = divmod(bit // m.bits, simd)
        ch, col = nf * pe + lane, sf * simd + s
        new = dom.w.copy()
        new[col, ch] = _flip(int(dom.w[col, ch]), bit % m.bits, m.bits, dom.wdt)
        chans = [ch]
    else:
        a, b = (int(x) for x in f.detail.replace("PE", "").split("<->"))
        chans = [nf * pe + a, nf * pe + b]
        new = dom.w.copy()
        seg = slice(sf * simd, (sf + 1) * simd)
        new[seg, chans[0]], new[seg, chans[1]] = dom.w[seg, chans[1]], dom.w[seg, chans[0]]
    return all(constant(dom, w[:, ch], dom.thresholds[ch]) for ch in chans for w in (dom.w, new))


def _flip(value: int, bit: int, bits: int, wdt) -> int:
    """A weight `value` of `wdt` with bit `bit` of its `bits`-bit code flipped."""
    if wdt.name == "BIPOLAR":
        return -value
    if wdt.name == "BINARY":
        return 1 - value
    code = (value & ((1 << bits) - 1)) ^ (1 << bit)
    return code - (1 << bits) if wdt.signed() and code >> (bits - 1) else code


def equivalents(acc, rtl: Path, faults: list[Fault], mems: list[Memory], golden) -> list[bool]:
    """`equivalent` for each fault, the layers' arithmetic from the golden graph `golden`."""
    from onebit.flows.layer_check import domain, golden_node

    by_file = {m.file: m for m in mems}
    words = {f: _read(rtl / f) for f in {f.file for f in faults}}  # each memory read once
    layers = {la.name: la for la in acc.layers}
    doms = {}
    for name in {f.layer for f in faults}:
        node = golden_node(golden, layers[name])
        doms[name] = domain(node, golden) if node is not None else None
    return [equivalent(f, by_file[f.file], layers[f.layer].inst.params, words[f.file][f.word],
                       doms[f.layer]) for f in faults]


def score(faults: list[Fault], caught: list[bool], vectors: int,
          equivalent: list[bool] | None = None) -> dict:
    """The report's `"mutation"` entry: the score over the faults that are not equivalent
    (an equivalent fault that is caught counts as caught: the classification is then wrong,
    and the check says so)."""
    eq = [e and not c for e, c in zip(equivalent or [False] * len(faults), caught, strict=True)]
    kinds = {k: {"injected": sum(f.kind == k for f in faults),
                 "caught": sum(c for f, c in zip(faults, caught, strict=True) if f.kind == k),
                 "equivalent": sum(e for f, e in zip(faults, eq, strict=True) if f.kind == k)}
             for k in KINDS}
    n, k, e = len(faults), sum(caught), sum(eq)
    return {"injected": n, "caught": k, "equivalent": e,
            "score": k / (n - e) if n > e else None, "vectors": vectors,
            "kinds": {kk: v for kk, v in kinds.items() if v["injected"]},
            "survivors": [f.to_json() for f, c, q in zip(faults, caught, eq, strict=True)
                          if not c and not q],
            "equivalent_faults": [f.to_json() for f, q in zip(faults, eq, strict=True) if q]}


def verify_build(out_dir: Path, n: int, *, seed: int = 0, jobs: int = 1,
                 vectors: int | None = None) -> dict:
    """`onebit verify BUILD --mutants N`: the mutation score of a finished build's simulation
    check, on its own verification vectors (the distinct frames its rtlsim ran) or the first
    `vectors` of its stored vectors; written to `report.json` as `"mutation"`."""
    import json

    from onebit.flows.build import (
        VECTORS,
        golden_contexts,
        golden_outputs,
        load_intermediate,
        write_report,
    )
    from onebit.flows.builddir import claim
    from onebit.hw.accelerator import MANIFEST, Accelerator

    out = Path(out_dir)
    path = out / "report.json"
    if not (out / "rtl" / MANIFEST).is_file() or not path.is_file():
        raise UserInputError(f"{out} is not a onebit build with RTL (run onebit build)")
    with claim(out, fresh=False):
        report = json.loads(path.read_text())
        if report.get("status") != "ok" or not (report.get("sim") or {}).get("bit_exact"):
            raise UserInputError(f"{out}: its simulation is not verified (status "
                                 f"{report.get('status')}): a mutation score needs a bit-exact "
                                 "build")
        x = np.load(out / VECTORS)["x"]
        k = vectors or report["sim"]["distinct_vectors"]
        if not 1 <= k <= len(x):
            raise UserInputError(f"--vectors {k}: the build stores {len(x)} vectors")
        parent = load_intermediate(out, "hw_layers")
        golden_model = load_intermediate(out, "dataflow_golden")
        folded = load_intermediate(out, "dataflow_folded")
        xin, golden = golden_contexts(parent, golden_model, x[:k])
        expected = golden_outputs(golden_model, golden)
        rtl = out / "rtl"
        acc = Accelerator.load(rtl)
        mems = memories(acc, rtl)
        faults = draw_faults(rtl, mems, n, seed)
        lc = report.get("layer_check")  # the build's per-layer check, if it ran
        caught = run_mutants(acc, rtl, xin, expected, faults, mems, folded, golden, jobs,
                             golden_model if lc else None, lc["seed"] if lc else 0)
        eq = equivalents(acc, rtl, faults, mems, golden_model)
        report["mutation"] = {**score(faults, caught, k, eq), "seed": seed,
                              "layer_check": bool(lc)}
        write_report(path, report)
    return report["mutation"]
