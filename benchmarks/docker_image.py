"""Measure the container image: build time and size, then onebit's TFC build inside it.

    .venv/bin/python benchmarks/docker_image.py [--rebuild-base] [--no-cache]
        [--out build/bench-docker] [--results benchmarks/results/docker.json]

Runs `docker/build --local-base` (timed; `--rebuild-base` includes making the debootstrap base,
`--no-cache` builds every layer again; without either, layers the engine has are reused),
reads the image's size from the engine, then `docker/run build bnn_pynq:tfc --out tfc` twice
from OUT (the first run fills the cache volume with Verilator's models, the second reuses them)
and checks each report.json: status ok, bit-exact, files owned by the caller. Writes the
figures to --results (no file with --results -). Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(cmd: list[str], cwd: Path, env: dict) -> tuple[float, str]:
    """Run cmd; (wall seconds, output). Raises with the output's tail when it fails."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, stdin=subprocess.DEVNULL)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-4000:]}")
    return secs, p.stdout


def engine_of(env: dict) -> str:
    for e in ([env["ONEBIT_ENGINE"]] if env.get("ONEBIT_ENGINE") else ["podman", "docker"]):
        if shutil.which(e) and subprocess.run([e, "info"], capture_output=True).returncode == 0:
            return e
    raise RuntimeError("no working container engine (podman or docker)")


def owners(tree: Path) -> set[tuple[int, int]]:
    """(uid, gid) of every file and directory under tree."""
    out = set()
    for p in [tree, *tree.rglob("*")]:
        st = p.lstat()
        out.add((st.st_uid, st.st_gid))
    return out


def tfc_in_container(workdir: Path, env: dict) -> dict:
    """`docker/run build bnn_pynq:tfc --out tfc` in workdir: its time and checks."""
    out = workdir / "tfc"
    if out.exists():
        shutil.rmtree(out)
    secs, _ = run([str(ROOT / "docker" / "run"), "build", "bnn_pynq:tfc", "--out", "tfc"],
                  workdir, env)
    report = json.loads((out / "report.json").read_text())
    sim = report.get("sim") or {}
    return {
        "seconds": round(secs, 1),
        "status": report.get("status"),
        "bit_exact": sim.get("bit_exact") is True,
        "frames": sim.get("frames"),
        "stages_verified": all(s.get("verified") for s in report.get("stages", {}).values()),
        "owned_by_caller": owners(out) == {(os.getuid(), os.getgid())},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rebuild-base", action="store_true",
                    help="make the debootstrap base again (its time is part of the build's)")
    ap.add_argument("--no-cache", action="store_true", help="build every layer again")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench-docker")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results" / "docker.json"))
    a = ap.parse_args()

    env = dict(os.environ)
    # a fresh cache volume: the first TFC run compiles every Verilator model
    env["ONEBIT_CACHE_VOLUME"] = f"onebit-bench-cache-{os.getpid()}"
    try:
        engine = engine_of(env)
        env["ONEBIT_ENGINE"] = engine
        build = [str(ROOT / "docker" / "build"),
                 "--rebuild-base" if a.rebuild_base else "--local-base",
                 *(["--no-cache"] if a.no_cache else [])]
        build_s, _ = run(build, ROOT, env)
        _, size = run([engine, "image", "inspect", "--format", "{{.Size}}", "onebit:latest"],
                      ROOT, env)
        a.out.mkdir(parents=True, exist_ok=True)
        workdir = a.out.resolve()
        runs = [tfc_in_container(workdir, env) for _ in range(2)]
    except RuntimeError as e:
        print(f"docker_image: {e}", file=sys.stderr)
        return 1
    finally:
        if "ONEBIT_ENGINE" in env:
            subprocess.run([env["ONEBIT_ENGINE"], "volume", "rm", "-f",
                            env["ONEBIT_CACHE_VOLUME"]], capture_output=True)
    result = {
        "engine": engine,
        "base": "debootstrap --variant=minbase bookworm" + (" (made in this run)"
                                                            if a.rebuild_base else ""),
        "layers": "all built" if a.rebuild_base or a.no_cache else "engine's cache used",
        "build_s": round(build_s, 1),
        "image_mb": round(int(size) / 1e6),
        "tfc_cold_cache": runs[0],
        "tfc_warm_cache": runs[1],
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    if a.results != "-":
        Path(a.results).write_text(json.dumps(result, indent=2) + "\n")
    ok = all(r["status"] == "ok" and r["bit_exact"] and r["stages_verified"]
             and r["owned_by_caller"] for r in runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
