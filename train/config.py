"""Training configuration: the paper's recipe by default."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    data: Path | None = None  # None: the built-in synthetic dataset
    dataset: str = "ubfc-rppg"
    out: Path = Path("runs/train")
    epochs: int = 10
    batch_size: int = 4
    lr: float = 1e-3  # one-cycle maximum
    fsam: bool = True
    fsam_residual: bool = True
    fsam_rank: int = 1
    fsam_steps: int = 4
    loss: str = "pearson"
    device: str = "auto"
    seed: int = 0
    train_split: tuple[float, float] = (0.0, 0.8)
    val_split: tuple[float, float] = (0.8, 1.0)
    workers: int | None = None
    on_no_face: str = "skip"
    synthetic_subjects: int = 16
    synthetic_seconds: float = 27.0
    cache: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
