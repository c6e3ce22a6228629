"""Real-to-Binary's losses: attention matching between student and teacher, and distillation.

    >>> a = torch.zeros(1, 1, 1, 2); a[..., 0] = 1
    >>> b = torch.zeros(1, 1, 1, 2); b[..., 1] = 1
    >>> float(attention_loss([a], [b]))   # || e0 - e1 ||_2
    1.4142135381698608
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention_map(a: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Q = sum_c |A_c|^2 over channels, flattened and L2-normalised per sample: (N, HW).

    A (N, C) fully connected activation is treated as C positions of one channel.
    """
    q = a.pow(2) if a.dim() == 2 else a.pow(2).sum(1).flatten(1)
    return q / q.norm(dim=1, keepdim=True).clamp_min(eps)


def attention_loss(student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
    """sum over points j of mean over the batch of || Q_s^j - Q_t^j ||_2."""
    if len(student) != len(teacher):
        raise ValueError(f"{len(student)} student points vs {len(teacher)} teacher points")
    total = student[0].new_zeros(())
    for s, t in zip(student, teacher, strict=True):
        total = total + (attention_map(s) - attention_map(t.detach())).norm(dim=1).mean()
    return total


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) of the (already temperature-scaled) logits' softmax."""
    return F.kl_div(F.log_softmax(student_logits, 1), F.softmax(teacher_logits.detach(), 1),
                    reduction="batchmean")  # fmt: skip
