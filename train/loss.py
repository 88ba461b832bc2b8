"""Negative Pearson losses for BVP regression."""

from __future__ import annotations

import torch


def neg_pearson(pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """1 - Pearson r along time for each sample [B, T], averaged over the batch (the paper's description)."""
    p = pred - pred.mean(dim=1, keepdim=True)
    q = label - label.mean(dim=1, keepdim=True)
    r = (p * q).sum(1) / (p.norm(dim=1) * q.norm(dim=1) + 1e-8)
    loss: torch.Tensor = (1 - r).mean()
    return loss


def neg_pearson_reference(pred: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    """The authors' code: z-score the whole batch, then cosine similarity along dim 0 (across the batch,
    per time step). Kept for reproduction only: with a batch of 1 it is a constant with no gradient."""
    p = (pred - pred.mean()) / (pred.std() + 1e-8)
    q = (label - label.mean()) / (label.std() + 1e-8)
    return (1 - torch.nn.functional.cosine_similarity(p, q, dim=0)).mean()


LOSSES = {"pearson": neg_pearson, "pearson-reference": neg_pearson_reference}
