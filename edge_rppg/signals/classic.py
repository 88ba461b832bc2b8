"""Classic (unsupervised) rPPG methods, as the rPPG-Toolbox runs them: GREEN, CHROM, POS, ICA, LGI.

Each takes the per-frame spatial mean RGB of the face crop, ``[T, 3]`` in R, G, B order on the 0-255
scale, and returns a BVP trace. They need no model and no weights, so ``predict --method pos`` runs on a
device that has none, and the quality gate uses POS as an independent witness of the deep model's HR.

The steps follow the toolbox's code, quirks included (window lengths, the uncovered last frame of POS,
CHROM's truncated output, JADE's sweep order), so that its numbers can be reproduced: the goldens in
``tests/test_classic.py`` were computed by the toolbox's own code.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge_rppg.signals.filters import detrend

# SciPy is imported inside the functions that use it: the CLI reads this module's tables at start-up, and
# importing scipy.signal there would cost a second before `edge-rppg --help` prints anything.

WINDOW_S = 1.6  # POS and CHROM: the windows of Wang 2017 and de Haan 2013
POS_PROJECTION = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])  # onto the plane orthogonal to the skin tone
POS_BAND_HZ = (0.75, 3.0)
CHROM_BAND_HZ = (0.7, 2.5)
ICA_BAND_HZ = (0.7, 2.5)


def _zero_phase(x: np.ndarray, fs: float, band: tuple[float, float], order: int, axis: int = -1) -> np.ndarray:
    import scipy.signal

    b, a = scipy.signal.butter(order, [band[0] / (fs / 2), band[1] / (fs / 2)], btype="bandpass")
    return np.asarray(scipy.signal.filtfilt(b, a, x, axis=axis))


def green(rgb: np.ndarray, fs: float) -> np.ndarray:
    """Verkruysse 2008: the green trace itself, DC and drift included (conditioning comes later)."""
    return np.asarray(rgb, dtype=np.float64)[:, 1].copy()


def chrom(rgb: np.ndarray, fs: float) -> np.ndarray:
    """De Haan & Jeanne 2013: two chrominance signals per 1.6-s window, alpha-tuned, Hann overlap-added.

    The output covers T rounded down to a multiple of half a window, as the toolbox's does."""
    import scipy.signal

    c = np.asarray(rgb, dtype=np.float64)
    n = len(c)
    win = math.ceil(WINDOW_S * fs)
    win += win % 2
    half = win // 2
    windows = (n - half) // half
    out = np.zeros(half * (windows + 1)) if n >= half else np.zeros(0)
    hann = np.hanning(win)  # the symmetric Hann (zero at both ends), as the toolbox's
    b, a = scipy.signal.butter(3, [CHROM_BAND_HZ[0] / (fs / 2), CHROM_BAND_HZ[1] / (fs / 2)], btype="bandpass")
    for i in range(windows):
        seg = c[i * half : i * half + win]
        norm = seg / seg.mean(axis=0)
        xs = 3 * norm[:, 0] - 2 * norm[:, 1]
        ys = 1.5 * norm[:, 0] + norm[:, 1] - 1.5 * norm[:, 2]
        xf, yf = scipy.signal.filtfilt(b, a, xs), scipy.signal.filtfilt(b, a, ys)
        s = (xf - (xf.std() / yf.std()) * yf) * hann
        out[i * half : (i + 1) * half] += s[:half]
        out[(i + 1) * half : (i + 2) * half] = s[half:]
    return out


def pos(rgb: np.ndarray, fs: float) -> np.ndarray:
    """Wang et al. 2017: temporally normalised RGB projected onto POS_PROJECTION, alpha-tuned per 1.6-s
    window, summed (not averaged) over overlapping windows, then detrended and band-passed.

    The toolbox's windows start at 0 .. T-l-1, so the last frame gets no contribution: kept."""
    c = np.asarray(rgb, dtype=np.float64)
    n = len(c)
    win = math.ceil(WINDOW_S * fs)
    h = np.zeros(n)
    if n > win:
        # All windows at once: each row m is frames m .. m+win-1.
        segs = np.lib.stride_tricks.sliding_window_view(c[: n - 1], win, axis=0)  # [n-win, 3, win]
        norm = segs / segs.mean(axis=2, keepdims=True)
        s = np.einsum("pc,mct->mpt", POS_PROJECTION, norm)
        alpha = s[:, 0].std(axis=1) / s[:, 1].std(axis=1)
        hw = s[:, 0] + alpha[:, None] * s[:, 1]
        hw -= hw.mean(axis=1, keepdims=True)
        for m in range(len(hw)):
            h[m : m + win] += hw[m]
    return _zero_phase(detrend(h), fs, POS_BAND_HZ, 1)


def lgi(rgb: np.ndarray, fs: float) -> np.ndarray:
    """Pilz et al. 2018: project the RGB trace off its dominant (skin and light) direction; the green row."""
    c = np.asarray(rgb, dtype=np.float64).T  # [3, T]
    u = np.linalg.svd(c, full_matrices=False)[0][:, :1]
    return np.asarray(((np.eye(3) - u @ u.T) @ c)[1])


def _jade_rotations(m: np.ndarray, samples: int) -> np.ndarray:
    """Joint diagonalisation of the 3 eigen-matrices in ``m`` (3x9) by Givens sweeps; returns V (3x3)."""
    v = np.eye(3)
    threshold = 1.0 / (100.0 * math.sqrt(samples))
    rotated = True
    while rotated:
        rotated = False
        for p, q in ((0, 1), (0, 2), (1, 2)):
            ip, iq = np.arange(p, 9, 3), np.arange(q, 9, 3)
            g = np.stack([m[p, ip] - m[q, iq], m[p, iq] + m[q, ip]])
            vals, vecs = np.linalg.eigh(g @ g.T)
            vec = vecs[:, np.argmax(vals)]
            vec = vec if vec[0] >= 0 else -vec
            cos = math.sqrt((1 + vec[0]) / 2)
            sin = vec[1] / (2 * cos)
            if abs(sin) <= threshold:
                continue
            rotated = True
            rot = np.array([[cos, -sin], [sin, cos]])
            v[:, [p, q]] = v[:, [p, q]] @ rot
            m[[p, q], :] = rot.T @ m[[p, q], :]
            mp, mq = m[:, ip].copy(), m[:, iq].copy()
            m[:, ip], m[:, iq] = cos * mp + sin * mq, -sin * mp + cos * mq
    return v


def _jade(x: np.ndarray) -> np.ndarray:
    """Cardoso's JADE for 3 sources, real-valued, with symmetric (ZCA) whitening; sources [3, T]."""
    import scipy.linalg

    samples = x.shape[1]
    whitening = np.linalg.inv(np.real(scipy.linalg.sqrtm(x @ x.T / samples)))
    y = whitening @ x
    r = y @ y.T / samples
    q = np.zeros((9, 9))
    for lk in range(9):
        l_, k = divmod(lk, 3)
        for ji in range(9):
            j, i = divmod(ji, 3)
            q[lk, ji] = (
                np.mean(y[l_] * y[k] * y[j] * y[i]) - r[i, j] * r[l_, k] - r[i, k] * r[l_, j] - r[i, l_] * r[j, k]
            )
    vals, vecs = np.linalg.eigh(q)
    order = np.argsort(np.abs(vals))[::-1][:3]
    m = np.zeros((3, 9))
    for rank, idx in enumerate(order):
        m[:, 3 * rank : 3 * rank + 3] = abs(vals[idx]) * vecs[:, idx].reshape(3, 3)
    return np.asarray(_jade_rotations(m, samples).T @ y)


def ica(rgb: np.ndarray, fs: float) -> np.ndarray:
    """Poh et al. 2010: detrended, z-scored channels; JADE; the source with the most peaked spectrum."""
    c = np.asarray(rgb, dtype=np.float64).T
    z = np.stack([detrend(ch) for ch in c])
    z = (z - z.mean(axis=1, keepdims=True)) / z.std(axis=1, keepdims=True)
    sources = _jade(z)
    n = sources.shape[1]
    power = np.abs(np.fft.fft(sources, axis=1)[:, 1 : 1 + (n - 1) // 2]) ** 2
    peaked = (power / power.sum(axis=1, keepdims=True)).max(axis=1)
    return _zero_phase(sources[int(np.argmax(peaked))], fs, ICA_BAND_HZ, 3)


@dataclass(kw_only=True, frozen=True)
class ClassicMethod:
    name: str
    title: str
    fn: Callable[[np.ndarray, float], np.ndarray]
    min_frames: int = 2  # shortest trace the method gives a signal for
    # Blood darkens the skin: a method that follows pixel intensity (GREEN, POS, LGI) peaks at diastole.
    # The product flips those, so that every BVP it reports rises with blood volume like a contact PPG
    # (the model's does): beats, HRV and plots then mean the same whatever the method. The toolbox's raw
    # outputs (``fn``) keep their own sign.
    polarity: float = 1.0


METHODS: dict[str, ClassicMethod] = {
    m.name: m
    for m in (
        ClassicMethod(name="green", title="GREEN (Verkruysse 2008)", fn=green, polarity=-1.0),
        ClassicMethod(name="chrom", title="CHROM (de Haan & Jeanne 2013)", fn=chrom, min_frames=48),
        ClassicMethod(name="pos", title="POS (Wang et al. 2017)", fn=pos, min_frames=49, polarity=-1.0),
        ClassicMethod(name="ica", title="ICA (Poh et al. 2010)", fn=ica, min_frames=30),  # no inherent sign
        ClassicMethod(name="lgi", title="LGI (Pilz et al. 2018)", fn=lgi, polarity=-1.0),
    )
}


# Where in the face crop a spatial mean is taken, as (top, bottom, left, right) fractions of the crop.
Roi = tuple[float, float, float, float]
WHOLE_CROP: Roi = (0.0, 1.0, 0.0, 1.0)  # rPPG-Toolbox's, and the product's everywhere
# The centre of the face below the eyes in the detector's box enlarged 1.5x (nose, inner cheeks): little hair,
# cap, glasses or collar however the box sits. Measured on the realistic corpus and not adopted (README,
# "predict on a realistic corpus"): it reads more segments of pulsed clips, but accepts more pulseless ones.
FACE_CENTRE: Roi = (0.3, 0.8, 0.3, 0.7)
ROIS: dict[str, Roi] = {"whole-crop": WHOLE_CROP, "face-centre": FACE_CENTRE}


def mean_rgb(frames: np.ndarray, roi: Roi = WHOLE_CROP) -> np.ndarray:
    """Per-frame spatial mean of [.., 3, T, H, W] model windows (or [T, H, W, 3] crops) as [.., T, 3], over
    the region ``roi`` of each frame."""
    x = np.asarray(frames, dtype=np.float64)
    crops = x.ndim == 4 and x.shape[-1] == 3
    h, w = x.shape[-3:-1] if crops else x.shape[-2:]
    top, bottom, left, right = roi
    rows = slice(int(round(top * h)), int(round(bottom * h)))
    cols = slice(int(round(left * w)), int(round(right * w)))
    if crops:
        return np.asarray(x[:, rows, cols].mean(axis=(1, 2)))
    return np.moveaxis(x[..., rows, cols].mean(axis=(-2, -1)), -2, -1)


def run_method(name: str, rgb: np.ndarray, fs: float) -> np.ndarray:
    """The method's BVP for a [T, 3] RGB trace, as long as the trace (CHROM's short tail zero-padded)."""
    method = METHODS[name]
    out = method.fn(rgb, fs) if len(rgb) >= method.min_frames else np.zeros(len(rgb))
    return np.pad(out, (0, len(rgb) - len(out)))
