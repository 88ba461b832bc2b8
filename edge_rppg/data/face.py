"""The face crop every path shares (training, eval, predict, live): detect at an interval, track between, crop
and resample to the contract's rate; beside the face, the background strips the light witness reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.data.detectors import DEFAULT_DETECTOR, DETECTORS, Box
from edge_rppg.data.frames import REDUCTIONS, ArrayFrame, Frame
from edge_rppg.data.tracking import FaceTracker, reduce_box
from edge_rppg.signals.streaming import FpsResampler

BACKGROUND_GAP = 0.25  # face widths between the box and the reference strips beside it (ears, hair's edge)
BACKGROUND_WIDTH = 0.5  # each strip's width, in face widths


def background_strips(box: Box) -> list[Box]:
    """The strips left and right of the face box, at its height, off the skin (x may be negative: clipped on use)."""
    x, y, w, h = box
    gap, width = round(BACKGROUND_GAP * w), max(round(BACKGROUND_WIDTH * w), 1)
    return [(x - gap - width, y, width, h), (x + w + gap, y, width, h)]


def background_rgb(rgb: np.ndarray, box: Box) -> np.ndarray:
    """Mean RGB of the background strips: what the light does to the scene. A pulse is not there; mains flicker
    and a light switched on are (NaN when the face fills the frame)."""
    pixels = []
    for sx, sy, sw, sh in background_strips(box):
        strip = rgb[max(sy, 0) : sy + sh, max(sx, 0) : max(sx + sw, 0)]
        if strip.size:
            pixels.append(strip.reshape(-1, 3))
    if not pixels:
        return np.full(3, np.nan, dtype=np.float32)
    mean: np.ndarray = np.concatenate(pixels).mean(axis=0, dtype=np.float64)
    return mean.astype(np.float32)


def crop_resize(rgb: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """Crop and resize with area interpolation (the field's choice for downscaling)."""
    x, y, w, h = box
    return cv2.resize(rgb[y : y + h, x : x + w], size, interpolation=cv2.INTER_AREA)


TRACKING = ("flow", "hold")  # follow the face between detections, or hold the last box (the field's habit)


@dataclass(kw_only=True, frozen=True)
class CropSettings:
    """How a face becomes a model frame, for training, eval, bench, calibration and predict alike.

    Part of the preprocessing cache key: changing any of these re-crops cached datasets.
    """

    detector: str = DEFAULT_DETECTOR
    detect_interval: int = 30
    box_scale: float = 1.5
    # Blend of the previous box into each new detection: without it a moving face's box jumps at every
    # re-detection, and eval read 75.6 bpm where predict read 81.3 on an 80.9-bpm moving-face video.
    box_smoothing: float = 0.5
    # The box follows the face by optical flow and glides toward each detection (FaceTracker).
    tracking: str = "flow"
    size: int = CONTRACT.height
    # Track and crop on the frame reduced by up to this (1, 2, 4, 8) where the face box keeps two pixels per
    # crop pixel: a Motion-JPEG frame is then decoded at that size (data/source.py). 1: full frames.
    max_reduction: int = 8


@dataclass(kw_only=True)
class CropStep:
    crop: np.ndarray  # float32 [size, size, 3], 0-255
    position: float  # in input frames (fractional when resampled)
    face_lost: bool
    motion: float = 0.0  # the face's speed (optical flow), face widths per second
    background: np.ndarray | None = None  # mean RGB beside the face (off the skin): the scene's light alone


@dataclass
class FaceCropper:
    """The one face-crop path: detect at an interval, track, crop, resize, resample to the model's fps."""

    settings: CropSettings = field(default_factory=CropSettings)
    fps_in: float = CONTRACT.fps
    pre_cropped: bool = False  # frames are face crops already (SCAMPS): resize only

    def __post_init__(self) -> None:
        s = self.settings
        if s.tracking not in TRACKING:
            raise ValueError(f"unknown face tracking {s.tracking!r}; choose from {', '.join(TRACKING)}")
        if s.detector not in DETECTORS:
            raise ValueError(f"unknown face detector {s.detector!r}; choose from {', '.join(DETECTORS)}")
        if s.max_reduction not in REDUCTIONS:
            raise ValueError(f"max_reduction {s.max_reduction} is not one of {', '.join(map(str, REDUCTIONS))}")
        self.tracker = FaceTracker(
            detector=DETECTORS[s.detector](),
            interval=s.detect_interval,
            scale=s.box_scale,
            smoothing=s.box_smoothing,
            flow=s.tracking == "flow",
            max_reduction=s.max_reduction,
            crop_size=s.size,
        )
        self.resampler = FpsResampler(self.fps_in)
        self.background_resampler = FpsResampler(self.fps_in)  # the same instants as the crops'
        self.frames_without_face = 0

    @property
    def box(self) -> Box | None:
        return self.tracker.box

    def push(self, frame: Frame | np.ndarray) -> list[CropStep]:
        """The model frames this input frame (RGB, or a :class:`Frame`) completes (none before the first face)."""
        size = (self.settings.size, self.settings.size)
        if isinstance(frame, np.ndarray):
            frame = ArrayFrame(frame)
        if self.pre_cropped:
            crop = cv2.resize(frame.at(1), size, interpolation=cv2.INTER_AREA)
            lost, background = False, np.full(3, np.nan, dtype=np.float32)  # a crop shows no scene around it
        else:
            box, _ = self.tracker.update(frame)
            if box is None:
                self.frames_without_face += 1
                return []
            k = self.tracker.reduction
            image = frame.at(k)
            reduced = reduce_box(box, k, image.shape[1], image.shape[0])
            crop = crop_resize(image, reduced, size)
            lost, background = self.tracker.face_lost, background_rgb(image, reduced)
        speed = self.tracker.motion * self.fps_in
        crops = self.resampler.push(crop)
        backgrounds = self.background_resampler.push(background)
        return [
            CropStep(crop=c, position=pos, face_lost=lost, motion=speed, background=b)
            for (pos, c), (_, b) in zip(crops, backgrounds, strict=True)
        ]
