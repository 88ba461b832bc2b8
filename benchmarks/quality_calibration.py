"""Calibrate predict's quality gate on the realistic corpus's calibration half, then score it on held-out.

Reads the per-window records that ``realistic_eval.py`` cached (the reassembled BVP of each method, the
scene measures and POS's HR per segment, the contact-PPG truth), recomputes the SQI of every segment for
each candidate rule, and simulates the clip decision (the SQI-weighted median of the passing windows, or
a refusal) without decoding anything again. A rule is a choice of the SNR band's half-width, the window
SQI threshold, the share of windows that must pass, the factors a disagreeing and an agreeing POS witness
apply, and the motion and light-step limits. The chosen rule maximises coverage of pulsed calibration clips subject to
accepting at most MAX_FALSE_ACCEPT of pulseless ones and MAE <= MAX_MAE; it is then scored, unchanged, on
the held-out half. Nothing here is tuned on held-out.

    python benchmarks/quality_calibration.py CORPUS [--method model]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.filters import bvp_filters
from edge_rppg.hr import fundamental_hr
from edge_rppg.vitals import MIN_PASSING_WINDOWS, sqi_scores, weighted_median

sys.path.insert(0, str(Path(__file__).parent))

MAX_FALSE_ACCEPT = 0.05
MAX_MAE = 1.5
SEGMENT = 300


@dataclass(frozen=True)
class Rule:
    half_width_hz: float
    sqi_min: float
    pass_fraction: float
    witness_factor: float
    witness_boost: float
    motion_max: float
    light_max: float


@dataclass
class Segment:
    hr: float
    scores: dict[float, dict[str, float]]  # by SNR half-width
    witness: float | None
    motion: float
    light: float


def segments(bvp: np.ndarray, windows: list[dict], widths: tuple[float, ...]) -> list[Segment]:
    out = []
    for w in windows:
        end = w["start_frame"] + CONTRACT.window
        x = bvp_filters(bvp[max(0, end - SEGMENT) : end])
        hr = fundamental_hr(x)
        scores = {h: sqi_scores(x, hr, CONTRACT.fps, h)[2] for h in widths}
        out.append(Segment(hr, scores, w["witness_hr_bpm"], w["motion"], w["light_step"]))
    return out


def clip_hr(segs: list[Segment], rule: Rule, agree_bpm: float = 5.0) -> float | None:
    hrs, weights = [], []
    for s in segs:
        sqi = float(np.prod(list(s.scores[rule.half_width_hz].values())) ** (1 / 3))
        if s.witness is not None and np.isfinite(s.witness):
            sqi = min(1.0, sqi * (rule.witness_factor if abs(s.hr - s.witness) > agree_bpm else rule.witness_boost))
        if sqi >= rule.sqi_min and s.motion <= rule.motion_max and s.light <= rule.light_max:
            hrs.append(s.hr)
            weights.append(sqi)
    need = max(MIN_PASSING_WINDOWS, int(np.ceil(rule.pass_fraction * len(segs))))
    return weighted_median(np.array(hrs), np.array(weights)) if len(hrs) >= need else None


def load(root: Path, split: str, method: str, widths: tuple[float, ...]) -> list[dict]:
    clips = []
    for f in sorted((root / "results").glob(f"{split}-???.json")):  # not the oracle's NAME.oracle.json
        rec = json.loads(f.read_text())
        m = rec["methods"][method]
        clips.append(
            {
                "name": rec["spec"]["name"],
                "pulsed": rec["spec"]["pulsed"],
                "truth": m["truth_hr_bpm"],
                "segments": segments(np.array(m["bvp"]), m["windows"], widths),
            }
        )
    return clips


def rates(clips: list[dict], rule: Rule) -> tuple[float, float, float]:
    """(coverage of pulsed clips, MAE on them, false-accept rate of pulseless clips)."""
    pulsed = [(clip_hr(c["segments"], rule), c["truth"]) for c in clips if c["pulsed"]]
    errors = [abs(h - t) for h, t in pulsed if h is not None]
    fa = [clip_hr(c["segments"], rule) is not None for c in clips if not c["pulsed"]]
    return len(errors) / max(len(pulsed), 1), float(np.mean(errors)) if errors else float("nan"), float(np.mean(fa))


GRID = {
    "half_width_hz": (0.1, 0.2, 0.3),
    "sqi_min": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
    "pass_fraction": (0.2, 0.3, 0.5),
    "witness_factor": (1.0, 0.7, 0.5),
    "witness_boost": (1.0, 1.3, 1.6),
    "motion_max": (0.5, 1.0, 1e9),
    "light_max": (0.03, 0.06, 1e9),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--method", default="model")
    args = ap.parse_args()
    widths = GRID["half_width_hz"]
    calibration = load(args.corpus, "calibration", args.method, widths)
    held_out = load(args.corpus, "held-out", args.method, widths)
    results = []
    for values in itertools.product(*GRID.values()):
        rule = Rule(*values)
        cov, mae, fa = rates(calibration, rule)
        results.append((rule, cov, mae, fa))
    feasible = [r for r in results if r[3] <= MAX_FALSE_ACCEPT and (r[2] <= MAX_MAE or np.isnan(r[2]))]
    # Most coverage; then the lowest MAE; then the strictest rule (higher threshold, stricter flags).
    feasible.sort(key=lambda r: (-r[1], r[2], -r[0].sqi_min, r[0].motion_max, r[0].light_max))
    print(f"{len(calibration)} calibration clips, {len(held_out)} held-out clips, method {args.method}")
    print("best rules on calibration (coverage of pulsed clips, MAE bpm, pulseless accepted):")
    for rule, cov, mae, fa in feasible[:8]:
        print(f"  {rule}: {cov:4.0%} {mae:5.2f} {fa:4.0%}")
    if feasible and held_out:  # only the chosen rule is looked at on held-out
        chosen = feasible[0][0]
        cov, mae, fa = rates(held_out, chosen)
        print(f"chosen {chosen}")
        print(f"  held-out: HR for {cov:.0%} of pulsed clips, MAE {mae:.2f} bpm, {fa:.0%} pulseless accepted")


if __name__ == "__main__":
    main()
