"""FactorizePhys, FSAM and their checkpoints."""

from edge_rppg.models.factorizephys import (
    FactorizePhys,
    ModelConfig,
    build_model,
    count_macs,
    count_parameters,
    to_deploy,
)
from edge_rppg.models.fsam import FSAM, FSAMConfig, nmf

__all__ = [
    "FSAM",
    "FSAMConfig",
    "FactorizePhys",
    "ModelConfig",
    "build_model",
    "count_macs",
    "count_parameters",
    "nmf",
    "to_deploy",
]
