"""Signal-quality thresholds, calibrated on one set of synthetic videos and checked on another.

Each set holds videos with and without a pulse (3 of 4 hard: head rotation/scale, light steps, darker
skin, MJPEG). On the calibration set, a grid of (window SQI threshold, share of windows that must pass)
gives clip false-accept (a pulseless clip gets an HR) and false-reject (a pulsed clip is refused) rates.
On the held-out set, the product's constants (``vitals.SQI_MIN``, ``MIN_PASS_FRACTION``) are scored, with
the clip HR error before (FFT of the whole overlap-added trace) and after (spectrum of the passing windows).

    python benchmarks/sqi_calibration.py [--weights W] [--videos 8] [--seconds 20]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.video import write_video
from edge_rppg.filters import bvp_filters
from edge_rppg.hr import fine_fft_hr
from edge_rppg.predict import PredictOptions, predict_video, resolve_runtime
from edge_rppg.vitals import MIN_PASS_FRACTION, MIN_PASSING_WINDOWS, SQI_MIN
from edge_rppg.weights import resolve

CALIBRATION_SEED, HELD_OUT_SEED = 7000, 8000


@dataclass
class Clip:
    pulse: bool
    true_hr: float
    sqi: np.ndarray  # per window; a window with a face-lost / motion / light-step flag counts as 0
    hr_bpm: float | None
    hr_before: float


def _clips(runtime, seed0: int, n: int, seconds: float) -> list[Clip]:  # type: ignore[no-untyped-def]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(n):
            for pulse in (True, False):
                clip = synthetic_clip(seed0 + k, int(seconds * 30), hard=k % 4 != 0, pulse=pulse)
                path = Path(tmp) / f"{k}-{int(pulse)}.avi"
                write_video(path, clip.frames((320, 240)), 30.0, quality=clip.spec.jpeg_quality)
                r = predict_video(path, runtime, PredictOptions())
                flagged = [any(not x.startswith("sqi") for x in w.reasons) for w in r.per_window]
                sqi = np.array([0.0 if f else w.sqi for w, f in zip(r.per_window, flagged, strict=True)])
                out.append(Clip(pulse, float(clip.hr_bpm.mean()), sqi, r.hr_bpm, fine_fft_hr(bvp_filters(r.bvp))))
    return out


def _accepts(c: Clip, threshold: float, fraction: float) -> bool:
    need = max(min(MIN_PASSING_WINDOWS, len(c.sqi)), int(np.ceil(fraction * len(c.sqi))), 1)
    return int((c.sqi >= threshold).sum()) >= need


def _rates(clips: list[Clip], threshold: float, fraction: float) -> tuple[float, float]:
    pulseless = [c for c in clips if not c.pulse]
    pulsed = [c for c in clips if c.pulse]
    return (
        float(np.mean([_accepts(c, threshold, fraction) for c in pulseless])),
        float(np.mean([not _accepts(c, threshold, fraction) for c in pulsed])),
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=None, help="default: the bundled default model")
    ap.add_argument("--videos", type=int, default=8, help="pulsed (and as many pulseless) videos per set")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--held-out-only", action="store_true", help="score the constants on the held-out set only")
    args = ap.parse_args()
    runtime = resolve_runtime(resolve(args.weights)[0], None, None, None)
    if not args.held_out_only:
        _calibrate(runtime, args.videos, args.seconds)
    _held_out(runtime, args.videos, args.seconds)


def _calibrate(runtime, videos: int, seconds: float) -> None:  # type: ignore[no-untyped-def]
    calibration = _clips(runtime, CALIBRATION_SEED, videos, seconds)
    w_fa = {t: np.mean(np.concatenate([c.sqi for c in calibration if not c.pulse]) >= t) for t in (0.5, 0.6, 0.7, 0.8)}
    w_fr = {t: np.mean(np.concatenate([c.sqi for c in calibration if c.pulse]) < t) for t in w_fa}
    print(f"calibration set: {videos} pulsed + {videos} pulseless videos of {seconds:g} s")
    print("window SQI  windows FA / FR     clips FA / FR at 30 % / 50 % / 70 % of windows passing")
    for t in w_fa:
        clips = "   ".join("{:4.0%} / {:4.0%}".format(*_rates(calibration, t, f)) for f in (0.3, 0.5, 0.7))
        print(f"  {t:.1f}        {w_fa[t]:5.1%} / {w_fr[t]:5.1%}     {clips}")


def _held_out(runtime, videos: int, seconds: float) -> None:  # type: ignore[no-untyped-def]
    held_out = _clips(runtime, HELD_OUT_SEED, videos, seconds)
    fa, fr = _rates(held_out, SQI_MIN, MIN_PASS_FRACTION)
    accepted = [c for c in held_out if c.pulse and c.hr_bpm is not None]
    before = np.array([abs(c.hr_before - c.true_hr) for c in held_out if c.pulse])
    after = np.array([abs(c.hr_bpm - c.true_hr) for c in accepted if c.hr_bpm is not None])
    product_fa = np.mean([c.hr_bpm is not None for c in held_out if not c.pulse])
    print(
        f"held-out set (other seeds), SQI_MIN {SQI_MIN:g}, {MIN_PASS_FRACTION:.0%} of windows: clips "
        f"false-accept {product_fa:.0%} "
        f"(grid rule {fa:.0%}), false-reject {fr:.0%}"
    )
    print(
        f"held-out pulsed clips |HR error|: before (FFT of everything) MAE {before.mean():.2f} max "
        f"{before.max():.2f} bpm; "
        f"after (passing windows) MAE {after.mean() if len(after) else float('nan'):.2f} "
        f"max {after.max() if len(after) else float('nan'):.2f} bpm on {len(after)} of {len(before)} clips"
    )


if __name__ == "__main__":
    main()
