"""The paper's metrics: per signal (SNR, MACC, the HR of prediction and label) and over a dataset (MAE, RMSE,
MAPE, Pearson, with their standard errors).

The reference's O(N²) lag loop for MACC is an FFT cross-correlation here; the result is the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.signals.filters import HR_BAND_HZ, bvp_filters
from edge_rppg.signals.hr import HrMethod, fine_nfft, heart_rate, power_spectrum

SNR_HALF_WIDTH_HZ = 0.1


@dataclass(kw_only=True, frozen=True)
class DatasetMetrics:
    mae: float
    mae_se: float
    rmse: float
    rmse_se: float
    mape: float
    mape_se: float
    pearson: float
    pearson_se: float
    snr: float
    snr_se: float
    macc: float
    macc_se: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dataset_metrics(hr_pred: np.ndarray, hr_true: np.ndarray, snr: np.ndarray, macc: np.ndarray) -> DatasetMetrics:
    """MAE, RMSE, MAPE (%), Pearson r of HR, mean SNR and MACC, each with its standard error.

    Standard errors use the population std (ddof 0) as the reference does, including its RMSE form
    sqrt(std(e²))/sqrt(n), which is not a textbook standard error but is what the paper's tables show.
    """
    pred = np.asarray(hr_pred, dtype=np.float64)
    true = np.asarray(hr_true, dtype=np.float64)
    snr = np.asarray(snr, dtype=np.float64)
    macc = np.asarray(macc, dtype=np.float64)
    n = len(pred)
    if n == 0:
        raise ValueError("no videos to evaluate")
    err = pred - true
    sq = np.sqrt(n)
    r = float(np.corrcoef(pred, true)[0, 1]) if n > 1 and pred.std() > 0 and true.std() > 0 else float("nan")
    r_se = float(np.sqrt((1 - r**2) / (n - 2))) if n > 2 and np.isfinite(r) else float("nan")
    return DatasetMetrics(
        mae=float(np.mean(np.abs(err))),
        mae_se=float(np.std(np.abs(err)) / sq),
        rmse=float(np.sqrt(np.mean(err**2))),
        rmse_se=float(np.sqrt(np.std(err**2)) / sq),
        mape=float(np.mean(np.abs(err / true)) * 100),
        mape_se=float(np.std(np.abs(err / true)) / sq * 100),
        pearson=r,
        pearson_se=r_se,
        snr=float(np.mean(snr)),
        snr_se=float(np.std(snr) / sq),
        macc=float(np.mean(macc)),
        macc_se=float(np.std(macc) / sq),
        n=n,
    )


def snr_db(
    pred: np.ndarray,
    hr_bpm: float,
    fs: float = CONTRACT.fps,
    band: tuple[float, float] = HR_BAND_HZ,
    fine: bool = False,
    half_width_hz: float = SNR_HALF_WIDTH_HZ,
) -> float:
    """Power within ±0.1 Hz of the HR and its first harmonic over the rest of the HR band (dB).

    ``fine`` measures on the zero-padded grid of ``fft-fine`` (the paper's evaluation uses none)."""
    pred = np.asarray(pred, dtype=np.float64)
    freqs, power = power_spectrum(pred, fs, fine_nfft(pred.shape[-1], fs) if fine else None)
    f1 = hr_bpm / 60.0
    harmonics = (np.abs(freqs - f1) <= half_width_hz) | (np.abs(freqs - 2 * f1) <= half_width_hz)
    in_band = (freqs >= band[0]) & (freqs <= band[1])
    signal_power = power[harmonics].sum()
    noise_power = power[in_band & ~harmonics].sum()
    if noise_power == 0 or signal_power == 0:
        return 0.0
    return float(10.0 * np.log10(signal_power / noise_power))


def macc(pred: np.ndarray, label: np.ndarray) -> float:
    """Max over circular lags 0..N-2 of |Pearson r| between pred and the rolled label (FFT, O(N log N))."""
    n = min(len(pred), len(label))
    p = np.asarray(pred[:n], dtype=np.float64)
    q = np.asarray(label[:n], dtype=np.float64)
    p = p - p.mean()
    q = q - q.mean()
    denom = np.sqrt((p**2).sum() * (q**2).sum())
    if n < 2 or denom == 0:
        return 0.0
    # r_k = Σ p[i]·q[i-k]: the circular cross-correlation, one FFT product for all lags.
    xcorr = np.fft.irfft(np.fft.rfft(p) * np.conj(np.fft.rfft(q)), n)
    return float(np.max(np.abs(xcorr[: n - 1])) / denom)


@dataclass(kw_only=True, frozen=True)
class SignalReport:
    """Per-video (or per-window) results of the paper's evaluation."""

    hr_pred: float
    hr_true: float
    snr: float
    macc: float


def evaluate_signal(
    pred: np.ndarray, label: np.ndarray, fs: float = CONTRACT.fps, method: HrMethod | str = HrMethod.FFT
) -> SignalReport:
    """Detrend + band-pass both, HR by ``method`` on both, SNR of pred at the label HR, MACC."""
    p = bvp_filters(pred, fs)
    q = bvp_filters(label, fs)
    hr_true = heart_rate(q, fs, method)
    return SignalReport(hr_pred=heart_rate(p, fs, method), hr_true=hr_true, snr=snr_db(p, hr_true, fs), macc=macc(p, q))
