"""What a BVP says beyond one heart rate: whether to trust it (SQI), HRV from beats, breathing rate.

Nothing here needs labels. Each measure comes with its own quality, and the whole-clip heart rate is
refused (``None``) rather than guessed when too few windows pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.signal

from edge_rppg.contract import CONTRACT
from edge_rppg.gate import WITNESS_AGREE_BPM, Gate
from edge_rppg.signals.filters import HR_BAND_HZ, bvp_filters
from edge_rppg.signals.hr import (
    FINE_GRID_BPM,
    Beats,
    find_beats,
    fine_nfft,
    fundamental_hr,
    next_pow2,
    power_spectrum,
    spectral_peak_hrs,
)
from edge_rppg.signals.metrics import snr_db

# SQI: three label-free measures, each mapped to [0, 1], combined by geometric mean, then scaled by the POS
# witness. Which SQI passes, and how many windows a clip needs, is the model's own gate (edge_rppg.gate).
SNR_DB_RANGE = (-6.0, 6.0)  # SNR at or below the first scores 0, at or above the second scores 1
AGREE_BPM = 6.0  # FFT and beat HR this far apart score exp(-1)
# Light steps are measured (per window, in the JSON) but fail nothing: on the calibration half a light
# switched on changed no window's HR beyond what the SQI already caught, and failing them cost coverage.
LIGHT_SPAN_S = 0.2
FLICKER_BAND_HZ = (4.0, 15.0)
LIGHT_MATCH_HZ = 0.1  # a line of the background's light this close to the pulse's rate is the same line
LIGHT_MIN_S = 4.0  # the background's spectrum needs this much of it

IBI_RANGE_S = (60.0 / 200.0, 60.0 / 35.0)
IBI_MAX_DEVIATION = 0.2  # an IBI more than this share away from the median of its neighbours is an artefact
HRV_MIN_IBIS = 10
HRV_FS = 4.0  # the IBI series is resampled at this rate for its spectrum
HRV_BANDS_HZ = {"lf": (0.04, 0.15), "hf": (0.15, 0.4)}
HRV_LF_MIN_S = 50.0  # two cycles of the lowest LF frequency
HRV_HF_MIN_S = 15.0
RESP_BAND_HZ = (0.1, 0.5)  # 6-30 breaths/min
RESP_MIN_S = 30.0
RESP_FS = 4.0
# A modulation series needs a few breaths' worth of beats: at 6 breaths/min and 48 bpm, 8 beats span one breath.
RESP_MIN_BEATS = 8
# The baseline (RIIV) is the BVP low-passed below the slowest heart rate's fundamental (42 bpm = 0.7 Hz).
BASELINE_CUTOFF_HZ = 0.7
# The breathing peak's share of the fused spectrum counts +-0.03 Hz (1.8 breaths/min): the FFT bins a 30-s
# span smears one breathing rate over.
RESP_PEAK_HALF_WIDTH_HZ = 0.03


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

    @classmethod
    def from_track(
        cls,
        lost: np.ndarray,
        speed: np.ndarray,
        brightness: np.ndarray,
        fs: float,
        background: np.ndarray | None = None,
    ) -> SceneMeasures:
        log_b = np.log(np.maximum(np.asarray(brightness, dtype=np.float64), 1.0))
        span = max(1, int(round(LIGHT_SPAN_S * fs)))
        step = float(np.abs(log_b[span:] - log_b[:-span]).max()) if len(log_b) > span else 0.0
        motion = float(np.percentile(speed, 95)) if len(speed) else 0.0
        light = None if background is None else light_spectrum(background, fs)
        return cls(
            face_lost=bool(np.any(lost)),
            motion=round(motion, 4),
            light_step=round(step, 4),
            flicker=round(_flicker(log_b, fs), 5),
            light=light,
        )

    def light_share(self, hr_bpm: float) -> float:
        """The share of the background light's HR-band power within LIGHT_MATCH_HZ of ``hr_bpm`` (0: unknown)."""
        if self.light is None or not np.isfinite(hr_bpm):
            return 0.0
        bpm, share = self.light
        return float(share[np.abs(bpm - hr_bpm) <= LIGHT_MATCH_HZ * 60.0].sum())

    def reasons(self, gate: Gate, hr_bpm: float) -> list[str]:
        """The measures that fail a segment read at ``hr_bpm`` outright (light steps and flicker are reported,
        not judged: the background's light at the pulse's own rate is)."""
        light = self.light_share(hr_bpm)
        checks = (
            ("face lost", self.face_lost),
            (f"motion {self.motion:.2f} face widths/s", self.motion > gate.motion_max),
            (f"light: the background shows {hr_bpm:.0f} bpm too ({light:.0%})", light > gate.light_share_max),
        )
        return [name for name, failed in checks if failed]


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
        if self.witness_hr_bpm is None or not np.isfinite(self.witness_hr_bpm):
            return None
        return abs(self.hr_bpm - self.witness_hr_bpm) <= WITNESS_AGREE_BPM


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
    quality = Quality(
        sqi=round(sqi, 3),
        hr_bpm=hr,
        snr_db=snr,
        beat_hr_bpm=beat_hr,
        periodicity=scores["not periodic"],
        reasons=reasons,
        scene=scene,
        witness_hr_bpm=witness,
    )
    if sqi < gate.sqi_min:
        worst = min(scores.items(), key=lambda p: p[1])[0]
        if quality.witness_agrees is False and own >= gate.sqi_min:
            worst = f"POS reads {witness:.0f} bpm"
        reasons.append(f"sqi {sqi:.2f} < {gate.sqi_min:g} ({worst})")
    return quality


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
    confidence: float | None = None  # the mean of the passing windows' (None: an uncalibrated gate)


def clip_heart_rate(qualities: list[Quality], gate: Gate) -> ClipHr:
    """Refused when too few windows pass; otherwise the SQI-weighted median of the passing windows' HRs,
    with their spread. A median is well defined when the pulse drifts within the clip (a whole-clip
    spectrum then has several peaks and picks one of them); the HR over time is the per-window list."""
    passed = [q for q in qualities if q.ok]
    need = gate.windows_needed(len(qualities))
    if len(passed) < need:
        reason = f"{len(passed)} of {len(qualities)} windows pass the signal-quality check (need {need})"
        return ClipHr(hr_bpm=None, status="no reliable pulse", reason=reason, windows_passed=len(passed))
    hrs = np.array([q.hr_bpm for q in passed])
    hr = weighted_median(hrs, np.array([max(q.sqi, 1e-3) for q in passed]))
    spread = (round(float(np.percentile(hrs, 10)), 2), round(float(np.percentile(hrs, 90)), 2))
    confidences = [gate.confidence_of(q.sqi) for q in passed]
    confidence = None if None in confidences else round(float(np.mean(confidences)), 3)  # type: ignore[arg-type]
    reason = f"{len(passed)} of {len(qualities)} windows pass"
    return ClipHr(
        hr_bpm=round(hr, 2),
        status="ok",
        reason=reason,
        windows_passed=len(passed),
        spread_bpm=spread,
        confidence=confidence,
    )


# --- HRV --------------------------------------------------------------------------------------------


@dataclass(kw_only=True, frozen=True)
class Hrv:
    mean_ibi_ms: float
    mean_hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50: float
    beats: int
    sd1_ms: float  # Poincaré: spread across the identity line (beat-to-beat variability)
    sd2_ms: float  # Poincaré: spread along it (longer-term variability)
    hf_ms2: float | None  # 0.15-0.4 Hz power of the IBI series; None when the span is too short to resolve it
    lf_ms2: float | None  # 0.04-0.15 Hz power: needs HRV_LF_MIN_S of beats
    lf_hf: float | None


def clean_ibis(beats: Beats) -> np.ndarray:
    """Mask of the IBIs kept: physiological range, and within IBI_MAX_DEVIATION of the median of the
    five around it (an ectopic beat makes one short and one long interval; both go)."""
    ibi = beats.ibis_s
    keep = (ibi >= IBI_RANGE_S[0]) & (ibi <= IBI_RANGE_S[1])
    if ibi.size >= 3:
        padded = np.pad(ibi, 2, mode="edge")
        local = np.median(np.lib.stride_tricks.sliding_window_view(padded, 5), axis=1)
        keep &= np.abs(ibi - local) <= IBI_MAX_DEVIATION * local
    return keep


def hrv_from_beats(beats: Beats) -> Hrv | None:
    """Time-domain HRV from the clean IBIs; successive differences only between adjacent clean IBIs."""
    keep = clean_ibis(beats)
    ibi_ms = beats.ibis_s[keep] * 1e3
    if ibi_ms.size < HRV_MIN_IBIS:
        return None
    pairs = keep[1:] & keep[:-1]
    diffs = np.diff(beats.ibis_s * 1e3)[pairs]
    rmssd = float(np.sqrt(np.mean(diffs**2))) if diffs.size else float("nan")
    sdnn = float(ibi_ms.std(ddof=1))
    sd1 = float(np.std(diffs, ddof=1) / np.sqrt(2)) if diffs.size > 1 else float("nan")
    sd2 = float(np.sqrt(max(2 * sdnn**2 - sd1**2, 0.0))) if np.isfinite(sd1) else float("nan")
    power = _ibi_band_powers(beats.times_s[1:][keep], ibi_ms)
    lf, hf = power.get("lf"), power.get("hf")
    return Hrv(
        mean_ibi_ms=round(float(ibi_ms.mean()), 2),
        mean_hr_bpm=round(float(60e3 / ibi_ms.mean()), 2),
        sdnn_ms=round(sdnn, 2),
        rmssd_ms=round(rmssd, 2),
        pnn50=round(float(np.mean(np.abs(diffs) > 50.0)) if diffs.size else float("nan"), 4),
        beats=int(ibi_ms.size + 1),
        sd1_ms=round(sd1, 2),
        sd2_ms=round(sd2, 2),
        hf_ms2=None if hf is None else round(hf, 1),
        lf_ms2=None if lf is None else round(lf, 1),
        lf_hf=None if lf is None or hf is None or hf == 0 else round(lf / hf, 3),
    )


def _ibi_band_powers(times_s: np.ndarray, ibi_ms: np.ndarray) -> dict[str, float]:
    """LF and HF power (ms²) of the clean IBI series, interpolated at HRV_FS, as the guidelines (and
    neurokit2) define them; a band is left out when the beats span too short a time to resolve it."""
    span = float(times_s[-1] - times_s[0]) if len(times_s) > 1 else 0.0
    if span < HRV_HF_MIN_S:
        return {}
    grid = np.arange(times_s[0], times_s[-1], 1.0 / HRV_FS)
    series = np.interp(grid, times_s, ibi_ms)
    freqs, psd = scipy.signal.periodogram(series - series.mean(), fs=HRV_FS, window="hann", nfft=max(1024, len(grid)))
    df = freqs[1] - freqs[0]
    out = {}
    for name, (lo, hi) in HRV_BANDS_HZ.items():
        if name == "lf" and span < HRV_LF_MIN_S:
            continue
        band = (freqs >= lo) & (freqs < hi)
        out[name] = float(psd[band].sum() * df)
    return out


# --- respiration ------------------------------------------------------------------------------------


@dataclass(kw_only=True, frozen=True)
class Respiration:
    rate_bpm: float | None  # breaths per minute
    quality: float  # [0, 1]: how much of the fused modulation spectrum sits at its peak
    status: str
    modulations: dict[str, float] = field(default_factory=dict)  # each modulation's own rate


def _modulation_spectrum(times: np.ndarray, values: np.ndarray, nfft: int) -> tuple[np.ndarray, np.ndarray]:
    grid = np.arange(times[0], times[-1], 1.0 / RESP_FS)
    series = scipy.signal.detrend(np.interp(grid, times, values))
    freqs, power = scipy.signal.periodogram(series * np.hanning(len(series)), fs=RESP_FS, nfft=nfft)
    band = (freqs >= RESP_BAND_HZ[0]) & (freqs <= RESP_BAND_HZ[1])
    p = power[band]
    return freqs[band], p / p.sum() if p.sum() > 0 else p


def respiration(bvp: np.ndarray, fs: float = CONTRACT.fps, beats: Beats | None = None) -> Respiration:
    """Breathing rate from the BVP's respiratory modulations: baseline (RIIV), amplitude (RIAV) and
    frequency (RIFV, the IBIs), each resampled at 4 Hz, their normalised spectra averaged."""
    x = np.asarray(bvp, dtype=np.float64)
    if len(x) < RESP_MIN_S * fs:
        return Respiration(rate_bpm=None, quality=0.0, status=f"needs at least {RESP_MIN_S:g} s of pulse")
    beats = beats if beats is not None else find_beats(x, fs)
    t = beats.times_s
    if t.size < RESP_MIN_BEATS:
        return Respiration(rate_bpm=None, quality=0.0, status="too few clean beats")
    idx = np.clip(np.round(t * fs).astype(int), 0, len(x) - 1)
    low = scipy.signal.filtfilt(*scipy.signal.butter(2, BASELINE_CUTOFF_HZ / (fs / 2)), x)  # under the beats
    troughs = np.array([x[max(0, i - int(0.5 * fs)) : i + 1].min() for i in idx])  # the foot before each peak
    clean = clean_ibis(beats)
    # One FFT length for all three series (sized by the whole span), so that their spectra can be averaged.
    nfft = max(1024, next_pow2(int((t[-1] - t[0]) * RESP_FS) + 1))
    series = {
        "baseline": (t, low[idx]),
        "amplitude": (t, x[idx] - troughs),
        "frequency": (t[1:][clean], beats.ibis_s[clean]),
    }
    spectra, rates = [], {}
    f = np.zeros(0)
    for name, (times, values) in series.items():
        if times.size < RESP_MIN_BEATS:
            continue
        f, p = _modulation_spectrum(times, values, nfft)
        spectra.append(p)
        rates[name] = round(float(f[np.argmax(p)] * 60.0), 2)
    if not spectra:
        return Respiration(rate_bpm=None, quality=0.0, status="too few clean beats")
    fused = np.mean(spectra, axis=0)
    k = int(np.argmax(fused))
    near = np.abs(f - f[k]) <= RESP_PEAK_HALF_WIDTH_HZ
    quality = float(fused[near].sum() / fused.sum())
    return Respiration(rate_bpm=round(float(f[k] * 60.0), 2), quality=round(quality, 3), status="ok", modulations=rates)
