"""Worker processes for the parallel parts (preprocessing videos, writing synthetic ones)."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor


def process_pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose workers are spawned, not forked: by the time data is preprocessed the process may
    already run torch, ONNX Runtime or OpenVINO thread pools, and a child forked from it can deadlock on
    a lock one of those threads held (seen: bench --data after predict in one process)."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
