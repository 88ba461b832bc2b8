"""What bench reports: a row per runtime and precision (its agreement, latency, verdict) and the report around them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from edge_rppg.agreement import Agreement

DEVICES = ("cpu", "cuda")


BENCH_SEED = 99


class RowStatus(str, Enum):
    """What became of one runtime in a bench run."""

    OK = "ok"
    SKIPPED = "skipped"  # cannot run here (not installed, no GPU): not an error
    FAILED = "failed"  # opened or ran and crashed on the model: an error


@dataclass(frozen=True, kw_only=True)
class Latency:
    """Per-window latency percentiles, ms, after warm-up."""

    p50: float
    p90: float
    p99: float


@dataclass(frozen=True, kw_only=True)
class BenchResult:
    """One (runtime, model) row, built once when every measure of it is in."""

    runtime: str
    precision: str = "-"
    model: str
    status: RowStatus = RowStatus.OK
    reason: str | None = None  # why it was skipped or failed
    device: str = "-"
    latency_ms: Latency | None = None
    throughput_fps: float | None = None  # video frames per second (160 new frames per window)
    windows_per_s: float | None = None
    gflops_per_s: float | None = None
    speedup_vs_reference: float | None = None  # reference p50 / this p50, same run
    agreement: Agreement | None = None  # against the reference, on the same windows
    hr_mae_vs_label_bpm: float | None = None
    # pass | fail against `tolerance` (TOLERANCES of the precision it ran in); "reference" for the row the others
    # are judged against; None for a skipped row. A failed row (could not open, run or build) is "fail".
    verdict: str | None = None
    tolerance: dict[str, Any] | None = None
    violations: list[str] = field(default_factory=list)
    built: bool = False  # exported by bench from --weights (cached), not given with --model
    size_mb: float | None = None
    rss_delta_mb: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(kw_only=True)
class BenchReport:
    hr_resolution_bpm: float  # grid of every HR below (fft-fine), before its parabolic refinement
    reference: str  # "torch" (live) or "stored" (the reference set that travelled with the models)
    reference_device: str
    reference_set: dict[str, str] | None  # the stored set: file, sha256, what made it
    arch: str
    results: list[BenchResult]
    windows: int
    iterations: int
    threads: int
    matmul_gflops_per_s: float | None  # measured with PyTorch: none without it
    model_gflop_per_window: float | None
    reference_hr_mae_vs_label_bpm: float | None
    machine: dict[str, Any]
    peak_rss_mb: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Timing:
    iterations: int = 10
    rounds: int = 3
    warmup: int = 3
