"""Many videos: batch predict on a local process pool and on a real local Ray cluster, resumable, failures isolated,
the same answers as one ``predict`` per video."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from edge_rppg.cli import app
from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.video import write_video
from edge_rppg.predict.batch import SUMMARY_CSV, BatchSpec, collect_videos, result_path, run_batch
from edge_rppg.predict.video import predict_video, resolve_runtime
from edge_rppg.predict.writers import beats_csv_path

ASSET = Path(__file__).parent / "assets" / "synthetic_fsam.pt"
RUN_FIELDS_THAT_VARY = ("speed_fps", "profile_ms")  # wall-clock figures: everything else must be identical


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 8-s face videos with a pulse (three windows each) and one truncated file, in nested folders."""
    root = tmp_path_factory.mktemp("study")
    for k, seed in enumerate((11, 12, 13)):
        folder = root / f"subject{k}"
        folder.mkdir()
        write_video(folder / "clip.avi", synthetic_clip(seed=seed, n_frames=240).frames((320, 240)), 30.0)
    (root / "broken.avi").write_bytes((root / "subject0" / "clip.avi").read_bytes()[:20_000])
    return root


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge_rppg.exporters import export_model

    return Path(export_model(ASSET, "onnx", "fp32", tmp_path_factory.mktemp("m") / "m.onnx").path)


def _spec(onnx_model: Path) -> BatchSpec:
    return BatchSpec(model=onnx_model, runtime="onnxruntime", threads=1)


def _records(out: Path, videos: list[Path]) -> dict[str, dict]:
    return {str(v): json.loads(result_path(out, v).read_text()) for v in videos}


def _same_result(a: dict | None, b: dict | None) -> bool:
    strip = lambda d: {k: v for k, v in (d or {}).items() if k not in RUN_FIELDS_THAT_VARY}
    return strip(a) == strip(b)


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / SUMMARY_CSV).open() as f:
        return [{k: v for k, v in row.items() if k != "speed_fps"} for row in csv.DictReader(f)]


def test_local_batch_isolates_the_bad_video_matches_single_predict_and_resumes(
    videos: Path, onnx_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results"
    args = ["predict", str(videos), "--out", str(out), "--model", str(onnx_model), "--runtime", "onnxruntime"]
    result = CliRunner().invoke(app, [*args, "--threads", "1", "--series"])
    assert result.exit_code == 1, result.output  # one video failed: the run went on, and says so
    assert "1 of 4 videos failed" in result.output
    found = collect_videos(str(videos), None)
    records = _records(out, found)
    broken = str(videos / "broken.avi")
    assert records[broken]["result"] is None and broken in records[broken]["error"]
    runtime = resolve_runtime(None, onnx_model, "onnxruntime", 1)
    statuses = ["error"]
    for video in found:
        if str(video) != broken:
            alone = predict_video(video, runtime).summary()
            assert _same_result(records[str(video)]["result"], alone), video
            statuses.append(alone["hr_status"])
            series = result_path(out, video).with_suffix(".csv")  # --series: predict --csv's two tables
            assert series.read_text().startswith("frame,time_s,bvp,hr_bpm")
            assert beats_csv_path(series).read_text().startswith("beat,time_s,ibi_ms")
    rows = _rows(out)
    assert [r["status"] for r in rows] == statuses and rows[0]["error"] and "ok" in statuses
    again = CliRunner().invoke(app, [*args, "--threads", "1"])
    assert "3 already done" in again.output and "1 run" in again.output  # the failed one is tried again
    assert _rows(out) == rows


def _successes(out: Path) -> list[Path]:
    """Result files of videos that gave a result (an error is tried again, a success is not)."""
    found = []
    for f in out.glob("*.json"):
        try:
            if json.loads(f.read_text())["result"] is not None:
                found.append(f)
        except (OSError, ValueError):
            pass  # being renamed into place right now
    return found


def test_a_killed_local_run_resumes_to_the_same_summary(videos: Path, onnx_model: Path, tmp_path: Path) -> None:
    found = collect_videos(str(videos), None)
    whole = tmp_path / "whole"
    run_batch(found, _spec(onnx_model), whole, "local", workers=1)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "edge_rppg", "predict", str(videos), "--out", str(out), "--model", str(onnx_model)]
    proc = subprocess.Popen([*cmd, "--runtime", "onnxruntime", "--workers", "1", "--threads", "1"])
    deadline = time.monotonic() + 120
    while not _successes(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    for child in psutil.Process(proc.pid).children(recursive=True):
        child.kill()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = list(out.glob("*.json"))
    assert 1 <= len(done) < 4, "the kill came after the first result and before the last"
    assert all(json.loads(f.read_text()) for f in done)  # complete files only: each parses
    report = run_batch(found, _spec(onnx_model), out, "local", workers=1)
    assert report.skipped >= 1 and _rows(out) == _rows(whole)


@pytest.fixture(scope="module")
def ray_cluster() -> object:
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'edge-rppg[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def _kill_one_worker_once(stop: threading.Event, killed: list[int]) -> None:
    """SIGKILL the first Ray actor seen running a video (its process title says so), once."""
    while not stop.is_set() and not killed:
        for p in psutil.process_iter(["pid", "cmdline"]):
            if "ray::_Worker.run" in " ".join(p.info["cmdline"] or []):
                os.kill(p.info["pid"], signal.SIGKILL)
                killed.append(p.info["pid"])
                return
        time.sleep(0.02)


def test_ray_gives_the_local_answers_survives_a_dead_worker_and_resumes(
    ray_cluster: object, videos: Path, onnx_model: Path, tmp_path: Path
) -> None:
    found = collect_videos(str(videos), None)
    local = tmp_path / "local"
    run_batch(found, _spec(onnx_model), local, "local", workers=2)
    out = tmp_path / "ray"
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_one_worker_once, args=(stop, killed), daemon=True)
    killer.start()
    report = run_batch(found, _spec(onnx_model), out, "ray", workers=2)
    stop.set()
    assert killed, "no Ray worker was seen running a video"
    assert report.ran == 4 and report.failed == 1  # only the truncated file: the killed task was retried
    ray_records, local_records = _records(out, found), _records(local, found)
    for video in found:
        assert _same_result(ray_records[str(video)]["result"], local_records[str(video)]["result"]), video
        assert ray_records[str(video)]["error"] == local_records[str(video)]["error"]
    again = run_batch(found, _spec(onnx_model), out, "ray", workers=2)
    assert again.skipped == 3 and again.ran == 1


def test_engine_ray_without_ray_is_one_line(videos: Path, onnx_model: Path, tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"  # as if not installed
        "from edge_rppg.cli import app\n"
        f"app(['predict', {str(videos)!r}, '--out', {str(tmp_path / 'r')!r}, '--model', {str(onnx_model)!r},"
        " '--runtime', 'onnxruntime', '--engine', 'ray'], prog_name='edge-rppg')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pip install 'edge-rppg[ray]'" in lines[0] and "Traceback" not in proc.stderr


def test_eval_on_ray_builds_the_same_cache_and_metrics_as_local(
    ray_cluster: object, onnx_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dataset's per-video preprocessing and inference as Ray tasks, into a fresh cache: the same chunks
    and metrics as local."""
    from tests.fixtures import write_ubfc

    data = write_ubfc(tmp_path / "ubfc", subjects=(1, 2, 3), n=200)
    reports = {}
    for engine in ("local", "ray"):
        cache = tmp_path / f"cache-{engine}"
        monkeypatch.setenv("EDGE_RPPG_CACHE", str(cache))
        out = tmp_path / f"{engine}.json"
        args = ["eval", "--data", str(data), "--model", str(onnx_model), "--engine", engine, "--json", str(out)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        reports[engine] = json.loads(out.read_text())
        assert len(list(cache.rglob("*_input0.npy"))) == 3, engine  # each video preprocessed into this cache
    assert reports["ray"]["overall"] == reports["local"]["overall"]
    assert reports["ray"]["videos"] == reports["local"]["videos"]


def test_every_engine_name_has_a_batch_engine() -> None:
    from edge_rppg.pools import ENGINES as NAMES
    from edge_rppg.predict.batch import BATCH_ENGINES

    assert tuple(BATCH_ENGINES) == NAMES
