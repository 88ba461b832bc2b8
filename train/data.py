"""What training reads: the dataset's cached chunks, split by subject, as tensors."""

from __future__ import annotations

import json
from collections.abc import Callable

import torch
from torch.utils.data import Dataset

from edge_rppg import run_dir
from edge_rppg.atomic import write_text_atomic
from edge_rppg.data.preprocess import Chunk, chunk_window, preprocess_videos
from edge_rppg.data.readers import read_dataset, split_by_subject
from edge_rppg.errors import DatasetError
from edge_rppg.paths import cache_root
from edge_rppg.train import distributed
from edge_rppg.train.config import TrainConfig


class ChunkDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(self, chunks: list[Chunk]):
        self.chunks = chunks

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = chunk_window(self.chunks[i])
        return torch.from_numpy(x), torch.from_numpy(y)


def prepare_data(cfg: TrainConfig, log: Callable[[str], None]) -> tuple[list[Chunk], list[Chunk], str]:
    """Chunks for training and validation, and a name for what the model is trained on."""
    cache = cfg.cache or cache_root()
    if cfg.data is None:
        from edge_rppg.data.synthetic import GENERATOR_VERSION, write_synthetic_ubfc

        hard = f"-hard{cfg.synthetic_hard:g}" if cfg.synthetic_hard else ""
        size = f"n{cfg.synthetic_subjects}-{cfg.synthetic_seconds:g}s{hard}"
        name = f"synthetic-ubfc-v{GENERATOR_VERSION}-s{cfg.seed}-{size}"
        root = cache / name
        log(f"built-in synthetic dataset: {cfg.synthetic_subjects} subjects x {cfg.synthetic_seconds:g} s in {root}")
        write_synthetic_ubfc(
            root, cfg.synthetic_subjects, cfg.synthetic_seconds, seed=cfg.seed, hard=cfg.synthetic_hard
        )
        dataset = "ubfc-rppg"
        trained_on = (
            f"synthetic (generator v{GENERATOR_VERSION}, seed {cfg.seed}, {cfg.synthetic_subjects} subjects x "
            f"{cfg.synthetic_seconds:g} s, {cfg.synthetic_hard:.0%} hard)"
        )
    else:
        root, dataset, trained_on = cfg.data, cfg.dataset, cfg.dataset
    items = read_dataset(root, dataset)
    train_items = split_by_subject(items, *cfg.train_split)
    val_items = split_by_subject(items, *cfg.val_split)
    if not train_items:
        raise DatasetError(f"{root}: no videos in the training split {cfg.train_split}")
    chunks = preprocess_videos(
        train_items + val_items,
        dataset,
        root,
        cache_root=cache,
        workers=cfg.workers,
        on_no_face=cfg.on_no_face,
        log=log,
    )
    val_names = {i.name for i in val_items}
    return [c for c in chunks if c.video not in val_names], [c for c in chunks if c.video in val_names], trained_on


def training_chunks(
    cfg: TrainConfig, dist: distributed.DistInfo, log: Callable[[str], None]
) -> tuple[list[Chunk], list[Chunk], str]:
    if dist.is_main:
        # Data first: a dataset error must not leave a run folder behind.
        train_chunks, val_chunks, trained_on = prepare_data(cfg, log)
        cfg.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cfg.out / run_dir.CONFIG, json.dumps(cfg.to_dict(), indent=2) + "\n")
    distributed.barrier(dist)
    if not dist.is_main:  # the cache is complete now: this only lists it
        train_chunks, val_chunks, trained_on = prepare_data(cfg, lambda _m: None)
    if not train_chunks:
        raise DatasetError("no training chunks: every video was skipped or shorter than one chunk")
    return train_chunks, val_chunks, trained_on
