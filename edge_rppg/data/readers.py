"""Dataset readers for the layouts the datasets ship in: UBFC-rPPG, PURE, iBVP, SCAMPS.

Each reader lists the videos of a root folder (sorted, as splits depend on order) with their subject,
a frame stream and the PPG label aligned to the frames. Nothing is loaded whole: frames are streamed;
only the (small) label arrays are read at once.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.data.face import CropSettings
from edge_rppg.data.frames import Frame
from edge_rppg.data.source import open_source
from edge_rppg.data.video import VIDEO_SUFFIXES, image_files, iter_frames, probe
from edge_rppg.errors import DatasetError

QUALITY_THRESHOLD = 0.3  # iBVP: frames whose signal quality is at or below this are dropped
# The frame rate each dataset was recorded at (all four publish 30 fps). A video file's own rate wins where it
# states one; image folders and SCAMPS's frame arrays state none, so the published rate is theirs.
RECORDED_FPS: dict[str, float] = {"ubfc-rppg": 30.0, "pure": 30.0, "ibvp": 30.0, "scamps": 30.0}


@dataclass(kw_only=True, frozen=True)
class VideoItem:
    name: str
    subject: str
    source: Path
    fps: float
    frames: Callable[[], Iterator[np.ndarray]]
    frame_count: Callable[[], int]
    # n_frames -> (label aligned to the frames, mask of frames to keep or None)
    labels: Callable[[int], tuple[np.ndarray, np.ndarray | None]]
    face_cropped: bool = False

    def read(self, crop: CropSettings) -> Iterator[Frame | np.ndarray]:
        """The frames as predict reads the same file with ``crop`` (``open_source``: a Motion-JPEG close-up kept
        coded, decoded at the size the tracker asks for); a folder of frames or an array as ``frames`` gives them."""
        if not self.face_cropped and self.source.suffix.lower() in VIDEO_SUFFIXES:
            return open_source(self.source, crop, self.fps).frames()
        return self.frames()


def resample_to(signal: np.ndarray, n: int) -> np.ndarray:
    """Linear resampling of a label onto ``n`` evenly spaced frame instants."""
    s = np.asarray(signal, dtype=np.float64)
    if len(s) == n:
        return s
    return np.interp(np.linspace(0, len(s) - 1, n), np.arange(len(s)), s)


def _count_frames(source: Path, declared: int | None) -> int:
    """The frame count the file's header declared when it was indexed, else a count by decoding it."""
    return declared if declared is not None else sum(1 for _ in iter_frames(source))


def _count_images(folder: Path) -> int:
    return len(image_files(folder))


def _video_file_item(
    name: str, video: Path, recorded: float | None, labels: Callable[[int], tuple[np.ndarray, np.ndarray | None]]
) -> VideoItem:
    """A video file's item from one look at its header (rate and frame count): the rate the file states, else the
    dataset's published one; a plain video with neither is refused, as predict refuses it, rather than read at a
    rate it may not have. Its subject is its name."""
    info = probe(video)
    fps = info.fps or recorded
    if fps is None:
        raise DatasetError(f"{video}: the frame rate is unknown (the file does not state one)")
    return VideoItem(
        name=name,
        subject=name,
        source=video,
        fps=fps,
        frames=partial(iter_frames, video),
        frame_count=partial(_count_frames, video, info.frames),
        labels=labels,
    )


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{path}: missing {what}")
    return path


# --- UBFC-rPPG: root/subjectN/vid.avi + ground_truth.txt (row 1 = PPG) -----------------------------


def _ubfc_labels(gt: Path, n: int) -> tuple[np.ndarray, None]:
    try:
        rows = [np.array(line.split(), dtype=np.float64) for line in gt.read_text().splitlines() if line.strip()]
    except ValueError as exc:
        raise DatasetError(f"{gt}: not whitespace-separated numbers ({exc})") from None
    if not rows or len(rows[0]) < 2:
        raise DatasetError(f"{gt}: expected rows of PPG samples, HR and timestamps")
    return resample_to(rows[0], n), None


def read_ubfc(root: Path) -> list[VideoItem]:
    dirs = [d for d in root.iterdir() if d.is_dir() and re.fullmatch(r"subject\d+", d.name)]
    if not dirs:
        raise DatasetError(f"{root}: no subject<N> folders (UBFC-rPPG layout: subjectN/vid.avi + ground_truth.txt)")
    items = []
    for d in sorted(dirs, key=lambda p: int(p.name[7:])):
        video = _require(d / "vid.avi", "vid.avi")
        gt = _require(d / "ground_truth.txt", "ground_truth.txt")
        items.append(_video_file_item(d.name, video, RECORDED_FPS["ubfc-rppg"], partial(_ubfc_labels, gt)))
    return items


# --- PURE: root/SS-TT/SS-TT/Image*.png + root/SS-TT/SS-TT.json ------------------------------------


def _pure_labels(js: Path, n: int) -> tuple[np.ndarray, None]:
    try:
        data = json.loads(js.read_text())
        wave = np.array([e["Value"]["waveform"] for e in data["/FullPackage"]], dtype=np.float64)
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(f"{js}: not a PURE label file ({type(exc).__name__}: {exc})") from None
    if len(wave) < 2:
        raise DatasetError(f"{js}: /FullPackage has no waveform samples")
    return resample_to(wave, n), None


def read_pure(root: Path) -> list[VideoItem]:
    dirs = [d for d in root.iterdir() if d.is_dir() and re.fullmatch(r"\d{2}-\d{2}", d.name)]
    if not dirs:
        raise DatasetError(f"{root}: no SS-TT folders (PURE layout: 01-01/01-01/Image*.png + 01-01/01-01.json)")
    items = []
    for d in sorted(dirs):
        frames_dir = _require(d / d.name, "frame folder")
        js = _require(d / f"{d.name}.json", f"{d.name}.json")
        items.append(
            VideoItem(
                name=d.name,
                subject=d.name[:2],
                source=frames_dir,
                fps=RECORDED_FPS["pure"],
                frames=partial(iter_frames, frames_dir),
                frame_count=partial(_count_images, frames_dir),
                labels=partial(_pure_labels, js),
            )
        )
    return items


# --- iBVP: root/pNN_x/pNN_x_rgb/*.bmp + pNN_x_bvp.csv (col 0 BVP, col 3 quality) -------------------


def _ibvp_labels(csv_path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    try:
        table = np.array([[float(r[0]), float(r[3])] for r in rows[1:] if r], dtype=np.float64)
    except (ValueError, IndexError) as exc:
        raise DatasetError(
            f"{csv_path}: expected a header row, then BVP in column 0 and quality in column 3 ({exc})"
        ) from None
    if len(table) < 2:
        raise DatasetError(f"{csv_path}: no BVP samples")
    bvp, quality = resample_to(table[:, 0], n), resample_to(table[:, 1], n)
    return bvp, quality > QUALITY_THRESHOLD


def read_ibvp(root: Path) -> list[VideoItem]:
    dirs = [d for d in root.iterdir() if d.is_dir() and re.fullmatch(r"p\d+_[a-z]", d.name)]
    if not dirs:
        raise DatasetError(f"{root}: no pNN_x folders (iBVP layout: p01_a/p01_a_rgb/*.bmp + p01_a_bvp.csv)")
    items = []
    for d in sorted(dirs):
        rgb = _require(d / f"{d.name}_rgb", f"{d.name}_rgb folder")
        bvp = _require(d / f"{d.name}_bvp.csv", f"{d.name}_bvp.csv")
        items.append(
            VideoItem(
                name=d.name,
                subject=d.name.split("_")[0],
                source=rgb,
                fps=RECORDED_FPS["ibvp"],
                frames=partial(iter_frames, rgb),
                frame_count=partial(_count_images, rgb),
                labels=partial(_ibvp_labels, bvp),
            )
        )
    return items


# --- SCAMPS: root/P000001.mat (v7.3 HDF5): Xsub frames (0-1 floats), d_ppg ------------------------


def _scamps_open(mat: Path) -> Any:
    import h5py

    try:
        f = h5py.File(mat, "r")
    except OSError as exc:
        raise DatasetError(f"{mat}: not a MATLAB v7.3 (HDF5) file ({exc})") from None
    if "Xsub" not in f or "d_ppg" not in f:
        f.close()
        raise DatasetError(f"{mat}: missing 'Xsub' or 'd_ppg'")
    return f


def _scamps_frames(mat: Path) -> Iterator[np.ndarray]:
    with _scamps_open(mat) as f:
        x = f["Xsub"]
        channel_first = x.shape[1] == 3
        for t in range(x.shape[0]):
            frame = np.asarray(x[t], dtype=np.float64)
            frame = frame.transpose(2, 1, 0) if channel_first else frame  # (3, W, H) -> (H, W, 3)
            yield np.clip(frame * 255.0, 0, 255).astype(np.uint8)


def _scamps_count(mat: Path) -> int:
    with _scamps_open(mat) as f:
        return int(f["Xsub"].shape[0])


def _scamps_labels(mat: Path, n: int) -> tuple[np.ndarray, None]:
    with _scamps_open(mat) as f:
        return resample_to(np.asarray(f["d_ppg"], dtype=np.float64).ravel(), n), None


def read_scamps(root: Path) -> list[VideoItem]:
    files = sorted(root.glob("*.mat"))
    if not files:
        raise DatasetError(f"{root}: no .mat files (SCAMPS layout: P000001.mat with Xsub and d_ppg)")
    return [
        VideoItem(
            name=m.stem,
            subject=m.stem,
            source=m,
            fps=RECORDED_FPS["scamps"],
            frames=partial(_scamps_frames, m),
            frame_count=partial(_scamps_count, m),
            labels=partial(_scamps_labels, m),
            face_cropped=True,
        )
        for m in files
    ]


# --- a plain folder of videos, no labels (INT8 calibration on the user's own faces) -----------------


def _no_labels(n: int) -> tuple[np.ndarray, None]:
    return np.zeros(n), None


def read_video_folder(root: Path) -> list[VideoItem]:
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise DatasetError(f"{root}: no video files ({', '.join(VIDEO_SUFFIXES)})")
    return [_video_file_item(f.stem, f, None, _no_labels) for f in files]


READERS: dict[str, Callable[[Path], list[VideoItem]]] = {
    "ubfc-rppg": read_ubfc,
    "pure": read_pure,
    "ibvp": read_ibvp,
    "scamps": read_scamps,
    "videos": read_video_folder,
}
UNLABELLED = frozenset({"videos"})  # formats without ground truth: calibration only, never train/eval/bench --data


def read_dataset(root: Path, dataset: str) -> list[VideoItem]:
    if dataset not in READERS:
        raise DatasetError(f"unknown dataset {dataset!r}; choose from {', '.join(READERS)}")
    if not root.is_dir():
        raise DatasetError(f"{root}: no such dataset folder")
    return READERS[dataset](root)


def split_by_subject(items: list[VideoItem], begin: float, end: float) -> list[VideoItem]:
    """Videos of the subjects in [begin, end) of the sorted subject list (the field's subject-wise split)."""
    subjects = sorted({i.subject for i in items}, key=lambda s: (len(s), s))
    n = len(subjects)
    chosen = set(subjects[int(round(begin * n)) : int(round(end * n))])
    return [i for i in items if i.subject in chosen]
