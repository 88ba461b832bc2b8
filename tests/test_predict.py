"""predict on real video files written with OpenCV, through every runtime available here."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import edge_rppg.predict.video as predict_mod
from edge_rppg.cli import app
from edge_rppg.data.source import open_source
from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.video import write_video
from edge_rppg.predict.pipeline import PredictOptions, run_pipeline
from edge_rppg.predict.video import LiveWindow, gate_of, predict_video, read_vitals, resolve_runtime
from edge_rppg.signals.hr import fine_fft_hr
from edge_rppg.signals.quality import HR_SEGMENT_FRAMES
from edge_rppg.signals.streaming import FpsResampler, WindowScheduler, overlap_add
from tests.fixtures import write_pulse_video

DEFAULT_ONNX = Path(__file__).parents[1] / "edge_rppg" / "assets" / "default_model.onnx"  # the bundled model, exported
ASSET = Path(__file__).parent / "assets" / "synthetic_fsam.pt"  # trained by `edge-rppg train` on the synthetic set
SIZE = (320, 240)


@pytest.fixture(scope="module")
def pulse_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    path = tmp_path_factory.mktemp("video") / "pulse.avi"
    return path, write_pulse_video(path, SIZE, 450)


def test_overlap_add_reassembles_a_known_signal_exactly() -> None:
    x = np.sin(np.linspace(0, 40, 700)) + np.linspace(0, 1, 700)
    starts = list(range(0, 700 - 160 + 1, 30))
    y = overlap_add([x[s : s + 160] for s in starts], starts)
    assert np.allclose(y[: starts[-1] + 160], x[: starts[-1] + 160], atol=1e-12)


def test_fps_resampling_keeps_the_heart_rate() -> None:
    fps_in, n = 25.0, 500
    t = np.arange(n) / fps_in
    frames = [np.full((2, 2, 3), 100 + 10 * np.sin(2 * np.pi * 1.2 * ti), dtype=np.float32) for ti in t]
    r = FpsResampler(fps_in)
    out = [f for frame in frames for _, f in r.push(frame)]
    assert abs(len(out) - n * 30 / 25) <= 1
    signal = np.array([f[0, 0, 0] for f in out])
    assert fine_fft_hr(signal - signal.mean(), 30.0) == pytest.approx(72, abs=0.1)


def test_predict_options_default_cannot_be_changed_for_every_later_call() -> None:
    """``predict_video``'s default options are one shared instance: a caller who set a field on it would
    change every later call's stride."""
    shared = predict_mod.predict_video.__defaults__
    assert shared is not None
    default = next(d for d in shared if isinstance(d, PredictOptions))
    with pytest.raises(dataclasses.FrozenInstanceError):
        default.stride = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        PredictOptions(15)  # type: ignore[misc]  # keyword-only: a positional stride would read as any field


def test_window_scheduler_stride() -> None:
    s = WindowScheduler(stride=30)
    crops = [np.full((72, 72, 3), k % 251, np.uint8) for k in range(160 + 60)]
    due = [s.push(c) for c in crops]
    starts = [d[0] for d in due if d is not None]
    assert starts == [0, 30, 60] and due[159] is not None and due[159][1].shape == (3, 161, 72, 72)


def test_predict_training_and_bench_assemble_windows_alike(tmp_path: Path) -> None:
    """One assembly: predict's window of 160 crops is the training chunk of the same crops, last crop repeated
    (predict used 161 crops, training 160 and a repeat)."""
    from edge_rppg.data.preprocess import Chunk, chunk_window

    crops = np.random.default_rng(0).integers(0, 256, (160, 72, 72, 3), dtype=np.uint8)
    s = WindowScheduler(stride=30)
    (due,) = [d for d in (s.push(c) for c in crops) if d is not None]
    np.save(tmp_path / "f.npy", crops)
    np.save(tmp_path / "l.npy", np.zeros(160, np.float32))
    trained, _ = chunk_window(Chunk(video="v", index=0, frames=tmp_path / "f.npy", label=tmp_path / "l.npy"))
    assert np.array_equal(due[1], trained) and np.array_equal(trained[:, -1], trained[:, -2])
    assert np.array_equal(trained[:, :160], crops.transpose(3, 0, 1, 2))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from edge_rppg.exporters import export_model

    d = tmp_path_factory.mktemp("exp")
    return {
        "onnxruntime": export_model(ASSET, "onnx", "fp32", d / "m.onnx").path,  # type: ignore[dict-item]
        "openvino": export_model(ASSET, "openvino", "fp32", d / "m.xml").path,
    }  # type: ignore[dict-item]


def test_known_pulse_through_three_runtimes(pulse_video: tuple[Path, float], exported: dict[str, Path]) -> None:
    path, true_hr = pulse_video
    hrs = {}
    for name in ("torch", "onnxruntime", "openvino"):
        rt = (
            resolve_runtime(ASSET, None, "torch", 2)
            if name == "torch"
            else resolve_runtime(None, Path(exported[name]), name, 2)
        )
        result = predict_video(path, rt)
        assert result.frames == 450 and result.windows >= 9
        hrs[name] = result.hr_bpm
    assert all(abs(h - true_hr) <= 2 for h in hrs.values()), (hrs, true_hr)
    assert max(hrs.values()) - min(hrs.values()) <= 0.5, hrs


def test_runtime_auto_runs_the_best_runtime_here_and_says_so(
    pulse_video: tuple[Path, float], exported: dict[str, Path], tmp_path: Path
) -> None:
    """No --runtime: a checkpoint is exported once for the best runtime here and run there, an exported ONNX runs
    on the best runtime that opens it; the choice is one line on stderr."""
    from edge_rppg.runtimes import auto_runtime

    best, _why = auto_runtime()
    if best != "openvino":
        pytest.skip(f"this check needs OpenVINO on an x86 CPU; auto picks {best} here")
    path, true_hr = pulse_video
    hrs = {}
    for label, source in (
        ("checkpoint", ["--weights", str(ASSET)]),
        ("onnx", ["--model", str(exported["onnxruntime"])]),
    ):
        out = tmp_path / f"{label}.json"
        result = CliRunner().invoke(app, ["predict", str(path), *source, "--json", str(out)])
        assert result.exit_code == 0, result.output
        assert "runtime auto: openvino" in result.stderr, result.stderr
        summary = json.loads(out.read_text())
        assert summary["runtime"] == "openvino", label
        hrs[label] = summary["hr_bpm"]
    torch_hr = predict_video(path, resolve_runtime(ASSET, None, "torch", 2)).hr_bpm
    assert all(abs(h - torch_hr) <= 0.1 for h in hrs.values()) and abs(torch_hr - true_hr) <= 2, (hrs, torch_hr)


def test_cli_outputs(pulse_video: tuple[Path, float], tmp_path: Path) -> None:
    path, true_hr = pulse_video
    j, c, p = tmp_path / "s.json", tmp_path / "s.csv", tmp_path / "s.png"
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(path),
            "--weights",
            str(ASSET),
            "--json",
            str(j),
            "--csv",
            str(c),
            "--plot",
            str(p),
            "--profile",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(j.read_text())
    assert {
        "hr_bpm",
        "hr_status",
        "hr_reason",
        "fps",
        "frames",
        "windows",
        "windows_passed",
        "per_window",
        "speed_fps",
        "hrv",
        "respiration",
    } <= set(summary)
    assert summary["hr_status"] == "ok" and abs(summary["hr_bpm"] - true_hr) <= 1 and summary["speed_fps"] > 0
    assert {"hr_bpm", "sqi", "snr_db", "quality", "reasons"} <= set(summary["per_window"][0])
    assert summary["respiration"]["rate_bpm"] is None  # a 15-s clip: breathing needs 30 s, and says so
    rows = c.read_text().splitlines()
    assert rows[0] == "frame,time_s,bvp,hr_bpm,sqi,quality" and len(rows) > 400
    beats = (tmp_path / "s.beats.csv").read_text().splitlines()
    assert beats[0] == "beat,time_s,ibi_ms,ibi_clean" and len(beats) - 1 >= 0.8 * true_hr / 60 * 10
    assert p.stat().st_size > 5000 and "decode" in result.output
    # --profile splits the crop thread's time: the detector and the tracker are where a slow machine loses it.
    profile = summary["profile_ms"]
    assert list(profile) == ["decode", "detect", "track", "crop", "infer", "vitals", "wall"]
    assert profile["detect"] > 0 and profile["track"] > 0 and profile["crop"] > 0 and profile["vitals"] > 0
    assert "ms per window" in result.output


def test_image_folder_needs_fps_then_works(tmp_path: Path) -> None:
    clip = synthetic_clip(seed=4242, n_frames=200)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, f in enumerate(clip.frames(SIZE)):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    runner = CliRunner()
    bad = runner.invoke(app, ["predict", str(folder), "--weights", str(ASSET)])
    assert bad.exit_code == 1 and "--fps" in bad.output
    good = runner.invoke(app, ["predict", str(folder), "--weights", str(ASSET), "--fps", "30"])
    assert good.exit_code == 0, good.output


def _noise_video(path: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    write_video(path, (rng.uniform(0, 255, (SIZE[1], SIZE[0], 3)).astype(np.uint8) for _ in range(n)), 30.0)
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("text", "not a video OpenCV can decode"),
        ("empty", "not a video OpenCV can decode"),
        ("short", "one window needs 160"),
        ("noface", "no face found"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / "bad.avi"
    if case == "text":
        path.write_text("this is not a video")
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "short":
        write_video(path, synthetic_clip(seed=4242, n_frames=90).frames(SIZE), 30.0)
    else:
        _noise_video(path, 60)
    result = CliRunner().invoke(app, ["predict", str(path), "--weights", str(ASSET)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and message in result.output and "bad.avi" in result.output


def test_face_lost_for_a_while_marks_windows_and_still_writes(tmp_path: Path) -> None:
    clip = synthetic_clip(seed=4242, n_frames=420)
    rng = np.random.default_rng(1)
    frames = [
        f if not (150 <= i < 240) else rng.uniform(0, 255, f.shape).astype(np.uint8)
        for i, f in enumerate(clip.frames(SIZE))
    ]
    path = tmp_path / "lost.avi"
    write_video(path, iter(frames), 30.0)
    out = tmp_path / "lost.json"
    result = CliRunner().invoke(app, ["predict", str(path), "--weights", str(ASSET), "--json", str(out)])
    assert result.exit_code == 0, result.output
    windows = json.loads(out.read_text())["per_window"]
    lost = [w for w in windows if "face lost" in w["reasons"]]
    assert lost and all(w["hr_bpm"] is None for w in lost) and len(lost) < len(windows)


def test_live_mode_reports_each_new_window(pulse_video: tuple[Path, float]) -> None:
    """The live callbacks (webcam path) fire as windows arrive and already give the right HR; HRV is a number or
    its reason, and breathing is refused with its reason (15 s is under the 30 s it needs)."""
    path, true_hr = pulse_video
    seen: list[LiveWindow] = []
    result = predict_video(path, resolve_runtime(ASSET, None, "torch", 2), on_window=seen.append)
    assert 1 <= len(seen) <= result.windows
    starts = [w.estimate.start_frame for w in seen]
    assert starts == sorted(starts) and set(starts) <= {w.start_frame for w in result.per_window}
    last = seen[-1]
    assert last.estimate.hr_bpm is not None and abs(last.estimate.hr_bpm - true_hr) <= 2 and last.box is not None
    assert len(last.trace) <= (HR_SEGMENT_FRAMES // 30 + 2) * 30 + 160  # bounded, whatever the session length
    assert all((w.vitals.hrv is None) == (w.vitals.hrv_reason is not None) for w in seen)  # a number or why not
    assert last.vitals.breathing.rate_bpm is None and "30 s" in last.vitals.breathing.status
    refused = [w.vitals for w in seen if w.estimate.hr_bpm is None]
    assert all(v.hrv is None and v.hrv_reason == "no reliable pulse" for v in refused)  # no HRV where no HR


def test_a_live_run_keeps_only_its_last_minutes(tmp_path: Path) -> None:
    """A camera's session of any length holds a bounded span: windows and the per-frame track both forget their
    oldest, and the reading made of what is kept is still right and placed in time."""
    clip = synthetic_clip(seed=4242, n_frames=600)
    frames = list(clip.frames(SIZE))
    path = tmp_path / "long.avi"
    write_video(path, (f for _ in range(5) for f in frames), 30.0)  # 100 s: the same 20 s five times
    true_hr = float(clip.hr_bpm.mean())
    options = PredictOptions(keep_s=20.0)
    with resolve_runtime(None, DEFAULT_ONNX, "onnxruntime", 2) as runtime, open_source(path, options.crop) as source:
        run = run_pipeline(source, runtime, options)
        result = read_vitals(run, "onnxruntime", source.fps, source.name, gate_of(runtime))
    assert run.frames == 3000 and len(run.results) <= 20 + 2
    assert len(run.track.lost) <= (20 + 60) * 30 + HR_SEGMENT_FRAMES and run.track.origin > 0
    assert result.bvp_start_s >= 100 - 20 - 6 and len(result.bvp) <= (20 + 6) * 30
    assert result.hr_bpm is not None and abs(result.hr_bpm - true_hr) <= 2
    assert result.beats_s.min() >= result.bvp_start_s and result.per_window[0].start_frame >= 3000 - 160 - 20 * 30 - 30


def test_pulseless_moving_face_is_refused_not_guessed(tmp_path: Path) -> None:
    """The same face, moving and with the light changing, but no pulse at all."""
    from dataclasses import replace as dc_replace

    clip = synthetic_clip(seed=4242, n_frames=450, pulse=False)
    clip = dc_replace(clip, spec=dc_replace(clip.spec, motion_px=0.03, light_drift=0.1, light_step=0.15))
    path = tmp_path / "nopulse.avi"
    write_video(path, clip.frames(SIZE), 30.0)
    out = tmp_path / "nopulse.json"
    result = CliRunner().invoke(app, ["predict", str(path), "--weights", str(ASSET), "--json", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())
    assert summary["hr_bpm"] is None and summary["hr_status"] == "no reliable pulse" and summary["hrv"] is None
    assert "no reliable pulse" in result.output and summary["windows_passed"] < summary["windows"]


def test_outputs_are_checked_before_any_work(pulse_video: tuple[Path, float], tmp_path: Path) -> None:
    path, _ = pulse_video
    runner = CliRunner()
    folder = runner.invoke(app, ["predict", str(path), "--weights", str(ASSET), "--json", str(tmp_path)])
    assert folder.exit_code == 1 and "is a folder" in folder.output and "Traceback" not in folder.output
    plot = runner.invoke(app, ["predict", str(path), "--weights", str(ASSET), "--plot", str(tmp_path / "x.txt")])
    assert plot.exit_code == 1 and "written as .png" in plot.output
    fps = runner.invoke(app, ["predict", str(path), "--weights", str(ASSET), "--fps", "0.001"])
    assert fps.exit_code == 2  # validated, not a resampler that never advances


def test_an_inference_failure_ends_the_run_with_one_line(pulse_video: tuple[Path, float], tmp_path: Path) -> None:
    """A model whose input is not the contract's: the inference thread fails, predict must not hang."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["frames"], ["bvp"], axes=[1, 3, 4], keepdims=0)],
        "wrong",
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [1, 3, 100, 72, 72])],
        [helper.make_tensor_value_info("bvp", TensorProto.FLOAT, [1, 100])],
    )
    model = tmp_path / "wrong.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), model)
    path, _ = pulse_video
    result = CliRunner().invoke(app, ["predict", str(path), "--model", str(model), "--runtime", "onnxruntime"])
    assert result.exit_code == 1 and "inference on onnxruntime failed" in result.output
    assert "Traceback" not in result.output
    # Both stages were joined: a decoder left blocked on its full queue could abort the process at exit (exit 134
    # after the right error, 1 run in 12).
    assert not [t for t in threading.enumerate() if t.name.startswith("edge-rppg-")]


@pytest.mark.parametrize("case", ["garbage-onnx", "xml-without-bin", "markup-path"])
def test_bad_model_files_are_one_line_errors(pulse_video: tuple[Path, float], tmp_path: Path, case: str) -> None:
    path, _ = pulse_video
    if case == "garbage-onnx":
        model, expect = tmp_path / "m.onnx", "cannot open it ("  # the runtime's reason, not its source location
        model.write_bytes(b"not a model")
    elif case == "xml-without-bin":
        model, expect = tmp_path / "m.xml", "m.bin are missing"
        model.write_text("<net/>")
    else:  # Rich markup in a user path must come out as typed
        model = tmp_path / "a[" / "x]" / "m.onnx"  # the path reads ".../a[/x]/m.onnx"
        model.parent.mkdir(parents=True)
        model.write_bytes(b"x")
        expect = "[/x]"
    result = CliRunner().invoke(app, ["predict", str(path), "--model", str(model)])
    assert result.exit_code == 1 and expect in result.output and "Traceback" not in result.output, result.output
    assert "Exception from src/" not in result.output


def test_ctrl_c_during_predict_exits_130_and_writes_nothing(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    import psutil

    video = tmp_path / "long.avi"
    write_video(video, synthetic_clip(seed=4242, n_frames=3000).frames(SIZE), 30.0)  # ~100 s of video
    out = tmp_path / "r.json"
    # PyTorch eager (about real time here): a run that lasts, whatever the export cache holds already; on
    # auto, a cached OpenVINO export could finish the whole video before the signal is sent.
    cmd = [sys.executable, "-m", "edge_rppg", "predict", str(video), "--weights", str(ASSET), "--runtime", "torch"]
    cmd += ["--json", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Well inside the run (imports and model loading take ~3 s of CPU), however loaded the machine is.
    cpu, deadline = psutil.Process(proc.pid), time.monotonic() + 120
    while cpu.cpu_times().user < 8 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before Ctrl-C could be sent"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and not out.exists()


def test_a_corrupt_cached_export_is_rebuilt_not_trusted(
    pulse_video: tuple[Path, float], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGE_RPPG_CACHE", str(tmp_path / "cache"))
    path, _true_hr = pulse_video
    first = predict_video(path, resolve_runtime(ASSET, None, "onnxruntime", 2))
    from edge_rppg.exporters.cache import cache_path

    cached = cache_path(ASSET, "onnxruntime")
    assert cached.is_file()
    cached.write_bytes(cached.read_bytes()[:1000])  # a killed copy, a disk fault
    again = predict_video(path, resolve_runtime(ASSET, None, "onnxruntime", 2))
    assert again.hr_bpm == pytest.approx(first.hr_bpm, abs=0.01)
    assert cached.stat().st_size > 1000


def test_live_mode_shows_the_gates_decision_over_recent_windows_not_one_window() -> None:
    """A window that passes alone among failing ones (a pulseless face's lucky segment read 87.7 bpm) shows no
    number live; three passing windows of the last ten do."""
    from edge_rppg.gate import UNCALIBRATED
    from edge_rppg.predict.video import WindowEstimate, live_decision
    from edge_rppg.signals.quality import Quality

    def quality(ok: bool) -> Quality:
        return Quality(sqi=0.9 if ok else 0.1, hr_bpm=88.0, snr_db=5.0, beat_hr_bpm=88.0, periodicity=0.9,
                       reasons=[] if ok else ["sqi 0.10 < 0.75 (low snr)"])  # fmt: skip

    window = WindowEstimate(start_frame=0, time_s=7.3, hr_bpm=87.7, sqi=0.9, snr_db=5.0, quality="ok")
    lone = live_decision(window, [quality(False), quality(False), quality(True)], UNCALIBRATED)
    assert lone.hr_bpm is None and lone.confidence is None and "1 of 3 windows pass" in lone.quality
    steady = live_decision(window, [quality(True)] * 3, UNCALIBRATED)
    assert steady.hr_bpm == 88.0 and steady.quality == "ok"
