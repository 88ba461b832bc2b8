"""EfficientPhys FSAM's NMF modes, without torch: the CLI's ``--fsam-mode`` choices are built from them."""

from __future__ import annotations

from typing import Literal

FsamMode = Literal["steady", "segment", "reference"]
FSAM_MODES: tuple[FsamMode, ...] = ("steady", "segment", "reference")
