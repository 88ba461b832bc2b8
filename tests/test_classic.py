"""Classic methods against goldens computed once by the rPPG-Toolbox's own code (commit d807b01).

The inputs are the toolbox-parity inputs of ``shared/spec/classic_methods.md`` §6; the numbers are its §7
(6 significant digits). An implementation that differs in any window length, filter order, band or the
overlap-add rule fails at least one of them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_rppg.signals.classic import METHODS, mean_rgb, run_method
from edge_rppg.signals.metrics import evaluate_signal

FS = 30.0


def make_frames(f_pulse: float, noise_std: float, seed: int, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n) / FS
    pulse = np.sin(2 * np.pi * f_pulse * t) + 0.3 * np.sin(2 * np.pi * 2 * f_pulse * t + 0.5)
    base = np.array([150.0, 110.0, 90.0])
    weights = np.array([0.33, 0.77, 0.53])
    frames = np.zeros((n, 8, 8, 3))
    for c in range(3):
        drift = 0.02 * np.sin(2 * np.pi * 0.1 * t)
        frames[..., c] = base[c] * (1 + 0.01 * weights[c] * pulse[:, None, None] + drift[:, None, None])
    return frames + np.random.default_rng(seed).normal(0, noise_std, (n, 8, 8, 3)), pulse


# method: (length, first three values, [100], sum of squares, corr with pulse, HR by the paper's FFT)
GOLDEN_A = {
    "green": (300, (110.161, 110.421, 110.897), 111.978, 3.63077e06, 0.367179, 70.3125),
    "chrom": (288, (0.0, -2.62166e-05, -0.000168254), 0.00280882, 0.0222661, -0.949878, 73.8281),
    "pos": (300, (0.00520309, 0.0115642, 0.0190828), -0.0130731, 7.61851, 0.93557, 73.8281),
    "ica": (300, (0.198315, 0.572884, 0.901383), 0.0969526, 289.603, 0.991468, 70.3125),
    "lgi": (300, (0.100665, 0.156771, 0.34082), 0.0178439, 19.2877, 0.909084, 70.3125),
}
GOLDEN_B = {
    "green": (300, (110.21, 110.183, 111.341), 111.627, 3.62928e06, 0.351109, 52.7344),
    "chrom": (288, (0.0, 2.30547e-06, 7.23107e-07), -0.00893138, 0.0157881, -0.623268, 56.25),
    "pos": (300, (-0.0115585, -0.00652502, -0.00159243), 0.22794, 7.63851, 0.686429, 56.25),
    "ica": (300, (0.0167217, 0.35854, 0.684357), 0.0961206, 243.148, 0.976185, 52.7344),
    "lgi": (300, (0.242836, 0.1325, 0.564771), -0.119291, 48.2276, 0.506463, 52.7344),
}
INPUTS = {"A": ((1.2, 1.0, 0), GOLDEN_A), "B": ((0.9, 3.0, 1), GOLDEN_B)}


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("case", list(INPUTS))
def test_method_reproduces_the_toolbox_goldens(method: str, case: str) -> None:
    args, goldens = INPUTS[case]
    frames, pulse = make_frames(*args)
    length, first, at100, sum_sq, corr, hr = goldens[method]
    out = METHODS[method].fn(mean_rgb(frames), FS)
    assert len(out) == length
    np.testing.assert_allclose(out[:3], first, rtol=2e-5, atol=1e-9)
    assert out[100] == pytest.approx(at100, rel=2e-5)
    assert float((out**2).sum()) == pytest.approx(sum_sq, rel=2e-5)
    assert float(np.corrcoef(out, pulse[:length])[0, 1]) == pytest.approx(corr, abs=2e-6)
    assert evaluate_signal(out, pulse[:length], FS, "fft").hr_pred == pytest.approx(hr, abs=1e-3)


def test_mean_rgb_reads_model_windows_and_crops_alike() -> None:
    frames, _ = make_frames(1.2, 1.0, 0, n=20)
    window = frames.transpose(3, 0, 1, 2)[None]  # [1, 3, T, H, W], the model's layout
    np.testing.assert_allclose(mean_rgb(window)[0], mean_rgb(frames))


def test_a_region_of_the_crop_reads_the_face_and_not_its_border() -> None:
    """A crop whose border (a red cap, the collar) changes colour at 1.8 Hz around a face pulsing at 1.2 Hz: a
    classic method over FACE_CENTRE reads the face, over the whole crop (the toolbox's) it follows the border;
    predict's POS witness averages the region its options name."""
    from edge_rppg.data.face import CropStep
    from edge_rppg.methods import ClassicRuntime
    from edge_rppg.predict.pipeline import PredictOptions, Track
    from edge_rppg.predict.video import classic_runtime
    from edge_rppg.signals.classic import FACE_CENTRE

    n, size = 161, 40
    face, _ = make_frames(1.2, 0.2, 0, n=n)
    t = np.arange(n) / FS
    crops = np.repeat(np.repeat(face[:, :1, :1], size, 1), size, 2)  # the face's colour and pulse everywhere
    top, bottom, left, right = (int(round(f * size)) for f in FACE_CENTRE)
    border = np.ones((size, size), bool)
    border[top:bottom, left:right] = False
    # Not grey, and not a colour POS or CHROM tune away (each cancels a change along its own projections).
    tint = np.array([0.0, 1.0, 0.5])
    crops[:, border] = 60.0 * (1 + 0.2 * tint * np.sin(2 * np.pi * 1.8 * t)[:, None])[:, None]
    window = crops.transpose(3, 0, 1, 2)[None]
    centre_options = PredictOptions(classic_roi=FACE_CENTRE)
    for name in ("green", "pos", "chrom"):
        centre = evaluate_signal(classic_runtime(name, centre_options).run(window)[0], np.zeros(n - 1), FS, "fft")
        whole = evaluate_signal(ClassicRuntime(name).run(window)[0], np.zeros(n - 1), FS, "fft")
        assert abs(centre.hr_pred - 72.0) < 3.0 and abs(whole.hr_pred - 108.0) < 3.0, (name, centre, whole)
    track = Track(roi=FACE_CENTRE)
    for crop in crops[:3]:
        track.add(CropStep(crop=crop.astype(np.float32), position=0.0, face_lost=False))
    np.testing.assert_allclose(np.array(track.rgb), mean_rgb(crops[:3, top:bottom, left:right]), rtol=1e-5)


def test_run_method_keeps_the_trace_length_on_short_input() -> None:
    frames, _ = make_frames(1.2, 1.0, 0, n=40)
    for name in METHODS:
        assert run_method(name, mean_rgb(frames), FS).shape == (40,), name


def test_the_product_reports_every_method_rising_with_blood_volume() -> None:
    """Blood darkens the skin: the frames below dim with the pulse, the contact PPG rises with it."""
    from edge_rppg.methods import ClassicRuntime

    frames, pulse = make_frames(1.2, 0.5, 0, n=161)
    darkened = 2 * frames.mean(axis=(0, 1, 2)) - frames  # intensity now falls when blood volume rises
    window = darkened.transpose(3, 0, 1, 2)[None]
    for name in ("green", "chrom", "pos", "lgi"):
        bvp = ClassicRuntime(name).run(window)[0]
        assert np.corrcoef(bvp[20:-20], pulse[21:-20])[0, 1] > 0.5, name


def test_eval_puts_a_model_and_a_classic_method_side_by_side(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from edge_rppg.cli import app
    from tests.fixtures import write_ubfc

    data = write_ubfc(tmp_path / "ubfc")
    out = tmp_path / "e.json"
    result = CliRunner().invoke(
        app,
        ["eval", "--data", str(data), "--method", "model", "--method", "pos", "--json", str(out)],
        env={"EDGE_RPPG_CACHE": str(tmp_path / "cache")},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["method"] == "model" and set(report["methods"]) == {"model", "pos"}
    assert report["overall"] == report["methods"]["model"]["overall"]
    assert len(report["methods"]["pos"]["videos"]) == len(report["videos"]) == 2
    assert "pos" in result.output and "model" in result.output
