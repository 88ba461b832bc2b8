"""Weights by name: a file:// mirror stands in for the authors' pinned URL; the default model is bundled."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from edge_rppg import weights as weights_mod
from edge_rppg.cli import app
from edge_rppg.models import build_model
from edge_rppg.models.checkpoints import load_checkpoint

NAME = "factorizephys-ubfc"
FILE = "UBFC-rPPG_FactorizePhys_FSAM_Res.pth"


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A file:// mirror holding a fixture checkpoint in the authors' layout, registered with its own hash."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in build_model(fsam=True).state_dict().items()}
    torch.save(state, folder / FILE)
    digest = hashlib.sha256((folder / FILE).read_bytes()).hexdigest()
    entry = weights_mod.RELEASED[NAME]
    monkeypatch.setitem(
        weights_mod.RELEASED,
        NAME,
        weights_mod.Released(
            name=entry.name, file=entry.file, sha256=digest, arch=entry.arch, trained_on=entry.trained_on
        ),
    )
    monkeypatch.setenv(weights_mod.URL_ENV, folder.as_uri())
    monkeypatch.setenv("EDGE_RPPG_CACHE", str(tmp_path / "cache"))
    return folder


def _cached() -> Path:
    return weights_mod.weights_dir() / FILE


def test_list_has_every_released_file_with_hash_and_licence() -> None:
    out = CliRunner().invoke(app, ["weights", "list", "--json", "-"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert len(rows) == 31 and len({r["name"] for r in rows}) == 31
    assert all(len(r["sha256"]) == 64 and r["license"] == weights_mod.LICENSE for r in rows)
    assert {"factorizephys-ubfc", "factorizephys-pure", "efficientphys-fsam-ubfc"} <= {r["name"] for r in rows}
    assert all(weights_mod.RELEASE_COMMIT in r["url"] for r in rows)


def test_licence_is_required_once_then_the_hash_is_checked(mirror: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["weights", "pull", NAME])
    assert (
        out.exit_code == 1
        and "RESEARCH-ONLY" in out.output
        and "--accept-license" in out.output
        and not _cached().exists()
    )
    out = runner.invoke(app, ["weights", "pull", NAME, "--accept-license"])
    assert out.exit_code == 0, out.output
    assert _cached().read_bytes() == (mirror / FILE).read_bytes()
    _cached().unlink()
    out = runner.invoke(app, ["weights", "pull", FILE])  # accepted once: remembered; the file name works too
    assert out.exit_code == 0, out.output


def test_wrong_hash_leaves_nothing_in_the_cache(mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = weights_mod.RELEASED[NAME]
    monkeypatch.setitem(
        weights_mod.RELEASED,
        NAME,
        weights_mod.Released(
            name=entry.name, file=entry.file, sha256="0" * 64, arch=entry.arch, trained_on=entry.trained_on
        ),
    )
    out = CliRunner().invoke(app, ["weights", "pull", NAME, "--accept-license"])
    assert out.exit_code == 1 and "expected 0000" in out.output and "nothing kept" in out.output
    assert list(weights_mod.weights_dir().iterdir()) == [weights_mod.weights_dir() / ".license-accepted"]


def test_network_error_is_one_line_with_url_and_manual_path(mirror: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(weights_mod.URL_ENV, "http://127.0.0.1:9/nowhere")
    out = CliRunner().invoke(app, ["weights", "pull", NAME, "--accept-license"])
    assert out.exit_code == 1 and "download failed" in out.output and str(_cached()) in " ".join(out.output.split())
    assert "http://127.0.0.1:9/nowhere/" + FILE in out.output and not _cached().exists()


def test_a_file_put_by_hand_is_verified_and_used_everywhere(mirror: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["export", "--weights", NAME, "--out", str(tmp_path / "m.onnx")])
    assert out.exit_code == 1 and f"weights pull {NAME}" in out.output
    _cached().parent.mkdir(parents=True, exist_ok=True)
    _cached().write_bytes(b"not the file")
    out = runner.invoke(app, ["info", "--weights", NAME])
    assert out.exit_code == 1 and "is not the released" in out.output
    _cached().write_bytes((mirror / FILE).read_bytes())
    for args in (
        ["info", "--weights", NAME],
        ["export", "--weights", NAME, "--out", str(tmp_path / "m.onnx")],
        [
            "bench",
            "--runtime",
            "onnxruntime",
            "--weights",
            NAME,
            "--model",
            str(tmp_path / "m.onnx"),
            "--windows",
            "1",
            "--iterations",
            "1",
            "--rounds",
            "1",
        ],
        ["weights", "path", NAME],
    ):
        out = runner.invoke(app, args)
        assert out.exit_code == 0, (args, out.output)


def test_default_model_is_bundled_with_provenance_and_says_so(tmp_path: Path) -> None:
    _model, info = load_checkpoint(weights_mod.DEFAULT_MODEL)
    assert info.arch == "factorizephys" and info.trained_on.startswith("synthetic")
    provenance = info.train_config["provenance"]
    assert provenance["command"].startswith("edge-rppg train --preset default-model")
    assert provenance["held_out"]["mae_bpm"] < 3 and provenance["generator_version"] >= 2
    out = CliRunner().invoke(app, ["info", "--weights", "default", "--json", "-"])
    assert out.exit_code == 0 and json.loads(out.output)["provenance"]["command"] == provenance["command"]


def test_bundled_onnx_is_the_bundled_checkpoints_verified_export() -> None:
    """The slim install predicts with the shipped ONNX: it must be this .pt's export, within FP32's tolerance
    (re-made by scripts/package_default_model.py --onnx-only whenever the .pt changes)."""
    from edge_rppg.agreement import TOLERANCES, compare
    from edge_rppg.data.synthetic import synthetic_clip
    from edge_rppg.paths import file_sha256
    from edge_rppg.runtimes import RuntimeOptions, get_runtime
    from edge_rppg.runtimes.metadata import model_metadata
    from edge_rppg.runtimes.torch_runtime import TorchRuntime

    meta = model_metadata(weights_mod.DEFAULT_ONNX)
    assert meta["source_sha256"] == file_sha256(weights_mod.DEFAULT_MODEL) and meta["precision"] == "fp32"
    clip = synthetic_clip(seed=7, n_frames=2 * 161)
    frames = np.stack(list(clip.frames((72, 72)))).transpose(3, 0, 1, 2)  # (C, T, H, W) uint8 video pixels
    windows = np.stack([frames[:, :161], frames[:, 161:]]).astype(np.float32)
    with TorchRuntime.from_model(load_checkpoint(weights_mod.DEFAULT_MODEL)[0]) as torch_rt:
        reference = torch_rt.run(windows)
    with get_runtime("onnxruntime").open(weights_mod.DEFAULT_ONNX, RuntimeOptions()) as onnx_rt:
        agreement = compare(reference, onnx_rt.run(windows))
    assert not TOLERANCES["fp32"].violations(agreement), agreement


def test_predict_with_no_weights_reads_a_demo_video(tmp_path: Path) -> None:
    runner = CliRunner()
    video = tmp_path / "demo.mp4"
    out = runner.invoke(app, ["demo-video", str(video), "--seconds", "16", "--hr", "84"])
    assert out.exit_code == 0, out.output
    true_hr = float(out.output.split("true heart rate ")[1].split(" bpm")[0])
    j = tmp_path / "p.json"
    out = runner.invoke(app, ["predict", str(video), "--json", str(j)])
    assert out.exit_code == 0, out.output
    assert "bundled default model" in out.output
    summary = json.loads(j.read_text())
    assert summary["hr_status"] == "ok" and abs(summary["hr_bpm"] - true_hr) <= 1.5
