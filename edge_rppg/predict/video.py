"""``edge-rppg predict``: heart rate, HRV and breathing from a user's video or webcam, on any runtime.

The pipeline (``edge_rppg.predict.pipeline``) gives each window's BVP and the per-frame track; here they become
vitals: a quality verdict per 10-s segment, the clip HR (or a refusal), beats, HRV and breathing. The files
are written by ``edge_rppg.predict.writers``, live feedback by ``edge_rppg.predict.live``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.data.detectors import Box
from edge_rppg.data.source import Source, open_source
from edge_rppg.gate import Gate, for_method
from edge_rppg.methods import MODEL_ROW, ClassicRuntime
from edge_rppg.predict.pipeline import (
    OnFrame,
    PredictOptions,
    Results,
    Run,
    Track,
    check_run,
    run_pipeline,
)
from edge_rppg.runtimes import AUTO, Runtime, RuntimeOptions, auto_runtime
from edge_rppg.runtimes.metadata import for_model_file
from edge_rppg.signals.filters import zscore
from edge_rppg.signals.hr import Beats, find_beats
from edge_rppg.signals.quality import (
    HR_SEGMENT_FRAMES,
    NO_PULSE,
    Quality,
    SceneMeasures,
    clip_heart_rate,
    segment_quality,
)
from edge_rppg.signals.streaming import overlap_add
from edge_rppg.signals.vitals import Hrv, Respiration, clean_ibis, respiration, trusted_hrv

# Live mode reassembles only the windows that reach into the last HR segment: the segment's worth of strides, plus
# the window that starts before it and the one still overlapping its end.
WINDOWS_OVER_SEGMENT = 2
# Live HRV and breathing read the last minute: ultra-short-term HRV, and two breaths at the slowest rate counted.
LIVE_VITALS_S = 60.0
LIVE_VITALS_FRAMES = int(LIVE_VITALS_S * CONTRACT.fps)
OnWindow = Callable[["LiveWindow"], None]

__all__ = [
    "LiveWindow",
    "PredictOptions",
    "PredictResult",
    "WindowEstimate",
    "predict_video",
    "read_vitals",
    "resolve_runtime",
]


@dataclass(kw_only=True)
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
    confidence: float | None = None  # chance its HR is within 5 bpm, by the model's gate (None: refused, uncalibrated)


@dataclass(frozen=True, kw_only=True)
class LiveWindow:
    """What live mode shows after each window: its estimate (the HR judged over the last HR_SEGMENT_S), the BVP of
    that segment, the face box, and HRV and breathing over the last LIVE_VITALS_S when the signal allows."""

    estimate: WindowEstimate
    trace: np.ndarray
    box: Box | None
    vitals: Vitals


@dataclass(kw_only=True)
class PredictResult:
    source: str
    runtime: str
    hr_bpm: float | None
    hr_status: str  # "ok" | "no reliable pulse"
    hr_reason: str
    hr_spread_bpm: list[float] | None  # 10th and 90th percentile of the passing windows' HR
    hr_confidence: float | None  # chance the HR is within 5 bpm, by the model's gate (None: refused or uncalibrated)
    quality_gate: dict[str, Any]  # the gate that judged it: calibrated or not, and on what
    input_error: str | None  # the input ended early on this error (results cover what came before it)
    fps: float
    frames: int
    windows: int
    windows_passed: int
    speed_fps: float
    per_window: list[WindowEstimate]
    hrv: Hrv | None
    hrv_reason: str | None  # why there is no HRV: no HR, too few or too noisy beats (signals.vitals.trusted_hrv)
    respiration: Respiration
    frames_without_face: int
    profile_ms: dict[str, float] = field(default_factory=dict)
    frame_reduction: int = 1  # frames were tracked and cropped at 1/this of their size (Motion-JPEG: decoded so)
    bvp: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    bvp_start_s: float = 0.0  # where ``bvp`` begins: 0, or for a live run the start of the span it kept
    beats_s: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    clean_ibi: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool), repr=False)

    def summary(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("bvp", "beats_s", "clean_ibi"):
            d.pop(k)
        return d


def classic_runtime(method: str, options: PredictOptions = PredictOptions()) -> ClassicRuntime:
    """A classic method as predict runs it: no model, averaging the crop where ``options`` say."""
    return ClassicRuntime(method, options.classic_roi)


def pick_runtime(model: Path | None, runtime: str | None) -> tuple[str | None, str]:
    """``--runtime`` as it will run, and a line saying why when it was ``auto`` (else ""): for an exported
    model, the best runtime here that opens its file; for a checkpoint, the best runtime here at all."""
    if runtime != AUTO:
        return runtime, ""
    name, why = auto_runtime(model.suffix if model is not None else None)
    exported = "" if model is not None or name == "torch" else "; the checkpoint is exported for it once (cached)"
    return name, f"runtime auto: {name} ({why}){exported}"


def model_to_run(weights: Path | None, model: Path | None, runtime: str | None) -> tuple[Path, str | None]:
    """The file that will run and its runtime (``auto`` resolved): an exported model as given, a checkpoint on
    torch, or the checkpoint's export for another runtime (made once, cached)."""
    runtime, _ = pick_runtime(model, runtime)
    if model is not None:
        return model, runtime
    assert weights is not None
    if runtime in (None, "torch"):
        return weights, "torch"
    from edge_rppg.exporters.cache import cached_export

    return cached_export(weights, runtime), runtime


def runtime_options(threads: int | None) -> RuntimeOptions:
    """How predict runs a model: beside its own decode-and-crop thread, on the same cores, so the runtime neither
    pins its threads nor spins waiting for work (README, "predict's speed", has the measurements)."""
    return RuntimeOptions(threads=threads, shares_cores=True)


def resolve_runtime(weights: Path | None, model: Path | None, runtime: str | None, threads: int | None) -> Runtime:
    """An exported model on its runtime; or a checkpoint on torch, or exported once (cached) for another runtime.
    ``runtime`` may be ``auto`` (pick_runtime)."""
    path, runtime = model_to_run(weights, model, runtime)
    return MODEL_ROW.open(path, runtime, runtime_options(threads))


def gate_of(runtime: Runtime) -> Gate:
    """The quality gate of what ``runtime`` runs: a classic method's, or its model file's."""
    if isinstance(runtime, ClassicRuntime):
        return for_method(runtime.name)
    return for_model_file(runtime.model_path)


def predict_video(
    source: Path | int | Source,
    runtime: Runtime,
    options: PredictOptions = PredictOptions(),
    on_window: OnWindow | None = None,
    on_frame: OnFrame | None = None,
    gate: Gate | None = None,
) -> PredictResult:
    """Run the whole pipeline over a video file, an image folder, or a webcam index, then read the vitals.

    ``on_window`` is called with each new estimate (live mode); ``on_frame`` may return False to stop. ``gate``:
    the model's own (``gate_of``) unless given. A path or camera index is opened here, once (``open_source``).
    """
    gate = gate_of(runtime) if gate is None else gate
    with source if isinstance(source, Source) else open_source(source, options.crop, options.fps) as opened:
        live = None if on_window is None else _live_reporter(options.stride, on_window, gate)
        run = run_pipeline(opened, runtime, options, live, on_frame)
    check_run(run, opened.name)
    return read_vitals(run, getattr(runtime, "name", "?"), opened.fps, opened.name, gate)


def _live_reporter(stride: int, on_window: OnWindow, gate: Gate) -> Callable[[Results, Track, Box | None], None]:
    """Each new window, as live mode shows it: its own quality, but the HR the gate gives the last HR_SEGMENT_S of
    windows as it would a clip (``live_decision``), so that one passing window among failing ones is no answer;
    HRV and breathing from the passing windows of the last LIVE_VITALS_S."""
    judged: deque[Quality] = deque(maxlen=max(1, HR_SEGMENT_FRAMES // stride))
    vitals_windows = LIVE_VITALS_FRAMES // stride + WINDOWS_OVER_SEGMENT
    passed: deque[tuple[int, bool]] = deque(maxlen=vitals_windows)

    def report(results: Results, track: Track, box: Box | None) -> None:
        # Only the windows that reach into the last HR segment: live cost stays constant over a long session.
        recent = sorted(results[-(HR_SEGMENT_FRAMES // stride + WINDOWS_OVER_SEGMENT) :], key=lambda r: r[0])
        origin = recent[0][0]
        trace = reassemble([(s - origin, bvp) for s, bvp in recent])
        latest = recent[-1][0]
        quality = _segment_quality(trace, latest - origin, latest, track, gate)
        judged.append(quality)
        passed.append((latest, quality.ok))
        estimate = live_decision(_estimate(quality, latest, gate), list(judged), gate)
        vitals = _live_vitals(results[-vitals_windows:], dict(passed), answered=estimate.hr_bpm is not None)
        on_window(LiveWindow(estimate=estimate, trace=trace, box=box, vitals=vitals))

    return report


def _live_vitals(span: Results, passed: dict[int, bool], answered: bool) -> Vitals:
    """HRV and breathing over the last LIVE_VITALS_S of windows, read only where windows passed, as a clip's are."""
    windows = sorted((r for r in span if r[0] >= span[-1][0] - LIVE_VITALS_FRAMES), key=lambda r: r[0])
    origin = windows[0][0]
    bvp = reassemble([(s - origin, b) for s, b in windows])
    good = _good_part(bvp, [s for s, _ in windows if passed.get(s, False)], origin)
    return vitals_of(bvp, good, answered)


def live_decision(window: WindowEstimate, recent: list[Quality], gate: Gate) -> WindowEstimate:
    """``window`` with the HR, confidence and verdict of the gate over ``recent`` windows, judged as a clip is."""
    decision = clip_heart_rate(recent, gate)
    if decision.hr_bpm is None:
        refused = window.quality if window.hr_bpm is None else f"low: {decision.reason}"
        return replace(window, hr_bpm=None, confidence=None, quality=refused)
    return replace(window, hr_bpm=decision.hr_bpm, confidence=decision.confidence, quality="ok")


def read_vitals(run: Run, runtime_name: str, fps: float, name: str, gate: Gate) -> PredictResult:
    """What the windows' BVP says under the model's ``gate``: per-window quality, the clip HR (or a refusal),
    beats, HRV, breathing."""
    started = time.perf_counter()
    run.results.sort(key=lambda r: r[0])
    origin = run.results[0][0] if run.results else 0  # a live run's first window still held (LIVE_KEEP_S)
    bvp = reassemble([(s - origin, b) for s, b in run.results])
    qualities = [_segment_quality(bvp, s - origin, s, run.track, gate) for s, _ in run.results]
    per_window = [_estimate(q, s, gate) for q, (s, _) in zip(qualities, run.results, strict=True)]
    good = _good_part(bvp, [e.start_frame for e in per_window if e.hr_bpm is not None], origin)
    clip = clip_heart_rate(qualities, gate)
    vitals = vitals_of(bvp, good, answered=clip.hr_bpm is not None)
    seconds = run.timing | {"vitals": time.perf_counter() - started, "wall": run.elapsed}
    return PredictResult(
        source=name,
        runtime=runtime_name,
        hr_bpm=clip.hr_bpm,
        hr_status=clip.status,
        hr_reason=clip.reason,
        hr_spread_bpm=list(clip.spread_bpm) if clip.spread_bpm else None,
        hr_confidence=clip.confidence,
        quality_gate=describe_gate(gate),
        input_error=None if run.error is None else str(run.error),
        fps=fps,
        frames=run.frames,
        windows=len(run.results),
        windows_passed=clip.windows_passed,
        speed_fps=round(run.frames / run.elapsed, 1),
        per_window=per_window,
        hrv=vitals.hrv,
        hrv_reason=vitals.hrv_reason,
        respiration=vitals.breathing,
        frames_without_face=run.frames_without_face,
        profile_ms={k: round(v * 1e3, 1) for k, v in seconds.items()},
        frame_reduction=run.reduction,
        bvp=bvp,
        bvp_start_s=origin / CONTRACT.fps,
        beats_s=vitals.beats.times_s + origin / CONTRACT.fps,
        clean_ibi=clean_ibis(vitals.beats),
    )


@dataclass(frozen=True, kw_only=True)
class Vitals:
    """Beats, HRV (or None and ``hrv_reason``) and breathing, from the passing part of a BVP."""

    beats: Beats
    hrv: Hrv | None
    hrv_reason: str | None
    breathing: Respiration


def vitals_of(bvp: np.ndarray, good: np.ndarray, answered: bool) -> Vitals:
    """Beats from the ``good`` part of ``bvp``; HRV where its beats allow (``trusted_hrv``) and breathing, only
    where the HR itself was ``answered``."""
    beats = find_beats(good, CONTRACT.fps)
    if not answered:
        refused = Respiration(rate_bpm=None, quality=0.0, status=NO_PULSE)
        return Vitals(beats=beats, hrv=None, hrv_reason=NO_PULSE, breathing=refused)
    hrv, why = trusted_hrv(beats)
    return Vitals(beats=beats, hrv=hrv, hrv_reason=why, breathing=respiration(bvp, CONTRACT.fps, beats))


def _good_part(bvp: np.ndarray, passed_starts: list[int], origin: int) -> np.ndarray:
    """The BVP (which begins at frame ``origin``) with the samples outside the passing windows (those starting at
    ``passed_starts``) zeroed: no beats are found there."""
    good = np.zeros(len(bvp), dtype=bool)
    for start in passed_starts:
        good[start - origin : start - origin + CONTRACT.window] = True
    return np.where(good, bvp, 0.0)


def reassemble(results: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """One continuous BVP from windows sorted by start.

    Each window is z-scored (the model's scale is per window), then they are overlap-added."""
    return overlap_add([zscore(b) for _, b in results], [s for s, _ in results])


def describe_gate(gate: Gate) -> dict[str, Any]:
    return {"calibrated": gate.calibrated, "label": gate.label(), "model": gate.model, "fitted_on": gate.fitted_on}


@dataclass(frozen=True)
class Segment:
    """The HR segment that ends with one window: its BVP, the scene over its frames and POS's reading of them."""

    bvp: np.ndarray
    scene: SceneMeasures
    witness_hr_bpm: float | None


def segment_at(bvp: np.ndarray, offset: int, start: int, track: Track, witness: bool) -> Segment:
    """The segment ending with the window that starts at frame ``start`` (``offset`` is where that window begins
    inside ``bvp``); POS reads it when ``witness`` (a deep model's gate only: a classic method reads the same RGB
    trace as POS does, so POS's agreement is no independent evidence for it; on the calibration half, POS
    witnessing itself let 88 % of pulseless clips through)."""
    end = offset + CONTRACT.window
    segment = bvp[max(0, end - HR_SEGMENT_FRAMES) : end]
    stop = start + CONTRACT.window
    first = stop - len(segment)
    return Segment(segment, track.scene(first, stop), track.witness_hr(first, stop) if witness else None)


def _segment_quality(bvp: np.ndarray, offset: int, start: int, track: Track, gate: Gate) -> Quality:
    seg = segment_at(bvp, offset, start, track, gate.witness)
    return segment_quality(seg.bvp, gate, CONTRACT.fps, scene=seg.scene, witness_hr_bpm=seg.witness_hr_bpm)


def _estimate(q: Quality, start: int, gate: Gate) -> WindowEstimate:
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
        confidence=gate.confidence_of(q.sqi) if q.ok else None,
    )
