"""Face detectors on the synthetic subjects (easy and hard: rotation, light steps, darker skin, MJPEG), or on the
realistic corpus's videos (every one shows a face): share of frames where no face is found, and milliseconds per
detection on this CPU.

    python -m benchmarks.face_detectors [--subjects 40] [--frames 12]
    python -m benchmarks.face_detectors --corpus /tmp/corpus [--frames 10]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from edge_rppg.data.detectors import DETECTORS
from edge_rppg.data.synthetic import SKIN_TONES, synthetic_clip


def corpus_misses(root: Path, frames: int) -> None:
    """Per detector and per corpus half: frames with no face found (all have one), ms per detection."""
    from edge_rppg.data.video import iter_frames

    detectors = {name: make() for name, make in DETECTORS.items()}
    for split in ("calibration", "held-out"):
        videos = sorted(p for p in root.glob(f"{split}-*") if p.suffix in (".avi", ".mp4"))
        missed, seconds, total = dict.fromkeys(detectors, 0), dict.fromkeys(detectors, 0.0), 0
        for video in videos:
            for k, frame in enumerate(iter_frames(video)):
                if k % 30 or k >= 30 * frames:
                    continue
                total += 1
                for name, det in detectors.items():
                    t = time.perf_counter()
                    missed[name] += not det.detect(frame)
                    seconds[name] += time.perf_counter() - t
        for name in detectors:
            print(
                f"{split:11s} {name:10s} missed {missed[name]:3d} of {total} frames ({missed[name] / total:5.1%}); "
                f"{1e3 * seconds[name] / total:.1f} ms per detection"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--corpus", type=Path, default=None)
    args = ap.parse_args()
    if args.corpus is not None:
        corpus_misses(args.corpus, args.frames)
        return
    detectors = {name: make() for name, make in DETECTORS.items()}
    misses = {name: {"all": 0, "dark": 0} for name in detectors}
    seconds = dict.fromkeys(detectors, 0.0)
    total = dark_total = 0
    dark_limit = float(np.median(SKIN_TONES.sum(axis=1)))
    for k in range(args.subjects):
        hard = k % 2 == 1
        clip = synthetic_clip(1000 + k, 300, hard=hard)
        dark = sum(clip.spec.skin_rgb) < dark_limit
        frames = list(clip.frames((640, 480)))[:: 300 // args.frames]
        for frame in frames:
            total += 1
            dark_total += dark
            for name, det in detectors.items():
                t = time.perf_counter()
                found = bool(det.detect(frame))
                seconds[name] += time.perf_counter() - t
                misses[name]["all"] += not found
                misses[name]["dark"] += dark and not found
    print(f"{total} frames (640x480) of {args.subjects} subjects, {dark_total} of darker skin")
    for name in detectors:
        print(
            f"{name:10s} missed {misses[name]['all'] / total:6.1%} of all frames, "
            f"{misses[name]['dark'] / max(dark_total, 1):6.1%} "
            f"of darker-skin frames; {1e3 * seconds[name] / total:.1f} ms per detection"
        )


if __name__ == "__main__":
    main()
