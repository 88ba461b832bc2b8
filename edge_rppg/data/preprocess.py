"""Videos -> face-crop chunks on disk, streamed and cached.

Per video: face detection every ``detect_interval`` frames (box enlarged 1.5x, held in between),
crop, resize to 72x72 (area), chunks of 160 frames without overlap (the remainder is dropped) with the
label resampled to the frames and z-scored over the video. Frames are never held beyond one chunk,
so memory is bounded whatever the video length. The cache folder is keyed by the settings; a video
whose manifest exists is not redone, so a killed preprocessing run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edge_rppg.atomic import atomic_path, write_text_atomic
from edge_rppg.contract import CONTRACT
from edge_rppg.data.face import FaceTracker, HaarFaceDetector, crop_resize
from edge_rppg.data.readers import VideoItem
from edge_rppg.errors import DatasetError, VideoError
from edge_rppg.signal import zscore

CACHE_VERSION = 1


@dataclass(frozen=True)
class PreprocessSettings:
    detect_interval: int = 30
    box_scale: float = 1.5
    size: int = CONTRACT.height
    chunk: int = CONTRACT.window
    detector: str = "haar"

    def key(self, dataset: str, root: Path) -> str:
        blob = json.dumps({**asdict(self), "dataset": dataset, "root": str(root.resolve()), "v": CACHE_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Chunk:
    video: str
    index: int
    frames: Path  # uint8 [chunk, H, W, 3]
    label: Path  # float32 [chunk]


DETECTORS: dict[str, Callable[[], object]] = {"haar": HaarFaceDetector}


def default_cache_root() -> Path:
    return Path(os.environ.get("EDGE_RPPG_CACHE", Path.home() / ".cache" / "edge-rppg"))


def preprocess_video(item: VideoItem, settings: PreprocessSettings, out: Path) -> dict:
    """Write the chunks of one video into ``out``; returns its manifest. Raises VideoError when no face is found."""
    manifest_path = out / f"{item.name}.json"
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    import cv2

    cv2.setNumThreads(1)  # videos run in parallel processes; one thread each
    n = item.frame_count()
    labels, keep = item.labels(n)
    if keep is not None:
        labels = labels[keep]  # dropped frames leave with their labels
    labels = zscore(labels) if len(labels) else labels
    tracker = None if item.face_cropped else FaceTracker(DETECTORS[settings.detector](), settings.detect_interval, settings.box_scale)  # type: ignore[arg-type]
    size = (settings.size, settings.size)
    buf = np.empty((settings.chunk, settings.size, settings.size, 3), dtype=np.uint8)
    filled = chunks = skipped_no_face = 0
    label_index = 0
    for i, frame in enumerate(item.frames()):
        if i >= n:
            break
        if keep is not None and not keep[i]:
            continue
        if tracker is None:
            crop = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        else:
            box, _ = tracker.update(frame)
            if box is None:  # no face yet: drop the frame and its label, keep alignment
                skipped_no_face += 1
                label_index += 1
                continue
            crop = crop_resize(frame, box, size)
        buf[filled] = crop
        filled += 1
        if filled == settings.chunk:
            lab = labels[label_index + 1 - settings.chunk : label_index + 1].astype(np.float32)
            _save(out / f"{item.name}_input{chunks}.npy", buf)
            _save(out / f"{item.name}_label{chunks}.npy", lab)
            chunks += 1
            filled = 0
        label_index += 1
    if tracker is not None and tracker.box is None:
        raise VideoError(f"{item.source}: no face found in any of {tracker.frames_seen} frames")
    manifest = {
        "video": item.name,
        "subject": item.subject,
        "frames": n,
        "chunks": chunks,
        "frames_without_face": skipped_no_face,
        "failed_detections": tracker.detections_failed if tracker else 0,
        "fps": item.fps,
    }
    write_text_atomic(manifest_path, json.dumps(manifest))
    return manifest


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def _work(args: tuple[VideoItem, PreprocessSettings, Path]) -> tuple[str, dict | None, str | None]:
    item, settings, out = args
    try:
        return item.name, preprocess_video(item, settings, out), None
    except (VideoError, DatasetError) as exc:
        return item.name, None, str(exc)


def preprocess_videos(
    items: list[VideoItem],
    dataset: str,
    root: Path,
    settings: PreprocessSettings = PreprocessSettings(),
    cache_root: Path | None = None,
    workers: int | None = None,
    on_no_face: str = "skip",
    log: Callable[[str], None] = print,
) -> list[Chunk]:
    """Preprocess (or reuse the cache of) ``items``; returns their chunks in video order."""
    out = (cache_root or default_cache_root()) / f"{dataset}-{settings.key(dataset, root)}"
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "settings.json", json.dumps({**asdict(settings), "dataset": dataset, "root": str(root)}))
    workers = max(1, min(workers or os.cpu_count() or 1, len(items)))
    jobs = [(item, settings, out) for item in items]
    if workers == 1:
        results = [_work(j) for j in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_work, jobs))
    chunks: list[Chunk] = []
    for name, manifest, error in results:
        if error is not None:
            if on_no_face == "fail":
                raise VideoError(error)
            log(f"skipped: {error}")
            continue
        assert manifest is not None
        chunks += [Chunk(name, k, out / f"{name}_input{k}.npy", out / f"{name}_label{k}.npy") for k in range(manifest["chunks"])]
    return chunks


def chunk_window(chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """A cached chunk as a model window [3, chunk+1, H, W] float32 (last frame repeated) and its label."""
    frames = np.load(chunk.frames)
    x = np.concatenate([frames, frames[-1:]]).transpose(3, 0, 1, 2).astype(np.float32)
    return x, np.load(chunk.label).astype(np.float32)
