"""``edge-rppg predict``: heart rate from a user's video or webcam, on any runtime.

Three stages run concurrently: a decoding thread feeds a bounded queue, the main thread detects the
face, crops and resamples to 30 fps, and an inference thread runs the windows (ONNX Runtime and
OpenVINO release the GIL). Memory is bounded: at most one window of crops plus the queues.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.atomic import save_figure, write_text_atomic
from edge_rppg.classic import METHODS, run_method
from edge_rppg.contract import CONTRACT
from edge_rppg.data.face import Box, CropSettings, CropStep, FaceCropper
from edge_rppg.data.video import iter_frames, probe
from edge_rppg.errors import EdgeRppgError, VideoError
from edge_rppg.filters import bvp_filters, zscore
from edge_rppg.hr import find_beats, fundamental_hr
from edge_rppg.paths import cache_root, file_sha256
from edge_rppg.runtimes import Runtime, RuntimeOptions, open_runtime
from edge_rppg.streaming import WindowScheduler, overlap_add
from edge_rppg.vitals import (
    Quality,
    SceneMeasures,
    clean_ibis,
    clip_heart_rate,
    hrv_from_beats,
    respiration,
    segment_quality,
)

HR_SEGMENT_S = 10.0  # per-window HR from the last 10 s of BVP, as rPPG tools report it
HR_SEGMENT_FRAMES = int(HR_SEGMENT_S * CONTRACT.fps)
WITNESS = "pos"  # the classic method whose HR on the same crops cross-checks each segment
_DONE = object()


@dataclass
class WindowEstimate:
    start_frame: int
    time_s: float
    hr_bpm: float | None  # None: refused, the segment failed the signal-quality check
    sqi: float
    snr_db: float
    quality: str  # "ok" or "low: <reasons>"
    reasons: list[str] = field(default_factory=list)
    motion: float = 0.0  # the face's speed, face widths per second (95th percentile over the segment)
    light_step: float = 0.0  # largest change of the inner face's log-brightness within 0.2 s
    flicker: float = 0.0  # relative amplitude of the strongest brightness line at 4-15 Hz (aliased mains flicker)
    witness_hr_bpm: float | None = None  # POS on the same crops
    segment_hr_bpm: float | None = None  # the segment's HR whether or not it passed (for calibration)


@dataclass
class PredictResult:
    source: str
    runtime: str
    hr_bpm: float | None
    hr_status: str  # "ok" | "no reliable pulse"
    hr_reason: str
    hr_spread_bpm: list[float] | None  # 10th and 90th percentile of the passing windows' HR
    input_error: str | None  # the input ended early on this error (results cover what came before it)
    fps: float
    frames: int
    windows: int
    windows_passed: int
    speed_fps: float
    per_window: list[WindowEstimate]
    hrv: dict[str, float] | None
    respiration: dict[str, Any]
    frames_without_face: int
    profile_ms: dict[str, float] = field(default_factory=dict)
    bvp: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    beats_s: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    clean_ibi: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("bvp", "beats_s", "clean_ibi"):
            d.pop(k)
        return d


@dataclass
class PredictOptions:
    stride: int = 30
    crop: CropSettings = field(default_factory=CropSettings)  # the same crop path as training and eval
    fps: float | None = None  # override when the file does not say
    queue_frames: int = 64


@dataclass
class Track:
    """Per model frame (30 fps): what the quality measures and the POS witness are computed from."""

    lost: list[bool] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)  # face widths per second
    brightness: list[float] = field(default_factory=list)  # inner face, where box jitter changes little
    rgb: list[np.ndarray] = field(default_factory=list)  # spatial mean of the crop, as classic methods read it

    def add(self, step: CropStep) -> None:
        crop = step.crop
        q = crop.shape[0] // 4
        self.lost.append(step.face_lost)
        self.speed.append(step.motion)
        self.brightness.append(float(crop[q:-q, q:-q].mean()))
        self.rgb.append(crop.reshape(-1, 3).mean(axis=0))

    def scene(self, start: int, stop: int) -> SceneMeasures:
        """Measures over frames [start, stop) only: live mode stays constant-cost however long it runs."""
        lo = max(start, 0)
        return SceneMeasures.from_track(
            np.array(self.lost[lo:stop]),
            np.array(self.speed[lo:stop]),
            np.array(self.brightness[lo:stop]),
            CONTRACT.fps,
        )

    def witness_hr(self, start: int, stop: int) -> float | None:
        """POS's HR over frames [start, stop), on the same crops as the model's."""
        rgb = np.array(self.rgb[max(start, 0) : stop])
        if len(rgb) < METHODS[WITNESS].min_frames:
            return None
        return fundamental_hr(bvp_filters(run_method(WITNESS, rgb, CONTRACT.fps), CONTRACT.fps), CONTRACT.fps)


def resolve_runtime(weights: Path | None, model: Path | None, runtime: str | None, threads: int | None) -> Runtime:
    """An exported model on its runtime; or a checkpoint on torch, or exported once (cached) for another runtime."""
    options = RuntimeOptions(threads=threads)
    source = model if model is not None else weights
    assert source is not None
    if model is not None:
        rt = open_runtime(model, runtime, options)
    elif runtime in (None, "torch"):
        rt = open_runtime(source, "torch", options)
    else:
        rt = _exported_once(source, runtime, options)
    if rt.channels != 3:
        raise EdgeRppgError(
            f"{source}: this model takes {rt.channels} input channels; predict reads RGB video (3 channels)"
        )
    return rt


def _exported_once(weights: Path, runtime: str, options: RuntimeOptions) -> Runtime:
    """The checkpoint exported to the runtime's target once, cached by the checkpoint's hash.

    The export's files are hashed into a manifest beside them; a cached export whose files are missing or
    no longer match it (a disk fault, a killed copy, a hand edit) is rebuilt rather than trusted."""
    from edge_rppg.exporters import TARGETS, export_model

    target = next((t for t in TARGETS.values() if t.runtime == runtime), TARGETS["onnx"])
    cache = cache_root() / "exports" / file_sha256(weights)[:16]
    path = cache / f"model_fp32{target.suffix}"
    manifest = path.with_name(f"{path.name}.sha256.json")
    if not _cached_export_intact(manifest):
        result = export_model(weights, target.name, "fp32", path)
        hashes = {Path(f).name: file_sha256(f) for f in result.files}
        write_text_atomic(manifest, json.dumps(hashes, indent=1) + "\n")
    return open_runtime(path, runtime, options)


def _cached_export_intact(manifest: Path) -> bool:
    if not manifest.exists():
        return False
    try:
        hashes = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    files = {manifest.parent / name: digest for name, digest in hashes.items()}
    return bool(files) and all(f.exists() and file_sha256(f) == digest for f, digest in files.items())


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


def _infer(
    runtime: Runtime,
    windows: queue.Queue,
    results: list[tuple[int, np.ndarray]],
    timing: dict[str, float],
    failure: list[Exception],
) -> None:
    """Run windows until _DONE. A failure is kept for the main thread, which stops feeding when it sees
    it; windows still queued are drained, so that nobody blocks on a full queue."""
    while True:
        item = windows.get()
        if item is _DONE:
            return
        if failure:
            continue
        start, window = item
        t = time.perf_counter()
        try:
            bvp = np.asarray(runtime.run(window[None]))
            if bvp.shape != CONTRACT.output_shape(1):
                raise EdgeRppgError(f"the model gives {list(bvp.shape)}, not the contract's {CONTRACT.output_shape(1)}")
        except Exception as exc:  # any runtime error ends the run with one line
            failure.append(exc)
            continue
        timing["infer"] += time.perf_counter() - t
        results.append((start, bvp[0]))


def _put(q: queue.Queue, item: object, failure: list[Exception]) -> None:
    """Queue a window unless inference has failed (then the run stops instead of waiting forever)."""
    while not failure:
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _source_fps(source: Path | int, override: float | None) -> float:
    if isinstance(source, Path):
        fps = override or probe(source).fps
        if fps is None:
            raise VideoError(f"{source}: the frame rate is unknown (image folder or a file without fps); pass --fps")
        return fps
    return override or CONTRACT.fps


@dataclass
class _Run:
    """What the pipeline produced: windows' BVP by start frame, the track, counts and timings."""

    results: list[tuple[int, np.ndarray]]
    track: Track
    frames: int
    frames_without_face: int
    face_found: bool
    frames_with_face: int
    timing: dict[str, float]
    elapsed: float
    error: EdgeRppgError | None


def _run_pipeline(
    source: Path | int,
    runtime: Runtime,
    fps: float,
    options: PredictOptions,
    on_window: Callable[..., None] | None,
    on_frame: Callable[[np.ndarray, Box | None], bool] | None,
) -> _Run:
    """Decode (thread) -> crop (here) -> infer (thread); live callbacks see each new estimate."""
    timing = {"decode": 0.0, "crop": 0.0, "infer": 0.0}
    frames_q: queue.Queue = queue.Queue(maxsize=options.queue_frames)
    windows_q: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    results: list[tuple[int, np.ndarray]] = []
    decoder = threading.Thread(target=_decode, args=(source, frames_q, stop, timing), daemon=True)
    failure: list[Exception] = []
    worker = threading.Thread(target=_infer, args=(runtime, windows_q, results, timing, failure), daemon=True)
    cropper = FaceCropper(options.crop, fps)
    scheduler = WindowScheduler(options.stride)
    track = Track()
    frames, reported, error = 0, 0, None
    wall = time.perf_counter()
    decoder.start()
    worker.start()
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
                track.add(step)
                due = scheduler.push(step.crop)
                if due is not None:
                    _put(windows_q, due, failure)
            if failure:
                break
            if on_window is not None and len(results) > reported:
                reported = len(results)
                _report_live(results, track, options.stride, cropper.box, on_window, _witnessed(runtime.name))
    finally:
        stop.set()
        windows_q.put(_DONE)
        worker.join()
    if failure:
        name = getattr(runtime, "name", "the runtime")
        raise EdgeRppgError(f"{source}: inference failed on {name}: {str(failure[0]).splitlines()[0][:300]}")
    return _Run(
        results,
        track,
        frames,
        cropper.frames_without_face,
        cropper.box is not None,
        scheduler.count,
        timing,
        time.perf_counter() - wall,
        error,
    )


def _report_live(
    results: list[tuple[int, np.ndarray]],
    track: Track,
    stride: int,
    box: Box | None,
    on_window: Callable[..., None],
    witness: bool,
) -> None:
    # Only the windows that reach into the last HR segment: live cost stays constant over a long session.
    recent = sorted(results[-(HR_SEGMENT_FRAMES // stride + 2) :], key=lambda r: r[0])
    origin = recent[0][0]
    trace = _reassemble([(s - origin, b) for s, b in recent])
    latest = recent[-1][0]
    on_window(_estimate(_segment_quality(trace, latest - origin, latest, track, witness), latest), trace, box)


def _check_run(run: _Run, name: str) -> None:
    if run.error is not None and not run.results:
        raise run.error
    if run.frames == 0:
        raise VideoError(f"{name}: no frames could be decoded (empty or unreadable video)")
    if not run.face_found:
        raise VideoError(f"{name}: no face found in any of {run.frames} frames")
    if not run.results:
        raise VideoError(
            f"{name}: only {run.frames_with_face} frames with a face at {CONTRACT.fps:g} fps; one window needs "
            f"{CONTRACT.frames}"
        )


def predict_video(
    source: Path | int,
    runtime: Runtime,
    options: PredictOptions = PredictOptions(),
    on_window: Callable[[WindowEstimate, np.ndarray, Box | None], None] | None = None,
    on_frame: Callable[[np.ndarray, Box | None], bool] | None = None,
) -> PredictResult:
    """Run the whole pipeline over a video file, an image folder, or a webcam index, then read the vitals.

    ``on_window`` is called with each new estimate (live mode); ``on_frame`` may return False to stop.
    """
    fps = _source_fps(source, options.fps)
    run = _run_pipeline(source, runtime, fps, options, on_window, on_frame)
    _check_run(run, str(source))
    return read_vitals(run, getattr(runtime, "name", "?"), fps, str(source))


def read_vitals(run: _Run, runtime_name: str, fps: float, name: str) -> PredictResult:
    """What the windows' BVP says: per-window quality, the clip HR (or a refusal), beats, HRV, breathing."""
    run.results.sort(key=lambda r: r[0])
    bvp = _reassemble(run.results)
    witness = _witnessed(runtime_name)
    qualities = [_segment_quality(bvp, s, s, run.track, witness) for s, _ in run.results]
    per_window = [_estimate(q, s) for q, (s, _) in zip(qualities, run.results)]
    good = _good_part(bvp, per_window)
    clip = clip_heart_rate(qualities)
    beats = find_beats(good, CONTRACT.fps)
    hrv = hrv_from_beats(beats) if clip.hr_bpm is not None else None
    breathing = respiration(bvp, CONTRACT.fps, beats) if clip.hr_bpm is not None else None
    return PredictResult(
        source=name,
        runtime=runtime_name,
        hr_bpm=clip.hr_bpm,
        hr_status=clip.status,
        hr_reason=clip.reason,
        hr_spread_bpm=list(clip.spread_bpm) if clip.spread_bpm else None,
        input_error=None if run.error is None else str(run.error),
        fps=fps,
        frames=run.frames,
        windows=len(run.results),
        windows_passed=clip.windows_passed,
        speed_fps=round(run.frames / run.elapsed, 1),
        per_window=per_window,
        hrv=asdict(hrv) if hrv else None,
        respiration=asdict(breathing)
        if breathing
        else {"rate_bpm": None, "quality": 0.0, "status": "no reliable pulse", "modulations": {}},
        frames_without_face=run.frames_without_face,
        profile_ms={k: round(v * 1e3, 1) for k, v in run.timing.items()} | {"wall": round(run.elapsed * 1e3, 1)},
        bvp=bvp,
        beats_s=beats.times_s,
        clean_ibi=clean_ibis(beats),
    )


def _good_part(bvp: np.ndarray, per_window: list[WindowEstimate]) -> np.ndarray:
    """The BVP with the samples of failed windows (and no passing window) zeroed: no beats are found there."""
    good = np.zeros(len(bvp), dtype=bool)
    for e in per_window:
        if e.hr_bpm is not None:
            good[e.start_frame : e.start_frame + CONTRACT.window] = True
    return np.where(good, bvp, 0.0)


def _reassemble(results: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """One continuous BVP from windows sorted by start.

    Each window is z-scored (the model's scale is per window), then they are overlap-added."""
    return overlap_add([zscore(b) for _, b in results], [s for s, _ in results])


def _witnessed(runtime_name: str) -> bool:
    """POS witnesses the deep model only (see _segment_quality)."""
    return runtime_name not in METHODS


def _segment_quality(bvp: np.ndarray, offset: int, start: int, track: Track, witness: bool = True) -> Quality:
    """Quality of the HR segment ending with the window that starts at frame ``start`` (``offset`` is
    where that window begins inside ``bvp``): its BVP, the scene over the same frames, and POS's reading
    when ``witness`` (the deep model's only: a classic method reads the same RGB trace as POS does, so
    POS's agreement is no independent evidence for it; on the calibration half, POS witnessing itself
    let 88 % of pulseless clips through)."""
    end = offset + CONTRACT.window
    segment = bvp[max(0, end - HR_SEGMENT_FRAMES) : end]
    stop = start + CONTRACT.frames
    first = stop - len(segment) - 1
    return segment_quality(
        segment,
        CONTRACT.fps,
        scene=track.scene(first, stop),
        witness_hr_bpm=track.witness_hr(first, stop) if witness else None,
    )


def _estimate(q: Quality, start: int) -> WindowEstimate:
    """The per-window record; its HR is None when the segment fails."""
    return WindowEstimate(
        start_frame=start,
        time_s=round((start + CONTRACT.window) / CONTRACT.fps, 3),
        hr_bpm=round(q.hr_bpm, 2) if q.ok else None,
        sqi=q.sqi,
        snr_db=round(q.snr_db, 2),
        quality="ok" if q.ok else "low: " + ", ".join(q.reasons),
        reasons=q.reasons,
        motion=q.scene.motion if q.scene else 0.0,
        light_step=q.scene.light_step if q.scene else 0.0,
        flicker=q.scene.flicker if q.scene else 0.0,
        witness_hr_bpm=None if q.witness_hr_bpm is None else round(q.witness_hr_bpm, 2),
        segment_hr_bpm=round(q.hr_bpm, 2) if np.isfinite(q.hr_bpm) else None,
    )


def _fmt_hr(hr: float | None) -> str:
    return "" if hr is None else f"{hr:.2f}"


def _series_csv(result: PredictResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["frame", "time_s", "bvp", "hr_bpm", "sqi", "quality"])
    marks = {e.start_frame + CONTRACT.window - 1: e for e in result.per_window}
    current: WindowEstimate | None = None
    for i, v in enumerate(result.bvp):
        current = marks.get(i, current)
        w.writerow(
            [
                i,
                f"{i / CONTRACT.fps:.4f}",
                f"{v:.6f}",
                _fmt_hr(current.hr_bpm) if current else "",
                f"{current.sqi:.3f}" if current else "",
                current.quality if current else "",
            ]
        )
    return buf.getvalue()


def _beats_csv(result: PredictResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["beat", "time_s", "ibi_ms", "ibi_clean"])
    for k, t in enumerate(result.beats_s):
        ibi = "" if k == 0 else f"{(t - result.beats_s[k - 1]) * 1e3:.1f}"
        clean = "" if k == 0 else str(bool(result.clean_ibi[k - 1])).lower()
        w.writerow([k, f"{t:.4f}", ibi, clean])
    return buf.getvalue()


def beats_csv_path(csv_path: Path) -> Path:
    return csv_path.with_name(f"{csv_path.stem}.beats.csv")


def write_outputs(result: PredictResult, json_path: Path | None, csv_path: Path | None, plot_path: Path | None) -> None:
    """JSON summary; CSV time series plus a beats table beside it (``<name>.beats.csv``); plot. All atomic."""
    if json_path:
        write_text_atomic(json_path, json.dumps(result.summary(), indent=2) + "\n")
    if csv_path:
        write_text_atomic(csv_path, _series_csv(result))
        write_text_atomic(beats_csv_path(csv_path), _beats_csv(result))
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
    idx = np.clip(np.round(result.beats_s * CONTRACT.fps).astype(int), 0, max(len(result.bvp) - 1, 0))
    axes[0].plot(result.beats_s, result.bvp[idx] if len(result.bvp) else [], "v", ms=4, color="C3", label="beats")
    axes[0].set_ylabel("BVP (z)")
    hr = "no reliable pulse" if result.hr_bpm is None else f"{result.hr_bpm:.1f} bpm"
    axes[0].set_title(f"{Path(result.source).name}: {hr} ({result.runtime})")
    axes[1].plot(wt, [np.nan if e.hr_bpm is None else e.hr_bpm for e in result.per_window], "o-", ms=3)
    axes[1].set_ylabel("HR (bpm)")
    axes[2].plot(wt, [e.sqi for e in result.per_window], "o-", ms=3, color="C2")
    for e in result.per_window:
        if e.quality != "ok":
            axes[2].axvspan(e.time_s - 0.5, e.time_s + 0.5, color="C3", alpha=0.2)
    axes[2].set_ylabel("SQI")
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, path)


def live_printer(est: WindowEstimate, _bvp: np.ndarray, _box: Box | None) -> None:
    hr = "  --  " if est.hr_bpm is None else f"{est.hr_bpm:6.1f}"
    print(f"t={est.time_s:6.1f} s  HR {hr} bpm  SQI {est.sqi:4.2f}  {est.quality}", flush=True)


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
        text = "-- bpm" if state["hr"] is None else f"{state['hr']:.0f} bpm"  # "--": the quality check refused
        cv2.putText(img, text, (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 255), 2)
        cv2.imshow("edge-rppg", img)
        return (cv2.waitKey(1) & 0xFF) != ord("q")

    return on_window, on_frame


def live_callbacks() -> tuple[Callable[..., None], Callable[[np.ndarray, Box | None], bool] | None]:
    """Webcam feedback: a window on a desktop session, one printed line per estimate otherwise."""
    return live_display() if os.environ.get("DISPLAY") else (live_printer, None)
