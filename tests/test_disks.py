"""Outputs on a read-only or a full disk (real tmpfs mounts): one line naming the file, exit 1, nothing
half-written, and a training run that can resume once there is room again."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from edge_rppg import run_dir
from edge_rppg.cli import app
from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.video import write_video
from tests.fixtures import SIZE

ASSET = Path(__file__).parent / "assets" / "synthetic_fsam.pt"
TINY_TRAIN = ["--batch-size", "2", "--synthetic-subjects", "4", "--synthetic-seconds", "6", "--workers", "1"]
PAGE = 4096


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "pulse.avi"
    write_video(path, synthetic_clip(seed=4242, n_frames=300).frames(SIZE), 30.0)
    return path


NOTES = ("using ", "runtime auto: ")  # what the CLI says it chose, on stderr beside the error


def _one_line_error(args: list[str], env: dict[str, str] | None = None) -> str:
    """Run the CLI as a user does (a real process) and return its one error line."""
    proc = subprocess.run([sys.executable, "-m", "edge_rppg", *args], capture_output=True, text=True, env=env)
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.startswith(NOTES)]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def _commands(disk: Path, video: Path, fsam_checkpoint: Path) -> dict[str, tuple[list[str], Path]]:
    return {
        "predict": (["predict", str(video), "--weights", str(ASSET), "--json", str(disk / "r.json")], disk / "r.json"),
        "export": (["export", "--weights", str(fsam_checkpoint), "--out", str(disk / "m.onnx")], disk / "m.onnx"),
        "train": (["train", "--out", str(disk / "run"), "--epochs", "1", *TINY_TRAIN], disk / "run"),
    }


# What each kind of bad disk reads as, and what is on it afterwards besides nothing of ours.
DISKS = {"ro": ("not a writable folder", []), "full": ("no space left on device", ["filler"])}


@pytest.mark.parametrize(
    ("mode", "command"), [("ro", "predict"), ("ro", "export"), ("ro", "train"), ("full", "predict"), ("full", "export")]
)
def test_a_bad_disk_is_one_line_and_leaves_nothing(
    small_disk: Callable[..., Path], video: Path, fsam_checkpoint: Path, mode: str, command: str
) -> None:
    """Read-only: refused before any work. Full: the write fails, no staging file or half output stays."""
    disk = small_disk(64, mode)
    args, target = _commands(disk, video, fsam_checkpoint)[command]
    line = _one_line_error(args)
    message, left = DISKS[mode]
    assert str(target) in line and message in line
    assert [p.name for p in disk.iterdir()] == left


def test_training_that_fills_the_disk_keeps_a_last_pt_it_resumes_from(
    small_disk: Callable[..., Path], tmp_path: Path
) -> None:
    """Room for config.json and last.pt but not for best.pt after it: the run stops with one line, and
    once there is room again ``--resume`` finishes it (last.pt is written first for this reason)."""
    env = {**os.environ, "EDGE_RPPG_CACHE": str(tmp_path / "cache")}
    sizes = tmp_path / "sizes"
    result = CliRunner().invoke(app, ["train", "--out", str(sizes), "--epochs", "1", *TINY_TRAIN], env=env)
    assert result.exit_code == 0, result.output
    pages = {name: -(-(sizes / name).stat().st_size // PAGE) for name in (run_dir.CONFIG, run_dir.LAST, run_dir.BEST)}
    disk = small_disk((pages[run_dir.CONFIG] + pages[run_dir.LAST] + pages[run_dir.BEST] // 2) * PAGE // 1024)
    run = disk / "run"
    line = _one_line_error(["train", "--out", str(run), "--epochs", "2", *TINY_TRAIN], env)
    assert str(run / run_dir.BEST) in line and "no space left on device" in line
    assert sorted(p.name for p in run.iterdir()) == [run_dir.CONFIG, run_dir.LAST]
    assert torch.load(run / run_dir.LAST, weights_only=False)["epoch"] == 0  # whole, not a torn write

    subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
    resumed = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"], env=env)
    assert resumed.exit_code == 0, resumed.output
    last = torch.load(run / run_dir.LAST, weights_only=False)
    assert [h["epoch"] for h in last["history"]] == [1, 2] and (run / run_dir.BEST).is_file()
