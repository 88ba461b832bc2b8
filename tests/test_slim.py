"""The slim install (no PyTorch, no onnx) as a device has it: its own venv, built by the README's test command.

What a device needs works there (predict with the bundled model; export --from and bench are in
test_export.py and test_bench.py); what needs PyTorch says so in one line, naming what to install. In CI it is
also the OpenCV 5 line (``EDGE_RPPG_SLIM_OPENCV``): predict there crops by the shipped RFB-320.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.video import write_video
from tests.fixtures import SLIM_OPENCV_VAR, slim_cli, without_torch


@pytest.fixture(scope="module")
def pulse_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    clip = synthetic_clip(seed=4242, n_frames=450)
    path = tmp_path_factory.mktemp("video") / "pulse.avi"
    write_video(path, clip.frames((320, 240)), 30.0)
    return path, float(clip.hr_bpm.mean())


def test_the_slim_install_runs_on_the_opencv_line_ci_names() -> None:
    """Both OpenCV lines are tested: the slim venv's is the one CI names, and its default detector is the one that
    line has (Haar where the cascade exists, the shipped RFB-320 where OpenCV 5 dropped it)."""
    named = os.environ.get(SLIM_OPENCV_VAR)
    if named is None:
        pytest.skip(f"{SLIM_OPENCV_VAR} names no OpenCV line for the slim venv (CI sets it)")
    python = slim_cli().parent / "python"
    probe = "import cv2; from edge_rppg.data.detectors import DEFAULT_DETECTOR as d; print(cv2.__version__, d)"
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert out[0].split(".")[0] == named, out
    assert out[1] == ("rfb320" if int(named) >= 5 else "haar"), out


def test_predict_with_no_weights_runs_the_bundled_onnx_without_torch(pulse_video: tuple[Path, float]) -> None:
    path, true_hr = pulse_video
    proc = without_torch(["predict", str(path), "--json", "-"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "bundled model runs from its verified ONNX export" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["runtime"] == "openvino", "auto on an x86 CPU with OpenVINO installed"
    assert result["hr_bpm"] == pytest.approx(true_hr, abs=2.0)


@pytest.mark.parametrize(
    ("args", "package", "extra"),
    [
        (["train", "--epochs", "1"], "torch", "train"),
        (["export", "--weights", "default", "--target", "onnx"], "torch", "train"),
        (["predict", "VIDEO", "--runtime", "torch"], "torch", "train"),
        (["predict", "VIDEO", "--plot", "OUT/p.png"], "matplotlib", "plot"),
        (
            ["export", "--from", "ONNX", "--target", "onnx", "--precision", "fp16", "--out", "OUT/m.onnx"],
            "onnx",
            "onnx",
        ),
    ],
)
def test_what_the_slim_install_lacks_is_one_line_naming_the_extra(
    args: list[str], package: str, extra: str, pulse_video: tuple[Path, float], onnx_fp32: Path, tmp_path: Path
) -> None:
    given = {"VIDEO": str(pulse_video[0]), "ONNX": str(onnx_fp32)}
    args = [given.get(a, a.replace("OUT", str(tmp_path))) for a in args]
    proc = without_torch(args)
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr and last.startswith("error:"), proc.stderr[-2000:]
    assert package in last and f"edge-rppg[{extra}]" in last
    assert not list(tmp_path.iterdir()), "nothing written"
