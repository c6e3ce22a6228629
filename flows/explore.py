"""Design-space exploration: one model built at many foldings, every point verified.

`explore(inp, cfg)` runs the model steps (export, finn, streamline, hw_layers: they do not
depend on the folding) once into `<out>/base/`, then builds each target (a frame rate for
FINN's SetFolding, or a folding file) from there (`flows.build.build_from`) in
`<out>/points/<k>/`: fold, estimate, RTL, Verilator simulation bit-exact against FINN's golden,
Yosys with `synth`. The points are tasks of a Dask distributed cluster: a local one of
`workers` single-threaded processes, or a running one at `cluster` (its workers must see `out`
at the same path: a shared filesystem). Only each point's record (a small dict) travels back.

`<out>/explore.json` (one record per point, the Pareto fronts, the recommendation) and
`<out>/pareto.svg` (`flows/pareto.py`) are written atomically at the end: a run that stops
early leaves neither, and a new run removes the old ones before it starts.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from onebit.boards import get_board
from onebit.errors import OnebitError, UserInputError
from onebit.flows.build import MODEL_STEPS, BuildConfig, BuildInput, build, build_from, write_report
from onebit.flows.builddir import LOCK, claim

RESULT = "explore.json"
PLOT = "pareto.svg"
BASE = "base"
POINTS = "points"
OWNED = frozenset({LOCK, RESULT, f"{RESULT}.tmp", PLOT, f"{PLOT}.tmp", BASE, POINTS})
"""Every top-level entry `explore` writes into its directory (a new run removes them)."""

_RANGE = re.compile(r"^\s*([^:]+):([^:]+):(\d+)\s*$")
MAX_POINTS = 256


@dataclass(frozen=True)
class Target:
    """One point to build: a frame rate for SetFolding, or a folding file."""

    fps: float | None = None
    folding: Path | None = None

    def to_json(self) -> dict:
        return {"fps": self.fps} if self.folding is None else {"folding": str(self.folding)}

    @property
    def label(self) -> str:
        return f"{self.fps:,.0f} fps" if self.folding is None else self.folding.stem


def parse_fps(spec: str) -> list[float]:
    """`A:B:N`: N frame rates log-spaced from A to B (both included); `X,Y,...`: those."""
    m = _RANGE.match(spec)
    try:
        if m:
            lo, hi, n = float(m[1]), float(m[2]), int(m[3])
            if n < 1 or n > MAX_POINTS:
                raise UserInputError(f"--fps {spec}: N must be in 1..{MAX_POINTS}")
            if not (0 < lo <= hi and math.isfinite(hi)):
                raise UserInputError(f"--fps {spec}: expected 0 < A <= B")
            if n == 1 or lo == hi:
                return [lo] * (1 if lo == hi else n)
            step = (math.log(hi) - math.log(lo)) / (n - 1)
            return [round(math.exp(math.log(lo) + i * step), 6) for i in range(n)]
        values = [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise UserInputError(f"--fps {spec!r}: expected A:B:N (log-spaced) or X,Y,... (frame "
                             "rates)") from None
    if not values or len(values) > MAX_POINTS:
        raise UserInputError(f"--fps {spec!r}: expected 1 to {MAX_POINTS} frame rates")
    bad = [v for v in values if not (0 < v and math.isfinite(v))]
    if bad:
        raise UserInputError(f"--fps {spec!r}: {bad[0]:g} is not a frame rate > 0")
    return values


@dataclass
class ExploreConfig:
    """What `explore` builds and where; the build options are those of every point."""

    out: Path
    targets: list[Target]
    board: str = "pynq-z2"
    synth: bool = False
    workers: int = 2
    cluster: str | None = None  # address of a running Dask scheduler (tcp://host:8786)
    target_fps: float | None = None  # the recommendation's frame rate to meet
    vectors: int = 16
    frames: int = 16
    directed: int = 16
    layer_check: bool = True
    seed: int = 0
    top_k: int | None = None

    def build_config(self, out: Path, target: Target | None = None) -> BuildConfig:
        return BuildConfig(out, board=self.board, vectors=self.vectors, sim_frames=self.frames,
                           directed=self.directed, layer_check=self.layer_check,
                           synth=self.synth, seed=self.seed, top_k=self.top_k,
                           target_fps=target.fps if target else None,
                           folding=Path(target.folding).resolve()  # as workers see it
                           if target and target.folding else None)


def check_config(cfg: ExploreConfig) -> None:
    """Bad input in one line, before anything runs."""
    get_board(cfg.board)
    if not cfg.targets:
        raise UserInputError("nothing to explore: give --fps and/or --folding")
    if len(cfg.targets) > MAX_POINTS:
        raise UserInputError(f"{len(cfg.targets)} points: at most {MAX_POINTS}")
    for t in cfg.targets:
        if t.folding is not None and not Path(t.folding).is_file():
            raise UserInputError(f"--folding {t.folding}: no such file")
    if cfg.workers < 1:
        raise UserInputError("--workers must be at least 1")


# ---------------------------------------------------------------------------- one point


def run_point(base: str, cfg: BuildConfig) -> dict:
    """Build one point from the model steps in `base` (on a worker); its record. A failed
    build is a record with its reason, not an exception: the other points go on."""
    logging.getLogger("finn_logger").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    try:
        report, error = build_from(Path(base), cfg), None
    except OnebitError as e:
        report, error = _read_report(Path(cfg.out_dir)), str(e)
    return point_record(report, error, time.perf_counter() - t0)


def _read_report(out: Path) -> dict | None:
    try:
        return json.loads((out / "report.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None


def point_record(report: dict | None, error: str | None, seconds: float) -> dict:
    """What explore.json keeps of a point's build report."""
    rec: dict = {"status": "failed" if error or not report else report["status"],
                 "failed_step": (report or {}).get("failed_step"), "error": error,
                 "seconds": round(seconds, 1)}
    if report is None:
        return rec
    est, sim, res = report.get("estimate"), report.get("sim"), report.get("resources")
    if est:
        rec["estimate"] = {"cycles_per_frame": est["cycles_per_frame"], "fps": est["fps"],
                           "luts": est["luts"], "brams_18k": est["brams"],
                           "bottleneck": est["bottleneck"]}
        rec["fit_estimate"] = report["fit"]["fits"]
    if sim:
        rec["bit_exact"] = sim["bit_exact"]
        rec["cycles_per_frame"] = sim["cycles_per_frame"]
        rec["fps"] = report["clock_mhz"] * 1e6 / sim["cycles_per_frame"]
        rec["latency_cycles"] = sim["latency_cycles"]
    if res:
        rec["yosys"] = {k: res[k] for k in ("luts", "ffs", "brams_18k", "dsps")}
    return rec


def resources(rec: dict) -> dict | None:
    """The point's LUT/BRAM18 figures: Yosys' where it ran, else FINN's estimate."""
    if "yosys" in rec:
        return {"source": "yosys", "luts": rec["yosys"]["luts"],
                "brams_18k": rec["yosys"]["brams_18k"]}
    if "estimate" in rec:
        return {"source": "finn estimate", "luts": rec["estimate"]["luts"],
                "brams_18k": rec["estimate"]["brams_18k"]}
    return None


def fits(rec: dict, capacity: dict) -> bool | None:
    """Whether the point fits the board: Yosys' LUT/BRAM18/DSP counts where it ran (with
    FINN's URAM estimate: Yosys' are 0 on these parts too), else FINN's estimate."""
    if "yosys" in rec:
        y = rec["yosys"]
        return (y["luts"] <= capacity["LUT"] and y["brams_18k"] <= capacity["BRAM_18K"]
                and y["dsps"] <= capacity["DSP"])
    return rec.get("fit_estimate")


# ---------------------------------------------------------------------------- the cluster


@contextmanager
def dask_client(workers: int, cluster: str | None) -> Iterator:
    """A Dask distributed client: of a running cluster at `cluster`, or of a local cluster of
    `workers` processes with one thread each (a build is one process's work; FINN's settings
    and the build directory lock are per process)."""
    from distributed import Client, LocalCluster

    if cluster:
        try:
            client = Client(cluster, timeout="20s")
        except OSError as e:
            raise UserInputError(f"--cluster {cluster}: no Dask scheduler there ({e})") from None
        with client:
            yield client
        return
    # on loopback only; no dashboard, its HTTP server on a free port (not a second 8787)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                      silence_logs=logging.ERROR) as lc, Client(lc) as client:
        yield client


def run_points(client, jobs: list[tuple[str, BuildConfig]],
               done: Callable[[int, dict], None]) -> list[dict]:
    """Each (base, config) as a task of the Dask `client`; the records in job order.
    `done(k, record)` is called as each finishes. A point whose worker died (killed, out of
    memory: Dask retries it elsewhere first) is a failed record, as is a failed build."""
    from distributed import as_completed

    records: list[dict] = [{}] * len(jobs)
    tag = f"{os.getpid()}-{time.time_ns()}"  # task keys unique on a shared scheduler
    futures = {client.submit(run_point, base, cfg, pure=False, key=f"onebit-point-{k}-{tag}"): k
               for k, (base, cfg) in enumerate(jobs)}
    for fut in as_completed(futures):
        k = futures[fut]
        try:
            rec = fut.result()
        except Exception as e:  # the task did not return
            rec = point_record(None, f"{type(e).__name__}: {e}", 0.0)
        records[k] = rec
        done(k, rec)
    return records


# ---------------------------------------------------------------------------- explore


def explore(inp: BuildInput, cfg: ExploreConfig,
            progress: Callable[[str], None] = lambda s: None) -> dict:
    """Build every target of `cfg` (above); returns what `<out>/explore.json` holds."""
    from onebit.flows import pareto

    check_config(cfg)
    board = get_board(cfg.board)
    t0 = time.perf_counter()
    where = cfg.cluster or f"a local Dask cluster of {cfg.workers} processes"
    with claim(cfg.out, fresh=True, owned=OWNED) as out, \
            dask_client(cfg.workers, cfg.cluster) as client:
        out = out.resolve()
        progress(f"model steps ({', '.join(MODEL_STEPS)}) once, in {out / BASE}")
        base_cfg = cfg.build_config(out / BASE)
        base_report = build(inp, base_cfg, steps=list(MODEL_STEPS))
        jobs, dirs = [], []
        for k, target in enumerate(cfg.targets):
            dirs.append(f"{POINTS}/{k}")
            jobs.append((str(out / BASE), cfg.build_config(out / dirs[-1], target)))
        progress(f"{len(jobs)} points on {where}")

        def done(k: int, rec: dict) -> None:
            what = (f"{rec['fps']:,.0f} fps, {resources(rec)['luts']:,} LUT"
                    if rec["status"] == "ok" else f"FAILED at {rec['failed_step']}: "
                    f"{(rec['error'] or '').splitlines()[0] if rec['error'] else ''}")
            progress(f"point {k} ({cfg.targets[k].label}): {what}")

        records = run_points(client, jobs, done)
        points = []
        for k, (target, rec) in enumerate(zip(cfg.targets, records, strict=True)):
            rec = {"k": k, "target": target.to_json(), "dir": dirs[k],
                   "folding": f"{dirs[k]}/folding.json", **rec}
            if rec["status"] == "ok":
                rec["resources"] = resources(rec)
                rec["fits"] = fits(rec, board.capacity)
            points.append(rec)
        result = {
            "model": base_report["model"], "board": board.name, "part": board.part,
            "clock_mhz": board.clock_mhz, "capacity": board.capacity,
            "synth": cfg.synth,
            "engine": {"dask": "cluster", "address": cfg.cluster} if cfg.cluster else
                      {"dask": "local", "workers": cfg.workers},
            "base": {"dir": BASE, "timings_s": base_report["timings_s"],
                     "stages": list(base_report["stages"])},
            "points": points,
            "pareto": {r: pareto.front(points, r) for r in pareto.RESOURCES},
            "recommendation": recommend(points, cfg.target_fps),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        pareto.write_plot(out / PLOT, result)
        write_report(out / RESULT, result)
    return result


def _cost(rec: dict) -> tuple:
    r = rec["resources"]
    return (r["luts"], r["brams_18k"], -rec["fps"])


def recommend(points: list[dict], target_fps: float | None) -> dict:
    """The fastest point that fits the board; with `target_fps`, the cheapest point (LUTs,
    then BRAM18) that meets it. Only bit-exact points count; None where no point qualifies."""
    ok = [p for p in points if p["status"] == "ok" and p.get("bit_exact")]
    fitting = [p for p in ok if p["fits"]]
    fastest = max(fitting, key=lambda p: (p["fps"], *(-c for c in _cost(p)[:2])), default=None)
    out: dict = {"fastest_fitting": None if fastest is None else fastest["k"],
                 "target_fps": target_fps, "cheapest_meeting": None}
    if target_fps is not None:
        meeting = [p for p in ok if p["fps"] >= target_fps]
        cheapest = min(meeting, key=_cost, default=None)
        out["cheapest_meeting"] = None if cheapest is None else cheapest["k"]
    return out
