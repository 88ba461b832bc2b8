"""What the authors' release file names say that their state dicts do not.

The files are named ``<TrainSet>_FactorizePhys_<Base|FSAM|FSAM_Res>[_<K-TAB|T-KAB|TK-AB>].pth`` and
``<TrainSet>_EfficientPhys_FSAM.pth``; the residual flag and the FSAM transform are only in the name.
"""

from __future__ import annotations

import re
from pathlib import Path

from edge_rppg.models.efficientphys import EfficientPhysConfig
from edge_rppg.models.factorizephys import FSAM_KEY_PREFIX, ModelConfig
from edge_rppg.models.fsam import FSAMConfig

_FACTORIZEPHYS_NAME = re.compile(r"^(?P<train>.+?)_FactorizePhys_(?P<variant>Base|FSAM_Res|FSAM)(?P<rest>.*)$")
_EFFICIENTPHYS_NAME = re.compile(r"^(?P<train>.+?)_EfficientPhys_FSAM")
_TRANSFORM_IN_NAME = {"_K-TAB": "K_TAB", "_T-KAB": "T_KAB", "_TK-AB": "TK_AB"}


def factorizephys_from_name(path: Path, keys: set[str], in_channels: int) -> tuple[ModelConfig, str | None, str]:
    match = _FACTORIZEPHYS_NAME.match(path.stem)
    trained_on = match.group("train") if match else None
    variant = match.group("variant") if match else None
    if not any(k.startswith(FSAM_KEY_PREFIX) for k in keys):
        return ModelConfig(in_channels=in_channels), trained_on, variant or "Base"
    rest = match.group("rest") if match else ""
    transform = next((name for tag, name in _TRANSFORM_IN_NAME.items() if tag in rest), "T_KAB")
    # FSAM_Res is the paper's main model; a file named plain FSAM was trained without the residual.
    residual = variant != "FSAM"
    fsam = FSAMConfig(transform=transform, residual=residual)  # type: ignore[arg-type]
    return ModelConfig(in_channels=in_channels, fsam=fsam), trained_on, variant or "FSAM_Res"


def efficientphys_from_name(
    path: Path, keys: set[str], in_channels: int
) -> tuple[EfficientPhysConfig, str | None, str]:
    match = _EFFICIENTPHYS_NAME.match(path.stem)
    # The released numbers come from the steady state (the reference's NMF after its first call).
    return EfficientPhysConfig(in_channels=in_channels), match.group("train") if match else None, "FSAM"
