"""A video's one opening: a file, a folder of frames or a camera is opened once, and everything predict asks before
the frames flow (the rate, the size, the codec, whether the frames stay JPEG-coded) is answered from that opening;
the frames then come from it. Each further opening is a place where the input can change meaning (a file being
written, a camera) and where an error can be worded twice.

A Motion-JPEG file is opened decoding, as any other: its first frame (FFmpeg's decode) shows where the face is.
Where the tracker will read that face reduced, the same capture then hands over its packets undecoded and libjpeg
decodes each at the reduced size (``frames.JpegFrame``; libjpeg-turbo assumes the standard Huffman tables where a
packet leaves them out, as FFmpeg does).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.data.face import CropSettings, FaceCropper
from edge_rppg.data.frames import ArrayFrame, Frame, JpegFrame, reduced_size
from edge_rppg.data.video import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    avi_states_no_rate,
    capture,
    check_complete,
    check_video_path,
    image_files,
)
from edge_rppg.errors import VideoError

JPEG_FOURCC = "MJPG"
RAW_PACKETS = -1  # CAP_PROP_FORMAT: the demuxer's packets, undecoded (FFmpeg backend only)
# The smallest reduction libjpeg decodes: enough to see that a packet is a whole JPEG of the stream's size.
CHECK_REDUCTION = 8
# Rates a file may state; outside them (0, 90000) it states none that a heart rate could be read at.
FPS_RANGE = (1.0, 1000.0)


@dataclass(kw_only=True)
class Source:
    """An opened input: what it states, and its frames (iterate once). Close it if the frames are not read out."""

    name: str
    fps: float  # the rate the frames are read at: --fps, else the file's own, else (a camera) the contract's
    stated_fps: float | None  # what the file itself says (None: a folder of frames, a file without a rate)
    width: int
    height: int
    codec: str  # the stream's FourCC, "images" for a folder, "camera" for a camera
    declared_frames: int | None
    coded: bool  # frames stay JPEG-coded until asked for a size
    live: bool = False  # a camera or a stream: no end, so a run keeps only its last LIVE_KEEP_S
    _frames: Iterator[Frame] = field(repr=False)

    def frames(self) -> Iterator[Frame]:
        return self._frames

    def close(self) -> None:
        close = getattr(self._frames, "close", None)
        if close is not None:
            close()  # a generator's finally releases its capture

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(source: Path | int | str, crop: CropSettings, fps: float | None = None) -> Source:
    """Open a video file, a folder of images (name order = time order), a camera index or a network stream's URL
    (what OpenCV's FFmpeg opens: rtsp://, http://), once. ``fps`` overrides the rate the file states; a file or
    folder that states none needs it."""
    if isinstance(source, int | str):
        return _open_live(source, fps)
    check_video_path(source)
    if source.is_dir():
        return _open_folder(source, fps)
    return _open_file(source, crop, fps)


def _rate(name: object, stated: float | None, override: float | None) -> float:
    rate = override or stated
    if rate is None:
        raise VideoError(f"{name}: the frame rate is unknown (image folder or a file without fps); pass --fps")
    return rate


def _open_folder(folder: Path, fps: float | None) -> Source:
    files = image_files(folder)
    if not files:
        raise VideoError(f"{folder}: folder has no image frames ({', '.join(IMAGE_SUFFIXES)})")
    first = _read_image(files[0])
    h, w = first.shape[:2]
    frames = _images(first, files[1:])
    return Source(
        name=str(folder),
        fps=_rate(folder, None, fps),
        stated_fps=None,
        width=w,
        height=h,
        codec="images",
        declared_frames=len(files),
        coded=False,
        _frames=frames,
    )


def _read_image(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path))
    if bgr is None:
        raise VideoError(f"{path}: unreadable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _images(first: np.ndarray, rest: list[Path]) -> Iterator[Frame]:
    yield ArrayFrame(first)
    for f in rest:
        yield ArrayFrame(_read_image(f))


# Why a live input did not open, by kind.
_LIVE_REFUSALS = {True: "cannot open (no such camera, or it is in use)", False: "cannot open the stream"}


def _open_live(target: int | str, fps: float | None) -> Source:
    """A camera (by index) or a network stream (by URL): endless, read at the stream's stated rate where it states
    a plausible one (a camera's is not trusted), else the contract's."""
    camera = isinstance(target, int)
    name = f"camera {target}" if camera else str(target)
    cap = capture(target)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{name}: {_LIVE_REFUSALS[camera]}")
    rate = cap.get(cv2.CAP_PROP_FPS)
    stated = rate if not camera and FPS_RANGE[0] <= rate <= FPS_RANGE[1] else None
    return Source(
        name=name,
        fps=fps or stated or CONTRACT.fps,
        stated_fps=stated,
        width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
        height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        codec="camera" if camera else _fourcc(cap),
        declared_frames=None,
        coded=False,
        live=True,
        _frames=_decoded(cap, None, None),
    )


def _open_file(path: Path, crop: CropSettings, fps: float | None) -> Source:
    cap = capture(path)
    if not cap.isOpened():
        cap.release()
        raise VideoError(f"{path}: not a video OpenCV can decode")
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if w == 0 or h == 0:
        cap.release()
        raise VideoError(f"{path}: video has no readable frames")
    rate, count = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    stated = rate if FPS_RANGE[0] <= rate <= FPS_RANGE[1] and not avi_states_no_rate(path) else None
    codec = _fourcc(cap)
    try:
        chosen = _rate(path, stated, fps)
    except VideoError:
        cap.release()
        raise
    ok, bgr = cap.read()
    first = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)) if ok else None
    coded = first is not None and _stays_coded(path, codec, cap, first, crop)
    frames = _packets(cap, path, first, w, h) if coded and first is not None else _decoded(cap, first, path)
    return Source(
        name=str(path),
        fps=chosen,
        stated_fps=stated,
        width=w,
        height=h,
        codec=codec,
        declared_frames=count if count > 0 else None,
        coded=coded,
        _frames=frames,
    )


def _fourcc(cap: cv2.VideoCapture) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    return "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip("\x00 ")


def _stays_coded(path: Path, codec: str, cap: cv2.VideoCapture, first: np.ndarray, crop: CropSettings) -> bool:
    """Whether the rest of a Motion-JPEG file is read as packets: only where the face in its first frame is read
    reduced. A whole frame keeps FFmpeg's decode, which is faster there and whose chroma POS's reading of a faint
    pulse depends on (README, "Frames at the size the crop needs", has the measurements)."""
    if codec != JPEG_FOURCC or crop.max_reduction == 1 or path.suffix.lower() not in VIDEO_SUFFIXES:
        return False
    if cap.getBackendName() != "FFMPEG":
        return False
    tracker = FaceCropper(crop).tracker  # the first frame as the run will see it: a detection frame
    tracker.update(ArrayFrame(first))
    return tracker.reduction > 1 and bool(cap.set(cv2.CAP_PROP_FORMAT, RAW_PACKETS))


def _decoded(cap: cv2.VideoCapture, first: np.ndarray | None, path: Path | None, read: int = 0) -> Iterator[Frame]:
    """Frames FFmpeg decodes (``first`` already read, ``read`` before it); a file's (``path``) are checked against
    the count its header declares."""
    try:
        if first is not None:
            read += 1
            yield ArrayFrame(first)
        while True:
            ok, bgr = cap.read()
            if not ok:
                if path is not None:
                    check_complete(cap, read, path)
                return
            read += 1
            yield ArrayFrame(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        cap.release()


def _packets(cap: cv2.VideoCapture, path: Path, first: np.ndarray, width: int, height: int) -> Iterator[Frame]:
    """The first frame as decoded, then the capture's packets kept coded. A stream whose packets are not whole
    JPEG images of its size (two interlaced fields per packet) is read decoding instead, from frame 2: the one
    case where the file is opened a second time."""
    read = 1
    try:
        yield ArrayFrame(first)
        while True:
            ok, packet = cap.read()
            if not ok:
                check_complete(cap, read, path)
                return
            # A copy: the capture may reuse the packet's buffer for the next read.
            frame = JpegFrame(np.array(packet, dtype=np.uint8).ravel(), width, height, str(path))
            if read == 1 and not _whole_jpeg(frame, width, height):
                cap.release()
                yield from _decoded_from(path, read)
                return
            read += 1
            yield frame
    finally:
        cap.release()


def _whole_jpeg(frame: JpegFrame, width: int, height: int) -> bool:
    try:
        image = frame.at(CHECK_REDUCTION)
    except VideoError:
        return False
    w, h = reduced_size(width, height, CHECK_REDUCTION)
    return image.shape == (h, w, 3)


def _decoded_from(path: Path, skip: int) -> Iterator[Frame]:
    cap = capture(path)
    for _ in range(skip):
        cap.grab()
    yield from _decoded(cap, None, path, skip)
