"""Which machine bench's figures come from, and its yardsticks: they travel with the figures."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import psutil

from edge_rppg.check import cpu_flags, cpu_name, nvidia_gpus
from edge_rppg.runtimes import RUNTIMES
from edge_rppg.timing import timed_ms


def matmul_gflops(threads: int, n: int = 1024, repeats: int = 5) -> float:
    """This machine's FP32 matrix-multiply rate at the same thread count: the yardstick for GFLOP/s."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best_ms = min(timed_ms(lambda: torch.mm(a, b), repeats))
    return 2 * n**3 / (best_ms / 1e3) / 1e9


def size_mb(path: Path) -> float:
    files = [path] + ([path.with_suffix(".bin")] if path.suffix == ".xml" else [])
    return round(sum(f.stat().st_size for f in files if f.exists()) / 1e6, 4)


def rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 1e6


# A CPU's class for speed tables, the most capable first: the first of these features it has names it.
ISA_CLASSES = ("AMX INT8", "AVX-512 BF16", "AVX-512 VNNI", "AVX-512", "AVX-VNNI", "AVX2")


def isa_class(features: list[str]) -> str:
    return next((c for c in ISA_CLASSES if c in features), "other")


def machine(threads: int) -> dict[str, Any]:
    """Which machine the figures come from: they travel with it (the README's speed table is per CPU class)."""
    features = cpu_flags()
    return {
        "cpu": cpu_name(),
        "isa_class": isa_class(features),
        "cpu_features": features,
        "cores": os.cpu_count(),
        "threads": threads,
        "gpus": [g.name for g in nvidia_gpus()],
        "runtime_versions": {name: spec.version() for name, spec in RUNTIMES.items()},
        "python": platform.python_version(),
    }
