"""The training loop: FactorizePhys + FSAM, Adam with one-cycle LR, negative Pearson loss.

CUDA with mixed precision when there is a GPU, CPU otherwise, several GPUs under ``torchrun``.
Each epoch ends with a validation (loss and whole-video HR MAE) and atomic checkpoints, so a killed
run loses at most the epoch in progress and ``resume`` continues from the last one.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from edge_rppg.atomic import save_figure, write_text_atomic
from edge_rppg.data.preprocess import Chunk, chunk_window, default_cache_root, preprocess_videos
from edge_rppg.data.readers import read_dataset, split_by_subject
from edge_rppg.errors import CheckpointError, DatasetError
from edge_rppg.evaluate import evaluate_chunks
from edge_rppg.hr import HrMethod
from edge_rppg.models import FSAMConfig, build_model
from edge_rppg.models.checkpoints import save_checkpoint
from edge_rppg.train import distributed, run_dir
from edge_rppg.train.config import TrainConfig
from edge_rppg.train.loss import LOSSES


class ChunkDataset(Dataset):
    def __init__(self, chunks: list[Chunk]):
        self.chunks = chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = chunk_window(self.chunks[i])
        return torch.from_numpy(x), torch.from_numpy(y)


@dataclass
class TrainResult:
    run: Path
    best: Path
    last: Path
    history: list[dict[str, Any]]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DatasetError(f"--device {name}: no CUDA device is visible here")
    return device


def prepare_data(cfg: TrainConfig, log: Callable[[str], None]) -> tuple[list[Chunk], list[Chunk], str]:
    """Chunks for training and validation, and a name for what the model is trained on."""
    cache = cfg.cache or default_cache_root()
    if cfg.data is None:
        from edge_rppg.data.synthetic import write_synthetic_ubfc

        root = cache / f"synthetic-ubfc-s{cfg.seed}-n{cfg.synthetic_subjects}-{cfg.synthetic_seconds:g}s"
        log(f"built-in synthetic dataset: {cfg.synthetic_subjects} subjects x {cfg.synthetic_seconds:g} s in {root}")
        write_synthetic_ubfc(root, cfg.synthetic_subjects, cfg.synthetic_seconds, seed=cfg.seed)
        dataset, trained_on = "ubfc-rppg", "synthetic"
    else:
        root, dataset, trained_on = cfg.data, cfg.dataset, cfg.dataset
    items = read_dataset(root, dataset)
    train_items = split_by_subject(items, *cfg.train_split)
    val_items = split_by_subject(items, *cfg.val_split)
    if not train_items:
        raise DatasetError(f"{root}: no videos in the training split {cfg.train_split}")
    chunks = preprocess_videos(train_items + val_items, dataset, root, cache_root=cache, workers=cfg.workers,
                               on_no_face=cfg.on_no_face, log=log)
    val_names = {i.name for i in val_items}
    return [c for c in chunks if c.video not in val_names], [c for c in chunks if c.video in val_names], trained_on


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def _write_metrics(run: Path, history: list[dict[str, Any]]) -> None:
    write_text_atomic(run / run_dir.METRICS_JSON, json.dumps(history, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(run / run_dir.METRICS_CSV, buf.getvalue())
    _plot(run / run_dir.PLOT, history)


def _plot(path: Path, history: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    if history[0].get("val_loss") is not None:
        a.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("1 − Pearson r"), a.legend()
    if history[0].get("val_mae_bpm") is not None:
        b.plot(epochs, [h["val_mae_bpm"] for h in history], "o-", color="C3")
    b.set_xlabel("epoch"), b.set_ylabel("validation HR MAE (bpm)")
    fig.tight_layout()
    save_figure(fig, path)


RESUMED_KEYS = ("epochs", "batch_size", "lr", "fsam", "seed", "loss")


def _adopt_saved_recipe(cfg: TrainConfig, saved: dict[str, Any], run: Path) -> None:
    """A resumed run keeps the recipe it started with (the one-cycle schedule depends on it). An option
    given now that contradicts it is refused by name, not silently replaced."""
    default = TrainConfig()
    conflicts = [f"--{k.replace('_', '-')} {getattr(cfg, k)} (the run has {saved[k]})" for k in RESUMED_KEYS
                 if k in saved and getattr(cfg, k) != saved[k] and getattr(cfg, k) != getattr(default, k)]
    if conflicts:
        raise CheckpointError(f"{run}: --resume continues the saved recipe; these options contradict it: {'; '.join(conflicts)}")
    for key in RESUMED_KEYS:
        if key in saved:
            setattr(cfg, key, saved[key])


def train(cfg: TrainConfig, resume: bool = False, log: Callable[[str], None] = print,
          progress: Callable[[int, int, float], None] | None = None) -> TrainResult:
    """Train per ``cfg``; with ``resume``, continue the run in ``cfg.out`` from its last checkpoint."""
    device = pick_device(cfg.device)
    dist = distributed.setup(device)
    if dist.enabled and device.type == "cuda":
        device = torch.device("cuda", dist.local_rank)
    if not dist.is_main:  # one voice per run, not one per process
        log = lambda _m: None  # noqa: E731
    run = cfg.out
    last_path, best_path = run / run_dir.LAST, run / run_dir.BEST
    state: dict[str, Any] | None = None
    if resume:
        if not last_path.exists():
            raise CheckpointError(f"{run}: nothing to resume (no {run_dir.LAST})")
        state = torch.load(last_path, map_location="cpu", weights_only=False)
        _adopt_saved_recipe(cfg, state.get("train_config", {}), run)
    _seed_all(cfg.seed + dist.rank)
    if dist.is_main:
        # Data first: a dataset error must not leave a run folder behind.
        train_chunks, val_chunks, trained_on = prepare_data(cfg, log)
        run.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run / run_dir.CONFIG, json.dumps(cfg.to_dict(), indent=2) + "\n")
    distributed.barrier(dist)
    if not dist.is_main:  # the cache is complete now: this only lists it
        train_chunks, val_chunks, trained_on = prepare_data(cfg, lambda _m: None)
    if not train_chunks:
        raise DatasetError("no training chunks: every video was skipped or shorter than one chunk")
    log(f"train chunks: {len(train_chunks)}, validation chunks: {len(val_chunks)}, device: {device}"
        + (f" x{dist.world_size}" if dist.enabled else ""))

    fsam = FSAMConfig(residual=cfg.fsam_residual, rank=cfg.fsam_rank, steps=cfg.fsam_steps) if cfg.fsam else False
    model = build_model(fsam=fsam).to(device)
    train_set = ChunkDataset(train_chunks)
    sampler = DistributedSampler(train_set, shuffle=True, seed=cfg.seed) if dist.enabled else None
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                        drop_last=len(train_chunks) > cfg.batch_size, num_workers=0, generator=generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, epochs=cfg.epochs, steps_per_epoch=len(loader))
    use_amp = device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    history: list[dict[str, Any]] = []
    start_epoch, best_val = 0, float("inf")
    if state is not None:
        model.load_state_dict(state["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        _restore_rng(state["rng"])
        generator.set_state(state["loader_rng"])
        start_epoch, best_val, history = state["epoch"] + 1, state["best_val"], state["history"]
        log(f"resuming {run} at epoch {start_epoch + 1}/{cfg.epochs}")
    net: torch.nn.Module = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if use_amp else None) if dist.enabled else model
    loss_fn = LOSSES[cfg.loss]

    for epoch in range(start_epoch, cfg.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        net.train()
        t0, losses, errors = time.perf_counter(), [], []
        for step, (x, y) in enumerate(loader):
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                pred = net(x)
            y = (y - y.mean(dim=1, keepdim=True)) / (y.std(dim=1, keepdim=True) + 1e-8)
            loss = loss_fn(pred.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            losses.append(loss.item())
            if model.rppg_head.last_appx_error is not None:
                errors.append(float(model.rppg_head.last_appx_error.detach()))
            if progress and dist.is_main:
                progress(step + 1, len(loader), float(np.mean(losses)))
        train_loss = distributed.mean_across_ranks(float(np.mean(losses)), dist, device)
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": round(train_loss, 5),
                                  "fsam_appx_error": round(float(np.mean(errors)), 3) if errors else None,
                                  "lr": scheduler.get_last_lr()[0], "seconds": round(time.perf_counter() - t0, 1),
                                  "val_loss": None, "val_mae_bpm": None, "val_rmse_bpm": None}
        if dist.is_main:
            if val_chunks:
                record.update(_validate(model, val_chunks, device, loss_fn))
            history.append(record)
            score = record["val_loss"] if record["val_loss"] is not None else -epoch
            metrics = {k: record[k] for k in ("epoch", "val_loss", "val_mae_bpm", "val_rmse_bpm", "train_loss")}
            if score <= best_val:
                best_val = score
                save_checkpoint(best_path, model, train_config=cfg.to_dict(), metrics=metrics, trained_on=trained_on)
            save_checkpoint(last_path, model, train_config=cfg.to_dict(), metrics=metrics, trained_on=trained_on, extra={
                "epoch": epoch, "best_val": best_val, "history": history, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": _rng_state(),
                "loader_rng": generator.get_state(),
            })
            _write_metrics(run, history)
            log(f"epoch {epoch + 1}/{cfg.epochs}: train loss {record['train_loss']:.4f}"
                + (f", val loss {record['val_loss']:.4f}, val HR MAE {record['val_mae_bpm']:.2f} bpm" if record["val_loss"] is not None else "")
                + f" ({record['seconds']:.0f} s)")
        distributed.barrier(dist)
    distributed.teardown(dist)
    return TrainResult(run, best_path if best_path.exists() else last_path, last_path, history)


def _validate(model: torch.nn.Module, chunks: list[Chunk], device: torch.device, loss_fn: Any) -> dict[str, float]:
    model.eval()
    losses = []

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x).to(device)).float().cpu().numpy()

    for c in chunks:
        x, y = chunk_window(c)
        p = torch.from_numpy(predict(x[None]))
        yt = torch.from_numpy(y[None])
        losses.append(float(loss_fn(p, (yt - yt.mean()) / (yt.std() + 1e-8))))
    report = evaluate_chunks(predict, chunks, method=HrMethod.FFT_FINE)  # a fine grid, so validation MAE can move
    return {"val_loss": round(float(np.mean(losses)), 5), "val_mae_bpm": round(report.overall.mae, 3),
            "val_rmse_bpm": round(report.overall.rmse, 3)}
