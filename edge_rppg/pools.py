"""Workers for the parallel parts (preprocessing videos, writing synthetic ones): spawned processes here, or
Ray tasks across a cluster."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
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
    return ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_bound_to_parent, initargs=(os.getpid(), initializer, initargs)
    )


# prctl(2): the signal a process gets when the one that started it dies.
PR_SET_PDEATHSIG = 1


def _bound_to_parent(parent: int, initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    """A worker dies with the process that started it: a parent killed with SIGKILL (the OOM killer) runs no
    cleanup, and its workers would go on decoding and holding memory for nobody."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)
    if initializer is not None:
        initializer(*initargs)


ENGINES = ("local", "ray")  # how many videos are spread: a local process pool, or Ray (pip install 'edge-rppg[ray]')


def parallel_map(
    fn: Callable[[Any], Any], items: list[Any], workers: int, engine: str = "local", ray_address: str | None = None
) -> list[Any]:
    """``[fn(x) for x in items]``, in order: in this process (one worker), a local pool, or Ray tasks (one CPU
    each, retried by Ray if their worker dies). ``fn`` and the items must pickle; on Ray, every path they
    name must be visible to every node (a shared folder)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    if engine == "ray":
        return _ray_map(fn, items, ray_address)
    if workers <= 1:
        return [fn(x) for x in items]
    with process_pool(workers) as pool:
        return list(pool.map(fn, items))


def _ray_map(fn: Callable[[Any], Any], items: list[Any], address: str | None) -> list[Any]:
    from edge_rppg.optional import require

    ray = require("ray", "--engine ray")
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(fn)
        return list(ray.get([task.remote(x) for x in items]))
    finally:
        if started:
            ray.shutdown()
