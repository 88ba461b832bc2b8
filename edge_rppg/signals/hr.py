"""Heart rate from a BVP signal: the one place the product reads a pulse rate or finds beats.

Every HR in edge-rppg comes from here: eval, bench, the export check, training validation and predict.

- ``fft``: the paper's estimator, periodogram peak on the next-power-of-two grid (7.03 bpm bins for a
  160-sample window). Kept unchanged so that ``eval`` reproduces the paper's tables.
- ``fft-fine``: the same periodogram zero-padded to a grid of at most ``FINE_GRID_BPM`` and refined by
  parabolic interpolation of the log power around the peak. What agreement checks and predict use.
- ``peak``: a robust beat detector (band-pass, refractory distance from the maximum HR, prominence
  relative to the local amplitude, sub-sample peak times); HR = 60 / median inter-beat interval.
- ``peak-naive``: the rPPG-Toolbox's peak count (every local maximum), kept under its own name so that
  its numbers can be reproduced; it reads the dicrotic wave as beats and so about doubles the rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.signals.filters import HR_BAND_HZ, bvp_filters

# SciPy is imported inside the functions that use it: the CLI reads this module's tables at start-up, and
# importing scipy.signal there would cost a second before `edge-rppg --help` prints anything.

FINE_GRID_BPM = 0.1  # zero-padding so that the grid itself is at most this fine, before interpolation
BEAT_BAND_HZ = (0.6, 4.0)  # the detector keeps the systolic shape of 180-bpm pulses
MIN_PROMINENCE_OF_LOCAL_RANGE = 0.35  # a beat rises at least this share of the local peak-to-trough range
LOCAL_RANGE_S = 2.0  # window over which that local range is measured
REFRACTORY_OF_PERIOD = 0.6  # no two beats closer than this share of the typical beat period
AUTOCORR_NEAR_MAX = 0.8
MAX_BEAT_HR_BPM = 240.0  # the hard refractory limit; beat-to-beat variability puts single IBIs above the band


class HrMethod(str, Enum):
    FFT = "fft"
    FFT_FINE = "fft-fine"
    PEAK = "peak"
    PEAK_NAIVE = "peak-naive"


def next_pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def fine_nfft(n: int, fs: float = CONTRACT.fps) -> int:
    """FFT length whose bins are at most FINE_GRID_BPM apart (and at least the signal's length)."""
    return max(next_pow2(n), next_pow2(int(np.ceil(60.0 * fs / FINE_GRID_BPM))))


def hr_resolution_bpm(fs: float = CONTRACT.fps) -> float:
    """Grid spacing of ``fft-fine`` in bpm, before the parabolic refinement (which only makes it finer)."""
    return 60.0 * fs / fine_nfft(0, fs)


def power_spectrum(
    signal: np.ndarray, fs: float = CONTRACT.fps, nfft: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Periodogram (boxcar, density, one-sided, no detrend); nfft defaults to the next power of two >= N."""
    import scipy.signal

    s = np.asarray(signal, dtype=np.float64)
    freqs, power = scipy.signal.periodogram(s, fs=fs, nfft=nfft or next_pow2(s.shape[-1]), detrend=False)
    return np.asarray(freqs), np.asarray(power)


def _band_peak(freqs: np.ndarray, power: np.ndarray, band: tuple[float, float]) -> int | None:
    idx = np.flatnonzero((freqs >= band[0]) & (freqs <= band[1]))
    if idx.size == 0 or not np.any(power[idx] > 0):
        return None
    return int(idx[np.argmax(power[idx])])


def fft_hr(signal: np.ndarray, fs: float = CONTRACT.fps, band: tuple[float, float] = HR_BAND_HZ) -> float:
    """The paper's HR: frequency of the largest periodogram bin in the band, on the next-power-of-two grid."""
    freqs, power = power_spectrum(signal, fs)
    k = _band_peak(freqs, power, band)
    return float("nan") if k is None else float(freqs[k] * 60.0)


def fine_spectrum(signal: np.ndarray, fs: float = CONTRACT.fps) -> tuple[np.ndarray, np.ndarray]:
    """The zero-padded periodogram every fine-grid HR reads: compute it once, refine any peaks on it."""
    s = np.asarray(signal, dtype=np.float64)
    return power_spectrum(s, fs, fine_nfft(s.shape[-1], fs))


def refined_peak_hr(freqs: np.ndarray, power: np.ndarray, band: tuple[float, float] = HR_BAND_HZ) -> float:
    """The largest bin of ``power`` in ``band``, refined by a parabola through log power (bpm)."""
    k = _band_peak(freqs, power, band)
    if k is None:
        return float("nan")
    shift = 0.0
    if 0 < k < len(power) - 1 and np.all(power[k - 1 : k + 2] > 0):
        a, b, c = np.log(power[k - 1 : k + 2])
        denom = a - 2 * b + c
        if denom < 0:
            shift = float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    return float((freqs[k] + shift * (freqs[1] - freqs[0])) * 60.0)


def fine_fft_hr(signal: np.ndarray, fs: float = CONTRACT.fps, band: tuple[float, float] = HR_BAND_HZ) -> float:
    """HR on a <= 0.1 bpm grid: zero-padded periodogram, peak refined by a parabola through log power."""
    return refined_peak_hr(*fine_spectrum(signal, fs), band)


def spectral_peak_hrs(
    signal: np.ndarray, fs: float = CONTRACT.fps, count: int = 2, band: tuple[float, float] = HR_BAND_HZ
) -> list[float]:
    """The ``count`` largest local maxima of the fine spectrum in the band, largest first, each refined as
    ``fine_fft_hr`` refines the largest: the rates a segment whose pulse drifts (two peaks) could be showing."""
    import scipy.signal

    s = np.asarray(signal, dtype=np.float64)
    freqs, power = fine_spectrum(s, fs)
    inside = (freqs >= band[0]) & (freqs <= band[1])
    peaks, _ = scipy.signal.find_peaks(np.where(inside, power, 0.0))
    peaks = peaks[np.argsort(power[peaks])[::-1][:count]]
    # Each peak refined within its own lobe: half a bin of the unpadded spectrum either side.
    lobe = fs / s.shape[-1] / 2
    return [refined_peak_hr(freqs, power, (freqs[k] - lobe, freqs[k] + lobe)) for k in peaks]


SUBHARMONIC_MIN_POWER = 0.1  # a peak at half the FFT HR this strong (of the main one) can be the fundamental


def fundamental_hr(signal: np.ndarray, fs: float = CONTRACT.fps, beat_hr: float | None = None) -> float:
    """The fine-FFT HR, moved down an octave when the spectrum's largest peak is the pulse's harmonic.

    A BVP whose systolic and diastolic waves are of similar size puts more power at twice the rate than
    at the rate itself (on the realistic corpus the default model did so on whole clips). The beat
    detector, which rejects the dicrotic wave by its autocorrelation period, tells them apart: when its
    rate is nearer half the FFT HR and the spectrum has a real peak there, that peak is the heart rate."""
    s = np.asarray(signal, dtype=np.float64)
    freqs, power = fine_spectrum(s, fs)
    hr = refined_peak_hr(freqs, power)
    half = hr / 2
    beat = find_beats(s, fs).hr_bpm if beat_hr is None else beat_hr  # the caller's, when it has them
    if not np.isfinite(hr) or not np.isfinite(beat) or half < HR_BAND_HZ[0] * 60 or abs(half - beat) >= abs(hr - beat):
        return hr
    sub = refined_peak_hr(freqs, power, (half / 60 - 0.15, half / 60 + 0.15))
    at = lambda bpm: power[int(np.argmin(np.abs(freqs * 60 - bpm)))]
    return sub if np.isfinite(sub) and at(sub) >= SUBHARMONIC_MIN_POWER * at(hr) else hr


@dataclass(frozen=True)
class Beats:
    """Systolic peaks of a BVP: times (s, sub-sample), inter-beat intervals (s), and HR from them."""

    times_s: np.ndarray
    ibis_s: np.ndarray

    @property
    def hr_bpm(self) -> float:
        return float(60.0 / np.median(self.ibis_s)) if self.ibis_s.size else float("nan")


def _parabolic_offsets(x: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Sub-sample position of each local maximum from the parabola through it and its two neighbours."""
    inner = (peaks > 0) & (peaks < len(x) - 1)
    offsets = np.zeros(len(peaks))
    p = peaks[inner]
    a, b, c = x[p - 1], x[p], x[p + 1]
    denom = a - 2 * b + c
    safe = np.where(denom < 0, denom, -1.0)
    offsets[inner] = np.where(denom < 0, np.clip(0.5 * (a - c) / safe, -0.5, 0.5), 0.0)
    return offsets


def beat_period_samples(
    y: np.ndarray, fs: float, max_hr_bpm: float, min_hr_bpm: float = HR_BAND_HZ[0] * 60
) -> float | None:
    """The beat period (samples) by autocorrelation: the shortest lag whose autocorrelation peak is within
    AUTOCORR_NEAR_MAX of the highest one. Harmonics (the dicrotic wave) repeat at half the period but
    with another shape, so their lag correlates less than the true period does."""
    import scipy.signal

    n = len(y)
    ac = np.fft.irfft(np.abs(np.fft.rfft(y, 2 * n)) ** 2)[:n]
    if ac[0] <= 0:
        return None
    ac = ac / ac[0]
    lo, hi = int(fs * 60.0 / max_hr_bpm), min(int(np.ceil(fs * 60.0 / min_hr_bpm)), n - 2)
    peaks, _ = scipy.signal.find_peaks(ac[: hi + 2])
    peaks = peaks[(peaks >= lo) & (peaks <= hi)]
    if peaks.size == 0:
        return None
    best = ac[peaks].max()
    if best < 0.2:
        return None
    return float(peaks[np.argmax(ac[peaks] >= AUTOCORR_NEAR_MAX * best)])


def find_beats(bvp: np.ndarray, fs: float = CONTRACT.fps, max_hr_bpm: float = MAX_BEAT_HR_BPM) -> Beats:
    """Robust systolic-peak detection on a BVP (any scale, any baseline).

    Band-passed (order 2, zero phase), then peaks no closer than one beat at ``max_hr_bpm`` and rising at
    least MIN_PROMINENCE_OF_LOCAL_RANGE of the peak-to-trough range around them: the dicrotic wave and
    noise ripples fail that test, so they are not counted as beats.
    """
    import scipy.ndimage
    import scipy.signal

    x = np.asarray(bvp, dtype=np.float64)
    if x.size < int(fs) or not np.isfinite(x).all() or np.ptp(x) == 0:
        return Beats(np.zeros(0), np.zeros(0))
    b, a = scipy.signal.butter(2, [BEAT_BAND_HZ[0] / (fs / 2), min(BEAT_BAND_HZ[1] / (fs / 2), 0.99)], btype="bandpass")
    y = scipy.signal.filtfilt(b, a, x - x.mean())
    min_gap = fs * 60.0 / max_hr_bpm
    period = beat_period_samples(y, fs, max_hr_bpm)
    if period is not None:
        min_gap = max(min_gap, REFRACTORY_OF_PERIOD * period)
    peaks, props = scipy.signal.find_peaks(y, distance=max(1, int(min_gap)), prominence=0)
    if peaks.size == 0:
        return Beats(np.zeros(0), np.zeros(0))
    span = max(3, int(LOCAL_RANGE_S * fs))
    local_range = scipy.ndimage.maximum_filter1d(y, span) - scipy.ndimage.minimum_filter1d(y, span)
    keep = props["prominences"] >= MIN_PROMINENCE_OF_LOCAL_RANGE * local_range[peaks]
    peaks = peaks[keep]
    times = (peaks + _parabolic_offsets(y, peaks)) / fs
    return Beats(times, np.diff(times))


def peak_hr(signal: np.ndarray, fs: float = CONTRACT.fps) -> float:
    """HR from the robust beat detector: 60 / median inter-beat interval."""
    return find_beats(signal, fs).hr_bpm


def naive_peak_hr(signal: np.ndarray, fs: float = CONTRACT.fps) -> float:
    """rPPG-Toolbox's peak HR: 60 fs / mean distance between all local maxima."""
    import scipy.signal

    peaks, _ = scipy.signal.find_peaks(np.asarray(signal, dtype=np.float64))
    if len(peaks) < 2:
        return float("nan")
    return float(60.0 * fs / np.mean(np.diff(peaks)))


ESTIMATORS: dict[HrMethod, Callable[[np.ndarray, float], float]] = {
    HrMethod.FFT: fft_hr,
    HrMethod.FFT_FINE: fine_fft_hr,
    HrMethod.PEAK: peak_hr,
    HrMethod.PEAK_NAIVE: naive_peak_hr,
}


def heart_rate(signal: np.ndarray, fs: float = CONTRACT.fps, method: HrMethod | str = HrMethod.FFT_FINE) -> float:
    """HR (bpm) of an already detrended and band-passed BVP by ``method``."""
    return ESTIMATORS[HrMethod(method)](signal, fs)


def window_hr(bvp: np.ndarray, fs: float = CONTRACT.fps, method: HrMethod | str = HrMethod.FFT_FINE) -> np.ndarray:
    """HR (bpm) of each raw model window [B, T]: detrend + band-pass, then ``method`` (fine FFT by default)."""
    return np.array([heart_rate(bvp_filters(b, fs), fs, method) for b in np.atleast_2d(bvp)])
