"""The training loop for every model family (FactorizePhys or EfficientPhys, with FSAM).

Adam with one-cycle LR, negative Pearson loss.

CUDA with mixed precision when there is a GPU, CPU otherwise, several GPUs under ``torchrun``.
Each epoch ends with a validation (loss and whole-video HR MAE) and atomic checkpoints, so a killed
run loses at most the epoch in progress and ``resume`` continues from the last one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from edge_rppg import run_dir
from edge_rppg.data.preprocess import Chunk
from edge_rppg.errors import DatasetError, TrainingError
from edge_rppg.evaluate import evaluate_videos, predict_videos
from edge_rppg.models import FSAMConfig, get_family
from edge_rppg.models.checkpoints import save_checkpoint
from edge_rppg.signals.hr import HrMethod
from edge_rppg.train import distributed
from edge_rppg.train.config import TrainConfig
from edge_rppg.train.data import ChunkDataset, training_chunks
from edge_rppg.train.loss import LOSSES
from edge_rppg.train.state import (
    refuse_a_finished_run,
    restore_rng,
    resume_state,
    rng_state,
    seed_all,
    write_metrics,
)

if TYPE_CHECKING:
    from edge_rppg.models.registry import Model


@dataclass(kw_only=True)
class TrainResult:
    run: Path
    best: Path
    last: Path
    history: list[dict[str, Any]]
    is_main: bool = True  # False in every torchrun process but rank 0, which alone reports

    def best_epoch(self) -> dict[str, Any] | None:
        validated = [h for h in self.history if h["val_mae_bpm"] is not None]
        return min(validated, key=lambda h: h["val_loss"]) if validated else None


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = torch.device("meta")  # refused just below, in the words of this command
    if device.type not in ("cpu", "cuda"):
        raise TrainingError(f"--device {name}: not a device training runs on; give auto, cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DatasetError(f"--device {name}: no CUDA device is visible here")
    return device


def build_for_training(cfg: TrainConfig) -> Model:
    """The family's network in its training form: FSAM per ``--fsam``, or per ``--fsam-mode`` for a family
    whose FSAM stays at inference and has NMF modes."""
    family = get_family(cfg.arch)
    if family.fsam_modes:
        return family.build(fsam=cfg.fsam_mode)
    return family.build(
        fsam=FSAMConfig(residual=cfg.fsam_residual, rank=cfg.fsam_rank, steps=cfg.fsam_steps) if cfg.fsam else False
    )


@dataclass(kw_only=True)
class _Session:
    """What every epoch of one run shares."""

    cfg: TrainConfig
    device: torch.device
    dist: distributed.DistInfo
    model: Model
    net: torch.nn.Module
    loader: DataLoader[tuple[torch.Tensor, torch.Tensor]]
    sampler: DistributedSampler[int] | None
    generator: torch.Generator
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype
    history: list[dict[str, Any]]
    best_val: float = float("inf")
    start_epoch: int = 0

    @property
    def use_amp(self) -> bool:
        return self.device.type == "cuda"


def _devices(cfg: TrainConfig) -> tuple[torch.device, distributed.DistInfo]:
    device = pick_device(cfg.device)
    dist = distributed.setup(device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    return device, dist


def _session(
    cfg: TrainConfig,
    device: torch.device,
    dist: distributed.DistInfo,
    train_chunks: list[Chunk],
    state: dict[str, Any] | None,
    log: Callable[[str], None],
) -> _Session:
    model = build_for_training(cfg).to(device)
    train_set = ChunkDataset(train_chunks)
    sampler: DistributedSampler[int] | None = (
        DistributedSampler(train_set, shuffle=True, seed=cfg.seed) if dist.enabled else None
    )
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        drop_last=len(train_chunks) > cfg.batch_size,
        num_workers=0,
        generator=generator,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=len(loader)
    )
    cuda = device.type == "cuda"
    amp_dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp_dtype == torch.float16)
    s = _Session(
        cfg=cfg,
        device=device,
        dist=dist,
        model=model,
        net=model,
        loader=loader,
        sampler=sampler,
        generator=generator,
        optimizer=optimizer,
        scheduler=scheduler,
        scaler=scaler,
        amp_dtype=amp_dtype,
        history=[],
    )
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"])
        generator.set_state(state["loader_rng"])
        s.start_epoch, s.best_val, s.history = state["epoch"] + 1, state["best_val"], state["history"]
        log(f"resuming {cfg.out} at epoch {s.start_epoch + 1}/{cfg.epochs}")
    if dist.enabled:
        s.net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    return s


def _train_epoch(s: _Session, epoch: int, progress: Callable[[int, int, float], None] | None) -> dict[str, Any]:
    if s.sampler is not None:
        s.sampler.set_epoch(epoch)
    s.net.train()
    loss_fn = LOSSES[s.cfg.loss]
    t0, losses, errors = time.perf_counter(), [], []
    for step, (x, y) in enumerate(s.loader):
        x, y = x.to(s.device, non_blocking=True), y.to(s.device, non_blocking=True)
        with torch.autocast(device_type=s.device.type, dtype=s.amp_dtype, enabled=s.use_amp):
            pred = s.net(x)
        y = (y - y.mean(dim=1, keepdim=True)) / (y.std(dim=1, keepdim=True) + 1e-8)
        loss = loss_fn(pred.float(), y)
        if not torch.isfinite(loss):  # before the step: the weights saved so far stay finite
            raise TrainingError(
                f"{s.cfg.out}: the loss is {loss.item()} at epoch {epoch + 1}, step {step + 1}: non-finite labels "
                "or frames in the data, or a learning rate too large; stopped, nothing saved from this epoch"
            )
        s.optimizer.zero_grad(set_to_none=True)
        s.scaler.scale(loss).backward()
        s.scaler.step(s.optimizer)
        s.scaler.update()
        s.scheduler.step()
        losses.append(loss.item())
        if s.model.last_appx_error is not None:
            errors.append(float(s.model.last_appx_error.detach()))
        if progress and s.dist.is_main:
            progress(step + 1, len(s.loader), float(np.mean(losses)))
    train_loss = distributed.mean_across_ranks(float(np.mean(losses)), s.dist, s.device)
    return {
        "epoch": epoch + 1,
        "train_loss": round(train_loss, 5),
        "fsam_appx_error": round(float(np.mean(errors)), 3) if errors else None,
        "lr": s.scheduler.get_last_lr()[0],
        "seconds": round(time.perf_counter() - t0, 1),
        "val_loss": None,
        "val_mae_bpm": None,
        "val_rmse_bpm": None,
    }


def _end_epoch(
    s: _Session,
    epoch: int,
    record: dict[str, Any],
    val_chunks: list[Chunk],
    trained_on: str,
    log: Callable[[str], None],
) -> None:
    """Validate, then write the best and last checkpoints and the metrics, each atomically."""
    cfg, run = s.cfg, s.cfg.out
    if val_chunks:
        record.update(_validate(s.model, val_chunks, s.device, LOSSES[cfg.loss]))
    s.history.append(record)
    score = record["val_loss"] if record["val_loss"] is not None else -epoch
    metrics = {k: record[k] for k in ("epoch", "val_loss", "val_mae_bpm", "val_rmse_bpm", "train_loss")}
    improved = score <= s.best_val
    if improved:
        s.best_val = score
    # last.pt first: on a full disk the run can still resume, whatever happens to best.pt after it.
    save_checkpoint(
        run / run_dir.LAST,
        s.model,
        train_config=cfg.to_dict(),
        metrics=metrics,
        trained_on=trained_on,
        extra={
            "epoch": epoch,
            "best_val": s.best_val,
            "history": s.history,
            "optimizer": s.optimizer.state_dict(),
            "scheduler": s.scheduler.state_dict(),
            "scaler": s.scaler.state_dict(),
            "rng": rng_state(),
            "loader_rng": s.generator.get_state(),
        },
    )
    if improved:
        save_checkpoint(run / run_dir.BEST, s.model, train_config=cfg.to_dict(), metrics=metrics, trained_on=trained_on)
    write_metrics(run, s.history)
    log(
        f"epoch {epoch + 1}/{cfg.epochs}: train loss {record['train_loss']:.4f}"
        + (
            f", val loss {record['val_loss']:.4f}, val HR MAE {record['val_mae_bpm']:.2f} bpm"
            if record["val_loss"] is not None
            else ""
        )
        + f" ({record['seconds']:.0f} s)"
    )


def train(
    cfg: TrainConfig,
    resume: bool = False,
    log: Callable[[str], None] = print,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainResult:
    """Train per ``cfg``; with ``resume``, continue the run in ``cfg.out`` from its last checkpoint."""
    device, dist = _devices(cfg)
    if not dist.is_main:  # one voice per run, not one per process
        log = lambda _m: None
    state = resume_state(cfg) if resume else None
    if not resume:
        refuse_a_finished_run(cfg.out)
    seed_all(cfg.seed + dist.rank)
    train_chunks, val_chunks, trained_on = training_chunks(cfg, dist, log)
    log(
        f"{get_family(cfg.arch).title}: train chunks {len(train_chunks)}, validation chunks {len(val_chunks)}, "
        f"device {device}" + (f" x{dist.world_size}" if dist.enabled else "")
    )
    s = _session(cfg, device, dist, train_chunks, state, log)
    for epoch in range(s.start_epoch, cfg.epochs):
        record = _train_epoch(s, epoch, progress)
        if dist.is_main:
            _end_epoch(s, epoch, record, val_chunks, trained_on, log)
        distributed.barrier(dist)
    distributed.teardown(dist)
    best, last = cfg.out / run_dir.BEST, cfg.out / run_dir.LAST
    return TrainResult(
        run=cfg.out, best=best if best.exists() else last, last=last, history=s.history, is_main=dist.is_main
    )


def _validate(model: torch.nn.Module, chunks: list[Chunk], device: torch.device, loss_fn: Any) -> dict[str, float]:
    """Validation loss per chunk and the paper's HR metrics, from one forward pass over the chunks."""
    model.eval()

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(model(torch.from_numpy(x).to(device)).float().cpu().numpy())

    bvps = predict_videos(predict, chunks)
    losses = []
    per_video = Counter(c.video for c in chunks)
    for video, (pred, label) in bvps.items():  # each video's chunks back to back, one window of BVP each
        for p, y in zip(np.split(pred, per_video[video]), np.split(label, per_video[video]), strict=True):
            yt = torch.from_numpy(y[None])
            losses.append(float(loss_fn(torch.from_numpy(p[None]), (yt - yt.mean()) / (yt.std() + 1e-8))))
    report = evaluate_videos(bvps, method=HrMethod.FFT_FINE)  # a fine grid, so validation MAE can move
    return {
        "val_loss": round(float(np.mean(losses)), 5),
        "val_mae_bpm": round(report.overall.mae, 3),
        "val_rmse_bpm": round(report.overall.rmse, 3),
    }
