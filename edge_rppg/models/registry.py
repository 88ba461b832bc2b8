"""The model families: the only place that knows which networks exist (timm-style registry).

Each family brings its builder, its config, its deploy transform, the state-dict key that recognises the
authors' files, and how to read their file names. Everything else asks the model (``model.family``,
``model.contract``) or the export's metadata.

The networks are named here as ``module:attribute`` and imported (with torch) on first use: the table
itself, and so every CLI choice built from it, costs no torch import (a device that only predicts with an
exported model has none).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_rppg.errors import CheckpointError
from edge_rppg.models.modes import FSAM_MODES

if TYPE_CHECKING:
    import torch

    from edge_rppg.models.efficientphys import EfficientPhys
    from edge_rppg.models.factorizephys import FactorizePhys

    Model = FactorizePhys | EfficientPhys  # what a checkpoint loads into; each has family, config, contract


def _resolve(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True, kw_only=True)
class Family:
    name: str
    title: str
    network: str  # "module:Class" of the network
    config_class: str  # "module:Class" of its config dataclass (with from_dict)
    builder: str  # "module:function": build(fsam=..., in_channels=...)
    deployer: str  # "module:function": the deploy transform
    authors_reader: str  # "module:function": what the authors' file name says
    first_conv: str  # a key only this family's state dicts have; its weight's dim 1 is the input channels
    fsam_removed_for_deploy: bool
    fsam_modes: tuple[str, ...]  # NMF modes of an FSAM that stays at inference (train --fsam-mode)

    @property
    def model(self) -> Any:
        return _resolve(self.network)

    @property
    def config(self) -> Any:
        return _resolve(self.config_class)

    @property
    def build(self) -> Callable[..., Model]:
        build: Callable[..., Model] = _resolve(self.builder)
        return build

    @property
    def deploy(self) -> Callable[[Any], Model]:
        deploy: Callable[[Any], Model] = _resolve(self.deployer)
        return deploy

    @property
    def from_authors_name(self) -> Callable[[Path, set[str], int], tuple[Any, str | None, str]]:
        reader: Callable[[Path, set[str], int], tuple[Any, str | None, str]] = _resolve(self.authors_reader)
        return reader

    def describe(self, model: Model) -> str:
        """What runs, in words: "FactorizePhys (deploy, no FSAM)", "EfficientPhys + FSAM (steady NMF)"."""
        if not self.fsam_removed_for_deploy:
            return f"{self.title} + FSAM ({getattr(model.config, 'fsam_mode', '?')} NMF)"
        return self.title + (" + FSAM" if model.has_fsam else " (deploy, no FSAM)")

    def from_config(self, config: dict[str, Any]) -> Model:
        model: Model = self.model(self.config.from_dict(config))
        return model


_FP = "edge_rppg.models.factorizephys"
_EP = "edge_rppg.models.efficientphys"
_AUTHORS = "edge_rppg.models.authors"
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            name="factorizephys",
            title="FactorizePhys",
            network=f"{_FP}:FactorizePhys",
            config_class=f"{_FP}:ModelConfig",
            builder=f"{_FP}:build_model",
            deployer=f"{_FP}:to_deploy",
            authors_reader=f"{_AUTHORS}:factorizephys_from_name",
            first_conv="rppg_feature_extractor.FeatureExtractor.0.conv_block_3d.0.weight",
            fsam_removed_for_deploy=True,
            fsam_modes=(),
        ),
        Family(
            name="efficientphys",
            title="EfficientPhys",
            network=f"{_EP}:EfficientPhys",
            config_class=f"{_EP}:EfficientPhysConfig",
            builder=f"{_EP}:build_efficientphys",
            deployer=f"{_EP}:efficientphys_deploy",
            authors_reader=f"{_AUTHORS}:efficientphys_from_name",
            first_conv="motion_conv1.weight",
            fsam_removed_for_deploy=False,
            fsam_modes=FSAM_MODES,
        ),
    )
}
DEFAULT_FAMILY = "factorizephys"


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise CheckpointError(f"unknown model family {name!r}; choose from {', '.join(FAMILIES)}") from None


def family_of(model: Model) -> Family:
    return FAMILIES[model.family]


def family_of_state(state: dict[str, torch.Tensor]) -> Family | None:
    return next((f for f in FAMILIES.values() if f.first_conv in state), None)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: Model) -> int:
    """Multiply-accumulates of the convolutions and dense layers for one window, from the real output
    shapes (meta tensors: nothing is computed). FSAM's 1x1 convs count when the network runs them."""
    import torch
    from torch import nn

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
