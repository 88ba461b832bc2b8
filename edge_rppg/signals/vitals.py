"""What a BVP says beyond its heart rate: HRV from clean beats, and the breathing rate from the pulse's
respiratory modulations; each with its own quality, none needing labels. Whether the heart rate itself is trusted
is quality.py's."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.signal

from edge_rppg.contract import CONTRACT
from edge_rppg.signals.hr import (
    Beats,
    find_beats,
    next_pow2,
)

IBI_RANGE_S = (60.0 / 200.0, 60.0 / 35.0)
IBI_MAX_DEVIATION = 0.2  # an IBI more than this share away from the median of its neighbours is an artefact
HRV_MIN_IBIS = 10
HRV_FS = 4.0  # the IBI series is resampled at this rate for its spectrum
HRV_BANDS_HZ = {"lf": (0.04, 0.15), "hf": (0.15, 0.4)}
HRV_LF_MIN_S = 50.0  # two cycles of the lowest LF frequency
HRV_HF_MIN_S = 15.0
# HRV is reported only where its beats' timing noise cannot move SDNN or RMSSD by more than this share: a noise of
# sigma per beat adds 2 sigma^2 to SDNN^2 and 6 sigma^2 to RMSSD^2 (each successive difference spans three beats).
HRV_MAX_NOISE_ERROR = 0.15
HRV_NOISE_SHARE = 1.0 - 1.0 / (1.0 + HRV_MAX_NOISE_ERROR) ** 2  # of the measured square that noise may be
# ... and where at least this share of the IBIs is clean: a missed or doubled beat is no timing noise but an error
HRV_MIN_CLEAN = 0.9
# The difference of the IBI series that bounds the timing noise. On beats with 0-35 ms of noise and a +-6 bpm
# respiratory swing (tests/test_vitals.py), order 2 refused every clip, 4 gave HRV on half of them and none off by
# over 15 %, and 5 let wrong ones through: a higher order is closer to the noise alone but noisier itself.
HRV_NOISE_ORDER = 4
HRV_MIN_NOISE_TERMS = 10  # runs of consecutive clean IBIs one order's bound needs
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
    five around it (an ectopic beat makes one short and one long interval; both go). The series is mirrored at its
    ends, not repeated: an end IBI judged against copies of itself always passed, a missed last beat with it."""
    ibi = beats.ibis_s
    keep = (ibi >= IBI_RANGE_S[0]) & (ibi <= IBI_RANGE_S[1])
    if ibi.size >= 3:
        padded = np.pad(ibi, 2, mode="reflect")
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


def timing_noise_ms(beats: Beats, keep: np.ndarray) -> float | None:
    """An upper bound on the beats' timing noise (ms per beat), from the IBIs alone. Independent beat-time noise of
    sigma gives the n-th difference of the IBIs a variance of C(2n+2, n+1) sigma^2, which outgrows a slow rhythm's
    (breathing, at under half the beat rate) as n grows; the true variability only adds to it. Order
    HRV_NOISE_ORDER, over runs of n+1 consecutive clean IBIs; None with fewer than HRV_MIN_NOISE_TERMS runs."""
    n = HRV_NOISE_ORDER
    if keep.size < n + 1:
        return None
    runs = np.lib.stride_tricks.sliding_window_view(keep, n + 1).all(axis=1)
    if runs.sum() < HRV_MIN_NOISE_TERMS:
        return None
    differences = np.diff(beats.ibis_s * 1e3, n)[runs]
    return float(np.sqrt(np.mean(differences**2) / math.comb(2 * n + 2, n + 1)))


def trusted_hrv(beats: Beats) -> tuple[Hrv | None, str | None]:
    """HRV where its beats allow it, else None and why: enough clean beats, few artefacts among them, and a timing
    noise (``timing_noise_ms``, an upper bound) that cannot move SDNN or RMSSD by more than HRV_MAX_NOISE_ERROR."""
    hrv = hrv_from_beats(beats)
    if hrv is None:
        return None, f"fewer than {HRV_MIN_IBIS} clean beats"
    keep = clean_ibis(beats)
    if keep.mean() < HRV_MIN_CLEAN:
        return None, f"{1 - keep.mean():.0%} of the beats are artefacts (more than {1 - HRV_MIN_CLEAN:.0%})"
    noise = timing_noise_ms(beats, keep)
    if noise is None:
        return None, "too few runs of clean beats to bound their timing"
    if 6 * noise**2 > HRV_NOISE_SHARE * hrv.rmssd_ms**2 or 2 * noise**2 > HRV_NOISE_SHARE * hrv.sdnn_ms**2:
        return None, f"beat timing noise up to {noise:.0f} ms: SDNN and RMSSD would not both be within 15 %"
    return hrv, None


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
