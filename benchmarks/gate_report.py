"""Each model's quality gate on a half of the realistic corpus: what it answers, how right, how sure, and what
each witness buys; or, with ``--fit``, gates fitted on the calibration half (the model's or the classic methods'),
as ``edge-rppg calibrate`` fits them, from the cached runs.

Reads the runs that ``realistic_eval.py`` cached (no decoding, no inference) and judges them with the product's
own code: ``edge_rppg.calibration.features``, ``score`` and ``decide``, under the gate predict would use.

    python -m benchmarks.gate_report CORPUS --split held-out --results results-x [--weights W] [--methods model,pos]
    python -m benchmarks.gate_report CORPUS --split calibration --results results-x [--weights W] --fit model,pos
    python -m benchmarks.gate_report CORPUS --split calibration --results results-x [--weights W] --fit-answers model

``--fit-answers`` fits the map of a shipped gate's answers' confidence (``Gate.answer_confidence``) on the
calibration half (``calibration.answer_outcomes``: each clip's answer and its answers over spans of 10 and 20 windows,
as a live reading's), and rewrites the gate's file in ``edge_rppg/assets/gates`` with nothing else changed.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import edge_rppg
from benchmarks import realistic_corpus as corpus
from benchmarks import realistic_eval
from edge_rppg.atomic import write_text_atomic
from edge_rppg.calibration import (
    ClipFeatures,
    answer_counts,
    answer_outcomes,
    decide,
    features,
    fit,
    fit_answer_confidence,
    ppg_truth,
    score,
)
from edge_rppg.gate import (
    METHOD_PREFIX,
    UNCALIBRATED,
    UNCALIBRATED_METHOD,
    Gate,
    for_checkpoint,
    for_method,
    shipped_name,
)
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
        reason = realistic_eval.refused_run(path)
        if reason is not None:
            out.append((spec, ClipFeatures.nothing_read(spec.name, spec.pulsed, reason)))
            continue
        run, runs, fps = realistic_eval._load_run(path, [method])
        run = replace(run, results=runs[method])
        truth = ppg_truth(ppg, corpus.PPG_FS) if spec.pulsed else None
        out.append((spec, features(run, fps, spec.name, gate.witness, truth, gate.peak_candidates)))
    return out


def line(label: str, s: dict[str, Any]) -> str:
    mae = "-" if s["mae_bpm"] is None else f"{s['mae_bpm']:.2f} (max {s['max_err_bpm']:.1f})"
    return (
        f"{label:34s} HR for {s['answered']:2d}/{s['pulsed']} pulsed, MAE {mae:16s} pulseless accepted "
        f"{s['pulseless_accepted']}/{s['pulseless']}, window ECE {s['window_ece']}, answer ECE {s['answer_ece']}"
    )


def report(root: Path, split: str, method: str, gate: Gate) -> None:
    pairs = clip_features(root, split, method, gate)
    clips = [c for _, c in pairs]
    print(f"{method}: {gate.label()}")
    print("  " + line("gate as shipped", score(gate, clips)))
    for name, change in ABLATIONS.items():
        if gate.witness or "POS" not in name:
            print("  " + line(name, score(replace(gate, **change), clips)))
    print("  " + line("no flicker witness", score(gate, [replace(c, vetoed=None) for c in clips])))
    flicker = [(s, c) for s, c in pairs if s.light == "flicker"]
    for s, c in flicker:
        d = decide(gate, c)
        print(f"  flicker {s.name} ({'pulsed' if s.pulsed else 'pulseless'}, truth {c.truth_hr:.1f}): {d.hr_bpm}")
    for key in ("fps", "resolution", "codec", "motion", "light", "portrait"):
        groups: dict[str, list[ClipFeatures]] = {}
        for s, c in pairs:
            groups.setdefault(s.conditions()[key], []).append(c)
        print(f"  by {key}:")
        for value, cs in sorted(groups.items()):
            print("    " + line(f"{key}={value}", score(gate, cs)))


def _shipped_target(key: str, out: Path | None) -> Path:
    """Where a fitted gate goes: ``out``, else the package's ``assets/gates`` (what predict finds for ``key``)."""
    return (out or Path(edge_rppg.__file__).parent / "assets" / "gates") / f"{shipped_name(key)}.json"


def _key_and_base(method: str, weights: Path | None) -> tuple[str, Gate]:
    if method != "model":
        return f"{METHOD_PREFIX}{method}", UNCALIBRATED_METHOD
    return file_sha256(resolve(weights)[0]), UNCALIBRATED


def _described(split: str) -> str:
    """The data a gate was fitted on, in words (a gate file's ``fitted_on.data``)."""
    cfg = corpus.SPLITS[split]
    spans = ", ".join(f"{name} {lo:.0%}-{hi:.0%}" for name, lo, hi in cfg.waveforms)
    faces = " / ".join(dict.fromkeys(cfg.faces))
    return f"the realistic corpus's {split} half (benchmarks/realistic_corpus.py: {faces} faces, {spans})"


def fit_gate(root: Path, split: str, method: str, weights: Path | None, out: Path | None) -> None:
    """The gate of ``method`` (or the model of ``weights``) fitted on every clip of ``split`` by calibrate's rule."""
    key, base = _key_and_base(method, weights)
    clips = [c for _, c in clip_features(root, split, method, base)]
    gate = fit(clips, base, _described(split), key)
    target = _shipped_target(key, out)
    write_text_atomic(target, gate.to_json())
    print(line(f"{method} fitted on {split}", gate.fitted_on["scores"]) + f" -> {target}")


def fit_answers(root: Path, method: str, weights: Path | None) -> None:
    """The gate of ``method`` (or the model of ``weights``) with its answers' map fitted on the calibration half."""
    checkpoint = resolve(weights)[0]
    gate = for_checkpoint(checkpoint, file_sha256(checkpoint)) if method == "model" else for_method(method)
    rows = answer_outcomes(gate, [c for _, c in clip_features(root, "calibration", method, gate)])
    fitted = replace(gate, answer_confidence=fit_answer_confidence(rows))
    scores = fitted.fitted_on.get("scores", {}) | answer_counts(rows)
    fitted = replace(fitted, fitted_on=fitted.fitted_on | {"scores": scores})
    target = _shipped_target(gate.model, None)
    write_text_atomic(target, fitted.to_json())
    print(f"{method}: {len(rows)} answers, {scores['answers_right']} right -> {fitted.answer_confidence} ({target})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--split", choices=list(corpus.SPLITS), default="held-out")
    ap.add_argument("--results", default="results")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--methods", default="model")
    ap.add_argument("--fit", default="", help="methods (or model) to fit a gate for on --split")
    ap.add_argument("--out", type=Path, default=None, help="where --fit writes; default: the package's shipped gates")
    ap.add_argument("--fit-answers", default="", help="methods (or model) whose shipped gate gets its answers' map")
    args = ap.parse_args()
    realistic_eval.RESULTS = args.results
    for method in filter(None, args.fit_answers.split(",")):
        assert args.split == "calibration", "the answers' map is fitted on the calibration half only"
        fit_answers(args.corpus, method, args.weights)
    for method in filter(None, args.fit.split(",")):
        assert args.split == "calibration" or args.out is not None, "a shipped gate is fitted on the calibration half"
        fit_gate(args.corpus, args.split, method, args.weights, args.out)
    for method in filter(None, args.methods.split(",")) if not (args.fit or args.fit_answers) else []:
        checkpoint = resolve(args.weights)[0]
        gate = for_checkpoint(checkpoint, file_sha256(checkpoint)) if method == "model" else for_method(method)
        report(args.corpus, args.split, method, gate)


if __name__ == "__main__":
    main()
