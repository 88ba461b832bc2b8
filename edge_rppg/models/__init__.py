"""The model families (FactorizePhys, EfficientPhys), FSAM, and their registry.

The networks are re-exported lazily (PEP 562): ``from edge_rppg.models import FAMILIES`` needs no torch,
``from edge_rppg.models import FactorizePhys`` imports it."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from edge_rppg.models.registry import (
    DEFAULT_FAMILY,
    FAMILIES,
    Family,
    count_macs,
    count_parameters,
    family_of,
    get_family,
)

if TYPE_CHECKING:
    from edge_rppg.models.efficientphys import EfficientPhys, EfficientPhysConfig
    from edge_rppg.models.factorizephys import FactorizePhys, ModelConfig, build_model, to_deploy
    from edge_rppg.models.fsam import FSAM, FSAMConfig, nmf

_LAZY = {
    "EfficientPhys": "efficientphys",
    "EfficientPhysConfig": "efficientphys",
    "FactorizePhys": "factorizephys",
    "ModelConfig": "factorizephys",
    "build_model": "factorizephys",
    "to_deploy": "factorizephys",
    "FSAM": "fsam",
    "FSAMConfig": "fsam",
    "nmf": "fsam",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"edge_rppg.models.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "FSAM",
    "EfficientPhys",
    "EfficientPhysConfig",
    "FSAMConfig",
    "FactorizePhys",
    "Family",
    "ModelConfig",
    "build_model",
    "count_macs",
    "count_parameters",
    "family_of",
    "get_family",
    "nmf",
    "to_deploy",
]
