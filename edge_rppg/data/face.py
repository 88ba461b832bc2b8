"""Face detection at an interval, as the field does it ("dynamic detection"), behind a small interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in pixels


class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray) -> list[Box]:
        """All faces found in an RGB frame."""
        ...


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade (rPPG-Toolbox's default). Needs OpenCV 4.x: 5.x dropped it."""

    def __init__(self, min_size_frac: float = 0.08) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade at {path}")
        self.min_size_frac = min_size_frac

    def detect(self, rgb: np.ndarray) -> list[Box]:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        # Detect on a frame at most 320 px wide: a face in rPPG video is large, and this is 4x faster at 640x480.
        scale = min(1.0, 320.0 / gray.shape[1])
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        min_side = max(int(self.min_size_frac * min(small.shape)), 20)
        faces = self.cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
        return [tuple(int(round(v / scale)) for v in f) for f in faces]  # type: ignore[misc]


def enlarge(box: Box, factor: float, width: int, height: int) -> Box:
    """Scale a box about its centre by ``factor`` and clip it to the image."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    nw, nh = w * factor, h * factor
    x0, y0 = max(int(round(cx - nw / 2)), 0), max(int(round(cy - nh / 2)), 0)
    x1, y1 = min(int(round(cx + nw / 2)), width), min(int(round(cy + nh / 2)), height)
    return x0, y0, x1 - x0, y1 - y0


@dataclass
class FaceTracker:
    """Detect every ``interval`` frames, keep the largest face enlarged by ``scale``, hold it in between.

    ``smoothing`` (0 = none) blends each new box with the previous one, which steadies live crops.
    A frame whose detection failed keeps the last box; ``missing`` counts frames with no box at all.
    """

    detector: FaceDetector
    interval: int = 30
    scale: float = 1.5
    smoothing: float = 0.0
    box: Box | None = None
    frames_seen: int = 0
    detections_failed: int = 0
    consecutive_failures: int = 0
    # One missed detection holds the box for one interval, as the field does; from this many missed
    # detections in a row the face counts as lost and the held box as stale.
    lost_after: int = 2

    @property
    def face_lost(self) -> bool:
        return self.consecutive_failures >= self.lost_after

    def update(self, rgb: np.ndarray) -> tuple[Box | None, bool]:
        """The crop box for this frame, and whether it comes from a fresh detection."""
        fresh = False
        if self.frames_seen % self.interval == 0:
            faces = self.detector.detect(rgb)
            if faces:
                largest = max(faces, key=lambda f: f[2] * f[3])
                new = enlarge(largest, self.scale, rgb.shape[1], rgb.shape[0])
                if self.box is not None and self.smoothing > 0:
                    a = self.smoothing
                    new = tuple(int(round(a * o + (1 - a) * n)) for o, n in zip(self.box, new))  # type: ignore[assignment]
                self.box, fresh = new, True
            else:
                self.detections_failed += 1
            self.consecutive_failures = 0 if faces else self.consecutive_failures + 1
        self.frames_seen += 1
        return self.box, fresh


def crop_resize(rgb: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """Crop and resize with area interpolation (the field's choice for downscaling)."""
    x, y, w, h = box
    return cv2.resize(rgb[y : y + h, x : x + w], size, interpolation=cv2.INTER_AREA)
