"""Frames a browser sends (JPEG over a WebSocket) as a source predict's pipeline reads: a bounded queue that drops
its oldest frame when the pipeline falls behind, ending when the browser goes."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import cv2
import numpy as np

from edge_rppg.data.frames import ArrayFrame, Frame
from edge_rppg.data.source import Source
from edge_rppg.errors import VideoError

PUSH_QUEUE = 60  # two seconds of frames: enough for a detection's pause, bounded so a stall drops, never grows
MAX_FRAME_BYTES = 2 << 20  # a 1080p JPEG is ~300 KB: anything past 2 MiB is not a camera frame
POLL_S = 0.2  # how often a waiting reader looks whether the browser has gone


class PushedFrames:
    """Thread-safe: ``push`` from the server's loop, ``source()`` read on the stream's thread."""

    def __init__(self, name: str, fps: float) -> None:
        self.name, self.fps = name, fps  # the camera's rate, as the page reads it: the frames are read at it
        self._frames: queue.Queue[np.ndarray] = queue.Queue(maxsize=PUSH_QUEUE)
        self._closed = threading.Event()
        self.dropped = 0

    def push(self, jpeg: bytes) -> None:
        """One frame: an error naming the problem when it is too large or not a JPEG image, the frame kept else."""
        if len(jpeg) > MAX_FRAME_BYTES:
            raise VideoError(f"{self.name}: a frame of {len(jpeg)} bytes is over the {MAX_FRAME_BYTES} allowed")
        bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None or bgr.ndim != 3:
            raise VideoError(f"{self.name}: a frame is not a JPEG image")
        while True:
            try:
                self._frames.put_nowait(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                return
            except queue.Full:
                self._frames.get_nowait()
                self.dropped += 1

    def close(self) -> None:
        self._closed.set()

    def source(self, size: tuple[int, int] = (0, 0)) -> Source:
        return Source(
            name=self.name, fps=self.fps, stated_fps=self.fps, width=size[0], height=size[1], codec="jpeg",
            declared_frames=None, coded=False, live=True, _frames=self._read(),
        )  # fmt: skip

    def _read(self) -> Iterator[Frame]:
        while not (self._closed.is_set() and self._frames.empty()):
            try:
                yield ArrayFrame(self._frames.get(timeout=POLL_S))
            except queue.Empty:
                continue
