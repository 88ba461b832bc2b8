"""The one runtime interface: load a model file, run a batch of windows, describe itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

# What OpenVINO's CPU plugin may compute in (INFERENCE_PRECISION_HINT).
PRECISION_HINTS = ("f32", "bf16", "f16")


@dataclass(frozen=True)
class RuntimeOptions:
    """Latency-oriented defaults: one stream, every core of this process."""

    threads: int | None = None
    device: str = "cpu"
    # OpenVINO: what the CPU plugin computes in. "f32" by default: on CPUs with bf16 the plugin would
    # otherwise silently run bf16 (error 1500x larger on this model).
    precision_hint: str = "f32"
    performance_hint: str = "LATENCY"


class Runtime(Protocol):
    name: str
    precision: str
    model_path: Path
    device: Any  # where it runs: "cpu", "cuda", ...
    channels: int  # input channels the model takes (3 RGB, 1 thermal, 4 RGB + thermal)

    def run(self, frames: np.ndarray) -> np.ndarray:
        """frames [B, 3, 161, 72, 72] float32 raw RGB -> BVP [B, 160] float32."""
        ...

    def describe(self) -> dict[str, Any]:
        """What ran: versions, device, threads, effective precision."""
        ...


def as_batch(frames: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(frames, dtype=np.float32)
    if x.ndim == 4:
        x = x[None]
    return x


def run_static_batches(run: Any, frames: np.ndarray, static_batch: int | None) -> np.ndarray:
    """Run any number of windows on a model compiled for a fixed batch: chunk, pad the last chunk, trim."""
    x = as_batch(frames)
    if static_batch is None or x.shape[0] == static_batch:
        return run(x)
    outs = []
    for start in range(0, x.shape[0], static_batch):
        chunk = x[start : start + static_batch]
        n = chunk.shape[0]
        if n < static_batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], static_batch - n, axis=0)])
        outs.append(run(chunk)[:n])
    return np.concatenate(outs)
