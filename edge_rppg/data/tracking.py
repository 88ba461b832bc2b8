"""Following a face between detections ("dynamic detection", as the field does it): optical flow on a reduced
frame gliding toward each new detection, and the reduction the crop is read at."""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.data.detectors import Box, FaceDetector, enlarge
from edge_rppg.data.frames import REDUCTIONS, Frame

FLOW_WIDTH = 320  # optical flow runs on a frame at most this wide: a face spans tens of pixels there
FLOW_POINTS = 40
FLOW_MIN_POINTS = 6
FLOW_FB_MAX_PX = 0.7  # forward-backward disagreement beyond this (flow-frame pixels) drops a point
GLIDE_PER_FRAME = 0.05  # share of the gap to the target the box closes each frame (~0.7 s at 30 fps)
# The target is the median of the last few detections, each moved since by the face's flow: a Haar box
# jitters by 2-4 % of its size from one detection to the next, and a box that follows each detection
# changes the crop at the detection rate (fps / interval: 50 bpm at 25 fps), right inside the HR band.
TARGET_DETECTIONS = 5
REACQUIRE_IOU = 0.5  # a detection overlapping the box less than this is a new position: jump to it
# A detection first looks for faces of at least this share of the last one's size (a face does not halve
# within one detection interval), and for any face only where that finds none.
SEARCH_SHARE = 0.5
# Face-box pixels per crop pixel that a reduced frame must keep: with two or more, the crop's area resize
# still averages several image pixels into each crop pixel, as it does on the full frame.
CROP_OVERSAMPLING = 2.0
COARSER_MARGIN = 1.2  # a coarser reduction must clear that bound by this much: a box near it does not flip


def choose_reduction(box_side: float, frame_width: int, crop_size: int, current: int, most: int) -> int:
    """The coarsest reduction (up to ``most``) at which a face box of ``box_side`` full-frame pixels keeps
    ``CROP_OVERSAMPLING`` pixels per crop pixel and the flow image keeps its width; a coarser one than
    ``current`` only with ``COARSER_MARGIN`` to spare (``current`` 0: the first choice, no margin)."""

    def fits(k: int, margin: float = 1.0) -> bool:
        keeps_flow = frame_width / k >= min(FLOW_WIDTH, frame_width)
        return keeps_flow and box_side / k >= margin * CROP_OVERSAMPLING * crop_size

    usable = [k for k in REDUCTIONS if k <= most and fits(k)]
    if current in usable:
        return max((k for k in usable if k > current and fits(k, COARSER_MARGIN)), default=current)
    return max(usable, default=1)


def reduce_box(box: Box, reduction: int, width: int, height: int) -> Box:
    """``box`` (full-frame pixels) on the frame's image at ``reduction``, ``width`` x ``height``."""
    if reduction == 1:
        return box
    x, y, w, h = box
    x0, y0 = min(round(x / reduction), width - 1), min(round(y / reduction), height - 1)
    x1, y1 = min(round((x + w) / reduction), width), min(round((y + h) / reduction), height)
    return x0, y0, max(x1 - x0, 1), max(y1 - y0, 1)


class FaceFlow:
    """Sparse optical flow (pyramidal Lucas-Kanade) on the inner face: how far the face itself moved.

    Points are seeded inside the inner half of the face box at each detection and checked forward and
    backward; the median displacement of those that agree is the face's motion, in full-frame pixels.
    Each image comes at the tracker's reduction (1/``reduction`` of the full frame); ``scale`` maps
    full-frame pixels to the flow image's."""

    def __init__(self) -> None:
        self.prev: np.ndarray | None = None
        self.points: np.ndarray | None = None
        self.scale = 1.0

    def _gray(self, rgb: np.ndarray, reduction: int) -> np.ndarray:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        resize = min(1.0, FLOW_WIDTH / gray.shape[1])
        if resize < 1:
            gray = cv2.resize(gray, None, fx=resize, fy=resize, interpolation=cv2.INTER_AREA)
        self.scale = resize / reduction
        return gray

    def restart(self, rgb: np.ndarray, reduction: int) -> None:
        """Take this frame, at a new reduction, as the one the next step moves from."""
        self.prev, self.points = self._gray(rgb, reduction), None

    def seed(self, box: tuple[float, float, float, float]) -> None:
        """New points inside the inner half of ``box`` (full-frame pixels) on the last frame seen."""
        if self.prev is None:
            return
        x, y, w, h = (v * self.scale for v in box)
        mask = np.zeros_like(self.prev)
        mask[int(y + h / 4) : int(y + 3 * h / 4), int(x + w / 4) : int(x + 3 * w / 4)] = 255
        self.points = cv2.goodFeaturesToTrack(self.prev, FLOW_POINTS, 0.01, 3, mask=mask)

    def step(self, rgb: np.ndarray, reduction: int) -> tuple[float, float] | None:
        """The face's displacement since the previous frame (full-frame px), or None when it is unknown."""
        gray = self._gray(rgb, reduction)
        prev, pts, self.prev = self.prev, self.points, gray
        if prev is None or pts is None or len(pts) < FLOW_MIN_POINTS or prev.shape != gray.shape:
            return None
        params = {"winSize": (15, 15), "maxLevel": 2}
        nxt, ok, _ = cv2.calcOpticalFlowPyrLK(prev, gray, pts, None, **params)  # type: ignore[call-overload]
        back, ok_back, _ = cv2.calcOpticalFlowPyrLK(gray, prev, nxt, None, **params)  # type: ignore[call-overload]
        good = (ok[:, 0] == 1) & (ok_back[:, 0] == 1) & (np.linalg.norm((back - pts)[:, 0], axis=1) < FLOW_FB_MAX_PX)
        self.points = nxt[good]
        if good.sum() < FLOW_MIN_POINTS:
            return None
        d = np.median((nxt - pts)[good, 0], axis=0) / self.scale
        return float(d[0]), float(d[1])


@dataclass(kw_only=True)
class FaceTracker:
    """Detect every ``interval`` frames, keep the largest face enlarged by ``scale``; in between, follow it.

    With ``flow`` the box moves with the face (optical flow on the inner face) and glides toward each new
    detection instead of jumping to it: a Haar box jitters by several pixels from one detection to the
    next, and a jumping crop changes its content and brightness as much as a moving face does. Without
    flow, ``smoothing`` (0 = none) blends each new detection with the previous box, which is then held.
    A frame whose detection failed keeps the last box; ``missing`` counts frames with no box at all.
    ``motion`` is the face's own displacement in the last frame, in face widths (0 without flow).
    Tracking and cropping read the frame at ``reduction`` (``choose_reduction``, set at each detection, at
    most ``max_reduction``); the detector always reads the full frame. Boxes are in full-frame pixels.
    """

    detector: FaceDetector
    interval: int = 30
    scale: float = 1.5
    smoothing: float = 0.0
    flow: bool = False
    box: Box | None = None
    frames_seen: int = 0
    detections_failed: int = 0
    consecutive_failures: int = 0
    motion: float = 0.0
    # One missed detection holds the box for one interval, as the field does; from this many missed
    # detections in a row the face counts as lost and the held box as stale.
    lost_after: int = 2
    max_reduction: int = 1
    crop_size: int = CONTRACT.height

    def __post_init__(self) -> None:
        self.reduction = 1
        self._face_side = 0  # the last detected face's size (px), before enlarging: the next search's floor
        self.seconds = {"detect": 0.0, "track": 0.0}  # where update's time goes, for predict --profile
        self._flow = FaceFlow() if self.flow else None
        self._box: np.ndarray | None = None  # x, y, w, h as floats: sub-pixel glides accumulate
        self._target: np.ndarray | None = None
        self._recent: list[np.ndarray] = []  # the last detections, moved with the face since

    @property
    def face_lost(self) -> bool:
        return self.consecutive_failures >= self.lost_after

    def _detect(self, frame: Frame) -> bool:
        full = frame.at(1)
        faces = self.detector.detect(full, int(SEARCH_SHARE * self._face_side)) if self._face_side else []
        faces = faces or self.detector.detect(full)
        self.consecutive_failures = 0 if faces else self.consecutive_failures + 1
        if not faces:
            self.detections_failed += 1
            return False
        largest = max(faces, key=lambda f: f[2] * f[3])
        self._face_side = min(largest[2], largest[3])
        new = np.array(enlarge(largest, self.scale, frame.width, frame.height), dtype=np.float64)
        self._rescale(frame, min(new[2], new[3]))
        if self._flow is not None:
            self._aim(new)
            self._flow.seed(tuple(new))
        elif self._box is None:
            self._box = new
        else:
            a = self.smoothing
            self._box = np.round(a * self._box + (1 - a) * new)
        return True

    def _rescale(self, frame: Frame, box_side: float) -> None:
        """A new reduction for a face of this size; the flow restarts from this frame at it."""
        current = self.reduction if self.box is not None else 0
        reduction = choose_reduction(box_side, frame.width, self.crop_size, current, self.max_reduction)
        if reduction != self.reduction:
            self.reduction = reduction
            if self._flow is not None:
                self._flow.restart(frame.at(reduction), reduction)

    def _aim(self, detection: np.ndarray) -> None:
        """Flow mode: the target is the median of recent detections; a far-off one restarts the track."""
        if self._box is None or _iou(self._box, detection) < REACQUIRE_IOU:
            self._box, self._recent = detection.copy(), []
        self._recent = [*self._recent[-(TARGET_DETECTIONS - 1) :], detection]
        self._target = np.median(np.stack(self._recent), axis=0)

    def _follow(self, shift: tuple[float, float] | None, width: int, height: int) -> None:
        assert self._box is not None and self._target is not None
        if shift is not None:
            for box in (self._box, self._target, *self._recent):
                box[:2] += shift
            self.motion = float(np.hypot(*shift) / max(self._box[2], 1.0))
        else:
            self.motion = 0.0
        self._box += GLIDE_PER_FRAME * (self._target - self._box)
        self._box[:2] = np.clip(self._box[:2], 0, [width - self._box[2], height - self._box[3]])

    def update(self, frame: Frame) -> tuple[Box | None, bool]:
        """The crop box for this frame, and whether it comes from a fresh detection."""
        fresh = False
        due = self.frames_seen % self.interval == 0
        t0 = time.perf_counter()
        shift = None
        # Before the first face there is nothing to follow; the flow needs only the frame a detection seeds.
        if self._flow is not None and (self._box is not None or due):
            shift = self._flow.step(frame.at(self.reduction), self.reduction)
        if self._box is not None and self._flow is not None:
            self._follow(shift, frame.width, frame.height)
        t1 = time.perf_counter()
        self.seconds["track"] += t1 - t0
        if due:
            fresh = self._detect(frame)
            self.seconds["detect"] += time.perf_counter() - t1
        self.frames_seen += 1
        if self._box is not None:
            x, y, w, h = (int(round(v)) for v in self._box)
            self.box = enlarge((x, y, w, h), 1.0, frame.width, frame.height)
        return self.box, fresh


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    return float(inter / (a[2] * a[3] + b[2] * b[3] - inter))
