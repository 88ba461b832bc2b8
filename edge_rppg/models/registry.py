"""The model families: the only place that knows which networks exist (timm-style registry).

Each family brings its builder, its config, its deploy transform, the state-dict key that recognises the
authors' files, and how to read their file names. Everything else asks the model (``model.family``,
``model.contract``) or the export's metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edge_rppg.errors import CheckpointError
from edge_rppg.models.authors import efficientphys_from_name, factorizephys_from_name
from edge_rppg.models.efficientphys import (
    FSAM_MODES,
    EfficientPhys,
    EfficientPhysConfig,
    build_efficientphys,
    efficientphys_deploy,
)
from edge_rppg.models.factorizephys import FactorizePhys, ModelConfig, build_model, to_deploy


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    model: Any  # the network class
    config: Any  # the config dataclass, with from_dict
    build: Callable[..., Model]  # build(fsam=..., in_channels=...)
    deploy: Callable[[Any], Model]
    first_conv: str  # a key only this family's state dicts have; its weight's dim 1 is the input channels
    from_authors_name: Callable[[Path, set[str], int], tuple[Any, str | None, str]]
    fsam_removed_for_deploy: bool
    fsam_modes: tuple[str, ...]  # NMF modes of an FSAM that stays at inference (train --fsam-mode)
    summary: str

    def describe(self, model: Model) -> str:
        """What runs, in words: "FactorizePhys (deploy, no FSAM)", "EfficientPhys + FSAM (steady NMF)"."""
        if not self.fsam_removed_for_deploy:
            return f"{self.title} + FSAM ({getattr(model.config, 'fsam_mode', '?')} NMF)"
        return self.title + (" + FSAM" if model.has_fsam else " (deploy, no FSAM)")

    def from_config(self, config: dict[str, Any]) -> Model:
        model: Model = self.model(self.config.from_dict(config))
        return model


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "factorizephys",
            "FactorizePhys",
            FactorizePhys,
            ModelConfig,
            build_model,
            to_deploy,
            "rppg_feature_extractor.FeatureExtractor.0.conv_block_3d.0.weight",
            factorizephys_from_name,
            True,
            (),
            "3-D CNN, ~52 k parameters; FSAM trains it and is removed for deployment",
        ),
        Family(
            "efficientphys",
            "EfficientPhys",
            EfficientPhys,
            EfficientPhysConfig,
            build_efficientphys,
            efficientphys_deploy,
            "motion_conv1.weight",
            efficientphys_from_name,
            False,
            FSAM_MODES,
            "2-D CNN + temporal shift, 140,655 parameters; FSAM stays, with an identity NMF in its steady state",
        ),
    )
}
DEFAULT_FAMILY = "factorizephys"
Model = FactorizePhys | EfficientPhys  # what a checkpoint loads into; each has family, config, contract


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise CheckpointError(f"unknown model family {name!r}; choose from {', '.join(FAMILIES)}") from None


def family_of(model: Model) -> Family:
    return FAMILIES[model.family]


def family_of_state(state: dict[str, torch.Tensor]) -> Family | None:
    return next((f for f in FAMILIES.values() if f.first_conv in state), None)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: Model) -> int:
    """Multiply-accumulates of the convolutions and dense layers for one window, from the real output
    shapes (meta tensors: nothing is computed). FSAM's 1x1 convs count when the network runs them."""
    total = 0

    def hook(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        nonlocal total
        total += output.numel() * module.weight[0].numel()  # type: ignore[index]

    probe = family_of(model).from_config(model.config.to_dict()).to("meta").eval()
    handles = [
        m.register_forward_hook(hook) for m in probe.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear))
    ]
    try:
        with torch.no_grad():
            probe(torch.empty(model.contract.input_shape(1), device="meta"))
    finally:
        for h in handles:
            h.remove()
    return total
