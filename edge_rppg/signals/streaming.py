"""Streaming pieces of live/long-video inference: fps resampling, window scheduling, overlap-add."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np

from edge_rppg.contract import CONTRACT


class FpsResampler:
    """Linear interpolation of a frame stream at ``fps_in`` onto the model's frame rate, one frame at a time."""

    def __init__(self, fps_in: float, fps_out: float = CONTRACT.fps):
        self.step = fps_in / fps_out  # input frames per output frame
        self.next_pos = 0.0  # position of the next output frame, in input-frame units
        self.prev: np.ndarray | None = None
        self.index = -1

    def push(self, frame: np.ndarray) -> Iterator[tuple[float, np.ndarray]]:
        """Output frames due by this input frame, each with its position in input-frame units."""
        self.index += 1
        if self.prev is None:
            self.prev = frame.astype(np.float32)
            if self.next_pos <= 0:
                yield 0.0, self.prev
                self.next_pos += self.step
            return
        cur = frame.astype(np.float32)
        while self.next_pos <= self.index:
            a = self.next_pos - (self.index - 1)
            yield self.next_pos, (1 - a) * self.prev + a * cur
            self.next_pos += self.step
        self.prev = cur


class WindowScheduler:
    """Keeps the last ``frames`` crops; every ``stride`` new crops (once full) releases a window."""

    def __init__(self, stride: int, frames: int = CONTRACT.window):
        self.stride, self.frames = stride, frames
        self.buffer: deque[np.ndarray] = deque(maxlen=frames)
        self.count = 0
        self.next_release = frames

    def push(self, crop: np.ndarray) -> tuple[int, np.ndarray] | None:
        """(first frame index, window [3, frames + 1, H, W] float32, ``CONTRACT.assemble``) when a window is due."""
        self.buffer.append(crop)
        self.count += 1
        if self.count < self.next_release:
            return None
        self.next_release += self.stride
        return self.count - self.frames, CONTRACT.assemble(np.stack(self.buffer))


def overlap_add(windows: list[np.ndarray], starts: list[int], length: int | None = None) -> np.ndarray:
    """Weighted average of overlapping windows placed at ``starts``; Hann-like weights favour window centres
    (whose samples saw real frames on both sides), and any positive weights reassemble a signal exactly."""
    if not windows:
        return np.zeros(0)
    n = len(windows[0])
    total = length if length is not None else max(starts) + n
    acc, weight = np.zeros(total), np.zeros(total)
    w = np.hanning(n + 2)[1:-1]
    for s, x in zip(starts, windows, strict=True):
        acc[s : s + n] += w * x
        weight[s : s + n] += w
    covered = weight > 0
    acc[covered] /= weight[covered]
    return acc
