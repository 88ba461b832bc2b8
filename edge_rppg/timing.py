"""The one timer of bench and the benchmarks: wall milliseconds per call, after untimed warm-up calls."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def timed_ms(call: Callable[[], object], iterations: int = 1, warmup: int = 0) -> list[float]:
    """Milliseconds of each of ``iterations`` calls, after ``warmup`` untimed ones (first-run allocations, lazy
    compilation, a GPU's clocks ramping up)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def p50_ms(call: Callable[[], object], iterations: int = 30, warmup: int = 3) -> float:
    """The median of ``timed_ms``: what a benchmark row reports as a runtime's latency."""
    return float(np.median(timed_ms(call, iterations, warmup)))
