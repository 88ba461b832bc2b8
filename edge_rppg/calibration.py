"""Fit one model's quality gate (``edge_rppg.gate``) on labelled clips, and score a gate on clips it never saw.

Each clip is run once through predict's own pipeline; every HR segment is then read under each SNR band width,
with its scene and POS's reading, so that every candidate rule is judged without decoding again. The rule kept
gives an HR for the most pulsed clips while accepting at most MAX_FALSE_ACCEPT of the pulseless ones, with an
answer MAE within MAX_MAE_BPM and no answer further than MAX_ERR_BPM from the truth; its confidence is the
share of passing segments that read within CONFIDENCE_WITHIN_BPM, by SQI, made monotone, and an answer's is the
share of answers within it, by their segments' mean confidence.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import edge_rppg
from edge_rppg.contract import CONTRACT
from edge_rppg.data.labelled import LabelledClip
from edge_rppg.data.source import open_source
from edge_rppg.gate import CONFIDENCE_WITHIN_BPM, UNCALIBRATED, WITNESS_AGREE_BPM, Gate
from edge_rppg.predict.pipeline import PredictOptions, Run, refusal, run_pipeline
from edge_rppg.predict.video import reassemble, segment_at
from edge_rppg.runtimes import Runtime
from edge_rppg.signals.filters import bvp_filters
from edge_rppg.signals.hr import fundamental_hr
from edge_rppg.signals.quality import HR_SEGMENT_S, segment_quality, weighted_median

MAX_FALSE_ACCEPT = 0.05  # share of pulseless clips a gate may give an HR (0 of fewer than 20)
MAX_MAE_BPM = 1.5
MAX_ERR_BPM = 5.0
MIN_TRUTH_SPAN_S = 4.0  # a segment of contact PPG shorter than this has no spectral truth
CONFIDENCE_MIN_BIN = 12  # passing segments per confidence bin, at least
ANSWER_CONFIDENCE_MIN_BIN = 12  # answers per bin of the answers' map, at least
# An answer is read over a whole clip, or over the last windows of a live stream (some 10 s): the answers' map is
# fitted on each clip's answer and on its answers over every span of these many windows (half a span apart).
ANSWER_SPANS = (10, 20)
GRID: dict[str, tuple[float, ...]] = {
    "snr_half_width_hz": (0.1, 0.2, 0.3),
    "sqi_min": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "pass_fraction": (0.2, 0.3, 0.5, 0.7),
    "witness_disagree_factor": (1.0, 0.7, 0.5, 0.3),
    "witness_agree_factor": (1.0, 1.3, 1.6),
    "motion_max": (0.5, 1.0, 1e9),
    "light_share_max": (0.3, 0.5, 1.01),
}
REFUSE_ALL = 1.01  # an SQI threshold above the SQI's maximum: the gate of a model no rule could trust


@dataclass(kw_only=True, frozen=True)
class ClipFeatures:
    """One clip's segments as every candidate rule reads them (rows of ``hr`` and ``sqi``: GRID's widths)."""

    name: str
    pulsed: bool
    hr: np.ndarray  # [widths, segments] the segment's HR under each SNR band width
    sqi: np.ndarray  # [widths, segments] its SQI before the witness
    light: np.ndarray  # [widths, segments] the background light's share at the segment's HR
    witness: np.ndarray  # [segments] POS's HR (nan: none)
    motion: np.ndarray
    lost: np.ndarray
    truth: np.ndarray  # [segments] the contact PPG's HR over the same span (nan: unknown, or no pulse)
    vetoed: np.ndarray | None = None  # [widths, segments] a fixed witness refuses the HR (SceneMeasures.vetoes)
    refused: str | None = None  # why predict reads nothing at all from the clip (no segments then)

    @classmethod
    def nothing_read(cls, name: str, pulsed: bool, reason: str) -> ClipFeatures:
        """A clip predict reads nothing from (no face found, say): every rule refuses it, and a pulsed one counts
        against coverage as predict's refusal would."""
        rows, none = np.zeros((len(GRID["snr_half_width_hz"]), 0)), np.zeros(0)
        lost = np.zeros(0, dtype=bool)
        return cls(
            name=name,
            pulsed=pulsed,
            hr=rows,
            sqi=rows,
            light=rows,
            vetoed=rows.astype(bool),
            witness=none,
            motion=none,
            lost=lost,
            truth=none,
            refused=reason,
        )

    def part(self, start: int, stop: int) -> ClipFeatures:
        """The clip's segments ``start:stop`` alone (an answer over part of it: a live reading's last windows)."""
        cut = slice(start, stop)
        return replace(
            self,
            hr=self.hr[:, cut],
            sqi=self.sqi[:, cut],
            light=self.light[:, cut],
            vetoed=None if self.vetoed is None else self.vetoed[:, cut],
            witness=self.witness[cut],
            motion=self.motion[cut],
            lost=self.lost[cut],
            truth=self.truth[cut],
        )

    @property
    def truth_hr(self) -> float:
        known = self.truth[np.isfinite(self.truth)]
        return float(np.median(known)) if known.size else float("nan")


def ppg_truth(ppg: np.ndarray, ppg_fs: float, span_s: float = HR_SEGMENT_S) -> Callable[[float], float]:
    """The contact PPG's HR over the HR segment ending at a time (s): the same spectral estimator as the video's,
    on the PPG resampled to the model's rate (the field's convention: label and prediction processed alike)."""

    def at(end_s: float) -> float:
        start = max(0.0, end_s - span_s)
        if end_s - start < MIN_TRUTH_SPAN_S or end_s > len(ppg) / ppg_fs:
            return float("nan")
        t = start + np.arange(int((end_s - start) * CONTRACT.fps)) / CONTRACT.fps
        x = np.interp(t, np.arange(len(ppg)) / ppg_fs, ppg)
        return fundamental_hr(bvp_filters(x, CONTRACT.fps), CONTRACT.fps)

    return at


def features(
    run: Run, fps: float, name: str, witness: bool, truth: Callable[[float], float] | None, peak_candidates: int = 2
) -> ClipFeatures:
    """Every segment of ``run`` under each of GRID's SNR band widths (``truth`` None: a pulseless clip)."""
    results = sorted(run.results, key=lambda r: r[0])
    bvp = reassemble(results)
    widths = GRID["snr_half_width_hz"]
    probe = replace(UNCALIBRATED, sqi_min=0.0, witness=False, motion_max=np.inf, peak_candidates=peak_candidates)
    hr, sqi, light, vetoed, wit, motion, lost, truths = [], [], [], [], [], [], [], []
    offset_s = run.frames_without_face / fps  # the model's timeline starts at the first face
    for start, _ in results:
        seg = segment_at(bvp, start, start, run.track, witness)
        qs = [segment_quality(seg.bvp, replace(probe, snr_half_width_hz=w)) for w in widths]
        hr.append([q.hr_bpm for q in qs])
        sqi.append([q.sqi for q in qs])
        light.append([seg.scene.light_share(q.hr_bpm) for q in qs])
        vetoed.append([bool(seg.scene.vetoes(q.hr_bpm)) for q in qs])
        wit.append(np.nan if seg.witness_hr_bpm is None else seg.witness_hr_bpm)
        motion.append(seg.scene.motion)
        lost.append(seg.scene.face_lost)
        end_s = (start + CONTRACT.window) / CONTRACT.fps + offset_s
        truths.append(truth(end_s) if truth is not None else np.nan)
    return ClipFeatures(
        name=name,
        pulsed=truth is not None,
        hr=np.array(hr).T,
        sqi=np.array(sqi).T,
        light=np.array(light).T,
        vetoed=np.array(vetoed).T,
        witness=np.array(wit),
        motion=np.array(motion),
        lost=np.array(lost, dtype=bool),
        truth=np.array(truths),
    )


@dataclass(kw_only=True, frozen=True)
class Decision:
    hr_bpm: float | None  # the clip's answer, None when refused
    passed: np.ndarray  # [segments] which segments pass
    sqi: np.ndarray  # [segments] after the witness
    hr: np.ndarray  # [segments]


def decide(gate: Gate, clip: ClipFeatures) -> Decision:
    """What ``gate`` does with ``clip``: as predict's read_vitals does (tests/test_calibration.py holds them equal)."""
    k = GRID["snr_half_width_hz"].index(gate.snr_half_width_hz)
    hr, sqi, light = clip.hr[k], clip.sqi[k], clip.light[k]
    if gate.witness:
        seen = np.isfinite(clip.witness)
        agree = np.abs(hr - np.where(seen, clip.witness, 0.0)) <= WITNESS_AGREE_BPM
        factor = np.where(agree, gate.witness_agree_factor, gate.witness_disagree_factor)
        sqi = np.where(seen, np.minimum(1.0, sqi * factor), sqi)
    passed = (sqi >= gate.sqi_min) & ~clip.lost & (clip.motion <= gate.motion_max) & (light <= gate.light_share_max)
    if clip.vetoed is not None:
        passed &= ~clip.vetoed[k]
    if passed.sum() < gate.windows_needed(len(passed)):
        return Decision(hr_bpm=None, passed=passed, sqi=sqi, hr=hr)
    return Decision(hr_bpm=weighted_median(hr[passed], np.maximum(sqi[passed], 1e-3)), passed=passed, sqi=sqi, hr=hr)


def score(gate: Gate, clips: list[ClipFeatures]) -> dict[str, Any]:
    """Coverage, MAE and largest error of the pulsed clips' answers, pulseless clips accepted, confidence's ECE."""
    decisions = [(c, decide(gate, c)) for c in clips]
    pulsed = [(c, d) for c, d in decisions if c.pulsed]
    errors = [abs(d.hr_bpm - c.truth_hr) for c, d in pulsed if d.hr_bpm is not None]
    pulseless = [d.hr_bpm is not None for c, d in decisions if not c.pulsed]
    p, y = _window_outcomes(gate, decisions)
    answers = answer_outcomes(gate, clips, spans=())
    return {
        "pulsed": len(pulsed),
        "answered": len(errors),
        "coverage": round(len(errors) / max(len(pulsed), 1), 4),
        "mae_bpm": round(float(np.mean(errors)), 3) if errors else None,
        "max_err_bpm": round(float(np.max(errors)), 3) if errors else None,
        "pulseless": len(pulseless),
        "pulseless_accepted": int(sum(pulseless)),
        "window_ece": None if p is None else round(expected_calibration_error(p, y), 4),
        "answer_ece": _answer_ece(gate, answers),
    }


Answer = tuple[float, bool, str]  # the mean confidence of its passing segments, whether it is right, its clip


def answer_outcomes(gate: Gate, clips: list[ClipFeatures], spans: tuple[int, ...] = ANSWER_SPANS) -> list[Answer]:
    """Every answer ``gate`` gives over each clip and over each span of ``spans`` windows in it (half a span apart):
    a pulseless clip's answer is wrong, a pulsed one's is right within CONFIDENCE_WITHIN_BPM of the span's truth."""
    if not gate.confidence:
        return []
    out = []
    for clip in clips:
        n = len(clip.motion)
        parts = [(0, n)] + [(a, a + w) for w in spans if w < n for a in range(0, n - w + 1, max(1, w // 2))]
        for a, b in parts:
            part = clip.part(a, b)
            d = decide(gate, part)
            if d.hr_bpm is None:
                continue
            mean = float(np.mean([gate.confidence_of(float(q)) or 0.0 for q in d.sqi[d.passed]]))
            out.append((mean, bool(part.pulsed and abs(d.hr_bpm - part.truth_hr) <= CONFIDENCE_WITHIN_BPM), clip.name))
    return out


def _answer_ece(gate: Gate, answers: list[Answer]) -> float | None:
    """The ECE of the answers' confidence as the gate gives it (its answers' map over the segments' mean)."""
    if not answers:
        return None
    p = np.array([gate.confidence_of_answer([mean]) for mean, _, _ in answers], dtype=np.float64)
    return round(expected_calibration_error(p, np.array([right for _, right, _ in answers], dtype=np.float64)), 4)


def _window_outcomes(gate: Gate, decisions: list[tuple[ClipFeatures, Decision]]) -> tuple[np.ndarray | None, Any]:
    """(confidence, right) of every passing segment whose truth is known (a pulseless clip's are all wrong)."""
    if not gate.confidence:
        return None, None
    conf, right = [], []
    for clip, d in decisions:
        for i in np.flatnonzero(d.passed):
            if clip.pulsed and not np.isfinite(clip.truth[i]):
                continue
            right.append(clip.pulsed and abs(d.hr[i] - clip.truth[i]) <= CONFIDENCE_WITHIN_BPM)
            conf.append(gate.confidence_of(float(d.sqi[i])))
    if not conf or None in conf:
        return None, None
    return np.array(conf, dtype=np.float64), np.array(right, dtype=np.float64)


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Sum over equal-width confidence bins of |mean confidence - share right|, weighted by the bin's share."""
    edges = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[edges == b].mean() - y[edges == b].mean()) * np.mean(edges == b) for b in set(edges)))


def _feasible(s: dict[str, Any]) -> bool:
    if s["pulseless_accepted"] > int(MAX_FALSE_ACCEPT * s["pulseless"]):
        return False
    return bool(s["answered"] == 0 or (s["mae_bpm"] <= MAX_MAE_BPM and s["max_err_bpm"] <= MAX_ERR_BPM))


def _rules(base: Gate) -> list[Gate]:
    names = list(GRID) if base.witness else [n for n in GRID if not n.startswith("witness")]
    return [
        replace(base, **dict[str, Any](zip(names, values, strict=True)))
        for values in itertools.product(*(GRID[n] for n in names))
    ]


def choose_rule(clips: list[ClipFeatures], base: Gate) -> tuple[Gate, dict[str, Any]]:
    """The feasible rule with the most coverage, then the lowest MAE, then the strictest; or one that refuses."""
    scored = [(rule, score(rule, clips)) for rule in _rules(base)]
    feasible = [(r, s) for r, s in scored if _feasible(s)]
    if not feasible:
        refuse = replace(base, sqi_min=REFUSE_ALL)
        return refuse, score(refuse, clips) | {"note": "no rule met the bounds: every answer is refused"}
    feasible.sort(
        key=lambda rs: (
            -rs[1]["coverage"],
            rs[1]["mae_bpm"] or 0.0,
            -rs[0].sqi_min,
            rs[0].motion_max,
            rs[0].light_share_max,
        )
    )
    return feasible[0]


def fit_confidence(gate: Gate, clips: list[ClipFeatures]) -> tuple[tuple[float, float], ...]:
    """Knots (SQI, share right) of a monotone fit over the passing segments, CONFIDENCE_MIN_BIN or more a bin."""
    decisions = [(c, decide(gate, c)) for c in clips]
    marked = replace(gate, confidence=((0.0, 0.0), (1.0, 1.0)))  # any map: only the SQIs are wanted here
    p, y = _window_outcomes(marked, decisions)
    if p is None or len(p) < CONFIDENCE_MIN_BIN:
        return ((0.0, 0.0), (1.0, 0.0))  # nothing passes: nothing is ever sure
    order = np.argsort(p)
    chunks = np.array_split(order, max(1, len(p) // CONFIDENCE_MIN_BIN))
    x = [float(p[c].mean()) for c in chunks]
    share = _monotone([float(y[c].mean()) for c in chunks], [len(c) for c in chunks])
    return tuple((round(a, 4), round(b, 4)) for a, b in zip(x, share, strict=True))


def fit_answer_confidence(answers: list[Answer]) -> tuple[tuple[float, float], ...]:
    """Knots (mean segment confidence, share right) over the answers, ANSWER_CONFIDENCE_MIN_BIN or more a bin,
    made monotone. Each run of bins with one share then counts as (right + 1) / (n + 2) with n the clips it holds
    (Laplace's rule of succession; a clip's overlapping spans are not independent answers): with a dozen clips, all
    right, an answer is not certain. No answers: nothing is ever sure."""
    if not answers:
        return ((0.0, 0.0), (1.0, 0.0))
    p = np.array([a for a, _, _ in answers])
    y = np.array([r for _, r, _ in answers], dtype=np.float64)
    chunks = np.array_split(np.argsort(p), max(1, len(p) // ANSWER_CONFIDENCE_MIN_BIN))
    x = [float(p[c].mean()) for c in chunks]
    counts = [len(c) for c in chunks]
    clips = [{answers[i][2] for i in c} for c in chunks]
    share = _monotone(_shrunk(_monotone([float(y[c].mean()) for c in chunks], counts), clips), counts)
    return tuple((round(a, 4), round(b, 4)) for a, b in zip(x, share, strict=True))


def _shrunk(shares: list[float], clips: list[set[str]]) -> list[float]:
    """Each run of equal shares as (right + 1) / (n + 2), n the distinct clips of the run's bins."""
    out: list[float] = []
    i = 0
    for _, run in itertools.groupby(shares):
        k = len(list(run))
        n = len(set().union(*clips[i : i + k]))
        out += [(shares[i] * n + 1) / (n + 2)] * k
        i += k
    return out


def _monotone(values: list[float], weights: list[int]) -> list[float]:
    """Pool adjacent violators: the closest non-decreasing sequence (weighted least squares)."""
    blocks = [[v, w, 1] for v, w in zip(values, weights, strict=True)]
    i = 0
    while i < len(blocks) - 1:
        if blocks[i][0] > blocks[i + 1][0]:
            (v1, w1, n1), (v2, w2, n2) = blocks[i], blocks[i + 1]
            blocks[i : i + 2] = [[(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2]]
            i = max(i - 1, 0)
        else:
            i += 1
    return [b[0] for b in blocks for _ in range(int(b[2]))]


def answer_counts(answers: list[Answer]) -> dict[str, int]:
    """How many answers an answers' map was fitted on, and how many of them were right (a gate's ``fitted_on``)."""
    return {"answers": len(answers), "answers_right": sum(right for _, right, _ in answers)}


def fit(clips: list[ClipFeatures], base: Gate, data: str, model: str) -> Gate:
    """The gate for ``model`` fitted on ``clips`` (``base``: witness and peak candidates, the model's kind)."""
    rule, chosen = choose_rule(clips, base)
    gate = replace(rule, confidence=fit_confidence(rule, clips), model=model)
    answers = answer_outcomes(gate, clips)
    gate = replace(gate, answer_confidence=fit_answer_confidence(answers))
    fitted = score(gate, clips) | answer_counts(answers) | ({"note": chosen["note"]} if "note" in chosen else {})
    bounds = {"max_false_accept": MAX_FALSE_ACCEPT, "max_mae_bpm": MAX_MAE_BPM, "max_err_bpm": MAX_ERR_BPM}
    about = {"data": data, "clips": len(clips), "edge_rppg": edge_rppg.__version__, "bounds": bounds}
    if any(c.refused for c in clips):
        about["nothing_read"] = {c.name: c.refused for c in clips if c.refused}
    return replace(gate, fitted_on=about | {"scores": fitted})


def clip_features(clip: LabelledClip, runtime: Runtime, base: Gate) -> ClipFeatures:
    """Run one labelled clip through predict's pipeline and read its segments for every rule."""
    options = PredictOptions()
    with open_source(clip.video, options.crop) as source:
        run = run_pipeline(source, runtime, options)
    reason = refusal(run, source.name)
    if reason is not None:
        return ClipFeatures.nothing_read(clip.name, clip.pulsed, reason)
    fps = source.fps
    truth = ppg_truth(clip.ppg, clip.ppg_fs) if clip.ppg is not None and clip.ppg_fs else None
    return features(run, fps, clip.name, base.witness, truth, base.peak_candidates)


def calibrate(
    clips: list[LabelledClip],
    runtime: Runtime,
    base: Gate,
    data: str,
    model: str,
    progress: Callable[[LabelledClip, int, ClipFeatures], None] | None = None,
) -> Gate:
    """``runtime``'s gate fitted on ``clips`` (``base``: UNCALIBRATED or UNCALIBRATED_METHOD, the model's kind)."""
    found = []
    for k, clip in enumerate(clips):
        found.append(clip_features(clip, runtime, base))
        if progress is not None:
            progress(clip, k + 1, found[-1])
    gate = fit(found, base, data, model)
    return replace(gate, fitted_on=gate.fitted_on | {"ran_on": f"{runtime.name} {runtime.precision}"})
