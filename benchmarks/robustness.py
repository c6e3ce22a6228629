"""Robustness campaign: random small binary networks and foldings through the whole onebit build.

    .venv/bin/python benchmarks/robustness.py --cases 30 --seed 0 [--jobs 1] [--timeout 900]
        [--no-sim] [--out benchmarks/results/robustness.json] [--workdir build/robustness]

Case i is `random_nets.case_from_seed(seed + i)` (Hypothesis, a fixed draw per seed): an MLP,
CNN or Bi-Real residual CNN, widths including primes, kernels 1-5, stride 1-2, zero or +-1
padding, max-pool before/after the activation, 1- and 2-bit activations, random BatchNorms
(negative scales), optional 8-bit first/last layer, and either a log-uniform target fps in
1e2..1e7 or random legal PE/SIMD per layer. Each case runs in its own process, forked from a
server that imported torch/FINN/onebit once (killed after `--timeout` s: `timeout`), and is
classified by `build_outcome.run_case` (built / refused_early / refused_unclear / failed_late /
crashed / timeout).

Every finished case is appended to `<out>.jsonl` at once, so a rerun with the same arguments
resumes where the last one stopped; `--retry-timeouts SECONDS` runs the timed-out ones again
with that limit (each record holds the limit it ran under, `timeout_s`). The JSON summary
(`--out`) holds the counts, the seeds per outcome and every failure's step and first line;
the Markdown table goes beside it (`.md`).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent / "tests"
RESULTS = HERE / "results" / "robustness.json"


def _import_tests():
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))


def run_one(seed: int, workdir: Path, sim: bool, result: Path) -> None:
    """Child process: build and classify case `seed`; write its record to `result`."""
    _import_tests()
    from build_outcome import run_case
    from random_nets import case_from_seed

    case = case_from_seed(seed)
    outcome = run_case(case, workdir, sim=sim)
    record = {"seed": seed, "case": case.describe(), **outcome.to_json()}
    result.write_text(json.dumps(record))


PRELOAD = ["torch", "brevitas.nn", "onnx", "qonnx.core.modelwrapper",
           "onebit.flows.build", "onebit.export", "hypothesis"]
"""Imported once by the fork server, so a case's process starts without ~10 s of imports."""
_CONTEXT = None


def _context():
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload([*PRELOAD, "build_outcome", "random_nets"])
    return _CONTEXT


def _child(seed: int, workdir: Path, sim: bool, result: Path, log: Path) -> None:
    """A case's process: its own session, output to `log`; SIGTERM (a timeout) kills the tools
    it runs first (each in a session of its own: `onebit.hw.proc`)."""
    from onebit.hw import proc as tools

    def on_term(*_):
        tools.kill_all()
        os._exit(143)

    os.setsid()
    signal.signal(signal.SIGTERM, on_term)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    run_one(seed, workdir, sim, result)


def run_isolated(seed: int, workdir: Path, sim: bool, timeout: float) -> dict:
    """Case `seed` in a process of its own session; `timeout` when it outlives `timeout`."""
    _import_tests()
    workdir.mkdir(parents=True, exist_ok=True)
    result = workdir / f"case{seed}.json"
    result.unlink(missing_ok=True)
    log = workdir / f"case{seed}.log"
    t0 = time.perf_counter()
    proc = _context().Process(target=_child, args=(seed, workdir / f"w{seed}", sim, result, log))
    proc.start()
    proc.join(timeout)
    rc = proc.exitcode
    if rc is None:
        proc.terminate()  # its tools first (`_child`), then the rest of its group
        proc.join(10)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.join()
    seconds = round(time.perf_counter() - t0, 2)
    if rc is None:
        return {"seed": seed, "case": _describe(seed), "outcome": "timeout", "step": None,
                "error": None, "message": f"no result after {timeout:g} s", "seconds": seconds}
    if rc != 0 or not result.is_file():
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
        return {"seed": seed, "case": _describe(seed), "outcome": "crashed", "step": None,
                "error": f"exit status {rc}", "message": tail[0][:300], "seconds": seconds}
    return json.loads(result.read_text())


def _commit() -> str:
    """The onebit commit the cases run on (recorded with each case: a journal resumed after
    the code changed says which case ran on what); `-dirty` when tracked files other than the
    results (the journal itself) differ from it."""
    import subprocess

    def git(*args: str) -> str:
        r = subprocess.run(["git", "-C", str(HERE.parent), *args], capture_output=True,
                           text=True)
        return r.stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                ":!benchmarks/results")
    return head + ("-dirty" if dirty else "")


def _describe(seed: int) -> str:
    _import_tests()
    from random_nets import case_from_seed

    return case_from_seed(seed).describe()


CLASSES = (  # (first-line pattern, failure class), first match wins
    (r"partition depends on itself|left in software between two HW layers"
     r"|stays in software between HW layers",
     "software node between HW layers"),
    (r"Unexpected kernel shape and padding|over a map 1 pixel", "conv window across a 1-pixel map"),
    (r"Signed output requires actval", "signed 2-bit threshold with out_bias 0"),
    (r"out_scale must be 1", "bipolar threshold (out_scale 2) left for a Thresholding layer"),
    (r"cannot hold accumulators", "accumulator width"),
    (r"parallel_window", "SWG parallel_window=1"),
    (r"1x1 kernels use|1x1 conv with stride", "strided 1x1 conv (1x1 sliding window)"),
    (r"zero-pads a bipolar", "zero padding of a +-1 map"),
    (r"pad value \+1", "+1 padding of a +-1 map"),
    (r"verification of stage '(\w+)'", "verification mismatch at {0}"),
    (r"Illegal conv configuration|within the map", "kernel or stride beyond the map"),
    (r"Verilator: build of", "Verilator fails to compile the design"),
    (r"no result after", "time limit"),
)


def failure_class(message: str) -> str:
    """A short name for what a failure or refusal message is about ('other' if unknown)."""
    for pattern, name in CLASSES:
        if m := re.search(pattern, message or ""):
            return name.format(*m.groups())
    return "other"


def summarize(records: list[dict], args) -> dict:
    """Counts per outcome, seeds per outcome, and one entry per failure."""
    _import_tests()
    from build_outcome import BUGS, OUTCOMES

    counts = Counter(r["outcome"] for r in records)
    return {
        "seed": args.seed,
        "cases": len(records),
        "note": args.note,
        "sim": not args.no_sim,
        "counts": {o: counts.get(o, 0) for o in OUTCOMES},
        "seeds": {o: sorted(r["seed"] for r in records if r["outcome"] == o) for o in OUTCOMES},
        "refusals": [_entry(r) for r in records if r["outcome"] == "refused_early"],
        "failures": [_entry(r) for r in records if r["outcome"] in BUGS],
        "timeouts": [_entry(r) for r in records if r["outcome"] == "timeout"],
        "classes": dict(Counter(f"{r['outcome']}: {failure_class(r.get('message') or '')}"
                                for r in records if r["outcome"] != "built").most_common()),
        "seconds": round(sum(r.get("seconds", 0.0) for r in records), 1),
        "onebit": dict(Counter(r.get("onebit", "unrecorded") for r in records)),
    }


def _entry(r: dict) -> dict:
    return {"class": failure_class(r.get("message") or ""),
            **{k: r.get(k) for k in ("seed", "outcome", "step", "error", "message", "case",
                                     "folding")}}  # fmt: skip


def markdown(summary: dict) -> str:
    """The campaign's counts and failures as Markdown tables."""
    c = summary["counts"]
    lines = [f"# Robustness campaign: {summary['cases']} cases from seed {summary['seed']}"
             f" ({'built and simulated' if summary['sim'] else 'built without simulation'})",
             *(["", summary["note"]] if summary.get("note") else []),
             "", "cases per onebit commit: " + ", ".join(
                 f"{k} {v}" for k, v in summary.get("onebit", {}).items()),
             "", "| outcome | cases | seeds |", "|---|---|---|"]  # fmt: skip
    for o, n in c.items():
        seeds = ", ".join(map(str, summary["seeds"][o][:20]))
        lines.append(f"| {o} | {n} | {seeds}{' ...' if n > 20 else ''} |")
    lines += ["", "| outcome: class | cases |", "|---|---|"]
    lines += [f"| {k} | {n} |" for k, n in summary["classes"].items()]
    for title, key in (("Failures (bugs)", "failures"), ("Timeouts", "timeouts"),
                       ("Refused early", "refusals")):
        rows = summary[key]
        if not rows:
            continue
        lines += ["", f"## {title}", "", "| seed | outcome | step | class | message | network |",
                  "|---|---|---|---|---|---|"]  # fmt: skip
        for r in rows:
            msg = (r["message"] or "").replace("|", "\\|")[:240]
            lines.append(f"| {r['seed']} | {r['outcome']} | {r['step']} | {r['class']} | {msg} "
                         f"| {r['case']} |")
    return "\n".join(lines) + "\n"


def load_done(path: Path) -> dict[int, dict]:
    if not path.is_file():
        return {}
    done = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            done[r["seed"]] = r
    return done


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=30)
    p.add_argument("--seed", type=int, default=0, help="case i is drawn from seed + i")
    p.add_argument("--jobs", type=int, default=1, help="cases built in parallel")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per case")
    p.add_argument("--no-sim", action="store_true", help="stop after the estimate (no RTL)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--workdir", type=Path, default=None, help="(default: a temporary folder)")
    p.add_argument("--note", default="", help="recorded in the summary (e.g. the code built)")
    p.add_argument("--retry-timeouts", type=float, default=None, metavar="SECONDS",
                   help="run the journal's timed-out cases again with this limit (their new "
                        "records replace the old)")
    p.add_argument("--report-only", action="store_true",
                   help="summarize the journal's finished cases, run nothing")
    p.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one is not None:
        run_one(args.one, args.workdir, not args.no_sim, args.result)
        return 0
    journal = args.out.with_suffix(".jsonl")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    done = load_done(journal)
    retry = ({s for s, r in done.items() if r["outcome"] == "timeout"}
             if args.retry_timeouts else set())
    seeds = [] if args.report_only else [s for s in range(args.seed, args.seed + args.cases)
                                         if s not in done or s in retry]
    print(f"{len(done)} cases done before, {len(seeds)} to run", flush=True)
    if not seeds:
        return _write(done, args)
    with tempfile.TemporaryDirectory(prefix="onebit-robustness-") as tmp:
        work = args.workdir or Path(tmp)

        commit = _commit()

        def one(s: int) -> dict:
            limit = args.retry_timeouts if s in retry else args.timeout
            r = {**run_isolated(s, work, not args.no_sim, limit), "onebit": commit,
                 "timeout_s": limit}
            with open(journal, "a") as f:  # appended whole lines, one writer thread at a time
                f.write(json.dumps(r) + "\n")
            print(f"seed {s}: {r['outcome']} {r.get('step') or ''} {r['seconds']}s "
                  f"{(r.get('message') or '')[:160]}", flush=True)
            return r

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for r in pool.map(one, seeds):
                done[r["seed"]] = r
    return _write(done, args)


def _write(done: dict[int, dict], args) -> int:
    records = [done[s] for s in range(args.seed, args.seed + args.cases) if s in done]
    summary = summarize(records, args)
    args.out.write_text(json.dumps(summary, indent=1))
    args.out.with_suffix(".md").write_text(markdown(summary))
    print(markdown(summary))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
