"""Many videos, one model: ``predict DIR|GLOB|--list FILE --out RESULTS`` on a local process pool or on Ray.

Each video becomes one JSON in RESULTS (predict's summary, or the one-line error that stopped it), written
atomically, keyed by the input (path, size, mtime) and the model (sha256): a second run skips what is done
(and tries the failed ones again), a killed run leaves only complete files and resumes, and one bad video is
a row, not the end of the run. The summary table (``results.csv``, and ``results.parquet`` when pyarrow is
there) is rebuilt from the JSONs.

The model is loaded once per worker (a process, or a Ray actor). A checkpoint is exported for the chosen
runtime once, here, before any worker starts: workers never race to build the same export.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edge_rppg.atomic import write_text_atomic
from edge_rppg.data.video import VIDEO_SUFFIXES
from edge_rppg.errors import EdgeRppgError
from edge_rppg.methods import DEFAULT_METHOD, METHOD_TABLE
from edge_rppg.optional import require

if TYPE_CHECKING:
    from edge_rppg.predict.pipeline import PredictOptions

SUMMARY_CSV = "results.csv"
SUMMARY_PARQUET = "results.parquet"
POOL_RESTARTS = 2  # a local worker that dies (killed, out of memory) is replaced this often, then its videos fail
ACTOR_RESTARTS = 2  # the same for a Ray actor; its task is retried on the restarted actor


@dataclass(frozen=True, kw_only=True)
class BatchSpec:
    """What a worker needs to load the model once and run every video the same way."""

    method: str = DEFAULT_METHOD  # a row of METHOD_TABLE: the model, or a classic method with no model at all
    model: Path | None = None  # the file the model row runs: a checkpoint on torch, or an exported model
    runtime: str | None = None
    threads: int  # per worker
    options: PredictOptions | None = None  # None: predict's defaults
    series_dir: Path | None = None  # also each video's BVP/HR series CSV and beats CSV, beside its JSON here

    @property
    def model_id(self) -> str:
        """What a result was made with, for resuming: the model's sha256, or the classic method's name."""
        return METHOD_TABLE[self.method].identity(self.model)


@dataclass(kw_only=True, frozen=True)
class VideoOutcome:
    video: str
    summary: dict[str, Any] | None  # predict --json's summary; None when the video failed
    error: str | None
    frames: int = 0


# --- the videos, and what is already done --------------------------------------------------------------


def collect_videos(source: str | None, list_file: Path | None) -> list[Path]:
    """The videos of a folder (recursively), a glob pattern, or a list file (one path a line, relative to it)."""
    if list_file is not None:
        if not list_file.is_file():
            raise EdgeRppgError(f"{list_file}: no such list file")
        lines = [ln.strip() for ln in list_file.read_text().splitlines()]
        return [(list_file.parent / ln).resolve() for ln in lines if ln and not ln.startswith("#")]
    if source is None:
        raise EdgeRppgError("give a folder, a glob pattern or --list FILE of videos")
    root = Path(source)
    if root.is_dir():
        found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    else:
        found = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
    if not found:
        raise EdgeRppgError(f"{source}: no video files ({', '.join(VIDEO_SUFFIXES)})")
    return [p.resolve() for p in found]


def input_key(video: Path) -> dict[str, Any]:
    try:
        st = video.stat()
    except OSError:
        return {"path": str(video), "size": None, "mtime_ns": None}
    return {"path": str(video), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def result_path(out: Path, video: Path) -> Path:
    """One JSON per video; the hash of its full path keeps two ``clip.mp4`` in different folders apart."""
    return out / f"{video.stem}.{hashlib.sha1(str(video).encode()).hexdigest()[:8]}.json"


def is_done(out: Path, video: Path, model_id: str) -> bool:
    try:
        rec = json.loads(result_path(out, video).read_text())
    except (OSError, ValueError):
        return False
    # A failed video is tried again: its error may have been the machine's (a worker that died), not the file's.
    return bool(rec.get("input") == input_key(video) and rec.get("model_sha256") == model_id and not rec.get("error"))


def write_record(out: Path, outcome: VideoOutcome, model_id: str, runtime: str | None) -> None:
    video = Path(outcome.video)
    record = {
        "input": input_key(video),
        "model_sha256": model_id,
        "runtime": runtime,
        "result": outcome.summary,
        "error": outcome.error,
    }
    write_text_atomic(result_path(out, video), json.dumps(record, indent=1) + "\n")


# --- one video, in a worker -----------------------------------------------------------------------------


class _Worker:
    """The model, loaded once; every video through predict's own path."""

    def __init__(self, spec: BatchSpec) -> None:
        from edge_rppg.predict.pipeline import PredictOptions
        from edge_rppg.predict.video import gate_of, runtime_options

        self.spec = spec
        self.options = spec.options or PredictOptions()
        method = METHOD_TABLE[spec.method]
        self.runtime = method.open(spec.model, spec.runtime, runtime_options(spec.threads), self.options.classic_roi)
        self.gate = gate_of(self.runtime)  # once: finding it reads the model file's metadata or hashes it

    def run(self, video: str) -> VideoOutcome:
        from edge_rppg.predict.video import predict_video

        try:
            result = predict_video(Path(video), self.runtime, self.options, gate=self.gate)
        except EdgeRppgError as exc:
            return VideoOutcome(video=video, summary=None, error=str(exc))
        except Exception as exc:  # a bug on one video must not end a thousand-video run; its row says what
            return VideoOutcome(
                video=video, summary=None, error=f"{video}: internal error: {type(exc).__name__}: {str(exc)[:300]}"
            )
        if self.spec.series_dir is not None:
            from edge_rppg.predict.writers import write_outputs

            write_outputs(result, None, result_path(self.spec.series_dir, Path(video)).with_suffix(".csv"), None)
        return VideoOutcome(video=video, summary=result.summary(), error=None, frames=result.frames)


_worker: _Worker | None = None


def _init_process(spec: BatchSpec) -> None:
    global _worker
    _worker = _Worker(spec)


def _run_in_process(video: str) -> VideoOutcome:
    assert _worker is not None
    return _worker.run(video)


# --- engines --------------------------------------------------------------------------------------------


class Engine(Protocol):
    def run(self, spec: BatchSpec, videos: list[Path], workers: int) -> Iterator[VideoOutcome]:
        """Each video's outcome, in completion order."""
        ...


class LocalEngine:
    """A process pool on this machine; a worker that dies is replaced and its videos are run again."""

    def run(self, spec: BatchSpec, videos: list[Path], workers: int) -> Iterator[VideoOutcome]:
        from concurrent.futures import as_completed
        from concurrent.futures.process import BrokenProcessPool

        from edge_rppg.pools import process_pool

        remaining = [str(v) for v in videos]
        for attempt in range(POOL_RESTARTS + 1):
            with process_pool(workers, _init_process, (spec,)) as pool:
                futures = {pool.submit(_run_in_process, v): v for v in remaining}
                try:
                    for future in as_completed(futures):
                        outcome = future.result()
                        remaining.remove(outcome.video)
                        yield outcome
                    return
                except BrokenProcessPool:
                    if attempt == POOL_RESTARTS:
                        break
        for video in remaining:
            yield VideoOutcome(
                video=video, summary=None, error=f"{video}: the worker running it died {POOL_RESTARTS + 1} times"
            )


class RayEngine:
    """Ray actors, each holding the runtime; an actor that dies is restarted and its task retried."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address

    def run(self, spec: BatchSpec, videos: list[Path], workers: int) -> Iterator[VideoOutcome]:
        ray = require("ray", "--engine ray")
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False)
        try:
            gpus = 1 if spec.runtime == "tensorrt" else 0
            remote = ray.remote(num_cpus=spec.threads, num_gpus=gpus, max_restarts=ACTOR_RESTARTS, max_task_retries=2)
            actors = [remote(_Worker).remote(spec) for _ in range(min(workers, len(videos)))]
            yield from _ray_outcomes(ray, actors, [str(v) for v in videos])
        finally:
            if started:
                ray.shutdown()


def _ray_outcomes(ray: Any, actors: list[Any], videos: list[str]) -> Iterator[VideoOutcome]:
    """One video per idle actor until all are done; a task whose retries are spent is that video's error."""
    queue, idle = list(videos), list(actors)
    pending: dict[Any, tuple[str, Any]] = {}
    while queue or pending:
        while idle and queue:
            actor, video = idle.pop(), queue.pop(0)
            pending[actor.run.remote(video)] = (video, actor)
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        video, actor = pending.pop(ref)
        idle.append(actor)
        try:
            yield ray.get(ref)
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[0][:200]
            yield VideoOutcome(video=video, summary=None, error=f"{video}: the Ray worker running it failed: {first}")


# One engine per name of pools.ENGINES (tests/test_batch.py checks they match).
BATCH_ENGINES: dict[str, Callable[[str | None], Engine]] = {
    "local": lambda _address: LocalEngine(),
    "ray": lambda address: RayEngine(address),
}


# --- the run --------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class BatchReport:
    videos: int
    skipped: int  # done before, for the same input and model
    ran: int
    failed: int  # among all videos, this run's and earlier ones
    summary_csv: Path
    seconds: float
    frames: int


Progress = Callable[[VideoOutcome, int, int], None]  # the outcome, done so far, to do


def run_batch(
    videos: list[Path],
    spec: BatchSpec,
    out: Path,
    engine: str = "local",
    *,
    workers: int | None = None,
    force: bool = False,
    ray_address: str | None = None,
    progress: Progress | None = None,
) -> BatchReport:
    """Predict every video not already done into ``out``; then the summary table of all of them."""
    if engine not in BATCH_ENGINES:
        raise EdgeRppgError(f"unknown engine {engine!r}; choose from {', '.join(BATCH_ENGINES)}")
    model_id = spec.model_id
    out.mkdir(parents=True, exist_ok=True)
    todo = [v for v in videos if force or not is_done(out, v, model_id)]
    start, frames = time.perf_counter(), 0
    if todo:
        runner = BATCH_ENGINES[engine](ray_address)
        n_workers = plan_workers(len(todo), workers)[0]
        for k, outcome in enumerate(runner.run(spec, todo, n_workers), 1):
            write_record(out, outcome, model_id, spec.runtime)
            frames += outcome.frames
            if progress is not None:
                progress(outcome, k, len(todo))
    rows = summary_rows(out, videos)
    write_summary(out, rows)
    failed = sum(1 for r in rows if r["error"])
    return BatchReport(
        videos=len(videos),
        skipped=len(videos) - len(todo),
        ran=len(todo),
        failed=failed,
        summary_csv=out / SUMMARY_CSV,
        seconds=time.perf_counter() - start,
        frames=frames,
    )


def plan_workers(videos: int, workers: int | None = None, cores: int | None = None) -> tuple[int, int]:
    """(workers, threads per worker): workers x threads = cores, no more workers than videos."""
    cores = cores or os.cpu_count() or 1
    n = max(1, min(workers or cores, max(videos, 1)))
    return n, max(1, cores // n)


# --- the summary table ----------------------------------------------------------------------------------

# (column, how a record gives it): the fields of predict --json that fit a row.
COLUMNS: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("video", lambda rec: rec["input"]["path"]),
    ("status", lambda rec: "error" if rec["error"] else rec["result"]["hr_status"]),
    ("hr_bpm", lambda rec: _result(rec, "hr_bpm")),
    ("hr_reason", lambda rec: _result(rec, "hr_reason")),
    ("hr_confidence", lambda rec: _result(rec, "hr_confidence")),
    ("gate", lambda rec: "calibrated" if (_result(rec, "quality_gate") or {}).get("calibrated") else "uncalibrated"),
    ("windows", lambda rec: _result(rec, "windows")),
    ("windows_passed", lambda rec: _result(rec, "windows_passed")),
    ("sdnn_ms", lambda rec: (_result(rec, "hrv") or {}).get("sdnn_ms")),
    ("rmssd_ms", lambda rec: (_result(rec, "hrv") or {}).get("rmssd_ms")),
    ("respiration_bpm", lambda rec: (_result(rec, "respiration") or {}).get("rate_bpm")),
    ("frames", lambda rec: _result(rec, "frames")),
    ("speed_fps", lambda rec: _result(rec, "speed_fps")),
    ("runtime", lambda rec: rec.get("runtime")),
    ("error", lambda rec: rec["error"] or ""),
)


def _result(rec: dict[str, Any], key: str) -> Any:
    return None if rec["result"] is None else rec["result"].get(key)


def summary_rows(out: Path, videos: list[Path]) -> list[dict[str, Any]]:
    rows = []
    for video in videos:
        try:
            rec = json.loads(result_path(out, video).read_text())
        except (OSError, ValueError):
            continue  # not run (a killed run): the next run does it
        rows.append({name: get(rec) for name, get in COLUMNS})
    return rows


def write_summary(out: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[name for name, _ in COLUMNS])
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    write_text_atomic(out / SUMMARY_CSV, buf.getvalue())
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return
    from edge_rppg.atomic import atomic_path

    with atomic_path(out / SUMMARY_PARQUET) as tmp:
        pq.write_table(pa.Table.from_pylist(rows), tmp)
