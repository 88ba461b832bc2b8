"""Training configuration: the paper's recipe by default."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_rppg.models.registry import DEFAULT_FAMILY


@dataclass(kw_only=True)
class TrainConfig:
    arch: str = DEFAULT_FAMILY
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
    fsam_mode: str = "steady"  # EfficientPhys: NMF mode of its FSAM (steady | segment | reference)
    loss: str = "pearson"
    device: str = "auto"
    seed: int = 0
    train_split: tuple[float, float] = (0.0, 0.8)
    val_split: tuple[float, float] = (0.8, 1.0)
    workers: int | None = None
    on_no_face: str = "skip"
    synthetic_subjects: int = 16
    synthetic_seconds: float = 27.0
    synthetic_hard: float = 0.0  # fraction of subjects with head rotation/scale, light steps, darker skin, MJPEG
    cache: Path | None = None
    preset: str | None = None
    given: frozenset[str] = frozenset()  # options given on the command line (resume compares those by name)

    def apply_preset(self, name: str) -> None:
        """Set the preset's values on every option still at its default; options given differ and stay."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        default = TrainConfig()
        for key, value in PRESETS[name].items():
            if getattr(self, key) == getattr(default, key):
                setattr(self, key, value)
        self.preset = name

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items() if k != "given"}


# The bundled default model is produced by ``edge-rppg train --preset default-model`` (README, "The
# default model"); its checkpoint records this recipe, the generator version and the seed.
PRESETS: dict[str, dict[str, Any]] = {
    "default-model": {
        "arch": "factorizephys",
        "epochs": 15,
        "synthetic_subjects": 40,
        "synthetic_seconds": 30.0,
        "synthetic_hard": 0.5,
        "seed": 0,
        "out": Path("runs/default-model"),
    },
}
