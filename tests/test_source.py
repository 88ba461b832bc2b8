"""A video is opened once: predicting a file (Motion-JPEG read coded, or another codec decoded), a folder of frames
or a camera opens its container once, and what predict needs first (rate, size, codec, whether frames stay coded)
comes from that opening. Counted on the real OpenCV capture, wrapped to count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from edge_rppg.cli import app
from edge_rppg.data.face import CropSettings
from edge_rppg.data.source import open_source
from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.video import write_video
from edge_rppg.predict.video import predict_video, resolve_runtime
from edge_rppg.runtimes import Runtime
from tests.fixtures import write_pulse_video

CAMERA = 0


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 640x480 Motion-JPEG close-up (read coded), the same as MPEG-4 Part 2 (decoded), and a folder of PNGs."""
    root = tmp_path_factory.mktemp("source")
    mjpeg, mp4 = root / "face.avi", root / "face.mp4"
    write_pulse_video(mjpeg, (640, 480), 330)
    write_video(mp4, synthetic_clip(seed=4242, n_frames=330).frames((640, 480)), 30.0, codec="mp4v")
    folder = root / "frames"
    folder.mkdir()
    for i, frame in enumerate(synthetic_clip(seed=7, n_frames=330).frames((320, 240))):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    return {"mjpeg": mjpeg, "mp4": mp4, "folder": folder}


@pytest.fixture
def openings(monkeypatch: pytest.MonkeyPatch, videos: dict[str, Path]) -> Counter[str]:
    """Every cv2.VideoCapture and cv2.imread, by what it opened; camera 0 is the MJPEG file played as a camera."""
    count: Counter[str] = Counter()
    real_capture, real_imread = cv2.VideoCapture, cv2.imread

    def capture(source: Any, *args: Any) -> cv2.VideoCapture:
        count[str(source)] += 1
        return real_capture(str(videos["mjpeg"]) if source == CAMERA else source, *args)

    def imread(path: str, *args: Any) -> np.ndarray | None:
        count[path] += 1
        return real_imread(path, *args)

    monkeypatch.setattr(cv2, "VideoCapture", capture)
    monkeypatch.setattr(cv2, "imread", imread)
    return count


@pytest.fixture(scope="module")
def runtime(onnx_fp32: Path) -> Iterator[Runtime]:
    with resolve_runtime(None, onnx_fp32, "onnxruntime", 1) as rt:
        yield rt


@pytest.mark.parametrize(("kind", "coded"), [("mjpeg", True), ("mp4", False)])
def test_predicting_a_file_opens_it_once(
    kind: str, coded: bool, videos: dict[str, Path], runtime: Runtime, openings: Counter[str]
) -> None:
    path = videos[kind]
    with open_source(path, CropSettings()) as source:
        assert (source.coded, source.stated_fps, source.width, source.height) == (coded, 30.0, 640, 480)
    openings.clear()
    result = predict_video(path, runtime)
    assert result.frames == 330 and result.windows > 0
    assert openings == Counter({str(path): 1})


def test_a_folder_of_frames_reads_each_image_once(
    videos: dict[str, Path], runtime: Runtime, openings: Counter[str]
) -> None:
    from edge_rppg.predict.pipeline import PredictOptions

    result = predict_video(videos["folder"], runtime, PredictOptions(fps=30.0))
    assert result.frames == 330
    assert len(openings) == 330 and set(openings.values()) == {1}


def test_a_camera_is_opened_once(runtime: Runtime, openings: Counter[str]) -> None:
    result = predict_video(CAMERA, runtime)
    assert result.source == f"camera {CAMERA}" and result.frames == 330
    assert openings == Counter({str(CAMERA): 1})


def test_the_cli_opens_the_file_once_and_says_an_fps_override_from_that_opening(
    videos: dict[str, Path], onnx_fp32: Path, openings: Counter[str]
) -> None:
    path = videos["mjpeg"]
    args = ["predict", str(path), "--model", str(onnx_fp32), "--runtime", "onnxruntime", "--fps", "25"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "--fps 25 overrides the file's own 30 fps" in result.output.replace("\n", " ")
    assert openings[str(path)] == 1


def test_a_datasets_video_is_opened_once_to_index_and_once_to_read(openings: Counter[str], tmp_path: Path) -> None:
    """Indexing a UBFC-rPPG folder looks at each video's header once (rate and frame count), and reading its
    frames as training and eval do opens it once more."""
    from edge_rppg.data.readers import read_ubfc
    from tests.fixtures import write_ubfc

    root = write_ubfc(tmp_path / "ubfc", subjects=(1, 3), n=170)
    openings.clear()
    items = read_ubfc(root)
    assert [item.frame_count() for item in items] == [170, 170]
    frames = [sum(1 for _ in item.read(CropSettings())) for item in items]
    assert frames == [170, 170]
    videos = {str(item.source) for item in items}
    assert {k: v for k, v in openings.items() if k in videos} == dict.fromkeys(videos, 2)


def test_interlaced_motion_jpeg_is_read_decoding_from_its_second_frame(openings: Counter[str], tmp_path: Path) -> None:
    """A Motion-JPEG file whose packets hold two fields is opened to be read coded, like any close-up; its second
    packet is no whole JPEG of the stream's size, so the file is opened once more and decoded from frame 2: every
    frame comes, whole and in order, from two openings."""
    from tests.fixtures import write_interlaced_mjpeg

    clip = list(synthetic_clip(seed=4242, n_frames=90).frames((640, 480)))
    for i, frame in enumerate(clip):  # a grey block whose level names the frame: a skipped or repeated one shows
        frame[-64:, -64:] = (i * 37) % 200 + 20
    path = tmp_path / "interlaced.avi"
    write_interlaced_mjpeg(path, clip)
    openings.clear()
    with open_source(path, CropSettings()) as source:
        assert source.coded and (source.width, source.height) == (640, 480)
        frames = [frame.at(1) for frame in source.frames()]
    assert len(frames) == 90 and openings[str(path)] == 2
    levels = [float(frame[-48:-16, -48:-16].mean()) for frame in frames]
    assert all(abs(level - ((i * 37) % 200 + 20)) < 4 for i, level in enumerate(levels)), levels
    pairs = zip(frames, clip, strict=True)
    errors = [float(np.abs(got.astype(np.int16) - want.astype(np.int16)).mean()) for got, want in pairs]
    assert max(errors) < 4.0, errors  # each frame is its own (JPEG's loss only), none skipped or repeated
