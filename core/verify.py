"""Bit-exact comparison of two stages' outputs on the same vectors."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from onebit.errors import VerificationError


@dataclass
class StageCheck:
    """Outcome of one stage's verification against the previous stage."""

    verified: bool
    vectors: int
    max_abs_diff: float
    reference: str

    def to_json(self) -> dict:
        return asdict(self)


def compare(stage: str, expected: np.ndarray, actual: np.ndarray, *, reference: str,
            layer: str | None = None) -> StageCheck:
    """Check `actual` equals `expected` exactly (first axis = vectors); raise on mismatch.

    The error names the stage, the layer (tensor) and the first differing index as
    (vector, element...) with both values.
    """
    exp = np.asarray(expected, dtype=np.float64)
    act = np.asarray(actual, dtype=np.float64)
    if exp.size != act.size:
        raise VerificationError(
            stage, f"output has {act.size} elements, {reference} has {exp.size}", layer
        )
    act = act.reshape(exp.shape)
    diff = np.abs(exp - act)
    bad = np.argwhere(diff != 0)
    if len(bad):
        idx = tuple(int(i) for i in bad[0])
        raise VerificationError(
            stage,
            f"{len(bad)} of {exp.size} values differ from {reference} "
            f"(got {act[idx]:g}, expected {exp[idx]:g})",
            layer,
            idx,
        )
    return StageCheck(True, int(exp.shape[0]) if exp.ndim else 1, float(diff.max(initial=0.0)),
                      reference)
