from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_rppg.cli import app

runner = CliRunner()


def test_info_deploy_json_reports_51840() -> None:
    result = runner.invoke(app, ["info", "--deploy", "--json", "-"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["parameters"] == 51_840
    assert 2.95e9 < data["macs"] < 3.05e9


def test_info_fsam_json_reports_52168() -> None:
    data = json.loads(runner.invoke(app, ["info", "--fsam", "--json", "-"]).stdout)
    assert data["parameters"] == 52_168


def test_info_of_a_checkpoint_says_what_it_was_trained_on(fsam_checkpoint: Path) -> None:
    result = runner.invoke(app, ["info", "--weights", str(fsam_checkpoint), "--json", "-"])
    data = json.loads(result.stdout)
    assert data["checkpoint"]["trained_on"] == "test" and data["parameters"] == 52_168


def test_bad_weights_is_one_line_and_nonzero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pth"
    bad.write_text("hello")
    # A real process, so that we see exactly what a user sees on stderr.
    proc = subprocess.run(
        [sys.executable, "-m", "edge_rppg", "info", "--weights", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(bad) in lines[0]


@pytest.mark.parametrize("kind", ["file", "read-only"])
def test_an_unusable_cache_is_one_line(tmp_path: Path, kind: str, small_disk: Callable[..., Path]) -> None:
    import os

    cache = tmp_path / "cache"
    if kind == "file":
        cache.write_text("not a folder")
    elif os.geteuid() == 0:  # root ignores permission bits: a read-only mount it is
        cache = small_disk(64, "ro")
    else:
        cache.mkdir()
        cache.chmod(0o500)
    result = CliRunner().invoke(
        app, ["weights", "pull", "factorizephys-ubfc", "--accept-license"], env={"EDGE_RPPG_CACHE": str(cache)}
    )
    assert result.exit_code == 1 and "the cache (EDGE_RPPG_CACHE)" in result.output
    assert "Traceback" not in result.output


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_write_sweeps_only_what_a_killed_write_of_the_same_file_left(tmp_path: Path) -> None:
    """Only staging names the atomic module makes, of a writer no longer running; the user's own dot-files and a
    live writer's staging folder stay (they were deleted before)."""
    import os

    from edge_rppg.atomic import write_text_atomic

    target = tmp_path / "report.json"
    dead = _dead_pid()
    (tmp_path / f".report.json.edge-rppg-{dead}-abc123.tmp").write_text("half")  # a killed run's staging file
    (tmp_path / f".report.json.edge-rppg-{dead}-xyz").mkdir()  # a killed export's staging folder
    live = tmp_path / f".report.json.edge-rppg-{os.getppid()}-live"  # another writer, still running
    live.mkdir()
    (live / "model.xml").write_text("being written")
    mine = [".report.json.swp", ".report.json.bak", ".other.json.abc.tmp"]
    for name in mine:
        (tmp_path / name).write_text("the user's")
    (tmp_path / ".report.json.d").mkdir()
    (tmp_path / ".report.json.d" / "notes.txt").write_text("the user's")
    write_text_atomic(target, "{}")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*mine, ".report.json.d", live.name, "report.json"])
    assert (tmp_path / ".report.json.d" / "notes.txt").exists() and (live / "model.xml").exists()


HEAVY = ("torch", "onnxruntime", "openvino", "tensorrt", "tensorrt_rtx", "scipy")


def test_the_cli_and_every_help_start_without_a_heavy_import() -> None:
    # A fresh interpreter: this test process has imported torch long ago.
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from edge_rppg.cli import COMMANDS, app\n"
        "runner = CliRunner()\n"
        "helps = [['--help']] + [([n] if g is app else ['weights', n]) + ['--help'] for g, n, _ in COMMANDS]\n"
        "codes = [runner.invoke(app, h).exit_code for h in helps]\n"
        f"print(codes, sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    codes, loaded = proc.stdout.strip().rsplit("] ", 1)
    assert set(codes.strip("[").split(", ")) == {"0"}, proc.stdout
    assert loaded == "[]", f"imported at start-up: {loaded}"


def test_json_is_a_path_everywhere_and_dash_is_stdout(tmp_path: Path) -> None:
    printed = runner.invoke(app, ["check", "--json", "-"])
    assert printed.exit_code == 0, printed.output
    components = {c["name"]: c for c in json.loads(printed.stdout)["components"]}  # the JSON is the whole output
    assert {"torch", "onnxruntime", "onnx", "openvino", "ray"} <= set(components)
    from edge_rppg.runtimes.openvino_runtime import cpu_precisions

    detail = components["openvino"]["detail"]  # whether export --precision bf16 can run here, said either way
    assert f"CPU computes in {', '.join(cpu_precisions())}" in detail
    assert ("no bf16" in detail) == ("BF16" not in cpu_precisions())
    out = tmp_path / "info.json"
    written = runner.invoke(app, ["info", "--deploy", "--json", str(out)])
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text())["parameters"] == 51_840 and "parameters" in written.stdout


def test_check_without_torch_says_what_still_works() -> None:
    from tests.fixtures import without_torch

    proc = without_torch(["check", "--json", "-"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    torch_row = next(c for c in json.loads(proc.stdout)["components"] if c["name"] == "torch")
    assert not torch_row["ok"] and "export --from an ONNX work without it" in torch_row["detail"]


def test_an_unbounded_float_option_refuses_nan_before_any_work(tmp_path: Path) -> None:
    """`--int8-max-hr-diff nan` was accepted and failed 35 s later with "> nan"."""
    out = tmp_path / "m.xml"
    args = ["export", "--target", "openvino", "--precision", "int8", "--int8-max-hr-diff", "nan", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--int8-max-hr-diff nan: give a finite number" in result.output
    assert not out.exists()
