"""onebit's exception hierarchy.

`OnebitError` is what the CLI turns into a one-line message and a non-zero exit. Subclasses say
whose fault it is: the user's input (`UserInputError` and below), a missing external tool
(`ToolNotFoundError`), or a verification failure between two stages (`VerificationError`).
Anything else escaping is a bug in onebit and keeps its traceback.
"""

from __future__ import annotations


class Interrupted(KeyboardInterrupt):
    """A termination signal (SIGTERM), handled like Ctrl-C: the build stops and says so."""

    def __init__(self, signal: str):
        self.signal = signal
        super().__init__(signal)


class OnebitError(Exception):
    """Base class for errors that onebit reports as one line."""


class UserInputError(OnebitError):
    """The input given to onebit is invalid (file, model, option)."""


class ModelFormatError(UserInputError):
    """A model file is malformed, not ONNX, or has the wrong shape or datatypes."""


class UnsupportedOpError(UserInputError):
    """A node onebit cannot map to hardware."""

    def __init__(self, node: str, op_type: str, why: str = ""):
        self.node, self.op_type = node, op_type
        super().__init__(f"unsupported node '{node}' ({op_type})" + (f": {why}" if why else ""))


class DatasetNotFoundError(UserInputError):
    """A dataset's files are not where onebit looked."""


class ToolNotFoundError(OnebitError):
    """An external tool (Verilator, Yosys, Vivado) is missing."""


class BuildError(OnebitError):
    """A build step failed."""

    def __init__(self, step: str, message: str):
        self.step = step
        super().__init__(f"step '{step}' failed: {message}")


class VerificationError(OnebitError):
    """Two stages of the flow disagree on real vectors."""

    def __init__(self, stage: str, message: str, layer: str | None = None, index=None):
        self.stage, self.layer, self.index, self.detail = stage, layer, index, message
        where = f" at layer '{layer}'" if layer else ""
        at = f", first mismatch at index {index}" if index is not None else ""
        super().__init__(f"verification of stage '{stage}' failed{where}{at}: {message}")

    def __reduce__(self):  # raised in a worker process, re-raised in the parent
        return type(self), (self.stage, self.detail, self.layer, self.index)
