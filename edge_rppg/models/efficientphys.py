"""EfficientPhys + FSAM (the paper's second network): a 2-D CNN over frame differences with temporal shifts.

Module names follow the authors' ``EfficientPhys_FSAM`` so that state-dict keys match their released
files. Differences from the reference, all invisible at batch 1:
- The public contract is the family-wide one, ``[B, C, 161, 72, 72]`` raw 0-255 -> ``[B, 160]``; frames go
  into the batch axis inside the model, and each window is differenced on its own (the reference
  differences a flattened batch, mixing the last frame of one clip with the first of the next).
- FSAM's min-shifts take one minimum per window instead of one over the whole batch, so a window's
  output never depends on the other windows in the batch (dynamic-batch engines stay exact).

FSAM's NMF has three modes (``FSAM_MODES``). The reference overwrites its segment length with 1 after its
first forward call: from then on every matrix is a 1 x N row, whose rank-1 NMF is the row itself, so
the released numbers come from FSAM with an identity NMF ("steady"). "segment" factorises each 20-frame
TSM segment on every call (the paper's intent); "reference" reproduces the first-call mutation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from edge_rppg.contract import CONTRACT, InputContract
from edge_rppg.models.fsam import ConvReLU, excite, fan_out_init, nmf
from edge_rppg.models.modes import FSAM_MODES, FsamMode

_FILTERS = (32, 64)
_DENSE = 128


@dataclass(kw_only=True, frozen=True)
class EfficientPhysConfig:
    in_channels: int = CONTRACT.channels
    frame_depth: int = 20  # TSM segment length, and FSAM's factorisation segment
    fold_div: int = 3
    fsam_mode: FsamMode = "steady"
    fsam_steps: int = 6
    excitation_bias: float = 1.0
    dropout: tuple[float, float] = (0.25, 0.5)

    def __post_init__(self) -> None:
        if self.fsam_mode not in FSAM_MODES:
            raise ValueError(f"EfficientPhys FSAM mode must be one of {FSAM_MODES}, got {self.fsam_mode!r}")
        if self.in_channels not in (1, 3):
            raise ValueError(f"EfficientPhys takes 1 or 3 input channels, got {self.in_channels}")
        if CONTRACT.window % self.frame_depth:
            raise ValueError(f"frame_depth {self.frame_depth} must divide the {CONTRACT.window}-frame window")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EfficientPhysConfig:
        d = dict(d)
        if "dropout" in d:
            d["dropout"] = tuple(d["dropout"])
        return cls(**d)


def temporal_shift(x: torch.Tensor, segment: int, fold_div: int = 3) -> torch.Tensor:
    """TSM on [N*segment, C, H, W]: the first C/fold_div channels take the next frame, the next C/fold_div
    the previous one, zero at segment edges. Slices, Pad and Concat only: the reference's slice
    assignment exports as ScatterND, which TensorRT and OpenVINO run slowly or not at all."""
    nt, c, h, w = x.shape
    fold = c // fold_div
    if fold == 0:
        return x
    v = x.reshape(-1, segment, c, h, w)
    ahead = F.pad(v[:, 1:, :fold], (0, 0, 0, 0, 0, 0, 0, 1))
    behind = F.pad(v[:, :-1, fold : 2 * fold], (0, 0, 0, 0, 0, 0, 1, 0))
    return torch.cat([ahead, behind, v[:, :, 2 * fold :]], dim=2).reshape(nt, c, h, w)


class FrameFSAM(nn.Module):
    """FSAM in the reference's "2D_TSM" form: 1x1 convs per frame, NMF over a segment of frames."""

    def __init__(self, channels: int, align_channels: int) -> None:
        super().__init__()
        self.pre_conv_block = nn.Sequential(nn.Conv2d(channels, align_channels, 1, bias=True), nn.ReLU())
        self.post_conv_block = nn.Sequential(
            ConvReLU(align_channels, align_channels, nn.Conv2d), nn.Conv2d(align_channels, channels, 1, bias=False)
        )
        fan_out_init(self)

    def attention(
        self, shifted: torch.Tensor, segment: int | None, steps: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attention for shifted embeddings [N, C, H, W]; ``segment=None`` is the steady state (identity NMF)."""
        x = self.pre_conv_block(shifted)
        if segment is None:
            return self.post_conv_block(x), None
        with torch.autocast(device_type=x.device.type, enabled=False):
            v = x.float().reshape(-1, segment, x[0].numel())
            v_hat = nmf(v, 1, steps)
        return self.post_conv_block(v_hat.reshape(x.shape).to(x.dtype)), torch.dist(v, v_hat)


def _minus_window_min(x: torch.Tensor, windows: int) -> torch.Tensor:
    """``x`` [windows * T, C, H, W] minus each window's own minimum (the reference takes one over the batch)."""
    v = x.reshape(windows, -1)
    return (v - v.amin(dim=1, keepdim=True)).reshape(x.shape)


class EfficientPhys(nn.Module):
    """Raw frames [B, C, T+1, 72, 72] (0-255) -> BVP [B, T], one 2-D network per frame plus temporal shifts."""

    family = "efficientphys"

    def __init__(self, config: EfficientPhysConfig = EfficientPhysConfig()) -> None:
        super().__init__()
        self.config = config
        f1, f2 = _FILTERS
        p1, p2 = config.dropout
        self.batch_norm = nn.BatchNorm2d(config.in_channels)
        self.motion_conv1 = nn.Conv2d(config.in_channels, f1, 3, padding=1)
        self.motion_conv2 = nn.Conv2d(f1, f1, 3)
        self.motion_conv3 = nn.Conv2d(f1, f2, 3, padding=1)
        self.motion_conv4 = nn.Conv2d(f2, f2, 3)
        self.pool = nn.AvgPool2d(2)
        self.dropout_conv = nn.Dropout(p1)
        self.dropout_dense = nn.Dropout(p2)
        self.feature_factorizer = FrameFSAM(f2, f2 // 8)
        self.fsam_norm = nn.InstanceNorm2d(f2)
        self.final_dense_1 = nn.Linear(f2 * 3 * 3, _DENSE)
        self.final_dense_2 = nn.Linear(_DENSE, 1)
        self._factorised_once = False  # "reference" mode: the first call factorises, later ones do not
        self.last_appx_error: torch.Tensor | None = None

    @property
    def has_fsam(self) -> bool:
        return True

    @property
    def contract(self) -> InputContract:
        return replace(CONTRACT, channels=self.config.in_channels)

    def _fsam_segment(self) -> int | None:
        mode = self.config.fsam_mode
        if mode == "segment" or (mode == "reference" and not self._factorised_once):
            self._factorised_once = True
            return self.config.frame_depth
        return None

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(x, self.config.frame_depth, self.config.fold_div)

    def _motion(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.motion_conv1(self._shift(x)))
        x = torch.tanh(self.motion_conv2(self._shift(x)))
        x = self.dropout_conv(self.pool(x))
        x = torch.tanh(self.motion_conv3(self._shift(x)))
        x = self.dropout_conv(self.pool(x))
        x = torch.tanh(self.motion_conv4(self._shift(x)))
        out: torch.Tensor = self.dropout_conv(self.pool(x))
        return out

    def _fsam(self, e: torch.Tensor, windows: int) -> torch.Tensor:
        shifted = _minus_window_min(e, windows)
        att, self.last_appx_error = self.feature_factorizer.attention(
            shifted, self._fsam_segment(), self.config.fsam_steps
        )
        gated = excite(shifted, _minus_window_min(att, windows), self.config.excitation_bias)
        out: torch.Tensor = e + self.fsam_norm(gated)
        return out

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, c, _, h, w = frames.shape
        x = frames[:, :, 1:] - frames[:, :, :-1]
        x = x.transpose(1, 2).reshape(-1, c, h, w)
        x = self.batch_norm(x)
        e = self._motion(x)
        e = self.dropout_conv(self.pool(self._fsam(e, b)))
        y = self.dropout_dense(torch.tanh(self.final_dense_1(torch.flatten(e, 1))))
        bvp: torch.Tensor = self.final_dense_2(y).reshape(b, -1)
        return bvp


def build_efficientphys(
    fsam: bool | str = True, in_channels: int = CONTRACT.channels, **overrides: Any
) -> EfficientPhys:
    """EfficientPhys + FSAM; ``fsam`` may name the NMF mode. FSAM is part of this network in every mode."""
    mode = fsam if isinstance(fsam, str) else "steady"
    return EfficientPhys(EfficientPhysConfig(in_channels=in_channels, fsam_mode=mode, **overrides))  # type: ignore[arg-type]


def efficientphys_deploy(model: EfficientPhys) -> EfficientPhys:
    """The deployment network: the checkpoint's FSAM mode, with "reference" in its steady state.

    FSAM stays: its residual is always on, so removing it changes the output. In the steady state its
    NMF is the identity and is not in the graph at all.
    """
    mode = "steady" if model.config.fsam_mode == "reference" else model.config.fsam_mode
    deploy = EfficientPhys(replace(model.config, fsam_mode=mode))
    deploy.load_state_dict(model.state_dict(), strict=True)
    return deploy.eval()
