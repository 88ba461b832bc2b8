"""Each model's quality gate on a half of the realistic corpus: what it answers, how right, how sure, and what
each witness buys; or, with ``--fit``, the classic methods' gates fitted on the calibration half.

Reads the runs that ``realistic_eval.py`` cached (no decoding, no inference) and judges them with the product's
own code: ``edge_rppg.calibration.features``, ``score`` and ``decide``, under the gate predict would use.

    python -m benchmarks.gate_report CORPUS --split held-out --results results-x [--weights W] [--methods model,pos]
    python -m benchmarks.gate_report CORPUS --split calibration --results results-x --fit pos,chrom,green --out DIR
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import realistic_corpus as corpus
from benchmarks import realistic_eval
from edge_rppg.calibration import (
    ClipFeatures,
    decide,
    expected_calibration_error,
    features,
    fit,
    ppg_truth,
    score,
)
from edge_rppg.gate import CONFIDENCE_WITHIN_BPM, UNCALIBRATED_METHOD, Gate, for_checkpoint, for_method
from edge_rppg.paths import file_sha256
from edge_rppg.weights import resolve

ABLATIONS: dict[str, dict[str, Any]] = {
    "no background witness": {"light_share_max": 1.01},
    "no POS witness": {"witness_disagree_factor": 1.0, "witness_agree_factor": 1.0},
    "no motion limit": {"motion_max": 1e9},
}


def clip_features(root: Path, split: str, method: str, gate: Gate) -> list[tuple[Any, ClipFeatures]]:
    out = []
    for spec, path, ppg in corpus.load(root, split):
        run, runs, fps = realistic_eval._load_run(path, [method])
        run = replace(run, results=runs[method])
        truth = ppg_truth(ppg, corpus.PPG_FS) if spec.pulsed else None
        out.append((spec, features(run, fps, spec.name, gate.witness, truth, gate.peak_candidates)))
    return out


def clip_ece(gate: Gate, clips: list[ClipFeatures]) -> float | None:
    """ECE of the clip answers: a clip's confidence is its passing segments' mean (as predict gives it)."""
    p, y = [], []
    for c in clips:
        d = decide(gate, c)
        if d.hr_bpm is None:
            continue
        conf = [gate.confidence_of(float(s)) for s in d.sqi[d.passed]]
        if None in conf:
            return None
        p.append(float(np.mean(conf)))  # type: ignore[arg-type]
        y.append(c.pulsed and abs(d.hr_bpm - c.truth_hr) <= CONFIDENCE_WITHIN_BPM)
    return round(expected_calibration_error(np.array(p), np.array(y, dtype=float)), 4) if p else None


def line(label: str, s: dict[str, Any]) -> str:
    mae = "-" if s["mae_bpm"] is None else f"{s['mae_bpm']:.2f} (max {s['max_err_bpm']:.1f})"
    return (
        f"{label:34s} HR for {s['answered']:2d}/{s['pulsed']} pulsed, MAE {mae:16s} pulseless accepted "
        f"{s['pulseless_accepted']}/{s['pulseless']}, window ECE {s['window_ece']}, clip ECE {s.get('clip_ece')}"
    )


def report(root: Path, split: str, method: str, gate: Gate) -> None:
    pairs = clip_features(root, split, method, gate)
    clips = [c for _, c in pairs]
    print(f"{method}: {gate.label()}")
    print("  " + line("gate as shipped", score(gate, clips) | {"clip_ece": clip_ece(gate, clips)}))
    for name, change in ABLATIONS.items():
        if gate.witness or "POS" not in name:
            print("  " + line(name, score(replace(gate, **change), clips)))
    flicker = [(s, c) for s, c in pairs if s.light == "flicker"]
    for s, c in flicker:
        d = decide(gate, c)
        print(f"  flicker {s.name} ({'pulsed' if s.pulsed else 'pulseless'}, truth {c.truth_hr:.1f}): {d.hr_bpm}")
    for key in ("fps", "resolution", "codec", "motion", "light"):
        groups: dict[str, list[ClipFeatures]] = {}
        for s, c in pairs:
            groups.setdefault(s.conditions()[key], []).append(c)
        print(f"  by {key}:")
        for value, cs in sorted(groups.items()):
            print("    " + line(f"{key}={value}", score(gate, cs)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--split", choices=list(corpus.SPLITS), default="held-out")
    ap.add_argument("--results", default="results")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--methods", default="model")
    ap.add_argument("--fit", default="", help="classic methods to fit a gate for (on --split), written to --out")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    realistic_eval.RESULTS = args.results
    for method in filter(None, args.fit.split(",")):
        clips = [c for _, c in clip_features(args.corpus, args.split, method, UNCALIBRATED_METHOD)]
        gate = fit(clips, UNCALIBRATED_METHOD, f"the realistic corpus's {args.split} half", f"method:{method}")
        assert args.out is not None
        (args.out / f"{method}.json").write_text(gate.to_json())
        print(line(f"{method} fitted on {args.split}", gate.fitted_on["scores"]))
    for method in filter(None, args.methods.split(",")) if not args.fit else []:
        checkpoint = resolve(args.weights)[0]
        gate = for_checkpoint(checkpoint, file_sha256(checkpoint)) if method == "model" else for_method(method)
        report(args.corpus, args.split, method, gate)


if __name__ == "__main__":
    main()
