"""Face detection at an interval, as the field does it ("dynamic detection"), behind a small interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.streaming import FpsResampler

Box = tuple[int, int, int, int]  # x, y, w, h in pixels


class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray) -> list[Box]:
        """All faces found in an RGB frame."""
        ...


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade (rPPG-Toolbox's default). Needs OpenCV 4.x: 5.x dropped it."""

    def __init__(self, min_size_frac: float = 0.08) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]  # OpenCV stubs lack it
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade at {path}")
        self.min_size_frac = min_size_frac

    def detect(self, rgb: np.ndarray) -> list[Box]:
        return self._detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))

    def _detect(self, gray: np.ndarray) -> list[Box]:
        # Detect on a frame at most 320 px wide: a face in rPPG video is large, and this is 4x faster at 640x480.
        scale = min(1.0, 320.0 / gray.shape[1])
        small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
        min_side = max(int(self.min_size_frac * min(small.shape)), 20)
        faces = self.cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
        return [tuple(int(round(v / scale)) for v in f) for f in faces]  # type: ignore[misc]


class EqualizedHaarFaceDetector(HaarFaceDetector):
    """The same cascade on a contrast-equalised frame (CLAHE): dark skin and dim light keep enough
    gradient for the Haar features, at the cost of one equalisation per detection."""

    def __init__(self, min_size_frac: float = 0.08) -> None:
        super().__init__(min_size_frac)
        self.clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    def detect(self, rgb: np.ndarray) -> list[Box]:
        return self._detect(self.clahe.apply(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)))


class FallbackHaarFaceDetector(EqualizedHaarFaceDetector):
    """Haar on the plain frame, and on the equalised frame only when that finds nothing: each pass
    misses faces the other finds (dark skin vs bright, low-contrast faces), and the second pass
    costs time only on the frames the first one missed."""

    def detect(self, rgb: np.ndarray) -> list[Box]:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return self._detect(gray) or self._detect(self.clahe.apply(gray))


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


DETECTORS: dict[str, Callable[[], FaceDetector]] = {
    "haar": HaarFaceDetector,
    "haar-clahe": EqualizedHaarFaceDetector,
    "haar+clahe": FallbackHaarFaceDetector,
}


@dataclass(frozen=True)
class CropSettings:
    """How a face becomes a model frame, for training, eval, bench, calibration and predict alike.

    Part of the preprocessing cache key: changing any of these re-crops cached datasets.
    """

    detector: str = "haar"
    detect_interval: int = 30
    box_scale: float = 1.5
    # Blend of the previous box into each new detection: without it a moving face's box jumps at every
    # re-detection, and eval read 75.6 bpm where predict read 81.3 on an 80.9-bpm moving-face video.
    box_smoothing: float = 0.5
    size: int = CONTRACT.height


@dataclass
class CropStep:
    crop: np.ndarray  # float32 [size, size, 3], 0-255
    position: float  # in input frames (fractional when resampled)
    face_lost: bool


@dataclass
class FaceCropper:
    """The one face-crop path: detect at an interval, track, crop, resize, resample to the model's fps."""

    settings: CropSettings = field(default_factory=CropSettings)
    fps_in: float = CONTRACT.fps
    pre_cropped: bool = False  # frames are face crops already (SCAMPS): resize only

    def __post_init__(self) -> None:
        s = self.settings
        if s.detector not in DETECTORS:
            raise ValueError(f"unknown face detector {s.detector!r}; choose from {', '.join(DETECTORS)}")
        self.tracker = FaceTracker(DETECTORS[s.detector](), s.detect_interval, s.box_scale, s.box_smoothing)
        self.resampler = FpsResampler(self.fps_in)
        self.frames_without_face = 0

    @property
    def box(self) -> Box | None:
        return self.tracker.box

    def push(self, rgb: np.ndarray) -> list[CropStep]:
        """The model frames this input frame completes (none before the first face is found)."""
        size = (self.settings.size, self.settings.size)
        if self.pre_cropped:
            crop = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            lost = False
        else:
            box, _ = self.tracker.update(rgb)
            if box is None:
                self.frames_without_face += 1
                return []
            crop = crop_resize(rgb, box, size)
            lost = self.tracker.face_lost
        return [CropStep(frame, pos, lost) for pos, frame in self.resampler.push(crop)]
