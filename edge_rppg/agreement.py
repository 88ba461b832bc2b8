"""How closely a deployed model's BVP follows the PyTorch reference, in the user's units."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.gate import Gate
from edge_rppg.signals.hr import window_hr

# Fewer judged windows than this and a shown-only tolerance cannot say whether the pulse was kept.
MIN_JUDGED_WINDOWS = 4


@dataclass(kw_only=True, frozen=True)
class Agreement:
    max_abs_err: float
    max_err_of_range: float  # max abs error / peak-to-peak of the reference BVP
    bvp_pearson: float  # worst window
    hr_abs_diff_bpm: float  # worst window, on the fft-fine grid
    hr_abs_diff_median_bpm: float
    windows: int  # those the figures above are measured on
    windows_offered: int | None = None  # with a shown-only tolerance, all the windows it was given

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(kw_only=True, frozen=True)
class Tolerance:
    max_err_of_range: float | None
    min_pearson: float
    max_hr_diff_bpm: float
    # Judge only the windows a user could be shown: those whose reference or candidate BVP passes predict's own
    # quality check. A window that neither passes is refused with either model, whatever its values; one that
    # only the candidate passes is a pulse it invented and is judged like the rest.
    shown_only: bool = False

    def agreement(self, reference: np.ndarray, candidate: np.ndarray, fs: float = CONTRACT.fps) -> Agreement:
        return compare(reference, candidate, fs, shown_only=self.shown_only)

    def violations(self, a: Agreement) -> list[str]:
        if a.windows_offered is not None and a.windows < MIN_JUDGED_WINDOWS:
            return [
                f"only {a.windows} of {a.windows_offered} windows carry a pulse that either model's BVP shows "
                f"(at least {MIN_JUDGED_WINDOWS} are needed to judge it): give more videos, or ones with a "
                "readable pulse"
            ]
        out = []
        if self.max_err_of_range is not None and not a.max_err_of_range <= self.max_err_of_range:
            out.append(f"max error {a.max_err_of_range:.3g} of the BVP range > {self.max_err_of_range:g}")
        if not a.bvp_pearson >= self.min_pearson:
            out.append(f"BVP Pearson {a.bvp_pearson:.5f} < {self.min_pearson:g}")
        if not a.hr_abs_diff_bpm <= self.max_hr_diff_bpm:
            out.append(f"HR differs by {a.hr_abs_diff_bpm:.2f} bpm > {self.max_hr_diff_bpm:g}")
        return out

    def score(self, a: Agreement) -> float:
        """One number for an accuracy-controlled quantizer: the worst-window Pearson, or the worst HR difference
        mapped onto the Pearson scale when that is worse; both bounds meet at ``min_pearson``, so the tolerance
        holds (on r and HR) exactly when the score is at least ``min_pearson``."""
        if a.windows == 0:  # nothing shown by either model: no evidence either way, the worst score
            return -1.0
        if self.max_hr_diff_bpm > 0:
            over = a.hr_abs_diff_bpm / self.max_hr_diff_bpm
        else:  # a zero (or negative) HR bound: held or not, nothing in between
            over = 0.0 if a.hr_abs_diff_bpm <= self.max_hr_diff_bpm else 2.0
        return min(a.bvp_pearson, 1.0 - (1.0 - self.min_pearson) * over)


# What each precision must keep of the reference, HR on the fft-fine grid (<= 0.1 bpm). FP32 runtimes
# agree to ~1e-5..2e-4 of the BVP range (ONNX Runtime's kernels differ most); FP16 with the difference kept
# FP32 to ~1e-3. The README's tolerance table is this one.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(max_err_of_range=1e-3, min_pearson=0.99999, max_hr_diff_bpm=0.1),
    "fp16": Tolerance(max_err_of_range=2e-2, min_pearson=0.999, max_hr_diff_bpm=0.5),
    # bf16 keeps 8 bits of mantissa (FP16 keeps 11) and FP32's range: OpenVINO computes in it end to end.
    "bf16": Tolerance(max_err_of_range=2e-2, min_pearson=0.999, max_hr_diff_bpm=0.5),
    # A window with no readable pulse has a BVP of noise that INT8's rounding reshapes freely (its spectral peak
    # jumps by tens of bpm) while neither model's HR would be shown for it.
    "int8": Tolerance(max_err_of_range=None, min_pearson=0.995, max_hr_diff_bpm=1.0, shown_only=True),
}


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a**2).sum(1) * (b**2).sum(1))
    return np.where(denom > 0, (a * b).sum(1) / np.where(denom > 0, denom, 1), 1.0)


# The windows a shown-only tolerance judges: those this gate shows (the SQI alone: windows carry no scene). One
# fixed gate, the bundled model's when the INT8 bound was set, not the model's own: the windows an export is judged
# on must not move with a file that lies beside its checkpoint.
SHOWN_GATE = Gate(
    sqi_min=0.6, snr_half_width_hz=0.3, pass_fraction=0.2, witness_disagree_factor=0.7, witness_agree_factor=1.6,
    motion_max=1.0,
)  # fmt: skip


def passes_quality(bvp: np.ndarray, fs: float = CONTRACT.fps) -> np.ndarray:
    """Per window: does its BVP pass SHOWN_GATE's signal-quality check?"""
    from edge_rppg.signals.quality import segment_quality  # SciPy: not at the CLI's start-up, which reads TOLERANCES

    return np.array([segment_quality(b, SHOWN_GATE, fs).ok for b in np.atleast_2d(bvp)], dtype=bool)


def compare(
    reference: np.ndarray, candidate: np.ndarray, fs: float = CONTRACT.fps, shown_only: bool = False
) -> Agreement:
    """The candidate's BVP against the reference's, window by window; ``shown_only``: on the windows that
    either one's BVP passes the quality check (``Tolerance.shown_only``)."""
    ref = np.atleast_2d(np.asarray(reference, dtype=np.float64))
    out = np.atleast_2d(np.asarray(candidate, dtype=np.float64))
    if ref.shape != out.shape:
        raise ValueError(f"output shape {out.shape} != reference shape {ref.shape}")
    if not shown_only:
        return _agreement(ref, out, fs)
    shown = passes_quality(ref, fs) | passes_quality(out, fs)
    if not shown.any():
        nan = float("nan")
        return Agreement(
            max_abs_err=nan,
            max_err_of_range=nan,
            bvp_pearson=nan,
            hr_abs_diff_bpm=nan,
            hr_abs_diff_median_bpm=nan,
            windows=0,
            windows_offered=len(ref),
        )
    return replace(_agreement(ref[shown], out[shown], fs), windows_offered=len(ref))


def _agreement(ref: np.ndarray, out: np.ndarray, fs: float) -> Agreement:
    hr_diff = np.abs(window_hr(ref, fs) - window_hr(out, fs))
    return Agreement(
        max_abs_err=float(np.max(np.abs(ref - out))),
        max_err_of_range=float(np.max(np.abs(ref - out)) / max(float(np.ptp(ref)), 1e-12)),
        bvp_pearson=float(np.min(_rowwise_pearson(ref, out))),
        hr_abs_diff_bpm=float(np.max(hr_diff)),
        hr_abs_diff_median_bpm=float(np.median(hr_diff)),
        windows=len(ref),
    )
