"""The one heart-rate module: the paper's FFT unchanged, a fine grid, and a robust beat detector."""

from __future__ import annotations

import numpy as np
import pytest

from edge_rppg.signals.filters import bvp_filters
from edge_rppg.signals.hr import (
    HrMethod,
    fft_hr,
    find_beats,
    fine_fft_hr,
    heart_rate,
    hr_resolution_bpm,
    naive_peak_hr,
    window_hr,
)

FS = 30.0


def ppg_with_beats(
    bpm: float, seconds: float, seed: int, hrv: float = 0.05, noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """A PPG sampled at 30 fps from beats at known (continuous) times: systolic peak, dicrotic wave,
    beat-to-beat variability, sensor noise and respiratory baseline wander. Returns (signal, beat times)."""
    rng = np.random.default_rng(seed)
    ibi0 = 60.0 / bpm
    times = [rng.uniform(0, ibi0)]
    while times[-1] < seconds:
        times.append(times[-1] + ibi0 * (1 + hrv * rng.standard_normal()))
    beats = np.array(times)
    t = np.arange(int(seconds * FS)) / FS
    x = np.zeros_like(t)
    for tb, ibi in zip(beats, np.append(np.diff(beats), ibi0), strict=True):
        u = (t - tb) / ibi
        x += np.exp(-((u / 0.09) ** 2)) + 0.4 * np.exp(-(((u - 0.32) / 0.12) ** 2))  # systolic peak, dicrotic wave
    x += 0.3 * np.sin(2 * np.pi * 0.2 * t) + noise * rng.standard_normal(len(t))
    return x, beats


PAPER_BIN_10S = 60 * FS / 512  # bpm: the paper's FFT pads a 10-s window (300 samples) to 512 points


def test_fine_grid_is_under_a_tenth_of_a_bpm() -> None:
    assert hr_resolution_bpm(FS) <= 0.1


@pytest.mark.parametrize("bpm", [41.3, 57.77, 72.4, 88.8, 101.05, 133.3, 163.9])
def test_fine_fft_is_exact_off_bin(bpm: float) -> None:
    t = np.arange(300) / FS  # 10 s: the paper's grid is 1.76 bpm here, the old agreement grid 7.03 bpm
    s = np.sin(2 * np.pi * bpm / 60 * t + 0.4)
    assert fine_fft_hr(s, FS) == pytest.approx(bpm, abs=0.1)
    assert abs(fft_hr(s, FS) - bpm) <= PAPER_BIN_10S / 2 + 1e-6  # the paper's FFT: its nearest bin


def test_the_papers_fft_grid_is_coarse_where_the_fine_one_is_not() -> None:
    t = np.arange(300) / FS
    errors = [abs(fft_hr(np.sin(2 * np.pi * bpm / 60 * t), FS) - bpm) for bpm in np.linspace(60, 62, 9)]
    assert max(errors) > 0.5  # why every agreement check reads the fine grid (test_fine_fft_is_exact_off_bin)


def test_fine_fft_after_the_paper_filter_on_a_30_s_pulse() -> None:
    t = np.arange(900) / FS
    s = np.sin(2 * np.pi * 1.2345 * t) + 0.3 * np.sin(4 * np.pi * 1.2345 * t + 0.7)
    assert heart_rate(bvp_filters(s, FS), FS, HrMethod.FFT_FINE) == pytest.approx(74.07, abs=0.1)


def _match(found: np.ndarray, truth: np.ndarray, seconds: float) -> tuple[int, int, np.ndarray]:
    """(missed, extra, IBI errors in ms) of the beats found against the true beats away from the edges."""
    inner = truth[(truth > 0.5) & (truth < seconds - 0.5)]
    nearest = np.array([found[np.argmin(np.abs(found - t))] for t in inner])
    hit = np.abs(nearest - inner) < 0.15
    core = found[(found > 0.65) & (found < seconds - 0.65)]  # margins so that an edge beat is not "extra"
    extra = int(sum(np.min(np.abs(truth - f)) >= 0.15 for f in core))
    return int((~hit).sum()), extra, np.abs(np.diff(nearest) - np.diff(inner)) * 1e3


@pytest.mark.parametrize("bpm", [40, 50, 65, 80, 100, 125, 150, 180])
def test_beat_detector_finds_every_beat_with_ibis_to_10_ms(bpm: float) -> None:
    for seed in range(3):
        x, truth = ppg_with_beats(bpm, 30.0, seed)
        beats = find_beats(x, FS)
        missed, extra, ibi_err_ms = _match(beats.times_s, truth, 30.0)
        assert missed == 0 and extra == 0, f"{bpm} bpm seed {seed}: missed {missed}, extra {extra}"
        assert ibi_err_ms.mean() <= 10.0 and np.percentile(ibi_err_ms, 95) <= 20.0, ibi_err_ms
        assert beats.hr_bpm == pytest.approx(60.0 / np.median(np.diff(truth)), rel=0.03)


def test_naive_peak_count_doubles_with_a_dicrotic_wave_the_robust_one_does_not() -> None:
    x, truth = ppg_with_beats(55, 30.0, 0)
    filtered = bvp_filters(x, FS)
    true_hr = 60.0 / np.mean(np.diff(truth))
    assert naive_peak_hr(filtered, FS) > 1.5 * true_hr  # the toolbox's method, kept under its own name
    assert heart_rate(filtered, FS, HrMethod.PEAK) == pytest.approx(true_hr, rel=0.03)


def test_no_beats_in_silence_or_noise_floor() -> None:
    assert find_beats(np.zeros(300), FS).times_s.size == 0
    assert np.isnan(find_beats(np.zeros(300), FS).hr_bpm)


def test_window_hr_is_on_the_fine_grid() -> None:
    t = np.arange(160) / FS
    windows = np.stack([np.sin(2 * np.pi * f * t) for f in (1.0, 1.013, 1.5)])
    hr = window_hr(windows, FS)
    assert hr[1] - hr[0] == pytest.approx(0.78, abs=0.3)  # a 0.78-bpm change is seen, not rounded to a 7-bpm bin
    assert hr[2] == pytest.approx(90, abs=1.0)
