"""FactorizePhys (Joshi et al., NeurIPS 2024): a bias-free 3D CNN from raw face frames to BVP.

Module and attribute names follow the authors' code so that our state dicts have the keys of their
released checkpoints (minus the ``module.`` prefix of ``nn.DataParallel``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
from torch import nn

from edge_rppg.contract import CONTRACT, InputContract
from edge_rppg.models.fsam import FSAM, FSAMConfig


@dataclass(kw_only=True, frozen=True)
class ModelConfig:
    in_channels: int = CONTRACT.channels
    drop_rate: float = 0.1
    fsam: FSAMConfig | None = None
    # The reference's MD_INFERENCE: run FSAM in eval mode too (ablation reproductions only).
    fsam_at_inference: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        d = dict(d)
        fsam = d.pop("fsam", None)
        return cls(fsam=FSAMConfig(**fsam) if fsam else None, **d)


class ConvBlock3D(nn.Sequential):
    """Conv3d (no bias) -> Tanh -> InstanceNorm3d (no affine); the activation comes before the norm."""

    def __init__(
        self, channels_in: int, channels_out: int, stride: tuple[int, int, int], padding: tuple[int, int, int]
    ):
        super().__init__()
        self.conv_block_3d = nn.Sequential(
            nn.Conv3d(channels_in, channels_out, 3, stride=stride, padding=padding, bias=False),
            nn.Tanh(),
            nn.InstanceNorm3d(channels_out),
        )


FSAM_KEY_PREFIX = "rppg_head.fsam."  # where FSAM's weights sit in a state dict (the attribute path below)
_SAME_T = (1, 0, 0)  # pad time only: H and W shrink by 2 per layer, T stays


class FeatureExtractor(nn.Module):
    def __init__(self, in_channels: int, drop_rate: float) -> None:
        super().__init__()
        self.FeatureExtractor = nn.Sequential(
            ConvBlock3D(in_channels, 8, (1, 1, 1), (1, 1, 1)),
            ConvBlock3D(8, 12, (1, 2, 2), _SAME_T),
            ConvBlock3D(12, 12, (1, 1, 1), _SAME_T),
            nn.Dropout3d(drop_rate),
            ConvBlock3D(12, 12, (1, 1, 1), _SAME_T),
            ConvBlock3D(12, 16, (1, 2, 2), _SAME_T),
            ConvBlock3D(16, 16, (1, 1, 1), _SAME_T),
            nn.Dropout3d(drop_rate),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.FeatureExtractor(x)
        return features


class BVPHead(nn.Module):
    def __init__(self, drop_rate: float, fsam: FSAMConfig | None, fsam_at_inference: bool) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            ConvBlock3D(16, 16, (1, 1, 1), _SAME_T),
            ConvBlock3D(16, 16, (1, 1, 1), _SAME_T),
            ConvBlock3D(16, 16, (1, 1, 1), _SAME_T),
            nn.Dropout3d(drop_rate),
        )
        self.fsam = FSAM(fsam) if fsam is not None else None
        self.fsam_at_inference = fsam_at_inference
        self.final_layer = nn.Sequential(
            ConvBlock3D(16, 12, (1, 1, 1), _SAME_T),
            ConvBlock3D(12, 8, (1, 1, 1), _SAME_T),
            nn.Conv3d(8, 1, 3, stride=1, padding=_SAME_T, bias=False),
        )
        # Frobenius error of the last NMF reconstruction: logged during training, never part of the loss.
        self.last_appx_error: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.conv_block(x)
        if self.fsam is not None and (self.training or self.fsam_at_inference):
            e, self.last_appx_error = self.fsam(e)
        bvp: torch.Tensor = self.final_layer(e)
        return bvp


class FactorizePhys(nn.Module):
    """Raw frames [B, C, T+1, 72, 72] (0-255) -> BVP [B, T]."""

    family = "factorizephys"

    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        self.norm = nn.InstanceNorm3d(config.in_channels)
        self.rppg_feature_extractor = FeatureExtractor(config.in_channels, config.drop_rate)
        self.rppg_head = BVPHead(config.drop_rate, config.fsam, config.fsam_at_inference)

    @property
    def has_fsam(self) -> bool:
        return self.rppg_head.fsam is not None

    @property
    def last_appx_error(self) -> torch.Tensor | None:
        return self.rppg_head.last_appx_error

    @property
    def contract(self) -> InputContract:
        # 1 (thermal) and 4 (RGB + thermal) channels need no other change: the first InstanceNorm
        # normalises each channel on its own, as the reference's separate RGB and thermal norms do.
        return replace(CONTRACT, channels=self.config.in_channels)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        # Explicit slicing rather than torch.diff: every exporter (TorchScript, dynamo, OpenVINO) handles it.
        x = frames[:, :, 1:] - frames[:, :, :-1]
        x = self.norm(x)
        y = self.rppg_head(self.rppg_feature_extractor(x))
        return torch.flatten(y, 1)


def build_model(fsam: bool | FSAMConfig = False, **overrides: Any) -> FactorizePhys:
    """FactorizePhys with FSAM (``fsam=True`` or a config) or the deploy network (``fsam=False``)."""
    fsam_config = FSAMConfig() if fsam is True else (fsam or None)
    return FactorizePhys(ModelConfig(fsam=fsam_config, **overrides))


def to_deploy(model: FactorizePhys) -> FactorizePhys:
    """The deployment network: same trained weights, the FSAM submodule removed, in eval mode.

    Its outputs equal ``model.eval()`` outputs, where FSAM is skipped (paper, Table 3: the network keeps
    its accuracy without FSAM). It has no FSAM parameters and runs no NMF, so exporters trace plain
    Conv3d / Tanh / InstanceNorm.
    """
    config = replace(model.config, fsam=None, fsam_at_inference=False)
    deploy = FactorizePhys(config)
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith(FSAM_KEY_PREFIX)}
    deploy.load_state_dict(weights, strict=True)
    return deploy.eval()
