"""Every stage of predict's pipeline ends: a failure injected into decoding (mid-file), cropping, inference or
writing ends the run within 2 s with one line naming the file and the stage, every thread joined; a decode that
fails mid-file is an error, never a shorter video. The video, the crop path and ONNX Runtime are real; only the
fault is injected, by wrapping the real function."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import edge_rppg.predict.writers as writers
from edge_rppg.cli import app
from edge_rppg.data.face import FaceCropper
from edge_rppg.data.source import Source
from edge_rppg.errors import StageFailed
from edge_rppg.predict.video import predict_video, resolve_runtime
from edge_rppg.runtimes import Runtime
from tests.fixtures import write_pulse_video

FRAMES = 400
FAIL_AT = 200  # frames in: past the first windows, so a shorter video would have had an answer
END_WITHIN_S = 2.0  # the bound from a failure to the caller's error
SLOW_WINDOW_S = 0.5  # an inference this slow makes four queued windows outlast the bound unless they are dropped


class Injected(RuntimeError):
    pass


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("stages") / "clip.avi"
    write_pulse_video(path, (160, 120), FRAMES)
    return path


@pytest.fixture
def runtime(onnx_fp32: Path) -> Iterator[Runtime]:
    with resolve_runtime(None, onnx_fp32, "onnxruntime", 1) as rt:
        yield rt


def _stage_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("edge-rppg-")]


def _ends_in_time(run: Callable[[], object], injected_at: list[float]) -> str:
    """The run's error, after checking it came within the bound of the fault and left no stage thread behind."""
    with pytest.raises(StageFailed) as failed:
        run()
    ended = time.monotonic()
    assert len(injected_at) == 1, "the fault was never reached"
    assert ended - injected_at[0] < END_WITHIN_S
    assert _stage_threads() == []
    return str(failed.value)


def _failing_after(calls: int, step: Callable[..., Any], injected_at: list[float]) -> Callable[..., Any]:
    count = 0

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        count += 1
        if count == calls:
            injected_at.append(time.monotonic())
            raise Injected("injected fault\nsecond line never shown")
        return step(*args, **kwargs)

    return wrapped


def _fail_decoding(monkeypatch: pytest.MonkeyPatch, injected: list[float]) -> None:
    """The source's frames, real up to FAIL_AT, where the decoder raises as OpenCV would on a corrupt packet."""
    real = Source.frames

    def frames(self: Source) -> Iterator[Any]:
        for i, frame in enumerate(real(self)):
            if i == FAIL_AT:
                injected.append(time.monotonic())
                raise Injected("corrupt packet")
            yield frame

    monkeypatch.setattr(Source, "frames", frames)


def test_a_decode_failing_mid_file_is_an_error_naming_the_stage_not_a_shorter_video(
    video: Path, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    injected: list[float] = []
    _fail_decoding(monkeypatch, injected)
    error = _ends_in_time(lambda: predict_video(video, runtime), injected)
    assert error == f"{video}: decoding after {FAIL_AT} frames failed (corrupt packet)"


def test_the_cli_says_the_decode_failure_in_one_line_and_writes_nothing(
    video: Path, onnx_fp32: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_decoding(monkeypatch, [])
    out = tmp_path / "out.json"
    args = ["predict", str(video), "--model", str(onnx_fp32), "--runtime", "onnxruntime", "--json", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "decoding after 200 frames failed (corrupt packet)" in result.output.replace("\n", "")
    assert "Traceback" not in result.output and not out.exists()


def test_a_crop_failure_drops_the_queued_windows_of_a_slow_runtime(
    video: Path, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = runtime.run

    def slow(frames: Any) -> Any:
        time.sleep(SLOW_WINDOW_S)
        return real_run(frames)

    monkeypatch.setattr(runtime, "run", slow)
    injected: list[float] = []
    monkeypatch.setattr(FaceCropper, "push", _failing_after(FAIL_AT, FaceCropper.push, injected))
    error = _ends_in_time(lambda: predict_video(video, runtime), injected)
    assert error == f"{video}: cropping failed (injected fault)"


def test_an_inference_failure_names_the_runtime(video: Path, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    injected: list[float] = []
    monkeypatch.setattr(runtime, "run", _failing_after(2, runtime.run, injected))
    error = _ends_in_time(lambda: predict_video(video, runtime), injected)
    assert error == f"{video}: inference on onnxruntime failed (injected fault)"


def test_a_writer_failure_names_its_file_and_writes_none_of_the_outputs(
    video: Path, runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = predict_video(video, runtime)
    injected: list[float] = []
    monkeypatch.setattr(writers, "_beats_csv", _failing_after(1, writers._beats_csv, injected))
    json_path, csv_path = tmp_path / "r.json", tmp_path / "r.csv"
    error = _ends_in_time(lambda: writers.write_outputs(result, json_path, csv_path, None), injected)
    assert error == f"{writers.beats_csv_path(csv_path)}: writing failed (injected fault)"
    assert sorted(tmp_path.iterdir()) == []
