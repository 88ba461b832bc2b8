"""Faults a hostile or careless user makes, each a real command on real files, grouped by what is at stake: the
exit status, one line naming the file, no traceback, and nothing of the user's changed or lost."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_rppg.cli import app
from tests.fixtures import write_pulse_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "v.avi"
    write_pulse_video(path, (160, 120), 200)
    return path


def _refused(args: list[str], needle: str, code: int = 1) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    assert needle in result.output and "Traceback" not in result.output, result.output
    return result.output


def _char_device(tmp_path: Path) -> Path:
    """A private character device node (the numbers of /dev/null), made with mknod: root only."""
    if os.geteuid() != 0:
        pytest.skip("a device node needs mknod, which needs root")
    node = tmp_path / "null"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return node


# --- Data loss: an output that is a device, the input, or another output ---------------------------------------


@pytest.mark.parametrize("flag", ["--json", "--csv"])
def test_an_output_that_is_a_device_node_is_refused_and_stays_a_device(video: Path, tmp_path: Path, flag: str) -> None:
    node = _char_device(tmp_path)
    _refused(["predict", str(video), flag, str(node)], f"{node}: is not a regular file")
    assert stat.S_ISCHR(node.stat().st_mode)


def test_json_equal_to_the_input_video_is_refused_and_the_video_kept(video: Path) -> None:
    before = video.read_bytes()
    _refused(["predict", str(video), "--json", str(video)], f"{video}: is an input of this command")
    assert video.read_bytes() == before


def test_two_outputs_on_one_file_are_refused(video: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.txt"
    _refused(["predict", str(video), "--json", str(out), "--csv", str(out)], "given as both --json and --csv")
    assert not out.exists()


def test_export_over_its_own_source_is_refused(onnx_fp32: Path, tmp_path: Path) -> None:
    source = tmp_path / "m_fp32.onnx"
    source.write_bytes(onnx_fp32.read_bytes())
    ref = Path(f"{onnx_fp32}.ref.npz")
    Path(f"{source}.ref.npz").write_bytes(ref.read_bytes())
    before = source.read_bytes()
    args = ["export", "--from", str(source), "--target", "onnx", "--precision", "fp16", "--out", str(source)]
    _refused(args, "is an input of this command")
    _refused(["export", "--from", str(source), "--target", "onnx"], "is an input of this command")  # its default out
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [["check", "--json", "{dir}"], ["info", "--json", "{dir}"], ["weights", "list", "--json", "{dir}"]],
    ids=["check", "info", "weights-list"],
)
def test_every_json_output_is_checked_before_work(tmp_path: Path, args: list[str]) -> None:
    _refused([a.format(dir=tmp_path) for a in args], f"{tmp_path}: is a folder")


def test_demo_video_onto_a_folder_is_refused(tmp_path: Path) -> None:
    _refused(["demo-video", str(tmp_path)], f"{tmp_path}: is a folder")


# --- Bad input: what is given as a file is a file -------------------------------------------------------------------


def test_a_fifo_as_the_video_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.avi"
    os.mkfifo(fifo)
    _refused(["predict", str(fifo), "--fps", "30"], f"{fifo}: not a regular file (a pipe, socket or device)")


def test_a_folder_as_the_model_names_it(video: Path, tmp_path: Path) -> None:
    _refused(["predict", str(video), "--model", str(tmp_path)], f"{tmp_path}: is not a model file")


def test_a_folder_as_the_weights_names_it(video: Path, tmp_path: Path) -> None:
    _refused(["predict", str(video), "--weights", str(tmp_path)], f"{tmp_path}: is not a checkpoint file")


# --- Usage: numbers out of range are usage errors, exit 2 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["bench", "--threads", "-1"], "--threads"),
        (["predict", "--webcam", "-1"], "--webcam"),
        (["demo-video", "x.avi", "--seconds", "1e12"], "--seconds"),
        (["export", "--batch", "1000000000"], "--batch"),
    ],
    ids=["bench-threads", "webcam", "demo-seconds", "export-batch"],
)
def test_an_option_out_of_range_is_a_usage_error(args: list[str], flag: str) -> None:
    _refused(args, flag, code=2)


# --- Environment -----------------------------------------------------------------------------------------------------


def test_a_closed_stdout_does_not_crash_the_cli_at_start_up() -> None:
    cli = Path(sys.executable).with_name("edge-rppg")
    proc = subprocess.run(f"{cli} weights path default >&-", shell=True, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_the_tensorrt_recipe_never_points_into_the_installed_package(tmp_path: Path) -> None:
    from edge_rppg.runtimes import RUNTIMES
    from edge_rppg.weights import DEFAULT_MODEL

    if RUNTIMES["tensorrt"].unavailable_reason() is None:
        pytest.skip("TensorRT runs here: the engine is built, no recipe is printed")
    output = _refused(["export", "--target", "tensorrt"], "cannot build a TensorRT engine here")
    assert "--out default_model_fp32.onnx " in output.replace("\n", "")
    assert f"--out {DEFAULT_MODEL.parent}" not in output.replace("\n", "")
