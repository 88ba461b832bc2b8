"""Face detectors behind one small interface, and the table that names them: OpenCV's Haar cascades (the
4.x line) and the RFB-320 whose weights ship here (where OpenCV 5 has no cascade)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import cv2
import numpy as np

Box = tuple[int, int, int, int]  # x, y, w, h in pixels
DETECT_WIDTHS = (320, 640)  # the detector's passes: a second, larger one only where the first finds no face


class FaceDetector(Protocol):
    def detect(self, rgb: np.ndarray, min_face: int = 0) -> list[Box]:
        """All faces found in an RGB frame, of at least ``min_face`` pixels across when given."""
        ...


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade (rPPG-Toolbox's default). Needs OpenCV 4.x: 5.x dropped it."""

    def __init__(self, min_size_frac: float = 0.08) -> None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]  # OpenCV stubs lack it
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"cannot load the Haar cascade at {path}")
        self.min_size_frac = min_size_frac

    def detect(self, rgb: np.ndarray, min_face: int = 0) -> list[Box]:
        return self._detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), min_face)

    def _detect(self, gray: np.ndarray, min_face: int = 0) -> list[Box]:
        # Detect on a frame at most 320 px wide (4x faster than 640 px), and only where that finds nothing
        # at most 640 px wide: a face a metre or two from the camera is too small for the first pass
        # (on the realistic corpus, a 80-px dark-skinned face at 640x480: 27 of 60 detections at 320 px,
        # 60 of 60 at 640 px).
        faces: list[Box] = []
        for width in DETECT_WIDTHS:
            scale = min(1.0, width / gray.shape[1])
            small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
            # Most of the cascade's work is in its smallest windows: a size floor skips them, and the boxes
            # at the sizes it keeps are the same.
            min_side = max(int(self.min_size_frac * min(small.shape)), 20, int(min_face * scale))
            found = self.cascade.detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side))
            faces = [tuple(int(round(v / scale)) for v in f) for f in found]  # type: ignore[misc]
            if faces or scale == 1.0:
                break
        return faces


class EqualizedHaarFaceDetector(HaarFaceDetector):
    """The same cascade on a contrast-equalised frame (CLAHE): dark skin and dim light keep enough
    gradient for the Haar features, at the cost of one equalisation per detection."""

    def __init__(self, min_size_frac: float = 0.08) -> None:
        super().__init__(min_size_frac)
        self.clahe = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(8, 8))

    def detect(self, rgb: np.ndarray, min_face: int = 0) -> list[Box]:
        return self._detect(self.clahe.apply(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)), min_face)


class FallbackHaarFaceDetector(EqualizedHaarFaceDetector):
    """Haar on the plain frame, and on the equalised frame only when that finds nothing: each pass
    misses faces the other finds (dark skin vs bright, low-contrast faces), and the second pass
    costs time only on the frames the first one missed."""

    def detect(self, rgb: np.ndarray, min_face: int = 0) -> list[Box]:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return self._detect(gray, min_face) or self._detect(self.clahe.apply(gray), min_face)


def enlarge(box: Box, factor: float, width: int, height: int) -> Box:
    """Scale a box about its centre by ``factor`` and clip it to the image."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    nw, nh = w * factor, h * factor
    x0, y0 = max(int(round(cx - nw / 2)), 0), max(int(round(cy - nh / 2)), 0)
    x1, y1 = min(int(round(cx + nw / 2)), width), min(int(round(cy + nh / 2)), height)
    return x0, y0, x1 - x0, y1 - y0


def _rfb() -> FaceDetector:
    from edge_rppg.data.rfb_detector import RfbFaceDetector  # ONNX Runtime: only when asked for

    return RfbFaceDetector()


DETECTORS: dict[str, Callable[[], FaceDetector]] = {
    "haar": HaarFaceDetector,
    "haar-clahe": EqualizedHaarFaceDetector,
    "haar+clahe": FallbackHaarFaceDetector,
    "rfb320": _rfb,  # weights in the package (MIT): runs where OpenCV has no Haar cascade (OpenCV 5)
}


# Haar where OpenCV has it (the 4.x line; every gate shipped so far was fitted on its crops), else the detector
# whose weights ship here: OpenCV 5 has no CascadeClassifier.
DEFAULT_DETECTOR = "haar" if hasattr(cv2, "CascadeClassifier") else "rfb320"
