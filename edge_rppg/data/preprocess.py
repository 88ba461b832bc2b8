"""Videos -> face-crop chunks on disk, streamed and cached.

Per video: the one face-crop path (:class:`~edge_rppg.data.face.FaceCropper`, the same as predict's),
chunks of 160 frames without overlap (the remainder is dropped) with the label resampled to the frames
and z-scored over the video. Frames are never held beyond one chunk,
so memory is bounded whatever the video length. The cache folder is keyed by the settings; a video
whose manifest exists is not redone, so a killed preprocessing run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.atomic import atomic_path, write_text_atomic
from edge_rppg.contract import CONTRACT
from edge_rppg.data.face import CropSettings, FaceCropper
from edge_rppg.data.readers import VideoItem
from edge_rppg.errors import DatasetError, VideoError
from edge_rppg.paths import cache_root as default_cache_root
from edge_rppg.pools import parallel_map
from edge_rppg.signals.filters import zscore

CACHE_VERSION = 2


@dataclass(frozen=True)
class PreprocessSettings:
    crop: CropSettings = field(default_factory=CropSettings)
    chunk: int = CONTRACT.window

    def key(self, dataset: str, root: Path) -> str:
        blob = json.dumps(
            {**asdict(self), "dataset": dataset, "root": str(root.resolve()), "v": CACHE_VERSION}, sort_keys=True
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(kw_only=True, frozen=True)
class Chunk:
    video: str
    index: int
    frames: Path  # uint8 [chunk, H, W, 3]
    label: Path  # float32 [chunk]


def preprocess_video(item: VideoItem, settings: PreprocessSettings, out: Path) -> dict[str, Any]:
    """Write the chunks of one video into ``out``; returns its manifest. Raises VideoError when no face is found."""
    manifest_path = out / f"{item.name}.json"
    if manifest_path.exists():
        manifest: dict[str, Any] = json.loads(manifest_path.read_text())
        return manifest
    import cv2

    cv2.setNumThreads(1)  # videos run in parallel processes; one thread each
    n = item.frame_count()
    cropper = FaceCropper(settings.crop, item.fps, pre_cropped=item.face_cropped)
    chunks = _write_chunks(item.name, _labelled_crops(item, n, cropper), settings, out)
    if not item.face_cropped and cropper.box is None:
        raise VideoError(f"{item.source}: no face found in any of {cropper.tracker.frames_seen} frames")
    manifest = {
        "video": item.name,
        "subject": item.subject,
        "frames": n,
        "chunks": chunks,
        "frames_without_face": cropper.frames_without_face,
        "failed_detections": cropper.tracker.detections_failed,
        "fps": item.fps,
    }
    write_text_atomic(manifest_path, json.dumps(manifest))
    return manifest


def _labelled_crops(item: VideoItem, n: int, cropper: FaceCropper) -> Iterator[tuple[np.ndarray, float]]:
    """Each model frame with its label, interpolated at the frame's position in the input."""
    labels, keep = item.labels(n)
    if not np.all(np.isfinite(labels)):  # one NaN makes every metric of the dataset NaN
        raise DatasetError(f"{item.source}: its ground truth holds NaN or infinite values; skipped")
    if keep is not None:
        labels = labels[keep]  # dropped frames leave with their labels
    labels = zscore(labels) if len(labels) else labels
    frame_labels: list[float] = []  # label of each frame that reached the cropper (frames before a face do not)
    label_index = 0
    for i, frame in enumerate(item.read(cropper.settings)):
        if i >= n:
            break
        if keep is not None and not keep[i]:
            continue
        label = float(labels[label_index]) if label_index < len(labels) else 0.0
        label_index += 1
        steps = cropper.push(frame)
        if cropper.box is None and not item.face_cropped:
            continue  # no face yet: the frame and its label are dropped together
        frame_labels.append(label)
        for step in steps:
            k = min(int(step.position), len(frame_labels) - 1)
            a = step.position - k
            yield step.crop, frame_labels[k] + a * (frame_labels[min(k + 1, len(frame_labels) - 1)] - frame_labels[k])


def _write_chunks(name: str, crops: Iterator[tuple[np.ndarray, float]], settings: PreprocessSettings, out: Path) -> int:
    """Crops and labels into ``<name>_input<k>.npy`` / ``<name>_label<k>.npy`` chunks; how many were written."""
    buf = np.empty((settings.chunk, settings.crop.size, settings.crop.size, 3), dtype=np.uint8)
    chunk_labels = np.empty(settings.chunk, dtype=np.float32)
    filled = chunks = 0
    for crop, label in crops:
        buf[filled] = np.clip(np.rint(crop), 0, 255)
        chunk_labels[filled] = label
        filled += 1
        if filled == settings.chunk:
            _save(out / f"{name}_input{chunks}.npy", buf)
            _save(out / f"{name}_label{chunks}.npy", chunk_labels)
            chunks += 1
            filled = 0
    return chunks


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


def _work(args: tuple[VideoItem, PreprocessSettings, Path]) -> tuple[str, dict[str, Any] | None, str | None]:
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
    engine: str = "local",
    ray_address: str | None = None,
) -> list[Chunk]:
    """Preprocess (or reuse the cache of) ``items``; returns their chunks in video order. ``engine="ray"``
    spreads the videos over a Ray cluster, each node writing into the one (shared) cache folder."""
    out = (cache_root or default_cache_root()) / f"{dataset}-{settings.key(dataset, root)}"
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "settings.json", json.dumps({**asdict(settings), "dataset": dataset, "root": str(root)}))
    workers = max(1, min(workers or os.cpu_count() or 1, len(items)))
    jobs = [(item, settings, out) for item in items]
    results = parallel_map(_work, jobs, workers, engine, ray_address)
    chunks: list[Chunk] = []
    for name, manifest, error in results:
        if error is not None:
            if on_no_face == "fail":
                raise VideoError(error)
            log(f"skipped: {error}")
            continue
        assert manifest is not None
        chunks += [
            Chunk(video=name, index=k, frames=out / f"{name}_input{k}.npy", label=out / f"{name}_label{k}.npy")
            for k in range(manifest["chunks"])
        ]
    return chunks


def chunk_window(chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """A cached chunk as a model window [3, chunk+1, H, W] float32 (``CONTRACT.assemble``) and its label."""
    return CONTRACT.assemble(np.load(chunk.frames)), np.load(chunk.label).astype(np.float32)
