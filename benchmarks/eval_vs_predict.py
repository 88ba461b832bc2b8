"""eval and predict read the same moving-face video through the one face-crop path: do they agree?

Writes hard synthetic subjects (head motion, rotation/scale) in the UBFC-rPPG layout, then reads each video
with `eval`'s path (chunks, whole-video FFT HR) and with `predict` (windows, SQI-weighted median), both
on the same checkpoint, and prints the HRs side by side with the truth.

    python -m benchmarks.eval_vs_predict [--weights W] [--subjects 4] [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from edge_rppg.data.synthetic import write_synthetic_ubfc
from edge_rppg.evaluate import evaluate_dataset
from edge_rppg.predict.video import predict_video, resolve_runtime
from edge_rppg.signals.hr import HrMethod

TRAINED = Path(__file__).resolve().parents[1] / "tests" / "assets" / "synthetic_fsam.pt"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=TRAINED)
    ap.add_argument("--subjects", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    root = write_synthetic_ubfc(Path(tempfile.mkdtemp()) / "moving", args.subjects, args.seconds, seed=53, hard=True)
    report = evaluate_dataset(root, "ubfc-rppg", args.weights, hr_method=HrMethod.FFT_FINE, log=lambda m: None)
    runtime = resolve_runtime(args.weights, None, "torch", None)
    print(f"{'video':10s} {'true':>7s} {'eval':>7s} {'predict':>8s}")
    diffs = []
    for v in report.videos:
        p = predict_video(root / v.name / "vid.avi", runtime)
        truth = float(np.loadtxt(root / v.name / "ground_truth.txt")[1].mean())
        shown = "refused" if p.hr_bpm is None else f"{p.hr_bpm:.2f}"
        print(f"{v.name:10s} {truth:7.2f} {v.hr_pred:7.2f} {shown:>8s}")
        if p.hr_bpm is not None:
            diffs.append(abs(p.hr_bpm - v.hr_pred))
    if diffs:
        print(
            f"|eval - predict|: median {np.median(diffs):.2f} bpm, max {np.max(diffs):.2f} bpm over {len(diffs)} videos"
        )


if __name__ == "__main__":
    main()
