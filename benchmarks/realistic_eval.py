"""predict on the realistic corpus: coverage, HR error, false acceptances and HRV against neurokit2.

Each video is decoded, tracked and cropped once; the windows go to the deep model and to the classic
methods alike (the same crops, the product's own post-processing for each), and the truth comes from
the clip's contact PPG: neurokit2's PPG peaks (a peer, not our beat detector) give the HR of every
10-s segment and the clip's SDNN and RMSSD.

    python -m benchmarks.realistic_eval CORPUS --split held-out [--weights W] [--methods model,pos,chrom,green]
    python -m benchmarks.realistic_eval CORPUS --split held-out --score-json DIR   # JSONs of another build
    python -m benchmarks.realistic_eval CORPUS --split calibration --force --classic-roi face-centre

Per-window records are cached in CORPUS/results/ (``--force`` recomputes), so that the calibration of
the gates (benchmarks/gate_report.py) re-read them without decoding anything again.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import realistic_corpus as corpus
from edge_rppg.calibration import expected_calibration_error, ppg_truth
from edge_rppg.contract import CONTRACT
from edge_rppg.data.detectors import DEFAULT_DETECTOR, DETECTORS
from edge_rppg.data.face import CropSettings
from edge_rppg.data.frames import REDUCTIONS
from edge_rppg.data.source import open_source
from edge_rppg.gate import CONFIDENCE_WITHIN_BPM, Gate, for_checkpoint, for_method
from edge_rppg.predict.pipeline import PredictOptions, refusal, run_pipeline
from edge_rppg.predict.video import classic_runtime, gate_of, read_vitals
from edge_rppg.signals.classic import METHODS, ROIS

Runs = list[tuple[int, np.ndarray]]  # each window's BVP by its start frame, as the pipeline gives them

HRV_TOLERANCE = 0.15  # the bar: SDNN and RMSSD within 15 % of neurokit2 on the contact PPG


class Tee:
    """The deep runtime, with every window also run through the classic methods (same crops)."""

    def __init__(self, runtime: Any, methods: list[str], options: PredictOptions) -> None:
        self.runtime, self.name, self.channels = runtime, runtime.name, 3
        self.classic = {m: classic_runtime(m, options) for m in methods}  # as predict --method runs them
        self.outputs: dict[str, list[np.ndarray]] = {m: [] for m in methods}

    def run(self, frames: np.ndarray) -> np.ndarray:
        for m, rt in self.classic.items():
            self.outputs[m].append(rt.run(frames)[0])
        out: np.ndarray = self.runtime.run(frames)
        return out


def truth(ppg: np.ndarray) -> dict[str, Any]:
    import neurokit2 as nk

    fs = corpus.PPG_FS
    peaks = np.asarray(nk.ppg_findpeaks(nk.ppg_clean(ppg, sampling_rate=fs), sampling_rate=fs)["PPG_Peaks"])
    hrv = nk.hrv_time(peaks, sampling_rate=fs)
    return {
        "beats_s": (peaks / fs).tolist(),
        "sdnn_ms": float(hrv["HRV_SDNN"].iloc[0]),
        "rmssd_ms": float(hrv["HRV_RMSSD"].iloc[0]),
    }


def segment_truth_hr(beats_s: np.ndarray, end_s: float, span_s: float = 10.0) -> float:
    """The beat-count HR of the contact PPG over the segment (neurokit2's beats)."""
    inside = beats_s[(beats_s >= end_s - span_s) & (beats_s <= end_s)]
    return float(60.0 * (len(inside) - 1) / (inside[-1] - inside[0])) if len(inside) >= 3 else float("nan")


def segment_truth_fft_hr(ppg: np.ndarray, end_s: float, span_s: float = 10.0) -> float:
    """The contact PPG's HR over the segment by the same spectral estimator as the video's (the field's
    convention: rPPG-Toolbox and the paper process label and prediction alike).

    Not the beat count: with a varying pulse (SDNN 50-120 ms in these recordings) the spectral peak of
    a 10-s span and its mean beat rate differ by up to ~6 bpm, so a perfect BVP judged against the beat
    count would show that difference as error."""
    return ppg_truth(ppg, corpus.PPG_FS, span_s)(end_s)  # the product's own truth, as calibrate reads it


def evaluate_video(
    spec: corpus.VideoSpec, path: Path, ppg: np.ndarray, runtime: Any, methods: list[str], options: PredictOptions
) -> dict[str, Any]:
    tee = Tee(runtime, [m for m in methods if m != "model"], options)
    with open_source(path, options.crop, options.fps) as source:
        run = run_pipeline(source, tee, options)  # type: ignore[arg-type]
    gates = _gates(methods, gate_of(runtime))
    reason = refusal(run, source.name)
    if reason is not None:
        np.savez_compressed(_run_file(path), refused=np.array(reason))
        return _refused(spec, ppg, gates, reason)
    fps = source.fps
    offset = run.frames_without_face / fps  # the model's timeline starts at the first face
    runs = {
        m: run.results if m == "model" else list(zip([s for s, _ in run.results], tee.outputs[m], strict=True))
        for m in methods
    }
    _save_run(path, run, runs, fps)
    return _summarise(spec, path, run, runs, fps, ppg, offset, gates)


def _refused(spec: corpus.VideoSpec, ppg: np.ndarray, gates: dict[str, Gate], reason: str) -> dict[str, Any]:
    """A clip predict refuses outright (no face found, say): no method answers, for that reason."""
    nothing: dict[str, Any] = {
        "hr_bpm": None,
        "hr_reason": reason,
        "truth_hr_bpm": None,
        "hrv": None,
        "hr_confidence": None,
    }
    methods = {m: {**nothing, "gate": g.label(), "windows": [], "speed_fps": None, "bvp": []} for m, g in gates.items()}
    return {"spec": asdict(spec), "conditions": spec.conditions(), "truth": truth(ppg), "methods": methods}


def _gates(methods: list[str], model_gate: Gate) -> dict[str, Gate]:
    """Each method's own gate, as predict finds it."""
    return {m: model_gate if m == "model" else for_method(m) for m in methods}


TRACK_FIELDS = ("lost", "speed", "brightness", "rgb", "background")
RESULTS = "results"  # the cache folder's name inside the corpus (--results: one per model)
ORACLE = "oracle"  # realistic_oracle.py's folder inside the corpus: the oracle reads no model, so one for all


def oracle_file(root: Path, name: str, suffix: str = "json") -> Path:
    """Where realistic_oracle.py keeps a video's verdict (``json``) or its masked RGB trace (``rgb.npy``)."""
    return root / ORACLE / f"{name}.oracle.{suffix}"


def _run_file(path: Path) -> Path:
    return path.parent / RESULTS / f"{path.stem}.run.npz"


def _save_run(path: Path, run: Any, runs: dict[str, Runs], fps: float) -> None:
    """What read_vitals needs, per method: the windows' BVP and the track; --regate re-reads it."""
    arrays = {f"bvp_{m}": np.stack([b for _, b in r]) for m, r in runs.items()}
    starts = np.array([s for s, _ in run.results])
    tr = run.track
    track = {k: np.array(getattr(tr, k)) for k in TRACK_FIELDS}
    counts = np.array([run.frames, run.frames_without_face, run.frames_with_face, fps, run.elapsed])
    payload: dict[str, Any] = {"starts": starts, "counts": counts, **arrays}
    payload |= {f"track_{k}": v for k, v in track.items()}
    np.savez_compressed(_run_file(path), **payload)


def refused_run(path: Path) -> str | None:
    """Why predict refused the video outright, when it did (``_run_file`` then holds only that)."""
    z = np.load(_run_file(path))
    return str(z["refused"]) if "refused" in z else None


def _load_run(path: Path, methods: list[str]) -> tuple[Any, dict[str, Runs], float]:
    from edge_rppg.predict.pipeline import Run, Track

    z = np.load(_run_file(path))
    frames, without, with_face, fps, elapsed = z["counts"]
    fields: dict[str, Any] = {k: list(z[f"track_{k}"]) for k in TRACK_FIELDS}
    track = Track(**fields, camera_fps=float(z["counts"][3]))
    starts = [int(s) for s in z["starts"]]
    runs = {m: list(zip(starts, z[f"bvp_{m}"], strict=True)) for m in methods}
    timing = {"decode": 0.0, "crop": 0.0, "infer": 0.0}
    run = Run(
        results=runs[methods[0]],
        track=track,
        frames=int(frames),
        frames_without_face=int(without),
        face_found=True,
        frames_with_face=int(with_face),
        timing=timing,
        elapsed=float(elapsed),
        error=None,
    )
    return run, runs, float(fps)


def _end_s(time_s: float) -> float:
    """A window's end on the frame grid, as calibrate reads it: ``time_s`` is rounded to the millisecond, and a
    segment's PPG truth can flip between two near-equal spectral peaks on a 1-ms shift (calibration-000: 106.4 at
    8.333 s, 115.5 at 8.3333 s)."""
    return round(time_s * CONTRACT.fps) / CONTRACT.fps


def _summarise(
    spec: Any,
    path: Path,
    run: Any,
    runs: dict[str, Runs],
    fps: float,
    ppg: np.ndarray,
    offset: float,
    gates: dict[str, Gate],
) -> dict[str, Any]:
    """Each method through the product's own post-processing (read_vitals), scored against the truth."""
    t = truth(ppg)
    beats = np.array(t["beats_s"])
    out: dict[str, Any] = {"spec": asdict(spec), "conditions": spec.conditions(), "truth": t, "methods": {}}
    spans = functools.cache(lambda end_s: (segment_truth_fft_hr(ppg, end_s), segment_truth_hr(beats, end_s)))
    for m, results in runs.items():
        r = read_vitals(type(run)(**{**run.__dict__, "results": list(results)}), m, fps, str(path), gates[m])
        windows = [
            asdict(w) | dict(zip(("truth_hr_bpm", "truth_beats_hr_bpm"), spans(_end_s(w.time_s) + offset), strict=True))
            for w in r.per_window
        ]
        seg_truth = [w["truth_hr_bpm"] for w in windows if np.isfinite(w["truth_hr_bpm"])]
        out["methods"][m] = {
            "hr_bpm": r.hr_bpm,
            "hr_reason": r.hr_reason,
            "truth_hr_bpm": float(np.median(seg_truth)) if seg_truth else None,
            "hrv": asdict(r.hrv) if r.hrv else None,
            "hr_confidence": r.hr_confidence,
            "gate": r.quality_gate["label"],
            "windows": windows,
            "speed_fps": r.speed_fps,
            "bvp": np.round(r.bvp, 5).tolist(),  # the reassembled trace
        }
    return out


def regate(root: Path, split: str, methods: list[str], weights: Path | None) -> list[dict[str, Any]]:
    """The cached runs through today's read_vitals and gates: no decoding, no inference."""
    from edge_rppg.paths import file_sha256
    from edge_rppg.weights import resolve

    checkpoint = resolve(weights)[0]
    gates = _gates(methods, for_checkpoint(checkpoint, file_sha256(checkpoint)))
    records = []
    for spec, path, ppg in corpus.load(root, split):
        if not _run_file(path).exists():
            continue
        reason = refused_run(path)
        if reason is not None:
            rec = _refused(spec, ppg, gates, reason)
        else:
            run, runs, fps = _load_run(path, methods)
            rec = _summarise(spec, path, run, runs, fps, ppg, run.frames_without_face / fps, gates)
        (path.parent / RESULTS / f"{spec.name}.json").write_text(json.dumps(rec) + "\n")
        records.append(rec)
    return records


def _records(
    root: Path, split: str, weights: Path | None, methods: list[str], force: bool, options: PredictOptions
) -> list[dict[str, Any]]:
    from edge_rppg.predict.video import resolve_runtime
    from edge_rppg.weights import resolve

    cache = root / RESULTS
    cache.mkdir(exist_ok=True)
    runtime = None
    records = []
    for spec, path, ppg in corpus.load(root, split):
        f = cache / f"{spec.name}.json"
        if f.exists() and not force:
            rec = json.loads(f.read_text())
            if all(m in rec["methods"] for m in methods):
                records.append(rec)
                continue
        if runtime is None:
            runtime = resolve_runtime(resolve(weights)[0], None, "openvino", None)
        rec = evaluate_video(spec, path, ppg, runtime, methods, options)
        f.write_text(json.dumps(rec) + "\n")
        records.append(rec)
        print(f"  {spec.name}: " + ", ".join(f"{m} {rec['methods'][m]['hr_bpm']}" for m in methods), flush=True)
    return records


def _rel(a: float | None, b: float) -> float:
    return float("nan") if a is None or not np.isfinite(b) or b == 0 else abs(a - b) / b


def score(records: list[dict[str, Any]], method: str) -> dict[str, Any]:
    """Coverage and MAE on pulsed videos, acceptance on pulseless ones, HRV within tolerance."""
    pulsed = [r for r in records if r["spec"]["pulsed"]]
    pulseless = [r for r in records if not r["spec"]["pulsed"]]
    given = [r for r in pulsed if r["methods"][method]["hr_bpm"] is not None]
    errors = [abs(r["methods"][method]["hr_bpm"] - r["methods"][method]["truth_hr_bpm"]) for r in given]
    hrv = [r for r in given if r["methods"][method]["hrv"]]
    sdnn = [_rel(r["methods"][method]["hrv"]["sdnn_ms"], r["truth"]["sdnn_ms"]) for r in hrv]
    rmssd = [_rel(r["methods"][method]["hrv"]["rmssd_ms"], r["truth"]["rmssd_ms"]) for r in hrv]
    within = [s <= HRV_TOLERANCE and q <= HRV_TOLERANCE for s, q in zip(sdnn, rmssd, strict=True)]
    return _confidence(records, method) | {
        "pulsed": len(pulsed),
        "coverage": len(given) / max(len(pulsed), 1),
        "mae": float(np.mean(errors)) if errors else float("nan"),
        "max_err": float(np.max(errors)) if errors else float("nan"),
        "false_accept": sum(r["methods"][method]["hr_bpm"] is not None for r in pulseless) / max(len(pulseless), 1),
        "pulseless": len(pulseless),
        "hrv_reported": len(hrv),
        "sdnn_rel_median": float(np.median(sdnn)) if sdnn else float("nan"),
        "rmssd_rel_median": float(np.median(rmssd)) if rmssd else float("nan"),
        "hrv_within": float(np.mean(within)) if within else float("nan"),
    }


def _confidence(records: list[dict[str, Any]], method: str) -> dict[str, Any]:
    """The ECE of the answers' confidence as predict gives it: an answer is right when it is a pulsed clip's HR within
    CONFIDENCE_WITHIN_BPM of the truth (an accepted pulseless clip is a wrong answer)."""
    rows = []
    for r in records:
        m = r["methods"][method]
        if m["hr_bpm"] is not None:
            right = r["spec"]["pulsed"] and abs(m["hr_bpm"] - m["truth_hr_bpm"]) <= CONFIDENCE_WITHIN_BPM
            rows.append((m["hr_confidence"], right))
    if not rows or any(p is None for p, _ in rows):  # none answered, or an uncalibrated gate gives no confidence
        return {"ece": float("nan"), "ece_answers": len(rows)}
    p, y = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    return {"ece": expected_calibration_error(p, y), "ece_answers": len(rows)}


def _line(label: str, s: dict[str, Any]) -> str:
    return (
        f"{label:28s} HR for {s['coverage']:5.0%} of {s['pulsed']:2d} pulsed,"
        f" MAE {s['mae']:5.2f} (max {s['max_err']:5.1f})"
        f" | pulseless accepted {s['false_accept']:4.0%} of {s['pulseless']}"
        f" | HRV on {s['hrv_reported']:2d}: SDNN err {s['sdnn_rel_median']:4.0%}, RMSSD {s['rmssd_rel_median']:4.0%},"
        f" within 15 % {s['hrv_within']:4.0%} | ECE {s['ece']:.2f} on {s['ece_answers']}"
    )


def _measurable(root: Path, records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Pulsed records split by the oracle of realistic_oracle.py (empty when it has not been run)."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        f = oracle_file(root, r["spec"]["name"])
        if r["spec"]["pulsed"] and f.exists():
            groups["measurable" if json.loads(f.read_text())["measurable"] else "not measurable"].append(r)
    return groups


def report(records: list[dict[str, Any]], methods: list[str], root: Path | None = None) -> None:
    for m in methods:
        print(_line(m, score(records, m)))
    if root is not None:
        pulseless = [r for r in records if not r["spec"]["pulsed"]]
        for label, rs in sorted(_measurable(root, records).items()):
            print(f"pulsed videos the oracle calls {label} (+ the pulseless ones):")
            print("  " + "\n  ".join(_line(m, score(rs + pulseless, m)) for m in methods))
    # From each spec, not the cached record's own copy: cached records predate labels added since ("portrait").
    conditions = [corpus.VideoSpec(**r["spec"]).conditions() for r in records]
    for key in ("fps", "resolution", "codec", "motion", "light", "face", "skin", "portrait"):
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r, c in zip(records, conditions, strict=True):
            groups[c[key]].append(r)
        print(f"by {key}:")
        for value, rs in sorted(groups.items()):
            print("  " + "\n  ".join(_line(f"{m} {key}={value}", score(rs, m)) for m in methods[:2]))


def score_json(root: Path, split: str, folder: Path) -> None:
    """Score predict --json outputs of another build (e.g. the last release) against the same truth."""
    records = []
    for spec, _, ppg in corpus.load(root, split):
        f = folder / f"{spec.name}.json"
        if not f.exists():
            continue
        r = json.loads(f.read_text())
        t = truth(ppg)
        seg = [segment_truth_fft_hr(ppg, w["time_s"]) for w in r["per_window"]]
        seg = [x for x in seg if np.isfinite(x)]
        m = {"hr_bpm": r["hr_bpm"], "truth_hr_bpm": float(np.median(seg)), "hrv": r["hrv"]}
        records.append({"spec": asdict(spec), "conditions": spec.conditions(), "truth": t, "methods": {"json": m}})
    print(_line(f"{folder.name}", score(records, "json")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--split", choices=list(corpus.SPLITS), default="held-out")
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--methods", default="model," + ",".join(m for m in METHODS if m != "ica"))
    ap.add_argument("--force", action="store_true")
    ap.add_argument(
        "--classic-roi", choices=list(ROIS), default="whole-crop", help="where classic methods and the witness average"
    )
    ap.add_argument(
        "--max-reduction",
        type=int,
        choices=REDUCTIONS,
        default=CropSettings().max_reduction,
        help="track and crop on frames reduced by up to this (1: full frames, as before frames were decoded reduced)",
    )
    ap.add_argument(
        "--detector", choices=list(DETECTORS), default=DEFAULT_DETECTOR, help="the face detector to crop by"
    )
    ap.add_argument("--score-json", type=Path, default=None)
    ap.add_argument("--regate", action="store_true", help="re-read the cached runs with today's quality gates")
    ap.add_argument("--results", default="results", help="the cache folder inside the corpus (one per model)")
    args = ap.parse_args()
    globals()["RESULTS"] = args.results
    if args.score_json:
        score_json(args.corpus, args.split, args.score_json)
        return
    methods = args.methods.split(",")
    if args.regate:
        report(regate(args.corpus, args.split, methods, args.weights), methods, args.corpus)
        return
    options = PredictOptions(
        classic_roi=ROIS[args.classic_roi], crop=CropSettings(max_reduction=args.max_reduction, detector=args.detector)
    )
    report(_records(args.corpus, args.split, args.weights, methods, args.force, options), methods, args.corpus)


if __name__ == "__main__":
    main()
