"""Model windows drawn from a dataset (bench inputs, INT8 calibration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_rppg.data.preprocess import chunk_window, preprocess_videos
from edge_rppg.data.readers import read_dataset
from edge_rppg.errors import DatasetError


def dataset_windows(root: Path, dataset: str | None, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` windows [N, 3, 161, 72, 72] and their labels [N, 160], spread over the videos."""
    if dataset is None:
        raise DatasetError(f"{root}: say which format it is with --dataset (ubfc-rppg, pure, ibvp, scamps)")
    items = read_dataset(root, dataset)
    chunks = preprocess_videos(items, dataset, root)
    if not chunks:
        raise DatasetError(f"{root}: no video gave a full window")
    picks = np.linspace(0, len(chunks) - 1, min(count, len(chunks))).round().astype(int)
    pairs = [chunk_window(chunks[i]) for i in picks]
    return np.stack([x for x, _ in pairs]), np.stack([y for _, y in pairs])
