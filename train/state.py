"""A run folder's state: seeds and RNG state, the recipe a resumed run keeps, the refusal to overwrite a finished
run, the metrics and the curves."""

from __future__ import annotations

import csv
import io
import json
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_rppg import run_dir
from edge_rppg.atomic import save_figure, write_text_atomic
from edge_rppg.errors import CheckpointError, TrainingError
from edge_rppg.train.config import TrainConfig


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every generator's state as tensors, numbers, strings and tuples: what ``torch.load(weights_only=True)``
    reads back, so that resuming unpickles no code (NumPy's key array travels as a tensor)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    numpy_state = (str(name), torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), gauss)
    return {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])


def write_metrics(run: Path, history: list[dict[str, Any]]) -> None:
    write_text_atomic(run / run_dir.METRICS_JSON, json.dumps(history, indent=2) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(run / run_dir.METRICS_CSV, buf.getvalue())
    plot_history(run / run_dir.PLOT, history)


def plot_history(path: Path, history: list[dict[str, Any]]) -> None:
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


# What a resumed run keeps from its start: the recipe (the one-cycle schedule depends on it) and the data
# (a run must not resume on other videos or another synthetic set).
RESUMED_KEYS = (
    "arch", "epochs", "batch_size", "lr", "fsam", "fsam_mode", "seed", "loss",
    "data", "dataset", "synthetic_subjects", "synthetic_seconds", "synthetic_hard", "train_split", "val_split",
)  # fmt: skip


def _same(a: Any, b: Any) -> bool:
    """Equal as saved: paths as strings, tuples as lists."""

    def norm(v: Any) -> Any:
        return str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v

    return bool(norm(a) == norm(b))


def adopt_saved_recipe(cfg: TrainConfig, saved: dict[str, Any], run: Path) -> None:
    """A resumed run keeps the recipe it started with (the one-cycle schedule depends on it). An option
    given now that contradicts it is refused by name, not silently replaced."""
    default = TrainConfig()

    def given(k: str) -> bool:  # an option on the command line counts even when it equals the default
        return k in cfg.given or not _same(getattr(cfg, k), getattr(default, k))

    conflicts = [
        f"--{k.replace('_', '-')} {getattr(cfg, k)} (the run has {saved[k]})"
        for k in RESUMED_KEYS
        if k in saved and given(k) and not _same(getattr(cfg, k), saved[k])
    ]
    if conflicts:
        raise CheckpointError(
            f"{run}: --resume continues the saved recipe; these options contradict it: {'; '.join(conflicts)}"
        )
    for key in RESUMED_KEYS:
        if key in saved:
            value = saved[key]
            if key == "data" and value is not None:
                value = Path(value)
            elif isinstance(getattr(default, key), tuple):
                value = tuple(value)
            setattr(cfg, key, value)


def resume_state(cfg: TrainConfig) -> dict[str, Any]:
    last = cfg.out / run_dir.LAST
    if not last.exists():
        raise CheckpointError(f"{cfg.out}: nothing to resume (no {run_dir.LAST})")
    try:
        # Data only: a last.pt that carries code (a pickled __reduce__) is refused, never run.
        state: dict[str, Any] = torch.load(last, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{last}: cannot resume from it: it holds more than tensors, numbers and strings (code, or a last.pt "
            "written before this version); nothing was run from it"
        ) from None
    except Exception as exc:  # truncated or not a checkpoint: one line, not a traceback
        raise CheckpointError(f"{last}: cannot resume from it ({str(exc).splitlines()[0][:200]})") from None
    adopt_saved_recipe(cfg, state.get("train_config", {}), cfg.out)
    return state


def refuse_a_finished_run(out: Path) -> None:
    """A folder that already holds a run is the user's: continue it with --resume, or train into another."""
    found = [
        name for name in (run_dir.BEST, run_dir.LAST, run_dir.CONFIG, run_dir.METRICS_CSV) if (out / name).exists()
    ]
    if found:
        raise TrainingError(
            f"{out}: already holds a run ({', '.join(found)}); continue it with --resume, or give another --out"
        )
