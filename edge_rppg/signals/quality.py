"""Whether a window's pulse can be trusted, and a clip's heart rate or its refusal: the SQI (SNR, FFT and beat rates
agreeing, periodicity), the scene's witnesses (motion, light, the background's own rate, POS on the same skin), all
under the model's gate."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.gate import WITNESS_AGREE_BPM, Gate
from edge_rppg.signals.filters import HR_BAND_HZ, bvp_filters
from edge_rppg.signals.hr import (
    FINE_GRID_BPM,
    find_beats,
    fine_nfft,
    fundamental_hr,
    power_spectrum,
    spectral_peak_hrs,
)
from edge_rppg.signals.metrics import snr_db

# SQI: three label-free measures, each mapped to [0, 1], combined by geometric mean, then scaled by the POS
# witness. Which SQI passes, and how many windows a clip needs, is the model's own gate (edge_rppg.gate).
NO_PULSE = "no reliable pulse"  # a refused clip's status, and what is shown for what needs its HR
HR_SEGMENT_S = 10.0  # a window's HR is read from the last 10 s of BVP, as rPPG tools report it
HR_SEGMENT_FRAMES = int(HR_SEGMENT_S * CONTRACT.fps)
SNR_DB_RANGE = (-6.0, 6.0)  # SNR at or below the first scores 0, at or above the second scores 1


AGREE_BPM = 6.0  # FFT and beat HR this far apart score exp(-1)


# Light steps are measured (per window, in the JSON) but fail nothing: on the calibration half a light
# switched on changed no window's HR beyond what the SQI already caught, and failing them cost coverage.
LIGHT_SPAN_S = 0.2


FLICKER_BAND_HZ = (4.0, 15.0)


LIGHT_MATCH_HZ = 0.1  # a line of the background's light this close to the pulse's rate is the same line


LIGHT_MIN_S = 4.0  # the background's spectrum needs this much of it


# Mains flicker (twice the grid's 50 or 60 Hz) aliased by the camera's rate, then by the 30-fps track: the line it
# leaves in the inner face's brightness. An inter-frame codec can modulate that line; its modulation at the reading's
# rate (the sidebands at the line +- the rate) is then read as a pulse by every model and POS alike.
MAINS_FLICKER_HZ = (100.0, 120.0)
FOLD_LINE_MIN = 0.001  # relative amplitude of the alias line for it to be judged (no line, nothing to fold)
FOLD_MATCH_HZ = 0.1
# Sideband over line above which the reading is the light's. Blood modulates the reflected flicker by the pulse's
# own depth (under 2 %), so a right reading's sidebands are a few percent of the line. Fixed on the calibration half
# with its 8 H.264-under-flicker videos (``realistic_corpus.py --inter-coded-flicker 8``): right readings at 25-30
# fps 0.003-0.028 but for 3 of 96 windows of one FFV1 clip (0.09-0.97), the folded light's 0.099-3.0. At 60 fps (one
# FFV1 clip) right readings reached 0.65-1.2 and are refused: refusing is the safe side.
FOLD_SIDEBAND_MAX = 0.08


def _flicker(log_brightness: np.ndarray, fs: float) -> float:
    """Amplitude (relative) of the strongest spectral line of the inner face's brightness within
    FLICKER_BAND_HZ: mains flicker aliased by the frame rate. Harmless alone, but beating with a codec's
    frame pattern it lands inside the HR band (H.264 at 30 fps: 10-Hz alias - 7.5-Hz B-frame cycle = 150 bpm),
    where the model and POS both read it as a pulse."""
    x = log_brightness - log_brightness.mean()
    if len(x) < 2 * fs:
        return 0.0
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) * 2 / (0.5 * len(x))
    freqs = np.fft.rfftfreq(len(x), 1 / fs)
    band = (freqs >= FLICKER_BAND_HZ[0]) & (freqs < min(FLICKER_BAND_HZ[1], fs / 2))
    return float(spectrum[band].max()) if band.any() else 0.0


def _fold(freq: float, rate: float) -> float:
    """Where a line at ``freq`` lands when sampled at ``rate``."""
    folded = freq % rate
    return min(folded, rate - folded)


def flicker_aliases(camera_fps: float, fs: float) -> list[float]:
    """Where mains flicker lands in the track: aliased by the camera, then by the track's rate; only the lines above
    the HR band (one at 0 Hz, as 100 Hz at 25 fps, leaves nothing to fold)."""
    lines = {round(_fold(_fold(f, camera_fps), fs), 3) for f in MAINS_FLICKER_HZ}
    return sorted(f for f in lines if f > HR_BAND_HZ[1])


def flicker_line(log_brightness: np.ndarray, fs: float, camera_fps: float) -> tuple[np.ndarray, np.ndarray, float]:
    """(freqs, amplitudes, the alias line's frequency or nan when it is weaker than FOLD_LINE_MIN) of the inner
    face's brightness."""
    x = log_brightness - log_brightness.mean()
    window = np.hanning(len(x))
    nfft = fine_nfft(len(x), fs)
    amps = np.abs(np.fft.rfft(x * window, nfft)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(nfft, 1 / fs)
    best, line = FOLD_LINE_MIN, float("nan")
    for alias in flicker_aliases(camera_fps, fs):
        amp = float(amps[np.abs(freqs - alias) <= FOLD_MATCH_HZ].max())
        if amp >= best:
            best, line = amp, alias
    return freqs, amps, line


def light_spectrum(background: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(bpm, share of the band's power) of the light beside the face, within the HR band; None when the face
    filled the frame or the span is short. No pulse is there: a rate that shows here is the light's."""
    b = np.asarray(background, dtype=np.float64)
    if b.ndim != 2 or len(b) < LIGHT_MIN_S * fs or not np.all(np.isfinite(b)):
        return None
    x = bvp_filters(np.log(np.maximum(b.mean(axis=1), 1.0)), fs)
    freqs, power = power_spectrum(x, fs, fine_nfft(len(x), fs))
    band = (freqs >= HR_BAND_HZ[0]) & (freqs <= HR_BAND_HZ[1])
    total = float(power[band].sum())
    return None if total <= 0 else (freqs[band] * 60.0, power[band] / total)


@dataclass(kw_only=True, frozen=True)
class SceneMeasures:
    """What the camera saw over one HR segment, measured on the face and not on the detector's box.

    ``motion``: the face's fastest movement (95th percentile of its optical-flow speed), in face widths
    per second; ``light_step``: the largest change of the inner face's log-brightness over LIGHT_SPAN_S,
    which a sudden light changes and a slow drift, a pulse or a gliding box do not."""

    face_lost: bool
    motion: float
    light_step: float
    flicker: float = 0.0  # relative amplitude of the strongest brightness line above the HR band
    light: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)  # light_spectrum
    # the brightness spectrum and its flicker alias line (flicker_line), for the folded-flicker check
    fold: tuple[np.ndarray, np.ndarray, float] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_track(
        cls,
        lost: np.ndarray,
        speed: np.ndarray,
        brightness: np.ndarray,
        fs: float,
        background: np.ndarray | None = None,
        camera_fps: float | None = None,
    ) -> SceneMeasures:
        log_b = np.log(np.maximum(np.asarray(brightness, dtype=np.float64), 1.0))
        span = max(1, int(round(LIGHT_SPAN_S * fs)))
        step = float(np.abs(log_b[span:] - log_b[:-span]).max()) if len(log_b) > span else 0.0
        motion = float(np.percentile(speed, 95)) if len(speed) else 0.0
        light = None if background is None else light_spectrum(background, fs)
        fold = (
            flicker_line(log_b, fs, camera_fps) if camera_fps is not None and len(log_b) >= LIGHT_MIN_S * fs else None
        )
        return cls(
            face_lost=bool(np.any(lost)),
            motion=round(motion, 4),
            light_step=round(step, 4),
            flicker=round(_flicker(log_b, fs), 5),
            light=light,
            fold=fold,
        )

    def flicker_sidebands(self, hr_bpm: float) -> float:
        """The brightness at the flicker alias line +- ``hr_bpm``, relative to the line (0: no line, or unknown)."""
        if self.fold is None or not np.isfinite(self.fold[2]) or not np.isfinite(hr_bpm):
            return 0.0
        freqs, amps, line = self.fold
        line_amp = float(amps[np.abs(freqs - line) <= FOLD_MATCH_HZ].max())
        fs = 2 * float(freqs[-1])
        sides = [_fold(line + sign * hr_bpm / 60.0, fs) for sign in (-1, 1)]
        return max(float(amps[np.abs(freqs - f) <= FOLD_MATCH_HZ].max()) for f in sides) / line_amp

    def light_share(self, hr_bpm: float) -> float:
        """The share of the background light's HR-band power within LIGHT_MATCH_HZ of ``hr_bpm`` (0: unknown)."""
        if self.light is None or not np.isfinite(hr_bpm):
            return 0.0
        bpm, share = self.light
        return float(share[np.abs(bpm - hr_bpm) <= LIGHT_MATCH_HZ * 60.0].sum())

    def reasons(self, gate: Gate, hr_bpm: float) -> list[str]:
        """The measures that fail a segment read at ``hr_bpm`` outright (light steps and flicker are reported,
        not judged: the background's light at the pulse's own rate is): the gate's, then the ``vetoes``."""
        light = self.light_share(hr_bpm)
        checks = (
            ("face lost", self.face_lost),
            (f"motion {self.motion:.2f} face widths/s", self.motion > gate.motion_max),
            (f"light: the background shows {hr_bpm:.0f} bpm too ({light:.0%})", light > gate.light_share_max),
        )
        return [name for name, failed in checks if failed] + self.vetoes(hr_bpm)

    def vetoes(self, hr_bpm: float) -> list[str]:
        """The witnesses no gate fits (their bounds are physics, fixed here): a reading at ``hr_bpm`` that the scene
        itself explains. ``edge_rppg.calibration`` judges every candidate rule with them, as predict does."""
        folded = self.flicker_sidebands(hr_bpm)
        return [f"light: flicker modulated at {hr_bpm:.0f} bpm ({folded:.2f})"] if folded > FOLD_SIDEBAND_MAX else []


@dataclass(kw_only=True, frozen=True)
class Quality:
    sqi: float
    hr_bpm: float  # fine FFT HR of the segment (reported only when the segment passes)
    snr_db: float
    beat_hr_bpm: float
    periodicity: float
    reasons: list[str] = field(default_factory=list)
    scene: SceneMeasures | None = None
    witness_hr_bpm: float | None = None  # POS on the same crops: an independent reading of the same segment

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def witness_agrees(self) -> bool | None:
        return witness_agrees(self.hr_bpm, self.witness_hr_bpm)


def witness_agrees(hr_bpm: float, witness_hr_bpm: float | None) -> bool | None:
    """Whether POS on the same crops reads the same rate (None: it read none)."""
    if witness_hr_bpm is None or not np.isfinite(witness_hr_bpm):
        return None
    return abs(hr_bpm - witness_hr_bpm) <= WITNESS_AGREE_BPM


def _periodicity(x: np.ndarray, period_samples: float) -> float:
    """Normalised autocorrelation at the HR period: a pulse repeats, noise does not."""
    lag = int(round(period_samples))
    if lag <= 0 or lag >= len(x) - 1:
        return 0.0
    a, b = x[:-lag] - x[:-lag].mean(), x[lag:] - x[lag:].mean()
    denom = np.sqrt((a**2).sum() * (b**2).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def sqi_scores(
    x: np.ndarray,
    hr: float,
    fs: float,
    snr_half_width_hz: float,
    beat_hr: float | None = None,
) -> tuple[float, float, dict[str, float]]:
    """(SNR dB, beat HR, the three SQI scores in [0, 1]) of a conditioned segment."""
    snr = snr_db(x, hr, fs, fine=True, half_width_hz=snr_half_width_hz)
    beat_hr = find_beats(x, fs).hr_bpm if beat_hr is None else beat_hr
    periodicity = _periodicity(x, 60.0 * fs / hr) if np.isfinite(hr) else 0.0
    scores = {
        "low snr": float(np.clip((snr - SNR_DB_RANGE[0]) / (SNR_DB_RANGE[1] - SNR_DB_RANGE[0]), 0, 1)),
        "fft and beats disagree": float(np.exp(-(((hr - beat_hr) / AGREE_BPM) ** 2))) if np.isfinite(beat_hr) else 0.0,
        "not periodic": float(np.clip(periodicity, 0, 1)),
    }
    return snr, beat_hr, scores


def _sqi(scores: dict[str, float]) -> float:
    return float(np.prod(list(scores.values())) ** (1 / 3))


def _best_candidate(x: np.ndarray, fs: float, beat_hr: float, gate: Gate) -> tuple[float, float, dict[str, float]]:
    """(HR, SNR, scores) of the candidate rate with the highest SQI; the fundamental wins ties.

    A segment whose pulse drifts has two spectral peaks of about the same power: scored at the largest alone,
    a change too small to see (BVP r 0.9997) moved one window's SQI from 0.76 to 0.06; a gate with
    ``peak_candidates`` 2 scores each of the two largest (and the octave check's fundamental) and keeps the best."""
    fundamental = fundamental_hr(x, fs, beat_hr)
    peaks = spectral_peak_hrs(x, fs, gate.peak_candidates) if gate.peak_candidates > 1 else []
    best: tuple[float, float, dict[str, float]] | None = None
    for hr in [fundamental, *(h for h in peaks if np.isfinite(h) and abs(h - fundamental) > FINE_GRID_BPM)]:
        snr, _, scores = sqi_scores(x, hr, fs, gate.snr_half_width_hz, beat_hr=beat_hr)
        if best is None or _sqi(scores) > _sqi(best[2]):
            best = (hr, snr, scores)
    assert best is not None
    return best


def segment_quality(
    bvp: np.ndarray,
    gate: Gate,
    fs: float = CONTRACT.fps,
    flag_reasons: list[str] | None = None,
    scene: SceneMeasures | None = None,
    witness_hr_bpm: float | None = None,
) -> Quality:
    """SQI in [0, 1] of a BVP segment from its spectrum, its beats and its periodicity, judged by ``gate``.

    The scene's failing measures and ``flag_reasons`` fail it outright. A witness HR (POS on the same crops)
    raises or lowers the SQI as the gate says (``Gate.window_sqi``); the SQI stays within [0, 1]."""
    x = bvp_filters(bvp, fs)
    beat_hr = find_beats(x, fs).hr_bpm  # once: the octave check and the SQI both read it
    hr, snr, scores = _best_candidate(x, fs, beat_hr, gate)
    own = _sqi(scores)
    witness = witness_hr_bpm if gate.witness else None
    sqi = gate.window_sqi(own, hr, witness)
    reasons = list(flag_reasons or []) + (scene.reasons(gate, hr) if scene is not None else [])
    if sqi < gate.sqi_min:
        worst = min(scores.items(), key=lambda p: p[1])[0]
        if witness_agrees(hr, witness) is False and own >= gate.sqi_min:
            worst = f"POS reads {witness:.0f} bpm"
        reasons.append(f"sqi {sqi:.2f} < {gate.sqi_min:g} ({worst})")
    return Quality(
        sqi=round(sqi, 3),
        hr_bpm=hr,
        snr_db=snr,
        beat_hr_bpm=beat_hr,
        periodicity=scores["not periodic"],
        reasons=reasons,
        scene=scene,
        witness_hr_bpm=witness,
    )


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights, dtype=np.float64)[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, 0.5 * cum[-1])])


@dataclass(kw_only=True, frozen=True)
class ClipHr:
    hr_bpm: float | None
    status: str  # "ok" | "no reliable pulse"
    reason: str
    windows_passed: int
    spread_bpm: tuple[float, float] | None = None  # 10th and 90th percentile of the passing windows' HR
    confidence: float | None = None  # the gate's, from the passing windows' (None: an uncalibrated gate)


def clip_heart_rate(qualities: list[Quality], gate: Gate) -> ClipHr:
    """Refused when too few windows pass; otherwise the SQI-weighted median of the passing windows' HRs,
    with their spread. A median is well defined when the pulse drifts within the clip (a whole-clip
    spectrum then has several peaks and picks one of them); the HR over time is the per-window list."""
    passed = [q for q in qualities if q.ok]
    need = gate.windows_needed(len(qualities))
    if len(passed) < need:
        reason = f"{len(passed)} of {len(qualities)} windows pass the signal-quality check (need {need})"
        return ClipHr(hr_bpm=None, status=NO_PULSE, reason=reason, windows_passed=len(passed))
    hrs = np.array([q.hr_bpm for q in passed])
    hr = weighted_median(hrs, np.array([max(q.sqi, 1e-3) for q in passed]))
    spread = (round(float(np.percentile(hrs, 10)), 2), round(float(np.percentile(hrs, 90)), 2))
    confidences = [gate.confidence_of(q.sqi) for q in passed]
    confidence = None if None in confidences else gate.confidence_of_answer(confidences)  # type: ignore[arg-type]
    reason = f"{len(passed)} of {len(qualities)} windows pass"
    return ClipHr(
        hr_bpm=round(hr, 2),
        status="ok",
        reason=reason,
        windows_passed=len(passed),
        spread_bpm=spread,
        confidence=confidence,
    )
