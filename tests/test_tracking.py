"""The face box follows the face and not the detector: optical flow between detections, a glide toward the
median of recent detections, motion measured on the face. On a real portrait (public domain, from
scikit-image) moved by known amounts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_rppg.data.detectors import HaarFaceDetector
from edge_rppg.data.face import CropSettings, FaceCropper

skimage = pytest.importorskip("skimage", reason="the portrait ships with scikit-image (the dev extra)")


def portrait_frames(
    n: int, dx_per_frame: float = 0.0, size: tuple[int, int] = (640, 480), zoom: float | None = None
) -> list[np.ndarray]:
    """The astronaut portrait; with ``zoom``, its face (98 px, centred at 223, 113) enlarged so and centred."""
    photo = cv2.imread(str(Path(skimage.__file__).parent / "data" / "astronaut.png"))
    photo = cv2.cvtColor(photo, cv2.COLOR_BGR2RGB)
    s = zoom or 1.2
    x0, y0 = (size[0] / 2 - 223 * s, size[1] / 2 - 113 * s) if zoom else (60.0, -40.0)
    frames = []
    for i in range(n):
        m = np.float32([[s, 0, x0 + dx_per_frame * i], [0, s, y0]])
        frames.append(cv2.warpAffine(photo, m, size, borderMode=cv2.BORDER_REPLICATE))
    return frames


class JitteryHaar(HaarFaceDetector):
    """The real cascade, its boxes moved and resized by a seeded few per cent, as Haar does between frames."""

    def __init__(self) -> None:
        super().__init__()
        self.rng = np.random.default_rng(0)

    def detect(self, rgb: np.ndarray, min_face: int = 0) -> list[tuple[int, int, int, int]]:
        out = []
        for x, y, w, h in super().detect(rgb, min_face):
            j = self.rng.uniform(-0.04, 0.04, 3) * w
            out.append((int(x + j[0]), int(y + j[1]), int(w + j[2]), int(h + j[2])))
        return out


def _boxes(frames: list[np.ndarray], settings: CropSettings, detector: HaarFaceDetector | None = None) -> np.ndarray:
    cropper = FaceCropper(settings, 30.0)
    if detector is not None:
        cropper.tracker.detector = detector
    boxes = []
    for f in frames:
        cropper.push(f)
        boxes.append(cropper.box)
    return np.array(boxes, dtype=np.float64)


def test_the_box_glides_where_a_held_box_jumps_with_detector_jitter() -> None:
    frames = portrait_frames(150)
    glide = _boxes(frames, CropSettings(), JitteryHaar())
    held = _boxes(frames, CropSettings(tracking="hold", box_smoothing=0.0), JitteryHaar())
    # A still face: the held box jumps at every detection (every 30 frames), the flow box barely moves.
    assert np.abs(np.diff(held[:, 0])).max() >= 3
    assert np.abs(np.diff(held[:, 2])).max() >= 3
    assert np.abs(np.diff(glide[:, :3], axis=0)).max() <= 1  # position and size change by a pixel at most


def test_the_box_follows_a_moving_face_and_motion_is_measured_on_it() -> None:
    frames = portrait_frames(120, dx_per_frame=1.5)
    cropper = FaceCropper(CropSettings(), 30.0)
    speeds, xs = [], []
    for f in frames:
        steps = cropper.push(f)
        speeds += [s.motion for s in steps]
        xs.append(cropper.box[0])
    width = cropper.box[2]
    # The face moves 1.5 px per frame: the box keeps up between detections (no lag of a whole interval)...
    assert np.median(np.diff(xs[40:])) == pytest.approx(1.5, abs=0.5)
    # ...and the measured speed is that motion in face widths per second.
    assert np.median(speeds[5:]) == pytest.approx(1.5 * 30 / width, rel=0.25)


def test_a_search_for_faces_of_half_the_last_size_finds_the_same_box() -> None:
    """The tracker's detections skip the cascade's small windows (most of its work); the face's box is the
    same, and a floor above the face finds none (the tracker then searches again without it)."""
    detector = HaarFaceDetector()
    for frame in portrait_frames(3, dx_per_frame=7.0):
        (face,) = detector.detect(frame)
        assert detector.detect(frame, min_face=face[2] // 2) == [face]
        assert detector.detect(frame, min_face=3 * face[2]) == []


def test_the_shipped_detector_finds_a_real_face_where_haar_does() -> None:
    """RFB-320 (weights in the package, MIT) on the real portrait at three sizes: the same face as Haar's, the box
    centres within a fifth of the face apart; an empty frame has none."""
    from edge_rppg.data.rfb_detector import RfbFaceDetector

    rfb, haar = RfbFaceDetector(), HaarFaceDetector()
    for zoom in (None, 1.0, 2.0):
        frame = portrait_frames(1, zoom=zoom)[0]
        (a,), found = rfb.detect(frame), haar.detect(frame)
        b = max(found, key=lambda f: f[2] * f[3])
        centre = np.array([a[0] + a[2] / 2 - b[0] - b[2] / 2, a[1] + a[3] / 2 - b[1] - b[3] / 2])
        assert np.hypot(*centre) < 0.2 * b[2], (zoom, a, b)
    assert rfb.detect(np.full((480, 640, 3), 128, np.uint8)) == []


def test_non_max_suppression_keeps_the_best_of_overlapping_boxes() -> None:
    from edge_rppg.data.rfb_detector import non_max_suppression

    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=float)
    assert non_max_suppression(boxes, np.array([0.8, 0.95, 0.9])) == [1, 2]
