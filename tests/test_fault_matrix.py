"""The fault matrix: every command that reads a file against every bad kind of file, every output against every
bad place to write, and the numbers a careless hand types. Each case is a real command on real files (device nodes
made with mknod, FIFOs with mkfifo) and asserts the exit status, one line naming the path, no traceback, and that
nothing of the user's was changed. The cases that need a model's work or a signal are in tests/test_faults.py."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_rppg.cli import app
from tests.fixtures import write_pulse_video


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("matrix") / "v.avi"
    write_pulse_video(path, (160, 120), 200)
    return path


def _device(path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("a device node needs mknod, which needs root")
    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(4096))


# A bad thing to find where a file is expected: how to make it at a path.
BAD_INPUTS: dict[str, Callable[[Path], None]] = {
    "missing": lambda p: None,
    "empty": lambda p: p.write_bytes(b""),
    "garbage": _garbage,
    "folder": lambda p: p.mkdir(),
    "fifo": lambda p: os.mkfifo(p),
    "device": _device,
    "dangling-link": lambda p: p.symlink_to(p.with_name("nowhere")),
}

# Commands that read a file, the placeholder {p} standing for it (with the suffix the option expects).
READERS: dict[str, tuple[str, list[str]]] = {
    "predict-video": (".avi", ["predict", "{p}"]),
    "predict-model": (".onnx", ["predict", "{video}", "--model", "{p}"]),
    "predict-weights": (".pt", ["predict", "{video}", "--weights", "{p}"]),
    "bench-model": (".onnx", ["bench", "--model", "{p}", "--windows", "1", "--iterations", "1", "--rounds", "1"]),
    "export-weights": (".pt", ["export", "--weights", "{p}", "--target", "onnx", "--out", "{tmp}/o.onnx"]),
    "export-from": (".onnx", ["export", "--from", "{p}", "--target", "openvino", "--out", "{tmp}/o.xml"]),
    "info-weights": (".pt", ["info", "--weights", "{p}"]),
}
# Where a folder is a valid input of another kind (a folder of frames) and the refusal says why it is not one.
FOLDER_IS_FRAMES = {"predict-video"}


def _snapshot(path: Path) -> object:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if not path.exists():
        return None
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return ("file", path.read_bytes())
    if stat.S_ISDIR(mode):
        return ("dir", sorted(os.listdir(path)))
    return ("special", stat.S_IFMT(mode))


def _one_line_refusal(args: list[str], path: Path, code: int = 1) -> str:
    result = CliRunner().invoke(app, args)
    out = result.output
    assert result.exit_code == code, out
    assert "Traceback" not in out and (result.exception is None or isinstance(result.exception, SystemExit)), out
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert errors and str(path) in " ".join(out.split()), out
    return out


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
@pytest.mark.parametrize("reader", list(READERS))
def test_a_bad_input_is_refused_in_one_line_and_left_as_it_was(
    video: Path, tmp_path: Path, reader: str, kind: str
) -> None:
    suffix, template = READERS[reader]
    path = tmp_path / f"input{suffix}"
    BAD_INPUTS[kind](path)
    before = _snapshot(path)
    args = [a.format(p=path, video=video, tmp=tmp_path) for a in template]
    _one_line_refusal(args, path)
    assert _snapshot(path) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != path.name and p.name != "nowhere") == []


# Outputs: the option, the suffix it writes, and the command around it ({o} the output; {video} a real video).
WRITERS: dict[str, tuple[str, list[str]]] = {
    "predict-json": (".json", ["predict", "{video}", "--json", "{o}"]),
    "predict-csv": (".csv", ["predict", "{video}", "--csv", "{o}"]),
    "predict-plot": (".png", ["predict", "{video}", "--plot", "{o}"]),
    "export-out": (".onnx", ["export", "--target", "onnx", "--out", "{o}"]),
    "export-json": (".json", ["export", "--target", "onnx", "--out", "{tmp}/m.onnx", "--json", "{o}"]),
    "bench-json": (".json", ["bench", "--runtime", "onnxruntime", "--json", "{o}"]),
    "eval-json": (".json", ["eval", "--data", "{tmp}", "--dataset", "ubfc-rppg", "--json", "{o}"]),
    "eval-plot": (".png", ["eval", "--data", "{tmp}", "--dataset", "ubfc-rppg", "--plot", "{o}"]),
    "info-json": (".json", ["info", "--json", "{o}"]),
    "check-json": (".json", ["check", "--json", "{o}"]),
    "weights-list-json": (".json", ["weights", "list", "--json", "{o}"]),
    "demo-video": (".avi", ["demo-video", "{o}", "--seconds", "6"]),
}


def _parent_is_a_file(path: Path) -> Path:
    path.parent.joinpath("afile").write_text("the user's")
    return path.parent / "afile" / path.name


BAD_OUTPUTS: dict[str, Callable[[Path], Path]] = {
    "folder": lambda p: (p.mkdir(), p)[1],
    "device": lambda p: (_device(p), p)[1],
    "fifo": lambda p: (os.mkfifo(p), p)[1],
    "parent-is-a-file": _parent_is_a_file,
}


@pytest.mark.parametrize("kind", list(BAD_OUTPUTS))
@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_bad_output_is_refused_before_any_work_and_left_as_it_was(
    video: Path, tmp_path: Path, writer: str, kind: str
) -> None:
    suffix, template = WRITERS[writer]
    work = tmp_path / "work"
    work.mkdir()
    out = BAD_OUTPUTS[kind](work / f"out{suffix}")
    before = {p.name: _snapshot(p) for p in work.iterdir()}
    args = [a.format(o=out, video=video, tmp=work) for a in template]
    _one_line_refusal(args, out)
    assert {p.name: _snapshot(p) for p in work.iterdir()} == before


# An output that is the command's own input.
SELF_OVERWRITES: dict[str, list[str]] = {
    "predict-json-is-video": ["predict", "{video}", "--json", "{video}"],
    "predict-csv-is-video": ["predict", "{video}", "--csv", "{video}"],
    "predict-plot-is-weights": ["predict", "{video}", "--weights", "{weights}", "--plot", "{weights}"],
    "export-out-is-weights": ["export", "--weights", "{weights}", "--target", "onnx", "--out", "{weights}"],
    "export-json-is-weights": ["export", "--weights", "{weights}", "--json", "{weights}"],
    "bench-json-is-model": ["bench", "--model", "{weights}", "--json", "{weights}"],
    "info-json-is-weights": ["info", "--weights", "{weights}", "--json", "{weights}"],
}


@pytest.mark.parametrize("case", list(SELF_OVERWRITES))
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(video: Path, tmp_path: Path, case: str) -> None:
    own = tmp_path / "v.avi"
    own.write_bytes(video.read_bytes())
    weights = tmp_path / ("m.onnx" if "bench" in case else "m.pt")
    weights.write_bytes(b"the user's checkpoint")
    if case.startswith("predict-plot"):
        weights = weights.rename(weights.with_suffix(".png"))  # a plot's suffix, so only the overlap is wrong
    before = (own.read_bytes(), weights.read_bytes())
    args = [a.format(video=own, weights=weights) for a in SELF_OVERWRITES[case]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (1, 2) and "Traceback" not in result.output, result.output
    assert (own.read_bytes(), weights.read_bytes()) == before


# Numbers a careless hand types: each is a usage error (exit 2) before any work.
BAD_NUMBERS: dict[str, list[str]] = {
    "train-lr-inf": ["train", "--lr", "inf"],
    "train-lr-negative": ["train", "--lr", "-1"],
    "train-epochs-zero": ["train", "--epochs", "0"],
    "train-batch-zero": ["train", "--batch-size", "0"],
    "train-synthetic-seconds-inf": ["train", "--synthetic-seconds", "inf"],
    "train-synthetic-hard-nan": ["train", "--synthetic-hard", "nan"],
    "predict-stride-zero": ["predict", "{video}", "--stride", "0"],
    "predict-fps-nan": ["predict", "{video}", "--fps", "nan"],
    "predict-fps-inf": ["predict", "{video}", "--fps", "inf"],
    "predict-fps-zero": ["predict", "{video}", "--fps", "0"],
    "predict-threads-zero": ["predict", "{video}", "--threads", "0"],
    "predict-webcam-negative": ["predict", "--webcam", "-1"],
    "bench-threads-negative": ["bench", "--threads", "-1"],
    "bench-windows-zero": ["bench", "--windows", "0"],
    "bench-iterations-zero": ["bench", "--iterations", "0"],
    "export-batch-huge": ["export", "--batch", "1000000000"],
    "export-int8-hr-nan": ["export", "--int8-max-hr-diff", "nan"],
    "export-int8-hr-inf": ["export", "--int8-max-hr-diff", "inf"],
    "demo-seconds-huge": ["demo-video", "{tmp}/d.avi", "--seconds", "1e12"],
    "demo-seconds-nan": ["demo-video", "{tmp}/d.avi", "--seconds", "nan"],
    "demo-hr-nan": ["demo-video", "{tmp}/d.avi", "--hr", "nan"],
    "eval-split-nan": ["eval", "--data", "{tmp}", "--dataset", "ubfc-rppg", "--split", "nan", "1"],
}


@pytest.mark.parametrize("case", list(BAD_NUMBERS))
def test_a_number_out_of_range_is_a_usage_error_before_any_work(video: Path, tmp_path: Path, case: str) -> None:
    args = [a.format(video=video, tmp=tmp_path) for a in BAD_NUMBERS[case]]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and list(tmp_path.iterdir()) == []
