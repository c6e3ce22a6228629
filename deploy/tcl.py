"""Tcl scripts as data: a list of commands, each a name and its words, rendered with Tcl's
quoting. Tests record and compare the command lists (STYLE 18).

A word is quoted with braces when it holds Tcl syntax; `Raw` words (command substitutions,
variables) are written as they are.

>>> s = Script(); s.cmd("create_bd_cell", "-type", "ip", "-vlnv", "a:b:c:1.0", "ps"); s.text()
'create_bd_cell -type ip -vlnv a:b:c:1.0 ps\\n'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Raw:
    """A word written verbatim: `[get_bd_cells ps]`, `$here`, `"$out/x.bit"`."""

    text: str


_PLAIN = re.compile(r"[A-Za-z0-9_.:/+=,@%^-]+")


def word(w) -> str:
    """One Tcl word: plain, braced, or `Raw`."""
    if isinstance(w, Raw):
        return w.text
    s = str(w)
    if _PLAIN.fullmatch(s):
        return s
    if "{" in s or "}" in s or "\\" in s:
        raise ValueError(f"cannot brace-quote {s!r}")
    return "{" + s + "}"


def props(d: dict) -> Raw:
    """A `-dict` argument: `[list CONFIG.A {1} CONFIG.B {x y}]`."""
    return Raw("[list " + " ".join(f"{word(k)} {{{v}}}" for k, v in d.items()) + "]")


def obj(getter: str, *args) -> Raw:
    """A command substitution: `[getter args...]`."""
    return Raw("[" + " ".join([getter, *(word(a) for a in args)]) + "]")


@dataclass
class Script:
    """Commands in order, with `#` comments between them."""

    lines: list[str] = field(default_factory=list)

    def cmd(self, name: str, *args) -> None:
        self.lines.append(" ".join([name, *(word(a) for a in args)]))

    def comment(self, text: str) -> None:
        self.lines.append("")
        self.lines.extend(f"# {line}" for line in text.splitlines())

    def raw(self, text: str) -> None:
        """Plain Tcl (control flow: checks with `if`/`error`), written as it is."""
        self.lines.extend(text.strip("\n").splitlines())

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
