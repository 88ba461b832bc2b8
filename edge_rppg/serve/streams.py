"""A live stream: one source (a file played at its own rate, a camera, a network stream) run through predict's own
pipeline on its own thread and runtime, its state kept for the API and each window pushed to the listeners.

A listener's queue is bounded and drops its oldest message when full: a slow client loses updates, never holds
up the stream or another client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.data.detectors import Box
from edge_rppg.data.face import background_strips
from edge_rppg.data.source import open_source
from edge_rppg.errors import EdgeRppgError
from edge_rppg.predict.pipeline import LIVE_KEEP_S, PredictOptions
from edge_rppg.predict.video import LiveWindow, predict_video
from edge_rppg.runtimes import Runtime
from edge_rppg.serve.pushed import PushedFrames

SCHEMA_VERSION = 1  # of every message and state the API sends: README, "serve"
LISTENER_QUEUE = 32  # messages a slow client may fall behind by before its oldest are dropped
HISTORY_S = 300.0  # the HR history a state carries: the page's last five minutes
BVP_SENT_S = 10.0  # the BVP tail each message carries, for the page's scrolling trace
BVP_SENT_FS = 15.0  # ... resampled to this rate: a trace to draw, not to analyse
STOP_JOIN_S = 2.0  # a stopped stream's thread ends within one frame or one inference
PREVIEW_EVERY = 10  # frames between previews: 3 a second at 30 fps, a fraction of a millisecond each
PREVIEW_WIDTH = 320
FACE_COLOUR, LIGHT_COLOUR = (90, 209, 160), (140, 152, 164)  # RGB: the face box read for the pulse, the strips beside


def preview_jpeg(rgb: np.ndarray, box: Box | None) -> bytes:
    """A small JPEG of the frame with the regions the reading uses: the face box (the pulse, and POS's witness) and
    the background strips beside it (the light witness)."""
    scale = PREVIEW_WIDTH / rgb.shape[1]
    small = cv2.resize(rgb, (PREVIEW_WIDTH, max(1, round(rgb.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    if box is not None:
        for region, colour in ((box, FACE_COLOUR), *((s, LIGHT_COLOUR) for s in background_strips(box))):
            x, y, w, h = (round(v * scale) for v in region)
            cv2.rectangle(small, (x, y), (x + w, y + h), colour, 2)
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return data.tobytes() if ok else b""


@dataclass(frozen=True, kw_only=True)
class StreamSpec:
    # a video file, a camera index, a URL OpenCV/FFmpeg opens (rtsp://, http://), or frames a browser sends
    source: Path | int | str | PushedFrames
    loop: bool = True  # a file starts again at its end (a demo with no camera)

    def label(self) -> str:
        if isinstance(self.source, PushedFrames):
            return self.source.name
        return f"camera {self.source}" if isinstance(self.source, int) else str(self.source)


class Listener:
    """One client's bounded queue on the server's event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=LISTENER_QUEUE)
        self.dropped = 0

    def offer(self, message: dict[str, Any]) -> None:
        """From any thread: queue ``message`` on the listener's loop, dropping the oldest if it is full."""
        self.loop.call_soon_threadsafe(self._put, message)

    def _put(self, message: dict[str, Any]) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)


def window_message(stream_id: str, window: LiveWindow, latency_s: float) -> dict[str, Any]:
    """One window as the API sends it: its time, the HR or null with the gate's reason, confidence, SQI; HRV and
    breathing over the last minute, or null with the reason."""
    est = window.estimate
    tail = window.trace[-int(BVP_SENT_S * CONTRACT.fps) :]
    step = max(1, int(round(CONTRACT.fps / BVP_SENT_FS)))
    shown = tail[::step]
    scale = float(np.max(np.abs(shown))) if len(shown) else 0.0
    return {
        "schema": SCHEMA_VERSION,
        "stream": stream_id,
        "time_s": round(est.time_s, 2),
        "hr_bpm": None if est.hr_bpm is None else round(est.hr_bpm, 1),
        "reason": None if est.hr_bpm is not None else (est.quality.removeprefix("low: ") or "no reliable pulse"),
        "confidence": est.confidence,
        "sqi": round(est.sqi, 3),
        "latency_s": round(latency_s, 3),
        "bvp": [round(float(v) / scale, 3) for v in shown] if scale > 0 else [],
        "bvp_fs": CONTRACT.fps / step,
        **vitals_fields(window),
    }


def vitals_fields(window: LiveWindow) -> dict[str, Any]:
    """HRV (SDNN, RMSSD, the beats they count) and the breathing rate over the last LIVE_VITALS_S, each null with
    its reason when that span does not allow them: no HR given, too few or too noisy beats, too short a span."""
    hrv, breathing = window.vitals.hrv, window.vitals.breathing
    return {
        "hrv": None if hrv is None else {"sdnn_ms": hrv.sdnn_ms, "rmssd_ms": hrv.rmssd_ms, "beats": hrv.beats},
        "hrv_reason": window.vitals.hrv_reason,
        "breathing_bpm": breathing.rate_bpm,
        "breathing_reason": None if breathing.rate_bpm is not None else breathing.status,
    }


class Stream:
    """A source run until stopped; ``state()`` for the API, ``listen()`` for the push channel."""

    def __init__(
        self, stream_id: str, spec: StreamSpec, open_runtime: Callable[[], Runtime], options: PredictOptions
    ) -> None:
        # A looped file plays each pass to its end: a long one is held as a camera's stream is.
        self.id, self.spec, self.options = stream_id, spec, replace(options, keep_s=options.keep_s or LIVE_KEEP_S)
        self._open_runtime = open_runtime
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._listeners: set[Listener] = set()
        self._history: deque[tuple[float, float | None]] = deque()
        self._latest: dict[str, Any] | None = None
        self._frame_seen: float | None = None
        self._t0 = time.monotonic()
        self.error: str | None = None
        self.frames = 0
        self.preview: bytes | None = None  # the latest preview_jpeg
        self._thread = threading.Thread(target=self._run, name=f"edge-rppg-stream-{stream_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()
        if isinstance(self.spec.source, PushedFrames):
            self.spec.source.close()

    def stop(self) -> bool:
        """Stop and join within STOP_JOIN_S: whether the thread ended."""
        self.request_stop()
        self._thread.join(STOP_JOIN_S)
        return not self._thread.is_alive()

    def listen(self, loop: asyncio.AbstractEventLoop) -> Listener:
        listener = Listener(loop)
        with self._lock:
            self._listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def state(self) -> dict[str, Any]:
        with self._lock:
            history = [{"time_s": round(t, 2), "hr_bpm": hr} for t, hr in self._history]
            listeners = len(self._listeners)
        return {
            "schema": SCHEMA_VERSION,
            "stream": self.id,
            "source": self.spec.label(),
            "running": self._thread.is_alive(),
            "error": self.error,
            "frames": self.frames,
            "listeners": listeners,
            "latest": self._latest,
            "history": history,
        }

    def _run(self) -> None:
        try:
            with self._open_runtime() as runtime:
                while not self._stop.is_set():
                    self._play(runtime)
                    if not (self.spec.loop and isinstance(self.spec.source, Path)):
                        break
        except EdgeRppgError as exc:
            self.error = str(exc)
        except Exception as exc:  # a server must outlive one stream's failure; the state says what it was
            self.error = f"{self.spec.label()}: {type(exc).__name__}: {str(exc)[:300]}"

    def _play(self, runtime: Runtime) -> None:
        """One pass over the source, paced at its own rate when it is a file (a camera paces itself)."""
        spec = self.spec.source
        opened = (
            spec.source() if isinstance(spec, PushedFrames) else open_source(spec, self.options.crop, self.options.fps)
        )
        with opened as source:
            paced = isinstance(self.spec.source, Path)
            started, interval, count = time.monotonic(), 1.0 / source.fps, 0

            def on_frame(rgb: np.ndarray, box: Box | None) -> bool:
                nonlocal count
                count += 1
                self.frames += 1
                self._frame_seen = time.monotonic()
                if count % PREVIEW_EVERY == 1:
                    self.preview = preview_jpeg(rgb, box)
                if paced:
                    ahead = started + count * interval - time.monotonic()
                    if ahead > 0:
                        self._stop.wait(ahead)
                return not self._stop.is_set()

            try:
                predict_video(source, runtime, self.options, on_window=self._on_window, on_frame=on_frame)
            except EdgeRppgError as exc:
                if not self._stop.is_set():  # a pass that ended for want of a face or of frames: said, and looped
                    self.error = str(exc)

    def _on_window(self, window: LiveWindow) -> None:
        latency = time.monotonic() - self._frame_seen if self._frame_seen is not None else 0.0
        message = window_message(self.id, window, latency)
        now = time.monotonic()
        with self._lock:
            self._latest = message
            self._history.append((now - self._t0, message["hr_bpm"]))
            while self._history and self._history[0][0] < now - self._t0 - HISTORY_S:
                self._history.popleft()
            listeners = list(self._listeners)
        for listener in listeners:
            listener.offer(message)
