"""The filters below heart rate: detrending, the HR band-pass, z-scoring. Pure numpy/scipy.

The reference's O(N³) dense detrending is replaced by a sparse banded solve; the result is the same.
Everything that reads a pulse (``hr``) or scores one (``metrics``) imports from here, never the reverse.
"""

from __future__ import annotations

import numpy as np

from edge_rppg.contract import CONTRACT

# SciPy is imported inside the functions that use it: the CLI reads this module's tables at start-up, and
# importing scipy.signal there would cost a second before `edge-rppg --help` prints anything.

DETREND_LAMBDA = 100.0
HR_BAND_HZ = (0.6, 3.3)  # 36-198 bpm, the paper's band


def detrend(signal: np.ndarray, lam: float = DETREND_LAMBDA) -> np.ndarray:
    """Smoothness-priors detrending (Tarvainen 2002): s - (I + λ²·D2ᵀD2)⁻¹ s, by a sparse solve."""
    import scipy.sparse
    import scipy.sparse.linalg

    s = np.asarray(signal, dtype=np.float64)
    n = s.shape[-1]
    if n < 3:
        return np.asarray(s - s.mean())
    d2 = scipy.sparse.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(n - 2, n))
    a = (scipy.sparse.identity(n) + lam**2 * (d2.T @ d2)).tocsc()
    return np.asarray(s - scipy.sparse.linalg.spsolve(a, s))


def bandpass(signal: np.ndarray, fs: float = CONTRACT.fps, band: tuple[float, float] = HR_BAND_HZ) -> np.ndarray:
    """First-order Butterworth band-pass, zero-phase (filtfilt with SciPy's default padding)."""
    import scipy.signal

    b, a = scipy.signal.butter(1, [band[0] / (fs / 2), band[1] / (fs / 2)], btype="bandpass")
    return np.asarray(scipy.signal.filtfilt(b, a, np.asarray(signal, dtype=np.float64)))


def bvp_filters(signal: np.ndarray, fs: float = CONTRACT.fps) -> np.ndarray:
    """Detrend then band-pass: what the evaluation applies to both prediction and label."""
    return bandpass(detrend(signal), fs)


def zscore(x: np.ndarray) -> np.ndarray:
    """Zero mean, unit std (a constant signal becomes zeros)."""
    sd = x.std()
    return np.asarray((x - x.mean()) / (sd if sd > 0 else 1.0))
