"""Labelled clips for calibrating a quality gate: pulsed videos with their contact PPG, and pulseless ones.

One folder; per clip ``NAME.<video>``, ``NAME.ppg.npy`` (the contact PPG on the video's time axis, from its first
frame) and ``NAME.json`` with at least ``{"pulsed": true, "ppg_fs": 240}``. A pulseless clip (a photograph, a
mask, a face whose skin does not pulse) states ``"pulsed": false`` and needs no PPG. ``benchmarks/realistic_corpus.py``
writes this layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_rppg.data.video import VIDEO_SUFFIXES
from edge_rppg.errors import DatasetError


@dataclass(kw_only=True, frozen=True)
class LabelledClip:
    name: str
    video: Path
    pulsed: bool
    ppg: np.ndarray | None  # the contact PPG; None for a pulseless clip
    ppg_fs: float | None


def _clip(video: Path) -> LabelledClip:
    meta_path = video.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text())
        pulsed = meta["pulsed"]
        if not isinstance(pulsed, bool):
            raise ValueError('"pulsed" must be true or false')
    except FileNotFoundError:
        raise DatasetError(f'{meta_path}: missing; each labelled clip needs NAME.json with "pulsed"') from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{meta_path}: not a clip label ({exc})") from None
    if not pulsed:
        return LabelledClip(name=video.stem, video=video, pulsed=False, ppg=None, ppg_fs=None)
    ppg_path = video.with_name(video.stem + ".ppg.npy")
    try:
        ppg = np.load(ppg_path, allow_pickle=False).astype(np.float64).ravel()
        fs = float(meta["ppg_fs"])
    except FileNotFoundError:
        raise DatasetError(f"{ppg_path}: missing; a pulsed clip needs its contact PPG") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{ppg_path}: cannot read the contact PPG and its rate ({exc})") from None
    if not (np.isfinite(fs) and fs > 0) or len(ppg) < 2 or not np.all(np.isfinite(ppg)):
        raise DatasetError(f"{ppg_path}: the PPG must be finite numbers at a positive ppg_fs")
    return LabelledClip(name=video.stem, video=video, pulsed=True, ppg=ppg, ppg_fs=fs)


def read_labelled(root: Path) -> list[LabelledClip]:
    """The labelled clips in ``root``, by name; refused unless both pulsed and pulseless ones are there (a gate
    fitted without pulseless clips cannot bound the answers it gives to a face without a pulse)."""
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder of labelled clips")
    videos = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    clips = [_clip(v) for v in videos]
    pulsed = sum(c.pulsed for c in clips)
    if pulsed == 0 or pulsed == len(clips):
        raise DatasetError(f"{root}: {pulsed} pulsed and {len(clips) - pulsed} pulseless clips; calibration needs both")
    return clips
