"""predict on realistic video: a real portrait whose skin pulses with a real contact-PPG recording, camera
noise, MJPEG, head sway and light drift, rendered by benchmarks/realistic_corpus.py (the held-out face and
waveforms). The truth is neurokit2's reading of the contact PPG, not our own beat detector."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_rppg.cli import app

for needed in ("heartpy", "neurokit2", "skimage"):
    if importlib.util.find_spec(needed) is None:
        pytest.skip(f"{needed} is not installed (the dev extra renders the realistic corpus)", allow_module_level=True)

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
import realistic_corpus as corpus  # noqa: E402
import realistic_eval  # noqa: E402

SECONDS = 24.0


def _spec(pulsed: bool) -> corpus.VideoSpec:
    base = corpus.sample_spec("held-out", 0, SECONDS)
    return dataclasses.replace(
        base,
        name=f"test-{'pulse' if pulsed else 'none'}",
        pulsed=pulsed,
        fps=30.0,
        width=640,
        height=480,
        face_frac=0.25,
        codec="mjpeg",
        quality=70,
        motion="sway",
        motion_amp=0.02,
        light="drift",
        light_amp=0.05,
        skin_tone=(0.86, 0.8, 0.76),
        pulse_amplitude=0.01,
    )


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, tuple[Path, float]]:
    out = tmp_path_factory.mktemp("realistic")
    made = {}
    for pulsed in (True, False):
        spec = _spec(pulsed)
        path = corpus.write(spec, out)
        beats = np.array(realistic_eval.truth(np.load(out / f"{spec.name}.ppg.npy"))["beats_s"])
        ends = np.arange(10.0, SECONDS, 1.0)
        made[pulsed] = (path, float(np.nanmedian([realistic_eval.segment_truth_hr(beats, e) for e in ends])))
    return made


@pytest.mark.parametrize("method", ["model", "pos"])
def test_realistic_pulse_is_read_within_two_bpm(
    clips: dict[bool, tuple[Path, float]], method: str, tmp_path: Path
) -> None:
    path, true_hr = clips[True]
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["predict", str(path), "--method", method, "--json", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["hr_bpm"] is not None, summary["hr_reason"]
    assert abs(summary["hr_bpm"] - true_hr) <= 2.0, (summary["hr_bpm"], true_hr)
    lo, hi = summary["hr_spread_bpm"]
    assert lo <= summary["hr_bpm"] <= hi
    last = summary["per_window"][-1]
    assert last["witness_hr_bpm"] is not None and 0 <= last["motion"] < 1.0 and last["light_step"] < 0.05


def test_realistic_pulseless_video_is_refused(clips: dict[bool, tuple[Path, float]], tmp_path: Path) -> None:
    path, _ = clips[False]
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["predict", str(path), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["hr_bpm"] is None


def test_a_classic_method_refuses_a_model_argument(clips: dict[bool, tuple[Path, float]]) -> None:
    path, _ = clips[True]
    both = CliRunner().invoke(app, ["predict", str(path), "--method", "pos", "--weights", "default"])
    assert both.exit_code == 2 and "runs without a model" in both.output
