"""Worker processes for the parallel parts (preprocessing videos, writing synthetic ones)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def process_pool(
    workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
) -> ProcessPoolExecutor:
    """A pool whose workers are spawned, not forked: by the time data is preprocessed the process may
    already run torch, ONNX Runtime or OpenVINO thread pools, and a child forked from it can deadlock on
    a lock one of those threads held (seen: bench --data after predict in one process)."""
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=initializer, initargs=initargs)
