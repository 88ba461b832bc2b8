"""Frames that decode at the resolution their use needs.

The face crop is 72 px wide, and the face in a 640x480 video spans 150-300 px: most of a full decode is
thrown away by the crop's resize. A :class:`Frame` is asked for an image reduced by 1, 2, 4 or 8 and makes
only that. A JPEG-coded frame (Motion-JPEG, what most webcams and many recorders write) is decoded at the
reduced size by libjpeg's DCT scaling, which averages each block much as an area resize does (0.07 grey
levels apart on a 640x480 test video) at a fraction of the cost; any other frame is decoded whole by
FFmpeg and area-resized, as the crop's own resize would have done.
"""

from __future__ import annotations

from typing import Protocol

import cv2
import numpy as np

from edge_rppg.errors import VideoError

REDUCTIONS = (1, 2, 4, 8)  # what libjpeg's DCT scaling decodes directly
# The scaling bits of imdecode's flags (IMREAD_REDUCED_GRAYSCALE_k is the bit alone).
_SCALING = {
    1: 0,
    2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
    4: cv2.IMREAD_REDUCED_GRAYSCALE_4,
    8: cv2.IMREAD_REDUCED_GRAYSCALE_8,
}
# OpenCV 4.11+ has libjpeg write RGB itself: no conversion pass over the image.
_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


class Frame(Protocol):
    """One video frame, full size ``width`` x ``height``, that makes its image at a reduction on demand."""

    width: int
    height: int

    def at(self, reduction: int) -> np.ndarray:
        """RGB uint8 [ceil(height / reduction), ceil(width / reduction), 3]; made once, then kept."""
        ...


def reduced_size(width: int, height: int, reduction: int) -> tuple[int, int]:
    """(width, height) at ``reduction``, rounded up as libjpeg's scaled decode rounds."""
    return -(-width // reduction), -(-height // reduction)


class _Cached:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self._images: dict[int, np.ndarray] = {}

    def at(self, reduction: int) -> np.ndarray:
        image = self._images.get(reduction)
        if image is None:
            image = self._images[reduction] = self._make(reduction)
        return image

    def _make(self, reduction: int) -> np.ndarray:
        raise NotImplementedError


class ArrayFrame(_Cached):
    """A decoded RGB frame; reductions are area resizes of it."""

    def __init__(self, rgb: np.ndarray) -> None:
        super().__init__(rgb.shape[1], rgb.shape[0])
        self._images[1] = rgb

    def _make(self, reduction: int) -> np.ndarray:
        size = reduced_size(self.width, self.height, reduction)
        return cv2.resize(self._images[1], size, interpolation=cv2.INTER_AREA)


class JpegFrame(_Cached):
    """A frame still coded as JPEG; each reduction is its own scaled decode."""

    def __init__(self, data: np.ndarray, width: int, height: int, name: str) -> None:
        super().__init__(width, height)
        self._data, self._name = data, name

    def _make(self, reduction: int) -> np.ndarray:
        rgb = _decode_jpeg(self._data, reduction)
        w, h = reduced_size(self.width, self.height, reduction)
        if rgb is None or rgb.shape != (h, w, 3):
            raise VideoError(f"{self._name}: a frame is not the {self.width}x{self.height} JPEG its stream declares")
        return rgb


def _decode_jpeg(data: np.ndarray, reduction: int) -> np.ndarray | None:
    if _RGB is not None:
        rgb: np.ndarray | None = cv2.imdecode(data, _RGB | _SCALING[reduction])
        return rgb
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR | _SCALING[reduction])
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
