"""RTL coverage of a simulation: Verilator's line, branch and toggle points and onebit's own
functional points, summarised per layer of a stitched accelerator.

A simulation built with `VERILATOR_ARGS` (`sim.build_stream_sim(coverage=True)`, a cached
executable of its own) and run with a coverage directory writes there:

- `coverage.dat`: Verilator's counts, one point a line, ``C '<key-values>' <count>``; the
  key-values are ``\\x01<key>\\x02<value>`` pairs: ``t`` type (line, branch, toggle), ``f``
  file, ``l`` line, ``o`` comment (a toggle's bit and direction), ``h`` the instance. The
  stream driver asks for every instance apart (Verilator sums a module's instances otherwise);
- `functional.txt`: what `onebit_mvau`'s `final` blocks count (`ONEBIT_COVERAGE`), a line
  ``<instance> <kind> <counts...>`` per kind: ``weight_words`` (read, NF*SF), ``input_columns``
  (ever nonzero, MW), ``thresholds`` and a gated MVAU's ``gates`` (seen both ways, only >=,
  only <, all); `onebit_thermometer` writes its levels as ``thresholds``.

`summarize` maps each point to its layer by the instance the stitched top gives it
(`u_<layer>`, `hw.stitch`); the stream FIFOs between layers (`u_fifo_<k>`) are summarised
together, the stitched top's own wires and the simulation wrapper are left out. Only onebit's
RTL (files `onebit_*.sv`) counts in `"total"`; a layer built from finn-rtllib (sliding
window, padding) is reported with `"rtl": "finn-rtllib"` and its line/toggle over its
own sources, outside the total.

>>> summarize(read_dat(d / DAT), read_functional(d / FUNCTIONAL), ["MVAU_0"])  # doctest: +SKIP
{'layers': {'MVAU_0': {'rtl': 'onebit', 'line': 0.97, 'toggle': 0.81, ...}}, ...}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

VERILATOR_ARGS = ("--coverage-line", "--coverage-toggle", "+define+ONEBIT_COVERAGE")
"""What a coverage build adds to Verilator's command line (also its cache key)."""
DAT = "coverage.dat"
FUNCTIONAL = "functional.txt"
KINDS = ("line", "branch", "toggle")
"""Verilator's point types that are summarised, as fractions of their points hit."""
FUNCTIONAL_KEYS = {"weight_words": "weight_words_read", "input_columns": "weights_exercised",
                   "thresholds": "thresholds_both_ways", "gates": "gates_both_ways"}
"""onebit's functional kinds and the report key of each one's fraction."""
FIFOS = "stream_fifos"
ONEBIT_PREFIX = "onebit_"


@dataclass(frozen=True)
class Point:
    """One Verilator coverage point: its type, source file, line, comment, instance, count."""

    kind: str
    file: str
    line: int
    comment: str
    hier: str
    count: int


def prepare(directory: Path | str) -> Path:
    """`directory` (created) as a run's coverage directory, without a previous run's files
    (the RTL appends to `functional.txt`); returned absolute."""
    d = Path(directory).resolve()
    d.mkdir(parents=True, exist_ok=True)
    for name in (DAT, FUNCTIONAL):
        (d / name).unlink(missing_ok=True)
    return d


def parse_point(line: str) -> Point | None:
    """A `coverage.dat` line as a point; None for the header and blank lines."""
    if not line.startswith("C '"):
        return None
    body, count = line[3:].rstrip("\n").rsplit("' ", 1)
    kv = dict(field.split("\x02", 1) for field in body.split("\x01")[1:])
    return Point(kv.get("t", ""), kv.get("f", ""), int(kv.get("l", 0)), kv.get("o", ""),
                 kv.get("h", ""), int(count))


def read_dat(path: Path | str) -> list[Point]:
    """Every point of a `coverage.dat`."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return [p for p in map(parse_point, f) if p is not None]


def relocate(path: Path | str, names: dict[str, str]) -> None:
    """Rewrite the source files a `coverage.dat` names as `names[<basename>]` (a build's paths
    relative to its `rtl/`): the cached executable that wrote it may have been compiled from
    another directory's copy of the same sources."""
    path = Path(path)
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
        head, sep, rest = line.partition("\x01f\x02")
        if sep:
            file, end, tail = rest.partition("\x01")
            line = head + sep + names.get(Path(file).name, Path(file).name) + end + tail
        out.append(line)
    path.write_text("".join(out), encoding="utf-8")


def read_functional(path: Path | str) -> list[tuple[str, str, list[int]]]:
    """`functional.txt` as (instance, kind, counts); no file: no points (no onebit_mvau)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) >= 3:
            rows.append((words[0], words[1], [int(w) for w in words[2:]]))
    return rows


def owner(hier: str, instances: dict[str, str]) -> str | None:
    """The layer (or `FIFOS`) an instance path lies in: its first scope below the stitched top
    that is a layer's instance (`instances`: instance name -> layer); None above the layers."""
    for scope in hier.split("."):
        if scope in instances:
            return instances[scope]
    return None


def _fraction(hit: int, total: int) -> float | None:
    return round(hit / total, 4) if total else None


def _kinds(points: Iterable[Point]) -> dict:
    """Per point type (`KINDS`): [points hit, points]."""
    counts = {k: [0, 0] for k in KINDS}
    for p in points:
        if p.kind in counts:
            counts[p.kind][0] += p.count > 0
            counts[p.kind][1] += 1
    return counts


def _functional(rows: Iterable[tuple[str, list[int]]]) -> dict:
    """Per functional kind: [covered, total] (thresholds: both ways, only >=, only <, all)."""
    out: dict[str, list[int]] = {}
    for kind, counts in rows:
        if kind in FUNCTIONAL_KEYS:
            acc = out.setdefault(kind, [0] * len(counts))
            out[kind] = [a + c for a, c in zip(acc, counts, strict=True)]
    return out


def _entry(kinds: dict, functional: dict) -> dict:
    """A layer's (or the total's) fractions, then the counts they come from."""
    e = {k: _fraction(*kinds[k]) for k in KINDS}
    for kind, key in FUNCTIONAL_KEYS.items():
        c = functional.get(kind)
        e[key] = _fraction(c[0], c[-1]) if c else None
    e["points"] = {**{k: kinds[k] for k in KINDS}, **functional}
    return e


def summarize(points: Sequence[Point], functional: Sequence[tuple[str, str, list[int]]],
              layers: Sequence[str]) -> dict:
    """Per layer (in `layers` order): the fraction of line, branch and toggle points hit
    (onebit's files, or a finn-rtllib layer's own), of weight words read, of weights exercised
    and of thresholds seen both ways (None where a layer has no such point); the stream FIFOs;
    the total over onebit's RTL; and the worst layer (`worst`)."""
    instances = {f"u_{name}": name for name in layers}
    by_layer: dict[str, list[Point]] = {}
    for p in points:
        o = owner(p.hier, instances)
        if o is None and ".u_fifo_" in f".{p.hier}":
            o = FIFOS
        if o is not None:
            by_layer.setdefault(o, []).append(p)
    funcs: dict[str, list[tuple[str, list[int]]]] = {}
    for hier, kind, counts in functional:
        o = owner(hier, instances)
        if o is not None:
            funcs.setdefault(o, []).append((kind, counts))
    out: dict[str, dict] = {}
    own_points: list[Point] = list(by_layer.get(FIFOS, []))
    for name in layers:
        pts = by_layer.get(name, [])
        mine = [p for p in pts if Path(p.file).name.startswith(ONEBIT_PREFIX)]
        own_points += mine
        out[name] = {"rtl": "onebit" if mine or not pts else "finn-rtllib",
                     **_entry(_kinds(mine or pts), _functional(funcs.get(name, [])))}
    all_funcs = _functional(r for rows in funcs.values() for r in rows)
    return {
        "layers": out,
        FIFOS: _entry(_kinds(by_layer.get(FIFOS, [])), {}),
        "total": _entry(_kinds(own_points), all_funcs),
        "worst": worst_layer(out),
    }


def summarize_run(directory: Path | str, layers: Sequence[str], sources: Sequence[Path],
                  root: Path) -> dict:
    """`summarize` the coverage files a run wrote into `directory`, after naming the sources
    in its `coverage.dat` relative to `root` (`relocate`; the design's `sources` lie there)."""
    d = Path(directory)
    if not (d / DAT).is_file():
        raise FileNotFoundError(f"{d / DAT}: the simulation wrote no coverage")
    relocate(d / DAT, {Path(s).name: str(Path(s).resolve().relative_to(Path(root).resolve()))
                       for s in sources})
    return summarize(read_dat(d / DAT), read_functional(d / FUNCTIONAL), layers)


def worst_layer(layers: dict[str, dict]) -> dict | None:
    """The onebit layer with the lowest functional fraction (gates or thresholds both ways,
    weights exercised, weight words read), else the lowest toggle fraction: {layer, key,
    value}."""
    best = None
    for keys in (list(FUNCTIONAL_KEYS.values())[::-1], ["toggle"]):
        for name, e in layers.items():
            if e["rtl"] != "onebit":
                continue
            for key in keys:
                v = e.get(key)
                if v is not None and (best is None or v < best["value"]):
                    best = {"layer": name, "key": key, "value": v}
        if best is not None:
            return best
    return None
