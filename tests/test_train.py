"""Real training steps on a tiny synthetic set: loss, run folder, kill + resume, eval."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from edge_rppg import run_dir
from edge_rppg.cli import app
from edge_rppg.models.checkpoints import load_checkpoint
from edge_rppg.train.config import TrainConfig
from edge_rppg.train.loop import train
from edge_rppg.train.loss import neg_pearson, neg_pearson_reference


def test_neg_pearson_values() -> None:
    t = torch.linspace(0, 6.28, 160)
    y = torch.sin(t)[None].repeat(2, 1)
    assert neg_pearson(y, y).item() == pytest.approx(0, abs=1e-6)
    assert neg_pearson(-y, y).item() == pytest.approx(2, abs=1e-6)
    assert neg_pearson(3 * y + 1, y).item() == pytest.approx(0, abs=1e-6)  # scale and offset free


def test_reference_loss_is_constant_at_batch_one() -> None:
    a = torch.randn(1, 160, requires_grad=True)
    loss = neg_pearson_reference(a, torch.randn(1, 160))
    loss.backward()
    assert a.grad is not None and torch.allclose(a.grad, torch.zeros_like(a.grad), atol=1e-6)


def _tiny(tmp_path: Path, **kw: object) -> TrainConfig:
    settings: dict[str, object] = {
        "epochs": 1,
        "batch_size": 2,
        "synthetic_subjects": 4,
        "synthetic_seconds": 6.0,
        "workers": 1,
        **kw,
    }
    return TrainConfig(out=tmp_path / "run", cache=tmp_path / "cache", **settings)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("train")
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--out",
            str(tmp / "run"),
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--synthetic-subjects",
            "4",
            "--synthetic-seconds",
            "6",
            "--workers",
            "1",
        ],
        env={"EDGE_RPPG_CACHE": str(tmp / "cache")},
    )
    assert result.exit_code == 0, result.output
    return tmp / "run"


def test_train_writes_a_complete_run_folder(trained: Path) -> None:
    for name in (run_dir.BEST, run_dir.LAST, run_dir.CONFIG, run_dir.METRICS_JSON, run_dir.METRICS_CSV, run_dir.PLOT):
        assert (trained / name).exists(), name
    history = json.loads((trained / run_dir.METRICS_JSON).read_text())
    assert len(history) == 1 and history[0]["train_loss"] > 0 and history[0]["fsam_appx_error"] > 0
    model, info = load_checkpoint(trained / run_dir.BEST)
    assert model.has_fsam and info.trained_on.startswith("synthetic (generator v") and info.train_config["epochs"] == 1
    assert not list(trained.glob(".*tmp*"))


def test_training_changes_the_weights_and_learns(tmp_path: Path) -> None:
    torch.manual_seed(0)
    result = train(_tiny(tmp_path, epochs=3, lr=3e-3), log=lambda _m: None)
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < losses[0]


def test_kill_loses_at_most_the_current_epoch_and_resume_continues(tmp_path: Path) -> None:
    cfg = _tiny(tmp_path, epochs=2)
    calls = {"n": 0}

    def killer(step: int, total: int, loss: float) -> None:
        calls["n"] += 1
        if calls["n"] > total:  # inside the second epoch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg, log=lambda _m: None, progress=killer)
    last = torch.load(cfg.out / run_dir.LAST, weights_only=True)  # data only: what resume itself reads
    assert last["epoch"] == 0 and len(last["history"]) == 1
    result = train(_tiny(tmp_path, epochs=2), resume=True, log=lambda _m: None)
    assert [h["epoch"] for h in result.history] == [1, 2]
    assert not list(cfg.out.glob(".*tmp*"))


class _Payload:
    """Unpickling this runs a shell command: what a crafted last.pt carries."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return os.system, (f"touch {self.marker}",)


def test_resume_from_a_last_pt_that_carries_code_runs_nothing_and_says_so(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    marker = tmp_path / "ran"
    torch.save({"epoch": 0, "payload": _Payload(marker)}, run / run_dir.LAST)
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 1 and not marker.exists(), result.output
    assert f"{run / run_dir.LAST}: cannot resume from it: it holds more than tensors" in result.output
    assert "Traceback" not in result.output and "weights_only" not in result.output


def test_resume_without_a_run_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "none"), "--resume"])
    assert result.exit_code == 1 and f"{tmp_path / 'none'}: nothing to resume (no last.pt)" in result.output


def test_eval_and_export_from_a_run(trained: Path, tmp_path: Path) -> None:
    data = next((trained.parent / "cache").glob("synthetic-*"))
    out_json, plot = tmp_path / "eval.json", tmp_path / "ba.png"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--data",
            str(data),
            "--dataset",
            "ubfc-rppg",
            "--weights",
            str(trained / "best.pt"),
            "--json",
            str(out_json),
            "--plot",
            str(plot),
        ],
        env={"EDGE_RPPG_CACHE": str(trained.parent / "cache")},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out_json.read_text())
    for key in ("mae", "rmse", "mape", "pearson", "snr", "macc"):
        assert key in report["overall"] and f"{key}_se" in report["overall"]
    assert report["videos"] and set(report["videos"][0]) == {"name", "hr_true", "hr_pred", "snr", "macc"}
    assert plot.stat().st_size > 1000
    onnx = tmp_path / "run.onnx"
    exp = CliRunner().invoke(app, ["export", "--run", str(trained), "--target", "onnx", "--out", str(onnx)])
    assert exp.exit_code == 0, exp.output and onnx.exists()
    # The exported model evaluates like the checkpoint.
    result2 = CliRunner().invoke(
        app,
        ["eval", "--data", str(data), "--model", str(onnx), "--json", str(tmp_path / "e2.json")],
        env={"EDGE_RPPG_CACHE": str(trained.parent / "cache")},
    )
    assert result2.exit_code == 0, result2.output
    a = [v["hr_pred"] for v in report["videos"]]
    b = [v["hr_pred"] for v in json.loads((tmp_path / "e2.json").read_text())["videos"]]
    assert np.allclose(a, b)


def test_torchrun_two_processes_train_one_run(tmp_path: Path) -> None:
    """DistributedDataParallel through torchrun, the same command; gloo on CPU stands in for NCCL on GPUs."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun is not None
    env = {**os.environ, "EDGE_RPPG_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            torchrun,
            "--nproc_per_node=2",
            "-m",
            "edge_rppg",
            "train",
            "--device",
            "cpu",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--synthetic-subjects",
            "4",
            "--synthetic-seconds",
            "12",
            "--workers",
            "1",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "device cpu x2" in proc.stdout and proc.stdout.count("epoch 1/1") == 1
    history = json.loads((tmp_path / "run" / run_dir.METRICS_JSON).read_text())
    assert len(history) == 1 and (tmp_path / "run" / run_dir.BEST).exists()


def test_bad_dataset_leaves_no_run_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        app, ["train", "--data", str(tmp_path / "empty"), "--dataset", "pure", "--out", str(tmp_path / "run")]
    )
    assert result.exit_code == 1 and "SS-TT" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.gpu
@pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device visible to torch (CPU build or no NVIDIA GPU)"
)
def test_cuda_amp_training_resumes(tmp_path: Path) -> None:
    first = train(_tiny(tmp_path, device="cuda", epochs=2), log=lambda m: None)
    assert first.history[-1]["epoch"] == 2
    second = train(_tiny(tmp_path, device="cuda", epochs=2), resume=True, log=lambda m: None)
    assert [h["epoch"] for h in second.history] == [1, 2]
    model, _ = load_checkpoint(second.best)
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.gpu
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL DDP needs 2 GPUs")
def test_nccl_ddp_two_gpus(tmp_path: Path) -> None:
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun") or f"{sys.executable} -m torch.distributed.run"
    proc = subprocess.run(
        [
            *torchrun.split(),
            "--nproc_per_node=2",
            "-m",
            "edge_rppg",
            "train",
            "--device",
            "cuda",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--synthetic-subjects",
            "4",
            "--synthetic-seconds",
            "8",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env={**__import__("os").environ, "EDGE_RPPG_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "x2" in proc.stdout


def test_resume_refuses_options_that_contradict_the_saved_recipe(tmp_path: Path) -> None:
    train(_tiny(tmp_path), log=lambda m: None)
    result = CliRunner().invoke(
        app,
        ["train", "--out", str(tmp_path / "run"), "--resume", "--epochs", "3", "--lr", "0.01"],
        env={"EDGE_RPPG_CACHE": str(tmp_path / "cache")},
    )
    assert result.exit_code == 1
    assert "--epochs 3 (the run has 1)" in result.output and "--lr 0.01 (the run has 0.001)" in result.output


def _saved_run(out: Path, **recipe: object) -> Path:
    """A run folder whose last.pt records ``recipe``: what --resume reads before touching any data."""
    out.mkdir(parents=True)
    torch.save({"train_config": TrainConfig(out=out, **recipe).to_dict(), "epoch": 0}, out / run_dir.LAST)  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--synthetic-subjects", "16"], "--synthetic-subjects 16 (the run has 3)"),  # 16 is the default
        (["--epochs", "10"], "--epochs 10 (the run has 2)"),  # given explicitly, though it equals the default
    ],
)
def test_resume_refuses_other_data_or_recipe_by_name(tmp_path: Path, args: list[str], named: str) -> None:
    run = _saved_run(tmp_path / "run", epochs=2, synthetic_subjects=3)
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume", *args])
    assert result.exit_code == 1 and named in result.output, result.output


def test_resume_restores_the_data_options_it_started_with() -> None:
    from edge_rppg.train.state import adopt_saved_recipe

    saved = TrainConfig(synthetic_subjects=3, synthetic_seconds=8.0, synthetic_hard=0.5, data=None).to_dict()
    cfg = TrainConfig()
    adopt_saved_recipe(cfg, saved, Path("run"))
    assert (cfg.synthetic_subjects, cfg.synthetic_seconds, cfg.synthetic_hard) == (3, 8.0, 0.5)


def test_resume_from_a_truncated_checkpoint_is_one_line(tmp_path: Path) -> None:
    run = _saved_run(tmp_path / "run")
    data = (run / run_dir.LAST).read_bytes()
    (run / run_dir.LAST).write_bytes(data[: len(data) // 2])
    result = CliRunner().invoke(app, ["train", "--out", str(run), "--resume"])
    assert result.exit_code == 1 and "cannot resume from it" in result.output and "Traceback" not in result.output


def test_validation_runs_the_model_once_per_chunk_with_the_per_chunk_loss(tmp_path: Path) -> None:
    """One forward pass serves both the loss and the HR metrics; the loss is each chunk's own (batch of one)."""
    from edge_rppg.data.preprocess import Chunk, chunk_window
    from edge_rppg.models import build_model
    from edge_rppg.train.loop import _validate

    rng = np.random.default_rng(0)
    chunks = []
    for video in ("a", "b"):
        for i in range(3):
            frames, label = tmp_path / f"{video}{i}.npy", tmp_path / f"{video}{i}_y.npy"
            np.save(frames, rng.integers(0, 255, (160, 72, 72, 3), dtype=np.uint8))
            np.save(label, np.sin(np.arange(160) / 4 + i).astype(np.float32))
            chunks.append(Chunk(video=video, index=i, frames=frames, label=label))
    torch.manual_seed(0)
    model = build_model(fsam=False)
    seen: list[int] = []
    model.register_forward_hook(lambda _m, args, _out: seen.append(args[0].shape[0]))
    record = _validate(model, chunks, torch.device("cpu"), neg_pearson)
    assert sum(seen) == len(chunks), f"windows through the model: {sum(seen)} for {len(chunks)} chunks"
    with torch.inference_mode():
        own = []
        for c in chunks:
            x, y = chunk_window(c)
            yt = torch.from_numpy(y[None])
            own.append(float(neg_pearson(model(torch.from_numpy(x[None])), (yt - yt.mean()) / (yt.std() + 1e-8))))
    assert record["val_loss"] == pytest.approx(round(float(np.mean(own)), 5), abs=2e-5)


def test_train_into_a_folder_that_holds_a_run_refuses_and_keeps_it(trained: Path) -> None:
    before = {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()}
    result = CliRunner().invoke(app, ["train", "--out", str(trained), "--epochs", "1"])
    assert result.exit_code == 1 and f"{trained}: already holds a run (best.pt, last.pt" in result.output
    assert "--resume" in result.output and "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in trained.iterdir() if p.is_file()} == before


def test_a_loss_that_is_not_finite_stops_training_before_it_saves_nan_weights(tmp_path: Path) -> None:
    """Resuming the last.pt of a run that went NaN (what `train --lr inf` made before the CLI refused inf): the
    run stops with one error at the first non-finite loss instead of saving a best.pt of NaN tensors."""
    from edge_rppg.errors import TrainingError

    cfg = _tiny(tmp_path, epochs=2)

    def stop_in_epoch_two(step: int, total: int, loss: float) -> None:
        if len(calls) == total:
            raise KeyboardInterrupt
        calls.append(step)

    calls: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        train(cfg, log=lambda _m: None, progress=stop_in_epoch_two)
    last = torch.load(cfg.out / run_dir.LAST, weights_only=True)
    last["state_dict"] = {
        k: torch.full_like(v, float("nan")) if v.is_floating_point() else v for k, v in last["state_dict"].items()
    }
    torch.save(last, cfg.out / run_dir.LAST)
    best = (cfg.out / run_dir.BEST).read_bytes()
    with pytest.raises(TrainingError, match=r"the loss is nan at epoch 2, step 1"):
        train(cfg, resume=True, log=lambda _m: None)
    assert (cfg.out / run_dir.BEST).read_bytes() == best


def test_a_float_option_that_is_not_finite_is_a_usage_error(tmp_path: Path) -> None:
    for flag, given in (("--lr", "inf"), ("--synthetic-seconds", "inf")):
        result = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "run"), flag, given])
        assert result.exit_code == 2 and f"{flag} {given}: give a finite number" in result.output, result.output
    assert not (tmp_path / "run").exists()
