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


# --- Hangs and leaks -------------------------------------------------------------------------------------------------

ORPHAN_SCRIPT = """
import time
from edge_rppg.pools import process_pool

def work(seconds):
    time.sleep(seconds)

if __name__ == "__main__":
    pool = process_pool(2)
    futures = [pool.submit(work, 120) for _ in range(2)]
    print("started", flush=True)
    time.sleep(300)
"""


def test_workers_die_with_a_parent_killed_by_sigkill(tmp_path: Path) -> None:
    """What the OOM killer does to `predict DIR --workers 2`: no cleanup runs in the parent, and before, both
    workers and the resource tracker were alive a minute later."""
    import signal
    import time

    import psutil

    script = tmp_path / "parent.py"
    script.write_text(ORPHAN_SCRIPT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        children: list[psutil.Process] = []
        while len([c for c in children if "resource_tracker" not in " ".join(c.cmdline())]) < 2:
            assert time.monotonic() < deadline, "the pool's two workers never started"
            children = psutil.Process(parent.pid).children(recursive=True)
            time.sleep(0.2)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        _, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        parent.kill()


# --- Silent wrong results ------------------------------------------------------------------------------------------


def test_a_nan_in_one_ground_truth_skips_that_video_by_name_and_keeps_the_metrics_finite(tmp_path: Path) -> None:
    import json

    from tests.fixtures import write_ubfc

    data = write_ubfc(tmp_path / "ubfc", subjects=(1, 2, 3))
    gt = data / "subject2" / "ground_truth.txt"
    rows = gt.read_text().splitlines()
    gt.write_text("\n".join([rows[0].replace(rows[0].split()[5], "nan", 1), *rows[1:]]))
    out = tmp_path / "e.json"
    args = ["eval", "--data", str(data), "--dataset", "ubfc-rppg", "--split", "0", "1", "--json", str(out)]
    result = CliRunner().invoke(app, args, env={"EDGE_RPPG_CACHE": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.output
    assert f"{data / 'subject2' / 'vid.avi'}: its ground truth holds NaN" in result.output.replace("\n", "")
    report = json.loads(out.read_text())
    assert {v["name"] for v in report["videos"]} == {"subject1", "subject3"}
    assert report["overall"]["mae"] is not None


def test_a_video_cut_short_is_reported_not_taken_for_the_whole_video(tmp_path: Path) -> None:
    """An AVI cut at 70 %: the HR of what was read, with the shortfall said in the JSON and a warning line (before,
    input_error was null and nothing was said)."""
    import json

    full = tmp_path / "full.avi"
    write_pulse_video(full, (160, 120), 600)
    cut = tmp_path / "cut.avi"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) * 7 // 10])
    out = tmp_path / "cut.json"
    result = CliRunner().invoke(app, ["predict", str(cut), "--json", str(out)])
    assert result.exit_code == 0, result.output
    error = json.loads(out.read_text())["input_error"]
    assert error is not None and "of the 600 frames its header declares" in error
    assert "the input ended early" in result.output


NETWORK_WATCH = """
import sys
events = []
def watch(event, args):
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto"):
        events.append(event)
sys.addaudithook(watch)
from edge_rppg.__main__ import main
sys.argv = ["edge-rppg", *sys.argv[1:]]
try:
    main()
except SystemExit as done:
    code = done.code
print("network:", events, "telemetry imported:", bool(sys.modules.get("openvino_telemetry")), file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["check"],
        ["export", "--target", "openvino", "--out", "{tmp}/m.xml"],
        ["predict", "{video}", "--runtime", "openvino"],
    ],
    ids=["check", "export-openvino", "predict-openvino"],
)
def test_default_commands_open_no_connection_and_send_no_telemetry(
    video: Path, tmp_path: Path, args: list[str]
) -> None:
    """Every socket lookup or connection in the process is seen by an audit hook; OpenVINO's converter, left to
    itself, imports openvino_telemetry and writes a Google Analytics client id under ~/intel."""
    script = tmp_path / "watch.py"
    script.write_text(NETWORK_WATCH)
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "EDGE_RPPG_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, str(script), *(a.format(tmp=tmp_path, video=video) for a in args)]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "network: [] telemetry imported: False" in proc.stderr, proc.stderr[-2000:]
    assert not (home / "intel").exists()


def _zero_avi_rate(path: Path) -> None:
    """Set the video stream header's dwRate to 0, as a broken muxer writes it."""
    import struct

    data = bytearray(path.read_bytes())
    at = data.find(b"strh")
    while data[at + 8 : at + 12] != b"vids":
        at = data.find(b"strh", at + 4)
    struct.pack_into("<I", data, at + 32, 0)
    path.write_bytes(bytes(data))


def test_an_avi_whose_header_says_0_fps_is_refused_not_read_at_25(video: Path, tmp_path: Path) -> None:
    """OpenCV reports FFmpeg's 25-fps fallback for it; a 30-fps clip read so gave 59.5 bpm for 71.6."""
    zero = tmp_path / "zero.avi"
    zero.write_bytes(video.read_bytes())
    _zero_avi_rate(zero)
    _refused(["predict", str(zero)], f"{zero}: the frame rate is unknown")
    result = CliRunner().invoke(app, ["predict", str(zero), "--fps", "30", "--json", str(tmp_path / "z.json")])
    assert result.exit_code == 0, result.output


def test_an_ir_beside_another_exports_weights_is_refused_not_run(fsam_checkpoint: Path, tmp_path: Path) -> None:
    """What a crash between an export's renames left: the new .xml with the old .bin. Before, predict ran the
    mix with exit 0; the IR now carries its weights' sha256 and the runtime checks it."""
    from edge_rppg.exporters import export_model
    from edge_rppg.weights import DEFAULT_MODEL

    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    export_model(fsam_checkpoint, "openvino", "fp32", a)
    export_model(DEFAULT_MODEL, "openvino", "fp32", b)
    b.with_suffix(".bin").replace(a.with_suffix(".bin"))
    video = tmp_path / "v.avi"
    write_pulse_video(video, (160, 120), 200)
    _refused(
        ["predict", str(video), "--model", str(a)], f"{a.with_suffix('.bin')}: not the weights a.xml was exported with"
    )


@pytest.mark.parametrize("device", ["bogus", "mps", "cuda:x"])
def test_train_on_a_device_it_does_not_run_on_is_one_line(tmp_path: Path, device: str) -> None:
    _refused(["train", "--device", device, "--out", str(tmp_path / "run")], f"--device {device}: not a device")
    assert not (tmp_path / "run" / "best.pt").exists()


# --- Concurrency -------------------------------------------------------------------------------------------------


def test_two_predicts_of_a_new_checkpoint_at_once_both_succeed(video: Path, tmp_path: Path) -> None:
    """Two cameras on one checkpoint not exported yet: before, one run's sweep deleted the other's staging folder
    and it ended in a FileNotFoundError traceback. Now the cache entry is built once, under a lock."""
    import json

    from edge_rppg.models import build_model
    from edge_rppg.models.checkpoints import save_checkpoint

    checkpoint = tmp_path / "new.pt"
    save_checkpoint(checkpoint, build_model(fsam=True), trained_on="test")
    env = {**os.environ, "EDGE_RPPG_CACHE": str(tmp_path / "cache")}

    def command(k: int) -> list[str]:
        args = ["predict", str(video), "--weights", str(checkpoint), "--runtime", "openvino"]
        return [sys.executable, "-m", "edge_rppg", *args, "--json", str(tmp_path / f"r{k}.json")]

    runs = [subprocess.Popen(command(k), stderr=subprocess.PIPE, text=True, env=env) for k in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0 and "Traceback" not in err, err[-2000:]
    first, second = (json.loads((tmp_path / f"r{k}.json").read_text()) for k in range(2))
    assert first["hr_bpm"] == second["hr_bpm"] and first["windows"] == second["windows"]
    assert len(list((tmp_path / "cache" / "exports").glob("*/*/model_fp32.xml"))) == 1
