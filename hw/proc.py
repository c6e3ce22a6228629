"""External tools as child processes that never outlive onebit.

Verilator starts `make`, which starts `c++`; killing only the direct child leaves the compiler
running after onebit has stopped. `run` starts each tool in a process group of its own and,
when the caller is interrupted (Ctrl-C, SIGTERM, any exception while waiting), kills the whole
group before the exception goes on.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

_LIVE: set[subprocess.Popen] = set()
"""The tools `run` is waiting for, in any thread (`kill_all`)."""


def kill_all() -> None:
    """Kill every tool `run` is waiting for, with its group (a process about to exit on a
    signal: its worker threads' tools too)."""
    for p in list(_LIVE):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def run(cmd: Sequence[str], *, cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """`subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)`, with the tool's
    group killed on interruption and on the timeout (`subprocess.TimeoutExpired`)."""
    with subprocess.Popen(list(cmd), cwd=cwd, env=None if env is None else dict(env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as p:
        _LIVE.add(p)
        try:
            out, err = p.communicate(timeout=timeout)
        except BaseException:
            kill_group(p)
            raise
        finally:
            _LIVE.discard(p)
    return subprocess.CompletedProcess(list(cmd), p.returncode, out, err)


def kill_group(p: subprocess.Popen) -> None:
    """SIGKILL the process group `p` leads (its children and theirs), then reap `p`."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    p.wait()
