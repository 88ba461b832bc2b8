"""predict's pipeline: decode -> detect, track, crop -> infer, the three stages running concurrently.

A decoding thread feeds a bounded queue, the calling thread detects the face, crops and resamples to 30 fps,
and an inference thread runs the windows (ONNX Runtime and OpenVINO release the GIL). Memory is bounded: at
most one window of crops plus the queues. What comes out (``Run``) is the windows' BVP by start frame and
the per-frame ``Track`` that the quality measures and the POS witness read; ``predict`` makes vitals of it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.data.detectors import Box
from edge_rppg.data.face import CropSettings, CropStep, FaceCropper
from edge_rppg.data.source import Source
from edge_rppg.errors import EdgeRppgError, InputEndedEarly, StageFailed, VideoError
from edge_rppg.runtimes import Runtime
from edge_rppg.signals.classic import METHODS, WHOLE_CROP, Roi, mean_rgb, run_method
from edge_rppg.signals.filters import bvp_filters
from edge_rppg.signals.hr import fundamental_hr
from edge_rppg.signals.quality import HR_SEGMENT_FRAMES, SceneMeasures
from edge_rppg.signals.streaming import WindowScheduler

WITNESS = "pos"  # the classic method whose HR on the same crops cross-checks each segment
_DONE = object()
# How often a stage waiting on a full queue looks whether the run was stopped.
QUEUE_POLL_S = 0.1
# How long a stopped or failed run waits for each thread: the decoder ends within one frame's decode and the
# inference thread within one window (the queued ones are dropped), both far under this on any device we run on.
STOP_JOIN_S = 2.0
# How long a finishing run waits per window still to run: a window takes 5-400 ms from a desktop CPU to a
# Jetson-class one, so only a runtime that hangs exceeds it.
WINDOW_JOIN_S = 30.0
# Windows queued for inference: enough that inference never waits on the crop thread between windows, few enough
# that a stop waits on little (each is 160 crops).
WINDOWS_QUEUED = 4
# A live run (a camera, a stream, a server's source) keeps this much of its windows and track: what the final
# reading, HRV included, is made of, and the memory a session of any length holds (under 10 MB).
LIVE_KEEP_S = 600.0
# The track forgets in steps of this many frames, so that forgetting costs one list move per minute, not per frame.
FORGET_STEP = int(60 * CONTRACT.fps)
Results = list[tuple[int, np.ndarray]]  # each window's BVP by its start frame, in completion order
OnResults = Callable[[Results, "Track", "Box | None"], None]
OnFrame = Callable[[np.ndarray, "Box | None"], bool]


@dataclass(frozen=True, kw_only=True)
class PredictOptions:
    stride: int = 30
    crop: CropSettings = field(default_factory=CropSettings)  # the same crop path as training and eval
    fps: float | None = None  # override when the file does not say
    queue_frames: int = 64
    classic_roi: Roi = WHOLE_CROP  # where the POS witness (and a classic --method) average the crop
    keep_s: float | None = None  # what a run keeps, in seconds; None: LIVE_KEEP_S of a live source, all of a file


@dataclass(kw_only=True)
class Track:
    """Per model frame (30 fps): what the quality measures and the POS witness are computed from. Frames are
    numbered from the run's start; a live run forgets its oldest (``origin``: the first frame still held)."""

    lost: list[bool] = field(default_factory=list)
    speed: list[float] = field(default_factory=list)  # face widths per second
    brightness: list[float] = field(default_factory=list)  # inner face, where box jitter changes little
    rgb: list[np.ndarray] = field(default_factory=list)  # spatial mean of ``roi``, as classic methods read it
    background: list[np.ndarray] = field(default_factory=list)  # mean RGB beside the face: the light alone
    roi: Roi = WHOLE_CROP
    origin: int = 0
    camera_fps: float | None = None  # the source's own rate: where mains flicker aliases (None: not checked)

    def forget_before(self, frame: int) -> None:
        """Drop the frames before ``frame``, in FORGET_STEP steps."""
        drop = frame - self.origin
        if drop < FORGET_STEP:
            return
        for kept in (self.lost, self.speed, self.brightness, self.rgb, self.background):
            del kept[:drop]
        self.origin = frame

    def add(self, step: CropStep) -> None:
        crop = step.crop
        q = crop.shape[0] // 4
        self.lost.append(step.face_lost)
        self.speed.append(step.motion)
        self.brightness.append(float(crop[q:-q, q:-q].mean()))
        self.rgb.append(mean_rgb(crop[None], self.roi)[0])
        self.background.append(step.background if step.background is not None else np.full(3, np.nan, np.float32))

    def scene(self, start: int, stop: int) -> SceneMeasures:
        """Measures over frames [start, stop) only: live mode stays constant-cost however long it runs."""
        lo, hi = max(start - self.origin, 0), max(stop - self.origin, 0)
        return SceneMeasures.from_track(
            np.array(self.lost[lo:hi]),
            np.array(self.speed[lo:hi]),
            np.array(self.brightness[lo:hi]),
            CONTRACT.fps,
            np.array(self.background[lo:hi]) if self.background else None,
            self.camera_fps,
        )

    def witness_hr(self, start: int, stop: int) -> float | None:
        """POS's HR over frames [start, stop), on the same crops as the model's."""
        rgb = np.array(self.rgb[max(start - self.origin, 0) : max(stop - self.origin, 0)])
        if len(rgb) < METHODS[WITNESS].min_frames:
            return None
        return fundamental_hr(bvp_filters(run_method(WITNESS, rgb, CONTRACT.fps), CONTRACT.fps), CONTRACT.fps)


def _decode(
    source: Source,
    reduction: Callable[[], int],
    out: queue.Queue[Any],
    stop: threading.Event,
    timing: dict[str, float],
) -> None:
    """Frames into ``out``, each already made at the reduction the tracker last asked for, so that decoding
    stays on this thread (a detection's full frame, or a frame queued before a new reduction, is made on
    the crop thread when it asks). Then ``_DONE``, after the error the input ended on if it did: a file cut
    short (``InputEndedEarly``, what came before is read), or a failure the run ends with."""
    t = time.perf_counter()
    read = 0
    try:
        for frame in source.frames():
            frame.at(reduction())
            timing["decode"] += time.perf_counter() - t
            if not _offer(out, frame, stop):
                return
            read += 1
            t = time.perf_counter()
    except EdgeRppgError as exc:  # the reader's own line: it names the file and what is wrong
        _offer(out, exc, stop)
    except Exception as exc:  # an OpenCV or FFmpeg error mid-file: the run fails, never a shorter video
        _offer(out, StageFailed.of(source.name, f"decoding after {read} frames", exc), stop)
    finally:
        _offer(out, _DONE, stop)


def _offer(out: queue.Queue[Any], item: object, stop: threading.Event) -> bool:
    """Queue ``item`` unless the run is stopped (then nobody reads the queue, and a full one would block the
    thread forever): whether it was queued."""
    while not stop.is_set():
        try:
            out.put(item, timeout=QUEUE_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _infer(
    runtime: Runtime,
    windows: queue.Queue[Any],
    results: list[tuple[int, np.ndarray]],
    timing: dict[str, float],
    failure: list[Exception],
    abandon: threading.Event,
) -> None:
    """Run windows until _DONE. A failure is kept for the main thread, which stops feeding when it sees
    it; windows still queued are drained, so that nobody blocks on a full queue, and skipped once the run is
    abandoned (Ctrl-C, an error): a stop waits for one inference at most, not for every queued window."""
    while True:
        item = windows.get()
        if item is _DONE:
            return
        if failure or abandon.is_set():
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


def _put(q: queue.Queue[Any], item: object, failure: list[Exception]) -> None:
    """Queue a window unless inference has failed (then the run stops instead of waiting forever)."""
    while not failure:
        try:
            q.put(item, timeout=QUEUE_POLL_S)
            return
        except queue.Full:
            continue


class _Stages:
    """The decoding and inference threads and their queues; ``finish`` always ends them, within a bound."""

    def __init__(self, source: Source, reduction: Callable[[], int], runtime: Runtime, options: PredictOptions) -> None:
        # Seconds per stage, in pipeline order; detect and track are the tracker's share of the crop thread's time.
        self.timing = {"decode": 0.0, "detect": 0.0, "track": 0.0, "crop": 0.0, "infer": 0.0}
        self.frames: queue.Queue[Any] = queue.Queue(maxsize=options.queue_frames)
        self.windows: queue.Queue[Any] = queue.Queue(maxsize=WINDOWS_QUEUED)
        self.stop = threading.Event()
        self.abandon = threading.Event()
        self.results: Results = []
        keep_s = options.keep_s or (LIVE_KEEP_S if source.live else None)
        self.keep = None if keep_s is None else int(keep_s * CONTRACT.fps)
        self.failure: list[Exception] = []
        self.source = source.name
        self.runtime = runtime
        self.threads = (
            threading.Thread(
                target=_decode,
                args=(source, reduction, self.frames, self.stop, self.timing),
                name="edge-rppg-decode",
                daemon=True,
            ),
            threading.Thread(
                target=_infer,
                args=(runtime, self.windows, self.results, self.timing, self.failure, self.abandon),
                name="edge-rppg-inference",
                daemon=True,
            ),
        )
        for thread in self.threads:
            thread.start()

    def finish(self, abandon: bool = False) -> list[str]:
        """Stop both threads and join each within its bound (a thread left inside OpenCV or a runtime when the
        interpreter exits can abort the process after a correct error): the names of those still running.
        ``abandon``: the queued windows are dropped, not run, and the run ends within ``STOP_JOIN_S``."""
        if abandon:
            self.abandon.set()
        self.stop.set()
        bound = STOP_JOIN_S if abandon else WINDOW_JOIN_S * (self.windows.qsize() + 1)
        deadline = time.monotonic() + bound
        with contextlib.suppress(queue.Full):  # full only if inference hangs: the join below says so
            self.windows.put(_DONE, timeout=bound)
        decoder, worker = self.threads
        worker.join(max(0.0, deadline - time.monotonic()))
        decoder.join(STOP_JOIN_S)
        return [t.name for t in self.threads if t.is_alive()]

    def forget(self, track: Track) -> None:
        """A live run's oldest windows and track frames, beyond ``keep``, dropped. Windows complete in order on the
        one inference thread, which only appends: deleting from the front while it does is safe."""
        if self.keep is None or not self.results:
            return
        cutoff = self.results[-1][0] - self.keep
        old = next((i for i, (start, _) in enumerate(self.results) if start >= cutoff), len(self.results))
        del self.results[:old]
        if self.results:  # the oldest kept window's HR segment begins before it
            track.forget_before(self.results[0][0] + CONTRACT.window - HR_SEGMENT_FRAMES)

    def raise_failure(self) -> None:
        if self.failure:
            name = getattr(self.runtime, "name", "the runtime")
            raise StageFailed.of(self.source, f"inference on {name}", self.failure[0])

    def guarded(self, stage: str, step: Callable[..., Any], *args: Any) -> Any:
        """``step(*args)`` on the crop thread, any error in it one line naming ``stage`` and the file."""
        try:
            return step(*args)
        except EdgeRppgError:
            raise
        except Exception as exc:
            raise StageFailed.of(self.source, stage, exc) from exc


@dataclass(kw_only=True)
class Run:
    """What the pipeline produced: windows' BVP by start frame, the track, counts and timings."""

    results: list[tuple[int, np.ndarray]]
    track: Track
    frames: int
    frames_without_face: int
    face_found: bool
    frames_with_face: int
    timing: dict[str, float]
    elapsed: float
    error: InputEndedEarly | None  # the file was cut short: the run covers what came before
    reduction: int = 1  # the frames were tracked and cropped at 1/reduction of their size (the last choice)


def run_pipeline(
    source: Source,
    runtime: Runtime,
    options: PredictOptions,
    on_results: OnResults | None = None,
    on_frame: OnFrame | None = None,
) -> Run:
    """Decode (thread) -> crop (here) -> infer (thread). ``on_results`` sees the windows so far each time one
    more is done (live mode); ``on_frame`` sees every frame and its box, and may return False to stop."""
    cropper = FaceCropper(options.crop, source.fps)
    scheduler = WindowScheduler(options.stride)
    track = Track(roi=options.classic_roi, camera_fps=source.fps)
    wall = time.perf_counter()
    stages = _Stages(source, lambda: cropper.tracker.reduction, runtime, options)
    try:
        frames, error = _crop_loop(stages, cropper, scheduler, track, on_results, on_frame)
    except BaseException:  # Ctrl-C or an error: nothing more is wanted from the queued windows
        stages.finish(abandon=True)
        raise
    stuck = stages.finish()
    stages.forget(track)  # the windows that were still queued when the input ended
    stages.raise_failure()
    if stuck:
        raise StageFailed(f"{source.name}: {', '.join(stuck)} did not end within its bound (a runtime that hangs)")
    for stage, seconds in cropper.tracker.seconds.items():
        stages.timing[stage] = seconds
        stages.timing["crop"] -= seconds
    return Run(
        results=stages.results,
        track=track,
        frames=frames,
        frames_without_face=cropper.frames_without_face,
        face_found=cropper.box is not None,
        frames_with_face=scheduler.count,
        timing=stages.timing,
        elapsed=time.perf_counter() - wall,
        error=error,
        reduction=cropper.tracker.reduction,
    )


def _crop_loop(
    stages: _Stages,
    cropper: FaceCropper,
    scheduler: WindowScheduler,
    track: Track,
    on_results: OnResults | None,
    on_frame: OnFrame | None,
) -> tuple[int, InputEndedEarly | None]:
    """Frames until the input ends, is cut short or is stopped: (frames read, the shortfall if it was cut short).
    Any other error, here or from the decoder, is raised naming its stage."""
    frames, reported = 0, -1  # the start frame of the last window reported
    while True:
        item = stages.frames.get()
        if item is _DONE:
            return frames, None
        if isinstance(item, InputEndedEarly):
            return frames, item
        if isinstance(item, BaseException):
            raise item
        frames += 1
        t0 = time.perf_counter()
        steps = stages.guarded("cropping", cropper.push, item)
        stages.timing["crop"] += time.perf_counter() - t0
        if on_frame is not None and not stages.guarded("the live view", on_frame, item.at(1), cropper.box):
            return frames, None
        for step in steps:
            t0 = time.perf_counter()
            stages.guarded("cropping", track.add, step)  # the quality measures and the witness's means
            stages.timing["crop"] += time.perf_counter() - t0
            due = scheduler.push(step.crop)
            if due is not None:
                _put(stages.windows, due, stages.failure)
        if stages.failure:
            return frames, None
        if on_results is not None and stages.results and stages.results[-1][0] != reported:
            reported = stages.results[-1][0]
            stages.guarded("the live view", on_results, stages.results, track, cropper.box)
        stages.forget(track)


def refusal(run: Run, name: str) -> str | None:
    """Why a decoded video gives no reading at all (no face found, too few frames with one), or None; raises when
    the video itself failed (an error before any window, or no frame decoded)."""
    if run.error is not None and not run.results:
        raise run.error
    if run.frames == 0:
        raise VideoError(f"{name}: no frames could be decoded (empty or unreadable video)")
    if not run.face_found:
        return f"{name}: no face found in any of {run.frames} frames"
    if not run.results:
        return (
            f"{name}: only {run.frames_with_face} frames with a face at {CONTRACT.fps:g} fps; one window needs "
            f"{CONTRACT.window}"
        )
    return None


def check_run(run: Run, name: str) -> None:
    reason = refusal(run, name)
    if reason is not None:
        raise VideoError(reason)
