"""What a BVP says beyond one heart rate: whether to trust it (SQI), HRV from beats, breathing rate.

Nothing here needs labels. Each measure comes with its own quality, and the whole-clip heart rate is
refused (``None``) rather than guessed when too few windows pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.signal

from edge_rppg.contract import CONTRACT
from edge_rppg.hr import Beats, find_beats, fine_fft_hr, next_pow2
from edge_rppg.signal import preprocess, snr_db

# SQI: three label-free measures, each mapped to [0, 1], combined by geometric mean. The threshold was
# calibrated on synthetic videos with and without a pulse (benchmarks/sqi_calibration.py; rates in README).
SNR_DB_RANGE = (-6.0, 6.0)  # SNR at or below the first scores 0, at or above the second scores 1
AGREE_BPM = 6.0  # FFT and beat HR this far apart score exp(-1)
SQI_MIN = 0.5
MOTION_OF_BOX = 0.08  # box centre moving more than this share of the box width in one frame
LIGHT_STEP = 0.04  # crop brightness changing by more than this fraction in one frame
# Calibrated: 0.3 let 25 % of pulseless clips through, 0.5 12 %, pulsed clips all kept (benchmarks/sqi_calibration.py)
MIN_PASS_FRACTION = 0.5
MIN_PASSING_WINDOWS = 3

IBI_RANGE_S = (60.0 / 200.0, 60.0 / 35.0)
IBI_MAX_DEVIATION = 0.2  # an IBI more than this share away from the median of its neighbours is an artefact
HRV_MIN_IBIS = 10
RESP_BAND_HZ = (0.1, 0.5)  # 6-30 breaths/min
RESP_MIN_S = 30.0
RESP_FS = 4.0


@dataclass(frozen=True)
class FrameFlags:
    """Per model frame (30 fps): the face was lost, the box jumped, the light stepped."""

    face_lost: np.ndarray
    motion: np.ndarray
    light_step: np.ndarray

    @classmethod
    def from_track(
        cls, lost: list[bool], centres: list[tuple[float, float, float]], brightness: list[float]
    ) -> FrameFlags:
        """``centres``: (x, y, box width) per frame; ``brightness``: mean crop intensity per frame."""
        c = np.asarray(centres, dtype=np.float64).reshape(-1, 3)
        move = np.zeros(len(c))
        if len(c) > 1:
            move[1:] = np.hypot(*np.diff(c[:, :2], axis=0).T) / np.maximum(c[1:, 2], 1.0)
        b = np.asarray(brightness, dtype=np.float64)
        step = np.zeros(len(b))
        if len(b) > 1:
            step[1:] = np.abs(np.diff(b)) / np.maximum(b[:-1], 1.0)
        return cls(np.asarray(lost, dtype=bool), move > MOTION_OF_BOX, step > LIGHT_STEP)

    def reasons(self, start: int, stop: int) -> list[str]:
        out = []
        for name, flags in (("face lost", self.face_lost), ("motion", self.motion), ("light step", self.light_step)):
            if flags[start:stop].any():
                out.append(name)
        return out


@dataclass(frozen=True)
class Quality:
    sqi: float
    hr_bpm: float  # fine FFT HR of the segment (reported only when the segment passes)
    snr_db: float
    beat_hr_bpm: float
    periodicity: float
    reasons: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reasons


def _periodicity(x: np.ndarray, period_samples: float) -> float:
    """Normalised autocorrelation at the HR period: a pulse repeats, noise does not."""
    lag = int(round(period_samples))
    if lag <= 0 or lag >= len(x) - 1:
        return 0.0
    a, b = x[:-lag] - x[:-lag].mean(), x[lag:] - x[lag:].mean()
    denom = np.sqrt((a**2).sum() * (b**2).sum())
    return float((a * b).sum() / denom) if denom > 0 else 0.0


def segment_quality(bvp: np.ndarray, fs: float = CONTRACT.fps, flag_reasons: list[str] | None = None) -> Quality:
    """SQI in [0, 1] of a BVP segment from its spectrum, its beats and its periodicity; flags fail it outright."""
    x = preprocess(bvp, fs)
    hr = fine_fft_hr(x, fs)
    snr = snr_db(x, hr, fs, fine=True)
    beat_hr = find_beats(x, fs).hr_bpm
    periodicity = _periodicity(x, 60.0 * fs / hr) if np.isfinite(hr) else 0.0
    s_snr = float(np.clip((snr - SNR_DB_RANGE[0]) / (SNR_DB_RANGE[1] - SNR_DB_RANGE[0]), 0, 1))
    s_agree = float(np.exp(-(((hr - beat_hr) / AGREE_BPM) ** 2))) if np.isfinite(beat_hr) else 0.0
    s_periodic = float(np.clip(periodicity, 0, 1))
    sqi = float((s_snr * s_agree * s_periodic) ** (1 / 3))
    reasons = list(flag_reasons or [])
    if sqi < SQI_MIN:
        worst = min(
            (("low snr", s_snr), ("fft and beats disagree", s_agree), ("not periodic", s_periodic)), key=lambda p: p[1]
        )
        reasons.append(f"sqi {sqi:.2f} < {SQI_MIN:g} ({worst[0]})")
    return Quality(round(sqi, 3), hr, snr, beat_hr, periodicity, reasons)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    v, w = np.asarray(values)[order], np.asarray(weights, dtype=np.float64)[order]
    cum = np.cumsum(w)
    return float(v[np.searchsorted(cum, 0.5 * cum[-1])])


@dataclass(frozen=True)
class ClipHr:
    hr_bpm: float | None
    status: str  # "ok" | "no reliable pulse"
    reason: str
    windows_passed: int


def clip_heart_rate(qualities: list[Quality], good_bvp: np.ndarray | None = None, fs: float = CONTRACT.fps) -> ClipHr:
    """Refused when too few windows pass; otherwise the fine-FFT HR of ``good_bvp`` (the clip's BVP with the
    failed windows blanked: the spectrum of the good windows only, as long as they are) or, without it, a
    quality-weighted median of the passing windows' HRs."""
    passed = [q for q in qualities if q.ok]
    need = max(min(MIN_PASSING_WINDOWS, len(qualities)), int(np.ceil(MIN_PASS_FRACTION * len(qualities))), 1)
    if len(passed) < need:
        reason = f"{len(passed)} of {len(qualities)} windows pass the signal-quality check (need {need})"
        return ClipHr(None, "no reliable pulse", reason, len(passed))
    hr = fine_fft_hr(preprocess(good_bvp, fs), fs) if good_bvp is not None else float("nan")
    if not np.isfinite(hr):
        hr = weighted_median(np.array([q.hr_bpm for q in passed]), np.array([q.sqi for q in passed]))
    return ClipHr(round(hr, 2), "ok", f"{len(passed)} of {len(qualities)} windows pass", len(passed))


# --- HRV --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hrv:
    mean_ibi_ms: float
    mean_hr_bpm: float
    sdnn_ms: float
    rmssd_ms: float
    pnn50: float
    beats: int


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
    return Hrv(
        mean_ibi_ms=round(float(ibi_ms.mean()), 2),
        mean_hr_bpm=round(float(60e3 / ibi_ms.mean()), 2),
        sdnn_ms=round(float(ibi_ms.std(ddof=1)), 2),
        rmssd_ms=round(rmssd, 2),
        pnn50=round(float(np.mean(np.abs(diffs) > 50.0)) if diffs.size else float("nan"), 4),
        beats=int(ibi_ms.size + 1),
    )


# --- respiration ------------------------------------------------------------------------------------


@dataclass(frozen=True)
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
        return Respiration(None, 0.0, f"needs at least {RESP_MIN_S:g} s of pulse")
    beats = beats if beats is not None else find_beats(x, fs)
    t = beats.times_s
    if t.size < 8:
        return Respiration(None, 0.0, "too few clean beats")
    idx = np.clip(np.round(t * fs).astype(int), 0, len(x) - 1)
    low = scipy.signal.filtfilt(*scipy.signal.butter(2, 0.7 / (fs / 2)), x)  # the baseline under the beats
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
        if times.size < 8:
            continue
        f, p = _modulation_spectrum(times, values, nfft)
        spectra.append(p)
        rates[name] = round(float(f[np.argmax(p)] * 60.0), 2)
    if not spectra:
        return Respiration(None, 0.0, "too few clean beats")
    fused = np.mean(spectra, axis=0)
    k = int(np.argmax(fused))
    near = np.abs(f - f[k]) <= 0.03
    quality = float(fused[near].sum() / fused.sum())
    return Respiration(round(float(f[k] * 60.0), 2), round(quality, 3), "ok", rates)
