"""The layout of a training run folder: written by train, read by checkpoints, export and eval (so it sits
below all of them)."""

from __future__ import annotations

from pathlib import Path

from edge_rppg.errors import CheckpointError

BEST = "best.pt"
LAST = "last.pt"
CONFIG = "config.json"
METRICS_JSON = "metrics.json"
METRICS_CSV = "metrics.csv"
PLOT = "curves.png"


def best_checkpoint(run: Path) -> Path:
    for name in (BEST, LAST):
        if (run / name).is_file():
            return run / name
    raise CheckpointError(f"{run}: not a training run folder (no {BEST} or {LAST})")
