"""The model families (FactorizePhys, EfficientPhys), FSAM, and their registry."""

from edge_rppg.models.efficientphys import EfficientPhys, EfficientPhysConfig
from edge_rppg.models.factorizephys import FactorizePhys, ModelConfig, build_model, to_deploy
from edge_rppg.models.fsam import FSAM, FSAMConfig, nmf
from edge_rppg.models.registry import (
    DEFAULT_FAMILY,
    FAMILIES,
    Family,
    Model,
    count_macs,
    count_parameters,
    family_of,
    get_family,
)

__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "FSAM",
    "EfficientPhys",
    "EfficientPhysConfig",
    "FSAMConfig",
    "FactorizePhys",
    "Family",
    "Model",
    "ModelConfig",
    "build_model",
    "count_macs",
    "count_parameters",
    "family_of",
    "get_family",
    "nmf",
    "to_deploy",
]
