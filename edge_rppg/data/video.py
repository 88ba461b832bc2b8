"""Frame sources, streamed one frame at a time: video files, folders of images, webcams, HDF5 arrays."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_rppg.errors import InputEndedEarly, VideoError

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v")  # what a folder of videos is read for


@dataclass(kw_only=True, frozen=True)
class VideoProbe:
    fps: float | None
    frames: int | None
    width: int
    height: int


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def capture(source: Path | int | str, api: int | None = None) -> cv2.VideoCapture:
    """Open a camera, or a video file: only a regular file, since OpenCV blocks forever opening a FIFO nobody
    writes to and reads a device node as whatever it yields."""
    if isinstance(source, Path):
        check_video_path(source)
        return cv2.VideoCapture(str(source)) if api is None else cv2.VideoCapture(str(source), api)
    return cv2.VideoCapture(source)  # a camera index, or a stream's URL


def check_video_path(source: Path) -> None:
    """A video file or a folder of frames that exists; refused before any work otherwise."""
    if not source.exists():
        raise VideoError(f"{source}: no such file")
    if not source.is_file() and not source.is_dir():
        raise VideoError(f"{source}: not a regular file (a pipe, socket or device); give a video file")


def probe(source: Path) -> VideoProbe:
    """fps (None if the file does not say), frame count (None if unknown), size."""
    if source.is_dir():
        files = image_files(source)
        if not files:
            raise VideoError(f"{source}: folder has no image frames ({', '.join(IMAGE_SUFFIXES)})")
        first = cv2.imread(str(files[0]))
        if first is None:
            raise VideoError(f"{files[0]}: unreadable image")
        return VideoProbe(fps=None, frames=len(files), width=first.shape[1], height=first.shape[0])
    cap = capture(source)
    try:
        if not cap.isOpened():
            raise VideoError(f"{source}: not a video OpenCV can decode")
        fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()
    if w == 0 or h == 0:
        raise VideoError(f"{source}: video has no readable frames")
    if avi_states_no_rate(source):  # FFmpeg then reports its 25-fps fallback as if the file said so
        fps = 0.0
    return VideoProbe(
        fps=fps if fps and 1 <= fps <= 1000 else None, frames=count if count > 0 else None, width=w, height=h
    )


# How far into an AVI its stream headers lie: the RIFF header list comes first, a few hundred bytes long.
AVI_HEADER_BYTES = 1 << 16


def avi_states_no_rate(source: Path) -> bool:
    """Whether an AVI's video stream header gives a rate of 0 (dwRate or dwScale zero): the rate is then
    unknown, and a file is never read at a rate it does not state."""
    with open(source, "rb") as f:
        head = f.read(AVI_HEADER_BYTES)
    if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return False
    at = head.find(b"strh")
    while at >= 0 and head[at + 8 : at + 12] != b"vids":  # the chunk id, its size, then the stream's type
        at = head.find(b"strh", at + 4)
    if at < 0 or len(head) < at + 36:
        return False
    scale, rate = struct.unpack_from("<II", head, at + 28)  # after the type, handler, flags, priority, language...
    return bool(scale == 0 or rate == 0)


def iter_frames(source: Path | int) -> Iterator[np.ndarray]:
    """RGB uint8 frames (h, w, 3) of a video file, an image folder (name order = time order) or a webcam index."""
    if isinstance(source, Path) and source.is_dir():
        for f in image_files(source):
            bgr = cv2.imread(str(f))
            if bgr is None:
                raise VideoError(f"{f}: unreadable image")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return
    cap = capture(source)
    if not cap.isOpened():
        raise VideoError(f"{source}: cannot open (not a video OpenCV can decode, or no such camera)")
    read = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                if isinstance(source, Path):
                    check_complete(cap, read, source)
                return
            read += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def check_complete(cap: cv2.VideoCapture, read: int, source: Path | str) -> None:
    """A file whose frames end well before the count its header declares was cut short (a partial copy, a file
    still being written): an error naming what was read, never taken for the whole video. A header may be off by
    a frame or two (encoder priming), or by a percent where the count is estimated from the duration."""
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    if declared > 0 and declared - read > max(2, declared // 100):
        raise InputEndedEarly(
            f"{source}: ended after {read} of the {declared} frames its header declares (cut short, or still being "
            "written)"
        )


def write_video(
    path: Path, frames: Iterator[np.ndarray], fps: float, codec: str = "MJPG", quality: int | None = None
) -> int:
    """Write RGB frames with OpenCV; returns the frame count. ``quality`` (0-100) sets MJPEG compression."""
    writer: cv2.VideoWriter | None = None
    n = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (w, h))  # type: ignore[attr-defined]  # OpenCV stubs lack it
                if not writer.isOpened():
                    raise VideoError(f"{path}: OpenCV cannot write {codec} video here")
                if quality is not None:
                    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            n += 1
    finally:
        if writer is not None:
            writer.release()
    return n


CODECS = {".avi": "MJPG", ".mp4": "mp4v", ".mkv": "MJPG"}  # what OpenCV writes here, by container


def write_video_atomic(path: Path, frames: Iterator[np.ndarray], fps: float, quality: int | None = None) -> int:
    """``write_video`` to a temporary file renamed onto ``path`` only when complete; the codec follows the suffix."""
    from edge_rppg.atomic import atomic_path

    codec = CODECS.get(path.suffix.lower())
    if codec is None:
        raise VideoError(f"{path}: videos are written as {', '.join(CODECS)}")
    with atomic_path(path) as tmp:
        staged = tmp.with_suffix(path.suffix)  # OpenCV picks the container from the suffix
        try:
            n = write_video(staged, frames, fps, codec=codec, quality=quality)
            staged.replace(tmp)
        finally:
            staged.unlink(missing_ok=True)
    return n
