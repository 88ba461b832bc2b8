"""What the best spatial-averaging method could read from each corpus video: the measurability yardstick.

For every video the renderer's own skin mask is moved with the head exactly as it was rendered, the decoded
frames are averaged under it (perfect skin segmentation, perfect tracking), and POS and CHROM are run on
that trace (and GREEN). Per 10-s segment (1-s hop, as predict reports) each one's HR is compared with the contact
PPG's (the same spectral estimator on both, as the paper does) and its SNR is measured at the true HR;
the best of the three is the oracle. A video is *measurable* when the oracle's HR
(the fine FFT with the octave check predict uses) is within ``ORACLE_TOLERANCE_BPM`` on at least
``ORACLE_MIN_SHARE`` of its segments: on the others even this oracle cannot find the pulse, so a refusal
there is the right answer, not a miss.

The rule is fixed here, a priori, from the oracle alone; no predict output is read, and no threshold of
the product is tuned on it. Results go to CORPUS/oracle/NAME.oracle.json (the masked RGB trace beside it,
so that a change of rule re-scores without decoding).

    python -m benchmarks.realistic_oracle CORPUS [--split held-out] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks import realistic_corpus as corpus
from benchmarks import realistic_eval
from edge_rppg.contract import CONTRACT
from edge_rppg.signals.classic import chrom, green, pos
from edge_rppg.signals.filters import bvp_filters
from edge_rppg.signals.hr import fundamental_hr
from edge_rppg.signals.metrics import snr_db

ORACLE_TOLERANCE_BPM = 3.0
ORACLE_MIN_SHARE = 0.8
SEGMENT_S = 10.0
ORACLE_METHODS = {"green": green, "pos": pos, "chrom": chrom}  # the best of them, per video


def oracle_rgb(spec: corpus.VideoSpec, path: Path) -> np.ndarray:
    """[T, 3] mean RGB of the decoded frames under the moving skin mask."""
    scene = corpus.build_scene(spec)
    traj = corpus.scene_trajectories(spec, int(round(spec.seconds * spec.fps)))
    # Only the region the moving mask can reach is read: the still mask's box, grown by the head's reach.
    ys, xs = np.nonzero(scene.skin > 1e-3)
    grow = int(0.15 * scene.face_px) + 4
    x0, y0 = max(int(xs.min()) - grow, 0), max(int(ys.min()) - grow, 0)
    x1, y1 = min(int(xs.max()) + grow, spec.width), min(int(ys.max()) + grow, spec.height)
    cap = cv2.VideoCapture(str(path))
    out = []
    i = 0
    while True:
        ok, bgr = cap.read()
        if not ok or i >= len(traj["light"]):
            break
        m = corpus.head_pose(scene, traj, i)
        m[:, 2] -= (x0, y0)  # the same map, into the region's coordinates
        mask = cv2.warpAffine(scene.skin, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
        roi = bgr[y0:y1, x0:x1].astype(np.float32)
        out.append((np.tensordot(mask, roi, axes=([0, 1], [0, 1])) / float(mask.sum()))[::-1].tolist())
        i += 1
    cap.release()
    return np.asarray(out)


def _segments(bvp: np.ndarray, ppg: np.ndarray, fps: float) -> tuple[float, float]:
    """Share of 10-s segments whose HR is within tolerance of the contact PPG's, and their median SNR."""
    seg = int(round(SEGMENT_S * fps))
    rows = []
    for end in range(seg, len(bvp) + 1, int(round(fps))):
        true_hr = realistic_eval.segment_truth_fft_hr(ppg, end / fps, SEGMENT_S)
        x = bvp_filters(bvp[end - seg : end], fps)  # what predict does to every segment
        rows.append((fundamental_hr(x, fps), true_hr, snr_db(x, true_hr, fps)))
    hr, true, snr = (np.array(c) for c in zip(*rows, strict=True))
    return float(np.mean(np.abs(hr - true) <= ORACLE_TOLERANCE_BPM)), float(np.median(snr))


def oracle(spec: corpus.VideoSpec, path: Path, ppg: np.ndarray) -> dict[str, Any]:
    trace = realistic_eval.oracle_file(path.parent, spec.name, "rgb.npy")  # decoding is the slow part: kept
    if not trace.exists():
        trace.parent.mkdir(exist_ok=True)
        np.save(trace, oracle_rgb(spec, path))
    native = np.load(trace)
    # At the rate predict reads every HR at, as it resamples every video (filters count in samples).
    fs = CONTRACT.fps
    t = np.arange(int(len(native) / spec.fps * fs)) / fs
    rgb = np.stack([np.interp(t, np.arange(len(native)) / spec.fps, native[:, c]) for c in range(3)], axis=1)
    per_method = {name: _segments(ORACLE_METHODS[name](rgb, fs), ppg, fs) for name in ORACLE_METHODS}
    best = max(per_method, key=lambda name: per_method[name][0])
    share, snr = per_method[best]
    return {
        "name": spec.name,
        "pulsed": spec.pulsed,
        "method": best,
        "share_within": share,
        "snr_db_median": snr,
        "measurable": bool(spec.pulsed and share >= ORACLE_MIN_SHARE),
    }


def _one(item: tuple[corpus.VideoSpec, Path, np.ndarray]) -> dict[str, Any]:
    spec, path, ppg = item
    f = realistic_eval.oracle_file(path.parent, spec.name)
    rec = oracle(spec, path, ppg)
    f.write_text(json.dumps(rec) + "\n")
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--split", choices=[*corpus.SPLITS, "both"], default="both")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    items = corpus.load(args.corpus, None if args.split == "both" else args.split)
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for rec in pool.map(_one, items):
            print(
                f"{rec['name']:16s} pulsed {rec['pulsed']!s:5s} oracle HR within {ORACLE_TOLERANCE_BPM:g} bpm on "
                f"{rec['share_within']:4.0%} of segments, SNR {rec['snr_db_median']:5.1f} dB"
                f" -> {'measurable' if rec['measurable'] else 'not measurable'}",
                flush=True,
            )


if __name__ == "__main__":
    main()
