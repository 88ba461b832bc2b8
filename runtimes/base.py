"""The one runtime interface: load a model file, run a batch of windows, describe itself, close.

``BaseRuntime`` is what every runtime builds on: its public ``run`` checks the input against the contract
(one line naming the model when it is wrong), feeds a static-batch model in chunks of its batch, and calls the
runtime's own ``_run`` on a contiguous float32 batch; ``close`` releases what the runtime holds, and ``with``
closes it. A new runtime writes ``__init__``, ``_run`` and ``describe`` (``openvino_runtime.py`` is the
example to copy), and a row of ``RUNTIMES``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.errors import EdgeRppgError

# What OpenVINO's CPU plugin may compute in (INFERENCE_PRECISION_HINT).
PRECISION_HINTS = ("f32", "bf16", "f16")


@dataclass(kw_only=True, frozen=True)
class RuntimeOptions:
    """Latency-oriented defaults: one stream, every core of this process."""

    threads: int | None = None
    device: str = "cpu"
    # OpenVINO: what the CPU plugin computes in. None: the model's own, f32 for every export but a bf16 one
    # (openvino_runtime.MODEL_HINTS); never left to the plugin, which on a bf16 CPU would silently run bf16.
    precision_hint: str | None = None
    performance_hint: str = "LATENCY"
    # Other threads of this process need the same cores while the model runs (predict's decode-and-crop
    # thread): inference threads are then neither pinned to cores (OpenVINO pins them by default, and the
    # crop thread waits on a core held by a pinned worker) nor left spinning between runs (ONNX Runtime).
    shares_cores: bool = False


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

    def close(self) -> None:
        """Release the sessions, compiled models and device memory it holds."""
        ...

    def __enter__(self) -> Runtime: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class BaseRuntime(ABC):
    name: str
    precision: str
    model_path: Path
    device: Any
    channels: int
    static_batch: int | None = None  # the batch a static-batch model was built for; None: any
    closed: bool = False
    any_crop_size: bool = False  # a spatial-mean method (classic) reads crops of any size; a network does not

    def run(self, frames: np.ndarray) -> np.ndarray:
        """frames [B, C, 161, 72, 72] (or one window [C, 161, 72, 72]), raw 0-255 -> BVP [B, 160] float32."""
        if self.closed:
            raise EdgeRppgError(f"{self.model_path}: this {self.name} runtime was closed")
        return run_static_batches(self._run, self.checked(frames), self.static_batch)

    def checked(self, frames: np.ndarray) -> np.ndarray:
        """The input as a contiguous float32 batch, or one line saying how it differs from the contract."""
        x = np.asarray(frames)
        if x.ndim == 4:
            x = x[None]
        want = (self.channels, CONTRACT.frames, CONTRACT.height, CONTRACT.width)
        got = tuple(x.shape[1:3]) + (want[2:] if self.any_crop_size and x.ndim == 5 else tuple(x.shape[3:]))
        if x.ndim != 5 or got != want or x.shape[0] == 0:
            raise EdgeRppgError(f"{self.model_path}: input {list(x.shape)} is not [B, {', '.join(map(str, want))}]")
        if not np.issubdtype(x.dtype, np.number):
            raise EdgeRppgError(f"{self.model_path}: input of {x.dtype}, not numbers (raw 0-255 pixels)")
        return np.ascontiguousarray(x, dtype=np.float32)

    @abstractmethod
    def _run(self, x: np.ndarray) -> np.ndarray:
        """A checked batch (the model's static batch, when it has one) -> its BVP."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What ran: versions, device, threads, effective precision."""

    @abstractmethod
    def _release(self) -> None:
        """Drop the handles (session, compiled model, engine) so that their memory can go."""

    def close(self) -> None:
        """Release what the runtime holds; it refuses to run afterwards."""
        if not self.closed:
            self._release()
            self.closed = True

    def __enter__(self) -> BaseRuntime:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def as_batch(frames: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(frames, dtype=np.float32)
    if x.ndim == 4:
        x = x[None]
    return x


def run_static_batches(run: Any, frames: np.ndarray, static_batch: int | None) -> np.ndarray:
    """Run any number of windows on a model compiled for a fixed batch: chunk, pad the last chunk, trim."""
    x = as_batch(frames)
    if static_batch is None or x.shape[0] == static_batch:
        return np.asarray(run(x))
    outs = []
    for start in range(0, x.shape[0], static_batch):
        chunk = x[start : start + static_batch]
        n = chunk.shape[0]
        if n < static_batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], static_batch - n, axis=0)])
        outs.append(run(chunk)[:n])
    return np.concatenate(outs)
