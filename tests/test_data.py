from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_rppg.data.detectors import enlarge
from edge_rppg.data.preprocess import chunk_window, preprocess_videos
from edge_rppg.data.readers import read_dataset, resample_to, split_by_subject
from edge_rppg.errors import DatasetError, VideoError
from tests.fixtures import clip_frames, write_ibvp, write_pure, write_scamps, write_ubfc

WRITERS = {"ubfc-rppg": write_ubfc, "pure": write_pure, "ibvp": write_ibvp, "scamps": write_scamps}


@pytest.mark.parametrize("dataset", list(WRITERS))
def test_reader_and_preprocessing_on_fixture(dataset: str, tmp_path: Path) -> None:
    root = WRITERS[dataset](tmp_path / dataset)
    items = read_dataset(root, dataset)
    assert len(items) == 2
    item = items[0]
    n = item.frame_count()
    labels, _keep = item.labels(n)
    assert len(labels) == n
    first = next(item.frames())
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    chunks = preprocess_videos(items, dataset, root, cache_root=tmp_path / "cache", workers=1)
    assert len(chunks) == 2, chunks
    x, y = chunk_window(chunks[0])
    assert x.shape == (3, 161, 72, 72) and x.dtype == np.float32 and x.min() >= 0 and x.max() <= 255
    assert np.array_equal(x[:, -1], x[:, -2])  # the trainer's repeated last frame
    assert y.shape == (160,)


def test_labels_follow_the_frames(tmp_path: Path) -> None:
    """The stored label of a chunk is the video's z-scored PPG at those frames."""
    root = write_ubfc(tmp_path / "u", subjects=(1,))
    item = read_dataset(root, "ubfc-rppg")[0]
    chunks = preprocess_videos([item], "ubfc-rppg", root, cache_root=tmp_path / "c", workers=1)
    _, ppg = clip_frames(170)
    z = (ppg - ppg.mean()) / ppg.std()
    manifest = json.loads((chunks[0].frames.parent / "subject1.json").read_text())
    skipped = manifest["frames_without_face"]
    assert np.allclose(np.load(chunks[0].label), z[skipped : skipped + 160], atol=1e-5)


def test_pure_label_is_resampled_from_60_hz(tmp_path: Path) -> None:
    root = write_pure(tmp_path / "p")
    item = read_dataset(root, "pure")[0]
    assert item.subject == "01" and item.frame_count() == 170
    labels, _ = item.labels(170)
    _, ppg = clip_frames(170)
    assert np.corrcoef(labels, ppg)[0, 1] > 0.999


def test_ibvp_drops_low_quality_frames_with_their_labels(tmp_path: Path) -> None:
    root = write_ibvp(tmp_path / "i", n=180, bad=slice(0, 30))
    item = read_dataset(root, "ibvp")[0]
    _, keep = item.labels(180)
    assert keep is not None and keep.sum() == 150
    chunks = preprocess_videos([item], "ibvp", root, cache_root=tmp_path / "c", workers=1)
    assert len(chunks) == 0  # 150 kept frames < one 160-frame chunk


def test_scamps_orientation(tmp_path: Path) -> None:
    root = write_scamps(tmp_path / "s")
    item = read_dataset(root, "scamps")[0]
    frames, _ = clip_frames(165)
    got = next(item.frames())
    assert got.shape == frames[0].shape
    assert np.abs(got.astype(int) - frames[0].astype(int)).max() <= 1


def test_cache_is_reused(tmp_path: Path) -> None:
    root = write_ubfc(tmp_path / "u", subjects=(1,))
    items = read_dataset(root, "ubfc-rppg")
    first = preprocess_videos(items, "ubfc-rppg", root, cache_root=tmp_path / "c", workers=1)
    stamp = first[0].frames.stat().st_mtime_ns
    second = preprocess_videos(items, "ubfc-rppg", root, cache_root=tmp_path / "c", workers=1)
    assert second == first and second[0].frames.stat().st_mtime_ns == stamp


def test_video_without_a_face_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "u"
    write_ubfc(root, subjects=(1,))
    from edge_rppg.data.video import write_video

    blank = (np.random.default_rng(0).uniform(0, 255, (170, 120, 160, 3))).astype(np.uint8)
    write_video(root / "subject1" / "vid.avi", iter(blank), 30.0)
    items = read_dataset(root, "ubfc-rppg")
    messages: list[str] = []
    assert preprocess_videos(items, "ubfc-rppg", root, cache_root=tmp_path / "c", workers=1, log=messages.append) == []
    assert len(messages) == 1 and "subject1/vid.avi" in messages[0] and "no face" in messages[0]
    with pytest.raises(VideoError, match="no face found"):
        preprocess_videos(items, "ubfc-rppg", root, cache_root=tmp_path / "c2", workers=1, on_no_face="fail")


@pytest.mark.parametrize("dataset", list(WRITERS))
def test_wrong_layout_is_one_clear_error(dataset: str, tmp_path: Path) -> None:
    (tmp_path / "random_folder").mkdir()
    with pytest.raises(DatasetError, match=str(tmp_path)):
        read_dataset(tmp_path, dataset)


def test_missing_label_file(tmp_path: Path) -> None:
    root = write_ubfc(tmp_path / "u", subjects=(1,))
    (root / "subject1" / "ground_truth.txt").unlink()
    with pytest.raises(DatasetError, match=r"ground_truth.txt"):
        read_dataset(root, "ubfc-rppg")


def test_subject_split_is_by_sorted_subject() -> None:
    from edge_rppg.data.readers import VideoItem

    items = [
        VideoItem(
            name=f"subject{k}",
            subject=f"subject{k}",
            source=Path("."),
            fps=30.0,
            frames=iter,
            frame_count=int,
            labels=int,
        )
        for k in (1, 3, 4, 10, 12)
    ]  # type: ignore[arg-type]
    assert [i.name for i in split_by_subject(items, 0.0, 0.6)] == ["subject1", "subject3", "subject4"]
    assert [i.name for i in split_by_subject(items, 0.6, 1.0)] == ["subject10", "subject12"]


def test_resample_and_enlarge() -> None:
    assert np.allclose(resample_to(np.array([0.0, 1.0, 2.0]), 5), [0, 0.5, 1, 1.5, 2])
    assert enlarge((10, 10, 20, 20), 1.5, 100, 100) == (5, 5, 30, 30)
    assert enlarge((0, 0, 20, 20), 1.5, 100, 100) == (0, 0, 25, 25)  # clipped to the image


def test_every_detector_finds_a_synthetic_face_where_it_is() -> None:
    from edge_rppg.data.detectors import DETECTORS
    from edge_rppg.data.synthetic import synthetic_clip

    frame = next(iter(synthetic_clip(seed=1, n_frames=1).frames((320, 240))))
    for name, make in DETECTORS.items():
        faces = make().detect(frame)
        assert faces, name
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        assert x >= 0 and y >= 0 and x + w <= 320 and y + h <= 240 and 40 < w < 240, (name, faces)
        assert abs(x + w / 2 - 160) < 60 and abs(y + h / 2 - 120) < 60, (name, faces)


def test_a_ubfc_video_is_read_at_the_rate_its_file_states(tmp_path: Path) -> None:
    """A 25-fps vid.avi in the UBFC layout is resampled from 25 fps, not taken for the dataset's published 30."""
    from edge_rppg.data.synthetic import write_synthetic_ubfc

    root = write_synthetic_ubfc(tmp_path / "u25", subjects=1, seconds=2.0, fps=25.0)
    assert read_dataset(root, "ubfc-rppg")[0].fps == pytest.approx(25.0)


def test_a_video_folder_file_without_a_frame_rate_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Calibration videos of unknown rate are refused in one line, as predict refuses them, not read as 30 fps."""
    from edge_rppg.data import readers
    from edge_rppg.data.synthetic import write_synthetic_ubfc
    from edge_rppg.data.video import VideoProbe

    video = write_synthetic_ubfc(tmp_path / "u", subjects=1, seconds=1.0) / "subject1" / "vid.avi"
    folder = tmp_path / "videos"
    folder.mkdir()
    video.rename(folder / "clip.avi")
    assert read_dataset(folder, "videos")[0].fps == pytest.approx(30.0)  # the file states its rate
    monkeypatch.setattr(
        readers, "probe", lambda path: VideoProbe(fps=None, frames=None, width=320, height=240)
    )  # as an unstated one reads
    with pytest.raises(DatasetError, match=r"clip\.avi: the frame rate is unknown"):
        read_dataset(folder, "videos")
