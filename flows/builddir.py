"""A build directory: one onebit process at a time, holding only the outputs of its last build.

`claim(out)` is the context every build and re-simulation runs in:

- a lock (`.onebit.lock`, an advisory `flock` the kernel releases when the holder dies, so a
  killed build never leaves a stale lock): a second process refuses in one line naming the
  holder's pid;
- with `fresh=True` (a build), whatever an earlier build left is removed first, so RTL,
  intermediates or a report of another model can never sit beside this build's. Only entries
  onebit writes (`OWNED`) are removed; a directory holding anything else is refused, never
  cleared.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from onebit.errors import UserInputError

LOCK = ".onebit.lock"
OWNED = frozenset({
    LOCK, "report.json", "report.json.tmp", "vectors.npz", "model.qonnx.onnx", "folding.json",
    "intermediate", "rtl", "finn", "synth", "deploy", "trace.vcd", "trace.gtkw", "report.html",
    "report.html.tmp",
    "coverage",
})  # fmt: skip
"""Every top-level entry a build writes into its directory."""


def check_writable(out: Path) -> None:
    """One line for an output directory that cannot be one (a file, under a file, read-only)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} is a file, not a directory")
    parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not parent.is_dir():
        raise UserInputError(f"--out {out}: {parent} is a file, not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserInputError(f"--out {out}: {parent} is not writable")


def foreign_entries(out: Path, owned: frozenset = OWNED) -> list[str]:
    """Top-level entries of `out` that onebit does not write (`owned`: those it does)."""
    return sorted(p.name for p in Path(out).iterdir() if p.name not in owned)


@contextmanager
def claim(out: Path, *, fresh: bool, owned: frozenset = OWNED) -> Iterator[Path]:
    """Hold `out` for one process; with `fresh`, start from a directory holding nothing old.
    `owned`: the entries of such a directory (a build's; `flows/explore.py` has its own)."""
    out = Path(out)
    check_writable(out)
    if fresh and out.is_dir():
        foreign = foreign_entries(out, owned)
        if foreign:
            shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise UserInputError(
                f"--out {out} holds files onebit did not write ({shown}); use an empty or new "
                "directory, or a previous onebit build directory"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise UserInputError(f"--out {out}: {e.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise UserInputError(
                f"{out} is in use by another onebit process (pid {holder}); wait for it to "
                "finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        if fresh:
            for name in owned - {LOCK}:
                _remove(out / name)
        yield out
        os.ftruncate(fd, 0)  # the lock file stays, empty: a finished build names no process
    finally:
        os.close(fd)  # releases the lock


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
