"""Frames decoded at the size the crop needs: Motion-JPEG by libjpeg's scaled decode, other codecs whole and
area-resized; the tracker's choice of reduction; predict's heart rate the same with and without it. On real
video files written with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_rppg.data.face import CropSettings, FaceCropper
from edge_rppg.data.frames import ArrayFrame, JpegFrame
from edge_rppg.data.source import open_source
from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.tracking import choose_reduction, reduce_box
from edge_rppg.data.video import iter_frames, write_video
from edge_rppg.predict.pipeline import PredictOptions
from edge_rppg.predict.video import predict_video, resolve_runtime
from tests.fixtures import write_pulse_video

ASSET = Path(__file__).parent / "assets" / "synthetic_fsam.pt"
VGA = (640, 480)


@pytest.fixture(scope="module")
def vga_mjpeg(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """A 640x480 Motion-JPEG face video, the size a webcam records, with a face of ~360 px."""
    path = tmp_path_factory.mktemp("vga") / "face.avi"
    return path, write_pulse_video(path, VGA, 360)


def test_a_motion_jpeg_frame_decodes_reduced_as_an_area_resize_of_its_full_decode(
    vga_mjpeg: tuple[Path, float],
) -> None:
    path, _ = vga_mjpeg
    with open_source(path, CropSettings()) as source:
        frames = source.frames()
        for _ in range(5):
            frame = next(frames)
    assert isinstance(frame, JpegFrame)
    full, half, quarter = frame.at(1), frame.at(2), frame.at(4)
    assert (full.shape, half.shape, quarter.shape) == ((480, 640, 3), (240, 320, 3), (120, 160, 3))
    area = cv2.resize(full, (320, 240), interpolation=cv2.INTER_AREA).astype(np.float64)
    assert np.abs(half - area).mean() < 0.5  # grey levels: the DCT's scaling averages as an area resize does
    ffmpeg = next(x for i, x in enumerate(iter_frames(path)) if i == 4)
    assert np.abs(full.astype(np.float64) - ffmpeg).mean() < 1.0  # libjpeg's decode is FFmpeg's, but for rounding
    assert frame.at(2) is half  # made once


def test_frames_of_other_codecs_are_decoded_whole_and_area_resized(tmp_path: Path) -> None:
    path = tmp_path / "face.mp4"  # mp4v: no packet is a JPEG image
    write_video(path, synthetic_clip(seed=1, n_frames=10).frames(VGA), 30.0, codec="mp4v")
    with open_source(path, CropSettings()) as source:
        frame = next(source.frames())
        assert not source.coded and source.codec == "FMP4"  # FFmpeg names MPEG-4 Part 2 so
    assert isinstance(frame, ArrayFrame)
    full = next(iter_frames(path))
    assert np.array_equal(frame.at(1), full)
    assert np.array_equal(frame.at(2), cv2.resize(full, (320, 240), interpolation=cv2.INTER_AREA))


@pytest.mark.parametrize(
    ("box_side", "width", "current", "most", "expected"),
    [
        (366, 640, 0, 8, 2),  # a webcam close-up: half size keeps 183 px across the box
        (290, 640, 0, 8, 2),
        (120, 640, 0, 8, 1),  # a small face keeps every pixel
        (366, 320, 0, 8, 1),  # the flow never reads fewer than 320 px across
        (620, 1920, 0, 8, 4),
        (620, 1920, 0, 2, 2),  # max_reduction caps it
        (160, 1920, 2, 8, 1),  # the face shrank: back to a finer image
        (300, 1920, 2, 8, 2),  # 150 px at half size: still fits
        (300, 1920, 1, 8, 1),  # ...but a coarser one needs a margin: a box near the bound does not flip
        (290, 640, 1, 8, 1),
    ],
)
def test_the_reduction_keeps_two_box_pixels_per_crop_pixel(
    box_side: float, width: int, current: int, most: int, expected: int
) -> None:
    assert choose_reduction(box_side, width, 72, current, most) == expected


def test_a_file_stays_coded_only_where_its_face_is_read_reduced(vga_mjpeg: tuple[Path, float], tmp_path: Path) -> None:
    """libjpeg decodes a reduced frame 2.5x cheaper than FFmpeg's whole one, but a whole one slower and with
    other chroma: a face read whole keeps FFmpeg's decode."""
    path, _ = vga_mjpeg
    small = tmp_path / "small.avi"
    write_pulse_video(small, (320, 240), 5)
    for video, crop, coded in ((path, CropSettings(), True), (path, CropSettings(max_reduction=1), False),
                               (small, CropSettings(), False)):  # fmt: skip
        with open_source(video, crop) as source:
            frames = list(source.frames())
        assert source.codec == "MJPG" and source.coded is coded
        assert isinstance(frames[0], ArrayFrame)  # the first, FFmpeg's decode, shows where the face is
        assert all(isinstance(f, JpegFrame if coded else ArrayFrame) for f in frames[1:])


def test_a_box_maps_onto_the_reduced_image_inside_it() -> None:
    assert reduce_box((101, 51, 300, 200), 1, 640, 480) == (101, 51, 300, 200)
    assert reduce_box((101, 51, 300, 200), 2, 320, 240) == (50, 26, 150, 100)
    assert reduce_box((500, 400, 140, 80), 2, 320, 240) == (250, 200, 70, 40)
    assert reduce_box((639, 479, 1, 1), 4, 160, 120) == (159, 119, 1, 1)


def test_the_tracker_crops_a_close_up_at_half_size_and_the_crops_match_the_full_frames(
    vga_mjpeg: tuple[Path, float],
) -> None:
    path, _ = vga_mjpeg
    reduced, full = FaceCropper(CropSettings(), 30.0), FaceCropper(CropSettings(max_reduction=1), 30.0)
    diffs = []
    with open_source(path, CropSettings()) as source:
        for i, frame in enumerate(source.frames()):
            a, b = reduced.push(frame), full.push(frame)
            diffs += [np.abs(x.crop - y.crop).mean() for x, y in zip(a, b, strict=True)]
            if i == 90:
                break
    assert reduced.tracker.reduction == 2 and full.tracker.reduction == 1
    assert np.abs(np.array(reduced.box) - np.array(full.box)).max() <= 2  # full-frame pixels
    assert np.median(diffs) < 2.0  # grey levels, of a crop's 0-255


def test_predict_reads_the_same_pulse_from_half_size_frames(vga_mjpeg: tuple[Path, float]) -> None:
    path, true_hr = vga_mjpeg
    rt = resolve_runtime(ASSET, None, "torch", 2)
    reduced = predict_video(path, rt, PredictOptions())
    full = predict_video(path, rt, PredictOptions(crop=CropSettings(max_reduction=1)))
    assert (reduced.frame_reduction, full.frame_reduction) == (2, 1)
    assert reduced.hr_bpm is not None and full.hr_bpm is not None
    assert abs(reduced.hr_bpm - full.hr_bpm) <= 0.5 and abs(reduced.hr_bpm - true_hr) <= 2
    assert np.corrcoef(reduced.bvp, full.bvp)[0, 1] >= 0.99


def test_a_dataset_reads_a_close_up_as_predict_does(vga_mjpeg: tuple[Path, float]) -> None:
    """Training and eval crop a file from the same decode as predict: kept coded where predict keeps it."""
    from edge_rppg.data.readers import read_video_folder

    path, _ = vga_mjpeg
    (item,) = read_video_folder(path.parent)
    frames = item.read(CropSettings())
    assert isinstance(next(frames), ArrayFrame) and isinstance(next(frames), JpegFrame)
    frames = item.read(CropSettings(max_reduction=1))
    whole = [next(frames), next(frames)]  # FFmpeg's decode, as predict reads it then
    assert all(isinstance(f, ArrayFrame) for f in whole)
    assert np.array_equal(whole[1].at(1), next(x for i, x in enumerate(iter_frames(path)) if i == 1))
