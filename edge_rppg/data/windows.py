"""Model windows drawn from a dataset or a folder of videos (bench inputs, INT8 calibration and its guard).

Windows come through the same reader -> face-crop -> chunk path (and cache) as training and eval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_rppg.data.preprocess import Chunk, chunk_window, preprocess_videos
from edge_rppg.data.readers import READERS, read_dataset
from edge_rppg.errors import DatasetError

# ITU-R BT.601 luma: the stand-in for a thermal channel when only RGB windows exist (bench, export checks).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
CALIBRATION_SEED = 7
HELD_OUT_SEED = 8  # synthetic guard windows: other subjects than the calibration ones


def with_channels(windows: np.ndarray, channels: int) -> np.ndarray:
    """RGB windows [N, 3, T, H, W] shaped for a model with 1 (thermal) or 4 (RGB + thermal) channels.

    Reading iBVP's thermal frames is not supported; the luma stands in for the thermal channel so that
    those models can be exported, verified and timed on windows of the right shape.
    """
    if windows.shape[1] == channels:
        return windows
    luma = np.asarray(np.einsum("nc...,c->n...", windows[:, :3], _LUMA)[:, None], dtype=np.float32)
    if channels == 1:
        return luma
    if channels == 4:
        return np.concatenate([windows[:, :3], luma], axis=1)
    raise DatasetError(f"no windows for a model with {channels} input channels (1, 3 or 4 are supported)")


def _chunks(root: Path, dataset: str | None) -> list[Chunk]:
    if dataset is None:
        raise DatasetError(f"{root}: say which format it is with --dataset ({', '.join(READERS)})")
    chunks = preprocess_videos(read_dataset(root, dataset), dataset, root)
    if not chunks:
        raise DatasetError(f"{root}: no video gave a full window")
    return chunks


def _stack(chunks: list[Chunk], count: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` windows spread evenly over ``chunks``, with their labels."""
    picks = np.linspace(0, len(chunks) - 1, min(count, len(chunks))).round().astype(int)
    pairs = [chunk_window(chunks[i]) for i in np.unique(picks)]
    return np.stack([x for x, _ in pairs]), np.stack([y for _, y in pairs])


def dataset_windows(root: Path, dataset: str | None, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` windows [N, C, 161, 72, 72] and their labels [N, 160], spread over the videos."""
    return _stack(_chunks(root, dataset), count)


@dataclass(kw_only=True, frozen=True)
class CalibrationSource:
    """Where INT8 calibration windows come from, and the held-out windows its accuracy guard runs on.

    No ``data``: built-in synthetic faces (calibration and guard from different subjects). With ``data``:
    a dataset (or a plain folder of videos, ``dataset="videos"``), split by video so that the guard never
    sees a video the quantizer was calibrated on; a single video is split by alternate windows.
    """

    data: Path | None = None
    dataset: str | None = None
    windows: int = 32
    held_out: int = 16

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """(calibration windows, held-out guard windows)."""
        if self.data is None:
            from edge_rppg.data.synthetic import synthetic_windows

            return synthetic_windows(self.windows, seed=CALIBRATION_SEED)[0], synthetic_windows(
                self.held_out, seed=HELD_OUT_SEED
            )[0]
        chunks = _chunks(self.data, self.dataset)
        videos = list(dict.fromkeys(c.video for c in chunks))
        if len(videos) >= 2:
            guard_videos = set(videos[2::3] or videos[-1:])  # every third video, at least one
            calib = [c for c in chunks if c.video not in guard_videos]
            guard = [c for c in chunks if c.video in guard_videos]
        else:
            calib, guard = chunks[0::2], chunks[1::2]
        if not calib or not guard:
            raise DatasetError(f"{self.data}: need at least two windows (one to calibrate, one held out to check INT8)")
        return _stack(calib, self.windows)[0], _stack(guard, self.held_out)[0]
