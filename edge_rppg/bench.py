"""``edge-rppg bench``: every runtime on the same windows in one run, against the PyTorch reference.

Latencies are measured per window (batch 1) after warm-up, in interleaved rounds so that a passing
load on a shared machine hits every runtime alike; percentiles, not means. Accuracy is reported in
the user's units: BVP error and correlation, and heart rate in bpm.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from edge_rppg.agreement import compare
from edge_rppg.atomic import write_text_atomic
from edge_rppg.contract import CONTRACT
from edge_rppg.errors import EdgeRppgError
from edge_rppg.hr import hr_resolution_bpm, window_hr
from edge_rppg.models import count_macs
from edge_rppg.models.checkpoints import load_deploy_model
from edge_rppg.runtimes import RUNTIMES, Runtime, RuntimeOptions, get_runtime

REFERENCE = "torch"
BENCH_SEED = 99


@dataclass
class BenchResult:
    runtime: str
    precision: str
    model: str
    status: str
    latency_ms: dict[str, float] | None = None
    throughput_fps: float | None = None  # video frames per second (160 new frames per window)
    windows_per_s: float | None = None
    gflops_per_s: float | None = None
    max_abs_err: float | None = None
    max_err_of_range: float | None = None
    bvp_pearson: float | None = None
    hr_abs_diff_bpm: float | None = None
    hr_abs_diff_median_bpm: float | None = None
    hr_mae_vs_label_bpm: float | None = None
    size_mb: float | None = None
    rss_delta_mb: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class BenchReport:
    hr_resolution_bpm: float  # grid of every HR below (fft-fine), before its parabolic refinement
    reference: str
    results: list[BenchResult]
    windows: int
    iterations: int
    threads: int
    matmul_gflops_per_s: float
    model_gflop_per_window: float
    reference_hr_mae_vs_label_bpm: float | None
    machine: dict[str, Any]
    peak_rss_mb: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write_json(self, path: Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")


def matmul_gflops(threads: int, n: int = 1024, repeats: int = 5) -> float:
    """This machine's FP32 matrix-multiply rate at the same thread count: the yardstick for GFLOP/s."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _size_mb(path: Path) -> float:
    files = [path] + ([path.with_suffix(".bin")] if path.suffix == ".xml" else [])
    return round(sum(f.stat().st_size for f in files if f.exists()) / 1e6, 4)


def _rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def _plan(runtimes: list[str], models: list[Path], weights: Path) -> list[tuple[str, Path | None, str | None]]:
    """(runtime, model file, skip reason) for every pairing the user asked for."""
    plan: list[tuple[str, Path | None, str | None]] = []
    for name in runtimes:
        spec = get_runtime(name)
        reason = spec.unavailable_reason()
        files = [weights] if name == REFERENCE else [m for m in models if m.suffix in spec.suffixes]
        if not files:
            plan.append((name, None, reason or f"no model file for {name} (give --model with {'/'.join(spec.suffixes)})"))
        for f in files:
            plan.append((name, f, reason))
    return plan


def resolve_weights(weights: Path | None, models: list[Path]) -> Path:
    """The reference checkpoint: given, or the source recorded in an exported model's metadata."""
    if weights is not None:
        return weights
    for m in models:
        if m.suffix == ".onnx":
            import onnx

            meta = {p.key: p.value for p in onnx.load(str(m), load_external_data=False).metadata_props}
            src = meta.get("source_checkpoint")
            if src and Path(src).exists():
                return Path(src)
    raise EdgeRppgError("bench needs the PyTorch reference: give --weights (the checkpoint the models were exported from)")


def run_bench(
    runtimes: list[str],
    models: list[Path],
    weights: Path | None = None,
    windows: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    n_windows: int = 8,
    iterations: int = 10,
    rounds: int = 3,
    warmup: int = 3,
    threads: int | None = None,
    precision_hint: str = "f32",
) -> BenchReport:
    """Benchmark ``runtimes`` (names; "all" expanded by the caller) on the same windows."""
    threads = threads or os.cpu_count() or 1
    for m in models:
        if not m.exists():
            raise EdgeRppgError(f"{m}: no such model file")
    weights = resolve_weights(weights, models)
    deploy, _ = load_deploy_model(weights)
    if windows is None:
        from edge_rppg.data.synthetic import synthetic_windows

        windows, labels = synthetic_windows(n_windows, seed=BENCH_SEED)
    if REFERENCE not in runtimes:
        runtimes = [REFERENCE, *runtimes]
    options = RuntimeOptions(threads=threads, precision_hint=precision_hint)

    opened: list[tuple[BenchResult, Runtime]] = []
    results: list[BenchResult] = []
    outputs: dict[int, np.ndarray] = {}  # id(result) -> BVP of every window
    for name, path, reason in _plan(runtimes, models, weights):
        result = BenchResult(runtime=name, precision="-", model=str(path) if path else "-", status="ok")
        results.append(result)
        if reason:
            result.status = f"skipped: {reason}"
            continue
        assert path is not None
        before = _rss_mb()
        try:
            if name == REFERENCE:
                from edge_rppg.runtimes.torch_runtime import TorchRuntime

                runtime: Runtime = TorchRuntime.from_model(deploy, options)
            else:
                runtime = get_runtime(name).open(path, options)
            out = np.concatenate([runtime.run(w[None]) for w in windows])
        except EdgeRppgError as exc:
            result.status = f"skipped: {exc}"
            continue
        except Exception as exc:  # a runtime crashing on a model is a result to report, not a reason to stop
            result.status = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            continue
        result.precision = runtime.precision
        result.size_mb = _size_mb(path)
        result.details = runtime.describe()
        result.rss_delta_mb = round(_rss_mb() - before, 1)
        outputs[id(result)] = out
        opened.append((result, runtime))

    reference_out = next(outputs[id(r)] for r, _ in opened if r.runtime == REFERENCE)
    label_hr = window_hr(labels) if labels is not None else None
    for result, _ in opened:
        out = outputs[id(result)]
        agreement = compare(reference_out, out)
        result.max_abs_err = agreement.max_abs_err
        result.max_err_of_range = agreement.max_err_of_range
        result.bvp_pearson = agreement.bvp_pearson
        result.hr_abs_diff_bpm = agreement.hr_abs_diff_bpm
        result.hr_abs_diff_median_bpm = agreement.hr_abs_diff_median_bpm
        if label_hr is not None:
            result.hr_mae_vs_label_bpm = float(np.mean(np.abs(window_hr(out) - label_hr)))

    samples: dict[int, list[float]] = {id(r): [] for r, _ in opened}
    for _, runtime in opened:
        for k in range(warmup):
            runtime.run(windows[k % len(windows)][None])
    for _ in range(rounds):
        for result, runtime in opened:
            for k in range(iterations):
                w = windows[k % len(windows)][None]
                samples[id(result)].append(_timed(lambda rt=runtime, x=w: rt.run(x)))

    gflop = 2 * count_macs(deploy) / 1e9
    for result, _ in opened:
        ms = np.array(samples[id(result)]) * 1e3
        p50 = float(np.percentile(ms, 50))
        result.latency_ms = {q: round(float(np.percentile(ms, int(q[1:]))), 3) for q in ("p50", "p90", "p99")}
        result.windows_per_s = round(1e3 / p50, 2)
        result.throughput_fps = round(1e3 / p50 * CONTRACT.window, 1)
        result.gflops_per_s = round(gflop / (p50 / 1e3), 1)

    ref_result = next(r for r, _ in opened if r.runtime == REFERENCE)
    return BenchReport(
        hr_resolution_bpm=round(hr_resolution_bpm(), 4),
        reference=REFERENCE,
        results=results,
        windows=len(windows),
        iterations=rounds * iterations,
        threads=threads,
        matmul_gflops_per_s=round(matmul_gflops(threads), 1),
        model_gflop_per_window=round(gflop, 3),
        reference_hr_mae_vs_label_bpm=ref_result.hr_mae_vs_label_bpm,
        machine={"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()},
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
    )


def all_runtimes() -> list[str]:
    return list(RUNTIMES)
