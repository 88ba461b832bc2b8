"""Tiny datasets written in each dataset's exact on-disk layout, from the synthetic generator."""

from __future__ import annotations

import functools
import json
import os
import struct
import subprocess
from pathlib import Path

import cv2
import numpy as np

from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.video import write_video

SIZE = (160, 120)
FACE_SEED = 3  # a subject whose face the Haar cascade finds in every detection frame


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + (b"\0" if len(data) % 2 else b"")


def _riff_list(kind: bytes, body: bytes) -> bytes:
    return b"LIST" + struct.pack("<I", len(body) + 4) + kind + body


def write_interlaced_mjpeg(path: Path, frames: list[np.ndarray], fps: int = 30) -> None:
    """An AVI of interlaced Motion-JPEG, as DV-era and some capture cards write it: each packet holds two JPEG
    fields (the even rows, then the odd), each half the frame's height. OpenCV cannot write one, so the container
    is written here (RIFF: avih, strh, strf, movi, idx1); FFmpeg decodes it into whole frames."""
    h, w = frames[0].shape[:2]
    packets = [
        b"".join(cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR)[row::2])[1].tobytes() for row in (0, 1))
        for f in frames
    ]
    n, biggest = len(packets), max(map(len, packets))
    avih = struct.pack("<14I", 1_000_000 // fps, 0, 0, 0x10, n, 0, 1, biggest, w, h, 0, 0, 0, 0)
    strh = b"vidsMJPG" + struct.pack("<IHHIIIIIIIIhhhh", 0, 0, 0, 0, 1, fps, 0, n, biggest, 0xFFFFFFFF, 0, 0, 0, w, h)
    strf = struct.pack("<IiiHH4sIiiII", 40, w, h, 1, 24, b"MJPG", w * h * 3, 0, 0, 0, 0)
    stream = _riff_list(b"strl", _chunk(b"strh", strh) + _chunk(b"strf", strf))
    movi, index = b"", b""
    for packet in packets:
        index += b"00dc" + struct.pack("<III", 0x10, 4 + len(movi), len(packet))
        movi += _chunk(b"00dc", packet)
    body = b"AVI " + _riff_list(b"hdrl", _chunk(b"avih", avih) + stream) + _riff_list(b"movi", movi)
    body += _chunk(b"idx1", index)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def write_pulse_video(path: Path, size: tuple[int, int], n_frames: int, seed: int = 4242) -> float:
    """A synthetic face video written by OpenCV (Motion-JPEG at 30 fps); returns its mean true HR."""
    clip = synthetic_clip(seed=seed, n_frames=n_frames)
    write_video(path, clip.frames(size), 30.0)
    return float(clip.hr_bpm.mean())


def clip_frames(n: int, seed: int = FACE_SEED) -> tuple[list[np.ndarray], np.ndarray]:
    clip = synthetic_clip(seed, n)
    return list(clip.frames(SIZE)), clip.ppg


def write_ubfc(root: Path, subjects: tuple[int, ...] = (1, 3), n: int = 170) -> Path:
    for k in subjects:
        d = root / f"subject{k}"
        d.mkdir(parents=True)
        frames, ppg = clip_frames(n)
        write_video(d / "vid.avi", iter(frames), 30.0)
        t = np.arange(n) / 30
        (d / "ground_truth.txt").write_text(
            "\n".join(" ".join(f"{v:.6e}" for v in row) for row in (ppg, np.full(n, 72.0), t))
        )
    return root


def write_pure(root: Path, n: int = 170) -> Path:
    for name in ("01-01", "02-01"):
        frames, ppg = clip_frames(n)
        d = root / name / name
        d.mkdir(parents=True)
        for i, f in enumerate(frames):
            cv2.imwrite(str(d / f"Image{1_000_000_000 + i * 33_333_333}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        wave = np.interp(np.linspace(0, n - 1, 2 * n), np.arange(n), ppg)  # pulse oximeter at ~60 Hz
        package = [
            {
                "Timestamp": i,
                "Value": {"waveform": int(100 + 50 * v), "pulseRate": 72, "o2saturation": 98, "signalStrength": 4},
            }
            for i, v in enumerate(wave)
        ]
        (root / name / f"{name}.json").write_text(
            json.dumps({"/FullPackage": package, "/Image": [{"Timestamp": i} for i in range(n)]})
        )
    return root


def write_ibvp(root: Path, n: int = 180, bad: slice = slice(0, 10)) -> Path:
    for name in ("p01_a", "p02_a"):
        frames, ppg = clip_frames(n)
        d = root / name / f"{name}_rgb"
        d.mkdir(parents=True)
        for i, f in enumerate(frames):
            cv2.imwrite(str(d / f"{i:05d}.bmp"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        quality = np.ones(n)
        quality[bad] = 0.1
        rows = ["BVP,t1,t2,SQ"] + [f"{b:.5f},0,0,{q:.2f}" for b, q in zip(ppg, quality, strict=True)]
        (root / name / f"{name}_bvp.csv").write_text("\n".join(rows) + "\n")
    return root


def write_scamps(root: Path, n: int = 165) -> Path:
    import h5py

    root.mkdir(parents=True, exist_ok=True)
    frames, ppg = clip_frames(n)
    for name in ("P000001", "P000002"):
        with h5py.File(root / f"{name}.mat", "w", userblock_size=512) as f:
            # MATLAB stores H×W×3×T column-major; h5py shows it reversed: (T, 3, W, H).
            x = np.stack(frames).astype(np.float64).transpose(0, 3, 2, 1) / 255.0
            f.create_dataset("Xsub", data=x).attrs["MATLAB_class"] = b"double"
            f.create_dataset("d_ppg", data=ppg[None, :]).attrs["MATLAB_class"] = b"double"
    return root


# The slim install a device gets (``pip install -e ".[openvino]"``: no PyTorch, no onnx), built beside the
# full venv by the README's test command. CI names it, so there a missing slim venv fails instead of skipping.
SLIM_VENV_VAR = "EDGE_RPPG_SLIM_VENV"
# CI gives the slim venv OpenCV 5 (installed over the package's <5 pin, on purpose) and names that line here: the
# full venv tests the 4.x line (Haar, on whose crops every shipped gate was fitted), the slim one the 5.x line (no
# Haar cascade: the RFB-320 whose weights ship in the package).
SLIM_OPENCV_VAR = "EDGE_RPPG_SLIM_OPENCV"
SLIM_SETUP = 'python3 -m venv .venv-slim && .venv-slim/bin/pip install -e ".[openvino]"'


def slim_cli() -> Path:
    """The slim venv's ``edge-rppg``, after checking that ``import torch`` fails there (the tests prove what
    they claim); skipped, saying how to build it, where no slim venv was built and none was asked for."""
    import pytest

    named = os.environ.get(SLIM_VENV_VAR)
    venv = Path(named or ".venv-slim").absolute()
    cli = venv / "bin" / "edge-rppg"
    if not cli.exists():
        if named:
            pytest.fail(f"{SLIM_VENV_VAR}={named}: no edge-rppg in that venv")
        pytest.skip(f"no slim venv to run in: {SLIM_SETUP}")
    _torch_absent(venv / "bin" / "python")
    return cli


@functools.cache
def _torch_absent(python: Path) -> None:
    probe = subprocess.run([str(python), "-c", "import torch"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr, f"{python}: PyTorch is importable"


def without_torch(args: list[str]) -> subprocess.CompletedProcess[str]:
    """``edge-rppg ARGS`` as a device without PyTorch runs it: the slim install's own command."""
    return subprocess.run([str(slim_cli()), *args], capture_output=True, text=True, timeout=600)


def write_labelled(root: Path, pulsed: tuple[int, ...], pulseless: tuple[int, ...], seconds: float = 12.0) -> Path:
    """Clips in the layout ``edge-rppg calibrate --data`` reads: synthetic faces written by OpenCV, each pulsed
    one with its contact PPG (at the video's 30 fps), each pulseless one the same kind of face with no pulse."""
    root.mkdir(parents=True, exist_ok=True)
    n = int(seconds * 30)
    for seed, pulse in [(s, True) for s in pulsed] + [(s, False) for s in pulseless]:
        clip = synthetic_clip(seed, n, pulse=pulse)
        name = f"{'pulsed' if pulse else 'pulseless'}-{seed}"
        write_video(root / f"{name}.avi", clip.frames(SIZE), 30.0)
        (root / f"{name}.json").write_text(json.dumps({"pulsed": pulse, "ppg_fs": 30.0}))
        if pulse:
            np.save(root / f"{name}.ppg.npy", clip.ppg)
    return root
