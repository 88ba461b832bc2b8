"""``edge-rppg predict``: heart rate from a user's video or webcam, on any runtime.

Three stages run concurrently: a decoding thread feeds a bounded queue, the main thread detects the
face, crops and resamples to 30 fps, and an inference thread runs the windows (ONNX Runtime and
OpenVINO release the GIL). Memory is bounded: at most one window of crops plus the queues.
"""

from __future__ import annotations

import csv
import io
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.atomic import save_figure, write_text_atomic
from edge_rppg.contract import CONTRACT
from edge_rppg.data.face import Box, CropSettings, FaceCropper
from edge_rppg.data.video import iter_frames, probe
from edge_rppg.errors import EdgeRppgError, VideoError
from edge_rppg.runtimes import Runtime, RuntimeOptions, open_runtime
from edge_rppg.hr import fine_fft_hr
from edge_rppg.signal import preprocess, snr_db, zscore
from edge_rppg.streaming import WindowScheduler, overlap_add

HR_SEGMENT_S = 10.0  # per-window HR from the last 10 s of BVP, as rPPG tools report it
HR_SEGMENT_FRAMES = int(HR_SEGMENT_S * CONTRACT.fps)
LOW_SNR_DB = 0.0
_DONE = object()


@dataclass
class WindowEstimate:
    start_frame: int
    time_s: float
    hr_bpm: float
    snr_db: float
    quality: str  # "ok", "low: face lost", "low: snr"


@dataclass
class PredictResult:
    source: str
    runtime: str
    hr_bpm: float
    fps: float
    frames: int
    windows: int
    speed_fps: float
    per_window: list[WindowEstimate]
    frames_without_face: int
    profile_ms: dict[str, float] = field(default_factory=dict)
    bvp: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("bvp")
        return d


@dataclass
class PredictOptions:
    stride: int = 30
    crop: CropSettings = field(default_factory=CropSettings)  # the same crop path as training and eval
    fps: float | None = None  # override when the file does not say
    threads: int | None = None
    queue_frames: int = 64


def resolve_runtime(weights: Path | None, model: Path | None, runtime: str | None, threads: int | None) -> Runtime:
    """An exported model on its runtime; or a checkpoint on torch, or exported once (cached) for another runtime."""
    options = RuntimeOptions(threads=threads)
    if model is not None:
        return open_runtime(model, runtime, options)
    assert weights is not None
    if runtime in (None, "torch"):
        return open_runtime(weights, "torch", options)
    from edge_rppg.exporters import TARGETS, export_model
    from edge_rppg.models.checkpoints import file_sha256

    target = next((t for t in TARGETS.values() if t.runtime == runtime), TARGETS["onnx"])
    cache = Path.home() / ".cache" / "edge-rppg" / "exports" / file_sha256(weights)[:16]
    path = cache / f"model_fp32{target.suffix}"
    if not path.exists():
        export_model(weights, target.name, "fp32", path)
    return open_runtime(path, runtime, options)


def _decode(source: Path | int, out: queue.Queue, stop: threading.Event, timing: dict[str, float]) -> None:
    t = time.perf_counter()
    try:
        for frame in iter_frames(source):
            timing["decode"] += time.perf_counter() - t
            while not stop.is_set():
                try:
                    out.put(frame, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
            t = time.perf_counter()
    except EdgeRppgError as exc:
        out.put(exc)
    finally:
        out.put(_DONE)


def _infer(runtime: Runtime, windows: queue.Queue, results: list[tuple[int, np.ndarray]], timing: dict[str, float]) -> None:
    while True:
        item = windows.get()
        if item is _DONE:
            return
        start, window = item
        t = time.perf_counter()
        bvp = runtime.run(window[None])[0]
        timing["infer"] += time.perf_counter() - t
        results.append((start, bvp))


def predict_video(
    source: Path | int,
    runtime: Runtime,
    options: PredictOptions = PredictOptions(),
    on_window: Callable[[WindowEstimate, np.ndarray, Box | None], None] | None = None,
    on_frame: Callable[[np.ndarray, Box | None], bool] | None = None,
) -> PredictResult:
    """Run the whole pipeline over a video file, an image folder, or a webcam index.

    ``on_window`` is called with each new estimate (live mode); ``on_frame`` may return False to stop.
    """
    fps = options.fps
    if isinstance(source, Path):
        info = probe(source)
        fps = fps or info.fps
        if fps is None:
            raise VideoError(f"{source}: the frame rate is unknown (image folder or a file without fps); pass --fps")
    fps = fps or CONTRACT.fps
    timing = {"decode": 0.0, "crop": 0.0, "infer": 0.0}
    frames_q: queue.Queue = queue.Queue(maxsize=options.queue_frames)
    windows_q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    results: list[tuple[int, np.ndarray]] = []
    decoder = threading.Thread(target=_decode, args=(source, frames_q, stop, timing), daemon=True)
    worker = threading.Thread(target=_infer, args=(runtime, windows_q, results, timing), daemon=True)
    cropper = FaceCropper(options.crop, fps)
    scheduler = WindowScheduler(options.stride)
    lost: list[bool] = []  # per 30-fps output frame: detection had failed and the box was held
    frames = 0
    wall = time.perf_counter()
    decoder.start()
    worker.start()
    error: EdgeRppgError | None = None
    reported = 0
    try:
        while True:
            item = frames_q.get()
            if item is _DONE:
                break
            if isinstance(item, EdgeRppgError):
                error = item
                break
            frames += 1
            t0 = time.perf_counter()
            steps = cropper.push(item)
            timing["crop"] += time.perf_counter() - t0
            if on_frame is not None and not on_frame(item, cropper.box):
                break
            for step in steps:
                lost.append(step.face_lost)
                due = scheduler.push(step.crop)
                if due is not None:
                    windows_q.put(due)
            if on_window is not None and len(results) > reported:
                reported = len(results)
                # Only the windows that reach into the last HR segment: live cost stays constant over a long session.
                recent = sorted(results[-(HR_SEGMENT_FRAMES // options.stride + 2) :], key=lambda r: r[0])
                origin = recent[0][0]
                trace = _reassemble([(s - origin, b) for s, b in recent])
                latest = recent[-1][0]
                on_window(_window_estimate(trace, latest - origin, latest, lost), trace, cropper.box)
    finally:
        stop.set()
        windows_q.put(_DONE)
        worker.join()
    if error is not None and not results:
        raise error
    elapsed = time.perf_counter() - wall
    name = str(source)
    if frames == 0:
        raise VideoError(f"{name}: no frames could be decoded (empty or unreadable video)")
    if cropper.box is None:
        raise VideoError(f"{name}: no face found in any of {frames} frames")
    if not results:
        have = scheduler.count
        raise VideoError(f"{name}: only {have} frames with a face at {CONTRACT.fps:g} fps; one window needs {CONTRACT.frames}")
    results.sort(key=lambda r: r[0])
    bvp = _reassemble(results)
    filtered = preprocess(bvp, CONTRACT.fps)
    return PredictResult(
        source=name,
        runtime=getattr(runtime, "name", "?"),
        hr_bpm=round(fine_fft_hr(filtered, CONTRACT.fps), 2),
        fps=fps,
        frames=frames,
        windows=len(results),
        speed_fps=round(frames / elapsed, 1),
        per_window=[_window_estimate(bvp, s, s, lost) for s, _ in results],
        frames_without_face=cropper.frames_without_face,
        profile_ms={k: round(v * 1e3, 1) for k, v in timing.items()} | {"wall": round(elapsed * 1e3, 1)},
        bvp=bvp,
    )


def _reassemble(results: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """One continuous BVP from windows sorted by start: each z-scored (the model's scale is per window), then overlap-added."""
    return overlap_add([zscore(b) for _, b in results], [s for s, _ in results])


def _window_estimate(bvp: np.ndarray, offset: int, start: int, lost: list[bool]) -> WindowEstimate:
    """HR and SNR over the HR segment ending with the window that starts at frame ``start``
    (``offset`` is where that window begins inside ``bvp``)."""
    end = offset + CONTRACT.window
    piece = preprocess(bvp[max(0, end - HR_SEGMENT_FRAMES) : end], CONTRACT.fps)
    hr = fine_fft_hr(piece, CONTRACT.fps)
    snr = snr_db(piece, hr, CONTRACT.fps, fine=True)
    quality = "low: face lost" if any(lost[start : start + CONTRACT.frames]) else ("low: snr" if snr < LOW_SNR_DB else "ok")
    return WindowEstimate(start, round((start + CONTRACT.window) / CONTRACT.fps, 3), round(hr, 2), round(snr, 2), quality)


def write_outputs(result: PredictResult, json_path: Path | None, csv_path: Path | None, plot_path: Path | None) -> None:
    if json_path:
        write_text_atomic(json_path, json.dumps(result.summary(), indent=2) + "\n")
    if csv_path:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["frame", "time_s", "bvp", "hr_bpm", "quality"])
        marks = {e.start_frame + CONTRACT.window - 1: e for e in result.per_window}
        current: WindowEstimate | None = None
        for i, v in enumerate(result.bvp):
            current = marks.get(i, current)
            w.writerow([i, f"{i / CONTRACT.fps:.4f}", f"{v:.6f}", f"{current.hr_bpm:.2f}" if current else "",
                        current.quality if current else ""])
        write_text_atomic(csv_path, buf.getvalue())
    if plot_path:
        _plot(result, plot_path)


def _plot(result: PredictResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.arange(len(result.bvp)) / CONTRACT.fps
    wt = [e.time_s for e in result.per_window]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    axes[0].plot(t, result.bvp, lw=0.8)
    axes[0].set_ylabel("BVP (z)")
    axes[0].set_title(f"{Path(result.source).name}: {result.hr_bpm:.1f} bpm ({result.runtime})")
    axes[1].plot(wt, [e.hr_bpm for e in result.per_window], "o-", ms=3)
    axes[1].set_ylabel("HR (bpm)")
    axes[2].plot(wt, [e.snr_db for e in result.per_window], "o-", ms=3, color="C2")
    for e in result.per_window:
        if e.quality != "ok":
            axes[2].axvspan(e.time_s - 0.5, e.time_s + 0.5, color="C3", alpha=0.2)
    axes[2].set_ylabel("SNR (dB)")
    axes[2].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, path)


def live_printer(est: WindowEstimate, _bvp: np.ndarray, _box: Box | None) -> None:
    print(f"t={est.time_s:6.1f} s  HR {est.hr_bpm:6.1f} bpm  SNR {est.snr_db:5.1f} dB  {est.quality}", flush=True)


def live_display() -> tuple[Callable[..., None], Callable[[np.ndarray, Box | None], bool]]:
    """OpenCV window: face box, BVP trace and HR drawn on the video; 'q' stops."""
    import cv2

    state: dict[str, Any] = {"hr": None, "bvp": np.zeros(0)}

    def on_window(est: WindowEstimate, bvp: np.ndarray, _box: Box | None) -> None:
        state["hr"], state["bvp"] = est.hr_bpm, bvp[-300:]

    def on_frame(rgb: np.ndarray, box: Box | None) -> bool:
        img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if box is not None:
            x, y, w, h = box
            cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), 2)
        trace = state["bvp"]
        if len(trace) > 1:
            hgt, wid = img.shape[:2]
            ys = (hgt - 40 - 30 * (trace - trace.mean()) / (trace.std() + 1e-9)).astype(np.int32)
            xs = np.linspace(0, wid - 1, len(trace)).astype(np.int32)
            cv2.polylines(img, [np.stack([xs, ys], 1)], False, (0, 0, 255), 2)
        if state["hr"] is not None:
            cv2.putText(img, f"{state['hr']:.0f} bpm", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 255), 2)
        cv2.imshow("edge-rppg", img)
        return (cv2.waitKey(1) & 0xFF) != ord("q")

    return on_window, on_frame
