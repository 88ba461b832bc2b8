"""Post-processing against the golden values measured on the reference implementation."""

from __future__ import annotations

import numpy as np
import pytest

from edge_rppg.signals.filters import bvp_filters, detrend
from edge_rppg.signals.hr import HrMethod, heart_rate
from edge_rppg.signals.metrics import dataset_metrics, evaluate_signal, macc, snr_db

FS = 30.0


def _golden_pair() -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(900) / FS
    label = np.sin(2 * np.pi * 1.2 * t + 0.3)
    pred = (
        np.sin(2 * np.pi * 1.25 * t)
        + 0.4 * np.sin(2 * np.pi * 2.5 * t + 1.0)
        + 0.3 * np.sin(2 * np.pi * 0.9 * t)
        + 0.05 * t
    )
    return pred, label


def test_golden_fft() -> None:
    r = evaluate_signal(*_golden_pair(), fs=FS, method="fft")
    assert r.hr_true == pytest.approx(72.070312, abs=1e-5)
    assert r.hr_pred == pytest.approx(75.585938, abs=1e-5)
    assert r.snr == pytest.approx(9.936949, abs=1e-5)
    assert r.macc == pytest.approx(0.204135, abs=1e-6)


def test_golden_peaks_of_the_toolbox_count() -> None:
    r = evaluate_signal(*_golden_pair(), fs=FS, method=HrMethod.PEAK_NAIVE)
    assert r.hr_true == pytest.approx(72.0, abs=1e-5)
    assert r.hr_pred == pytest.approx(75.169300, abs=1e-5)


def test_golden_160_frame_window() -> None:
    t = np.arange(160) / FS
    r = evaluate_signal(np.sin(2 * np.pi * 1.3 * t), np.sin(2 * np.pi * 1.3 * t + 0.5), fs=FS)
    assert r.hr_true == pytest.approx(77.343750) and r.hr_pred == pytest.approx(77.343750)
    assert r.snr == pytest.approx(2.277691, abs=1e-5)
    assert r.macc == pytest.approx(0.993215, abs=1e-6)


def _pulse(bpm: float, seconds: float = 30.0) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    f = bpm / 60
    return np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t + 0.7)


def test_clean_72_bpm_pulse_by_both_methods() -> None:
    s = bvp_filters(_pulse(72), FS)
    for method in HrMethod:
        assert heart_rate(s, FS, method) == pytest.approx(72, abs=0.5), method


def test_snr_of_clean_pulse_exceeds_noisy_pulse() -> None:
    rng = np.random.default_rng(0)
    clean = bvp_filters(_pulse(72), FS)
    noisy = bvp_filters(_pulse(72) + rng.normal(0, 1.5, clean.shape), FS)
    assert snr_db(clean, 72, FS) > snr_db(noisy, 72, FS) + 5


def test_macc_matches_the_lag_loop() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=97), rng.normal(size=97)
    brute = max(abs(np.corrcoef(a, np.roll(b, k))[0, 1]) for k in range(len(a) - 1))
    assert macc(a, b) == pytest.approx(brute, abs=1e-12)


def test_sparse_detrend_matches_dense_formula() -> None:
    rng = np.random.default_rng(2)
    s = rng.normal(size=120).cumsum()
    n = len(s)
    d2 = np.zeros((n - 2, n))
    for i in range(n - 2):
        d2[i, i : i + 3] = [1, -2, 1]
    dense = (np.eye(n) - np.linalg.inv(np.eye(n) + 100.0**2 * d2.T @ d2)) @ s
    assert np.allclose(detrend(s), dense, atol=1e-8)


def test_dataset_metrics_by_hand() -> None:
    pred = np.array([70.0, 80.0, 95.0, 60.0])
    true = np.array([72.0, 80.0, 90.0, 66.0])
    snr = np.array([5.0, 7.0, 3.0, 1.0])
    mac = np.array([0.9, 0.8, 0.7, 0.6])
    m = dataset_metrics(pred, true, snr, mac)
    err = np.array([-2.0, 0.0, 5.0, -6.0])
    assert m.mae == pytest.approx(13 / 4)
    assert m.mae_se == pytest.approx(np.std([2, 0, 5, 6]) / 2)
    assert m.rmse == pytest.approx(np.sqrt((4 + 0 + 25 + 36) / 4))
    assert m.rmse_se == pytest.approx(np.sqrt(np.std(err**2)) / 2)
    assert m.mape == pytest.approx(100 * np.mean([2 / 72, 0, 5 / 90, 6 / 66]))
    r = np.corrcoef(pred, true)[0, 1]
    assert m.pearson == pytest.approx(r) and m.pearson_se == pytest.approx(np.sqrt((1 - r**2) / 2))
    assert m.snr == pytest.approx(4.0) and m.snr_se == pytest.approx(np.std(snr) / 2)
    assert m.macc == pytest.approx(0.75) and m.n == 4
