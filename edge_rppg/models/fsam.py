"""FSAM: the Factorized Self-Attention Module (NMF of voxel embeddings), as in the authors' release.

Exactness notes (the released weights depend on them):
- The factorization matrix is a raw memory view of [C, T, H, W], not a permute: with T_KAB each of the
  T rows holds one channel and a block of consecutive frames.
- Both min-shifts take one minimum over the whole batch tensor, so FSAM outputs depend on the batch.
- The excitation bias ``bias1`` is a constant 1.0: the reference's Parameter was never registered on GPU,
  so it is absent from every released checkpoint and from the paper's parameter count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

Transform = Literal["T_KAB", "TK_AB", "K_TAB"]
TRANSFORMS: tuple[Transform, ...] = ("T_KAB", "TK_AB", "K_TAB")
_NMF_EPS = 1e-6


@dataclass(kw_only=True, frozen=True)
class FSAMConfig:
    transform: Transform = "T_KAB"
    rank: int = 1
    steps: int = 4
    residual: bool = True
    channels: int = 16
    align_channels: int = 8
    excitation_bias: float = 1.0

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise ValueError(f"FSAM transform must be one of {TRANSFORMS}, got {self.transform!r}")
        if self.rank < 1 or self.steps < 0:
            raise ValueError("FSAM rank must be >= 1 and steps >= 0")


def matrix_shape(transform: Transform, c: int, t: int, h: int, w: int) -> tuple[int, int]:
    """(D, N) of the factorization matrix for a [C, T, H, W] volume."""
    if transform == "T_KAB":
        return t, c * h * w
    if transform == "TK_AB":
        return t * c, h * w
    return c, t * h * w


def to_matrix(x: torch.Tensor, transform: Transform) -> torch.Tensor:
    """[B, C, T, H, W] -> [B, D, N] by raw reinterpretation of memory (the reference's view)."""
    b, c, t, h, w = x.shape
    d, n = matrix_shape(transform, c, t, h, w)
    return x.reshape(b, d, n)


def from_matrix(m: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`to_matrix`."""
    return m.reshape(shape)


def _update_coef(v: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    return h * torch.bmm(v.transpose(1, 2), w) / (torch.bmm(h, torch.bmm(w.transpose(1, 2), w)) + _NMF_EPS)


def _update_bases(v: torch.Tensor, w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    return w * torch.bmm(v, h) / (torch.bmm(w, torch.bmm(h.transpose(1, 2), h)) + _NMF_EPS)


def nmf(v: torch.Tensor, rank: int = 1, steps: int = 4) -> torch.Tensor:
    """Rank-``rank`` NMF reconstruction of nonnegative matrices v [B, D, N] by multiplicative updates.

    The iterations run without gradient; one last coefficient update keeps the gradient through
    ``Vᵀ·W`` only (the "one-step gradient" of the Hamburger paper), as the reference does.
    """
    b, d, _ = v.shape
    with torch.no_grad():
        w = torch.ones(b, d, rank, dtype=v.dtype, device=v.device) / math.sqrt(d)
        h = torch.softmax(torch.bmm(v.transpose(1, 2), w), dim=-1)
        for _ in range(steps):
            h = _update_coef(v, w, h)
            w = _update_bases(v, w, h)
    h = _update_coef(v, w, h)
    return torch.bmm(w, h.transpose(1, 2))


class ConvReLU(nn.Module):
    """Named like the reference's ConvBNReLU (no BN) so state-dict keys match (``post_conv_block.0.conv``)."""

    def __init__(
        self, channels_in: int, channels_out: int, conv: type[nn.Conv2d] | type[nn.Conv3d] = nn.Conv3d
    ) -> None:
        super().__init__()
        self.conv = conv(channels_in, channels_out, 1, bias=False)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.conv(x))
        return out


def fan_out_init(module: nn.Module) -> None:
    """The reference's FSAM init: every conv weight ~ N(0, sqrt(2 / (kernel volume * out_channels)))."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.weight[0, 0].numel() * m.out_channels)))


def excite(shifted: torch.Tensor, att_shifted: torch.Tensor, bias: float) -> torch.Tensor:
    """FSAM's gating of min-shifted embeddings by min-shifted attention: both factors >= ``bias`` > 0."""
    return (shifted + bias) * (att_shifted + bias)


class FSAM(nn.Module):
    """Factorized self-attention over voxel embeddings e [B, C, T, H, W]; returns (out, approximation error)."""

    def __init__(self, config: FSAMConfig = FSAMConfig()) -> None:
        super().__init__()
        self.config = config
        c, a = config.channels, config.align_channels
        self.pre_conv_block = nn.Sequential(nn.Conv3d(c, a, 1, bias=True), nn.ReLU())
        self.post_conv_block = nn.Sequential(ConvReLU(a, a), nn.Conv3d(a, c, 1, bias=False))
        self.norm = nn.InstanceNorm3d(c)
        fan_out_init(self)

    def forward(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # NMF's multiplicative updates divide by sums + 1e-6: keep them out of mixed precision.
        with torch.autocast(device_type=e.device.type, enabled=False):
            return self._forward(e.float())

    def _forward(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        shifted = e - e.min()
        x = self.pre_conv_block(shifted)
        v = to_matrix(x, cfg.transform)
        v_hat = nmf(v, cfg.rank, cfg.steps)
        appx_error = torch.dist(v, v_hat)
        att = self.post_conv_block(from_matrix(v_hat, x.shape))
        gated = excite(shifted, att - att.min(), cfg.excitation_bias)
        z = self.norm(gated)
        return (e + z if cfg.residual else z), appx_error
