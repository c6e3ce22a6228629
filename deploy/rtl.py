"""The bundle's RTL: the build's accelerator sources and memory files in one flat directory.

Vivado reads a `$readmemh` file that is added to the project by its bare name, so the bundle
keeps every file under its own name in `rtl/` and rewrites the memory paths of the generated
sources (`"MVAU_0/MVAU_0_weights.mem"` -> `"MVAU_0_weights.mem"`, threshold prefixes alike).
Names are unique in a build (generated files carry their node's name); a clash is refused.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from onebit.errors import UserInputError
from onebit.hw.accelerator import LIBRARY, MANIFEST, Accelerator

HDL = (".sv", ".v", ".svh", ".vh")
MEMORY = (".mem", ".dat")


def accelerator_files(build: Path) -> tuple[list[Path], list[Path], Accelerator]:
    """The saved design's HDL sources (compile order) and memory files, and the design."""
    rtl = Path(build) / "rtl"
    if not (rtl / MANIFEST).is_file():
        raise UserInputError(f"{build} has no accelerator RTL (rtl/{MANIFEST}); build it "
                             "without --no-sim, then run onebit bitstream")
    acc = Accelerator.load(rtl)
    sources: list[Path] = []
    for inst in [*(la.inst for la in acc.layers), acc.top]:
        for p in inst.sources:
            if p not in sources:
                sources.append(p)
    memory = sorted(p for p in rtl.rglob("*") if p.suffix in MEMORY
                    and p.relative_to(rtl).parts[0] != "sizing")
    missing = [str(p) for p in [*sources, *memory] if not p.is_file()]
    if missing:
        raise UserInputError(f"{build}: {missing[0]} is missing; build it again")
    return sources, memory, acc


def flatten(build: Path, dest: Path, extra: list[Path] = ()) -> tuple[list[str], list[str]]:
    """Copy the accelerator's sources (then `extra`, the shell's) and memory files into `dest`.

    Returns the HDL file names (compile order) and the memory file names.
    """
    rtl = Path(build).resolve() / "rtl"
    sources, memory, _ = accelerator_files(build)
    dest.mkdir(parents=True, exist_ok=True)
    subdirs = sorted({p.relative_to(rtl).parts[0] for p in [*sources, *memory]
                      if len(p.relative_to(rtl).parts) > 1 and p.relative_to(rtl).parts[0]
                      != LIBRARY})
    local = re.compile(r'"(?:' + "|".join(map(re.escape, subdirs)) + r')/') if subdirs else None
    seen: dict[str, Path] = {}
    for p in [*sources, *extra, *memory]:
        if p.name in seen and seen[p.name].read_bytes() != p.read_bytes():
            raise UserInputError(f"two files named {p.name} in the design ({seen[p.name]}, {p})")
        seen[p.name] = p
        generated = p.suffix in HDL and p.resolve().is_relative_to(rtl) \
            and p.resolve().relative_to(rtl).parts[0] != LIBRARY
        if generated and local is not None:
            (dest / p.name).write_text(local.sub('"', p.read_text()))
        else:
            shutil.copyfile(p, dest / p.name)
    hdl = list(dict.fromkeys(p.name for p in [*sources, *extra]))
    return hdl, [p.name for p in memory]
