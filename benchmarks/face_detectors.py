"""Face detectors on the synthetic subjects (easy and hard: rotation, light steps, darker skin, MJPEG):
share of frames where no face is found, and milliseconds per detection on this CPU.

    python benchmarks/face_detectors.py [--subjects 40] [--frames 12]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from edge_rppg.data.face import DETECTORS
from edge_rppg.data.synthetic import SKIN_TONES, synthetic_clip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--frames", type=int, default=12)
    args = ap.parse_args()
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
