"""``edge-rppg bench``: every runtime on the same windows in one run, against the PyTorch reference.

Latencies are measured per window (batch 1) after warm-up, in interleaved rounds so that a passing
load on a shared machine hits every runtime alike; percentiles, not means. Accuracy is reported in
the user's units: BVP error and correlation, and heart rate in bpm.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil

from edge_rppg.agreement import compare
from edge_rppg.check import cpu_name, nvidia_gpus
from edge_rppg.contract import CONTRACT
from edge_rppg.data.windows import with_channels
from edge_rppg.errors import EdgeRppgError
from edge_rppg.hr import hr_resolution_bpm, window_hr
from edge_rppg.models import count_macs, family_of
from edge_rppg.optional import cuda_device_name
from edge_rppg.runtimes import RUNTIMES, Runtime, RuntimeOptions, get_runtime

if TYPE_CHECKING:
    from edge_rppg.models.registry import Model

REFERENCE = "torch"
DEVICES = ("cpu", "cuda")
BENCH_SEED = 99


class Outcome(str, Enum):
    """What became of one runtime in a bench run."""

    OK = "ok"
    SKIPPED = "skipped"  # cannot run here (not installed, no GPU): not an error
    FAILED = "failed"  # opened or ran and crashed on the model: an error


@dataclass
class BenchResult:
    runtime: str
    precision: str
    model: str
    status: str  # Outcome.OK, or "<outcome>: <why>" (the JSON keeps one readable string)
    device: str = "-"
    latency_ms: dict[str, float] | None = None
    throughput_fps: float | None = None  # video frames per second (160 new frames per window)
    windows_per_s: float | None = None
    gflops_per_s: float | None = None
    speedup_vs_reference: float | None = None  # reference p50 / this p50, same run
    max_abs_err: float | None = None
    max_err_of_range: float | None = None
    bvp_pearson: float | None = None
    hr_abs_diff_bpm: float | None = None
    hr_abs_diff_median_bpm: float | None = None
    hr_mae_vs_label_bpm: float | None = None
    size_mb: float | None = None
    rss_delta_mb: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def outcome(self) -> Outcome:
        return Outcome(self.status.split(":", 1)[0])

    def set_outcome(self, outcome: Outcome, why: str) -> None:
        self.status = f"{outcome.value}: {why}"


@dataclass
class BenchReport:
    hr_resolution_bpm: float  # grid of every HR below (fft-fine), before its parabolic refinement
    reference: str
    reference_device: str
    arch: str
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
            plan.append(
                (name, None, reason or f"no model file for {name} (give --model with {'/'.join(spec.suffixes)})")
            )
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
    raise EdgeRppgError(
        "bench needs the PyTorch reference: give --weights (the checkpoint the models were exported from)"
    )


def expand_runtimes(names: list[str]) -> list[str]:
    """The runtimes to run: "all" is every runtime in the table; the reference always runs first."""
    expanded = list(RUNTIMES) if "all" in names else list(dict.fromkeys(names))
    return expanded if REFERENCE in expanded else [REFERENCE, *expanded]


def _open(name: str, path: Path, deploy: Model, options: RuntimeOptions) -> Runtime:
    if name == REFERENCE:
        from edge_rppg.runtimes.torch_runtime import TorchRuntime

        return TorchRuntime.from_model(deploy, options)
    return get_runtime(name).open(path, options)


@dataclass
class _Opened:
    result: BenchResult
    runtime: Runtime
    inputs: np.ndarray  # the windows with this model's channel count
    out: np.ndarray  # its BVP for every window


def _open_all(
    plan: list[tuple[str, Path | None, str | None]], deploy: Model, windows: np.ndarray, options: RuntimeOptions
) -> tuple[list[BenchResult], list[_Opened]]:
    """Open every planned (runtime, file) and run it once on all windows; skipped and failed ones get a status."""
    results: list[BenchResult] = []
    opened: list[_Opened] = []
    for name, path, reason in plan:
        result = BenchResult(runtime=name, precision="-", model=str(path) if path else "-", status=Outcome.OK.value)
        results.append(result)
        if reason:
            result.set_outcome(Outcome.SKIPPED, reason)
            continue
        assert path is not None
        before = _rss_mb()
        try:
            runtime = _open(name, path, deploy, options)
            inputs = with_channels(windows, runtime.channels)
            out = np.concatenate([runtime.run(w[None]) for w in inputs])
        except EdgeRppgError as exc:
            result.set_outcome(Outcome.SKIPPED, str(exc))
            continue
        except Exception as exc:  # a runtime crashing on a model is a result to report, not a reason to stop
            result.set_outcome(Outcome.FAILED, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        result.precision, result.device = runtime.precision, str(runtime.device)
        result.size_mb = _size_mb(path)
        result.details = runtime.describe()
        result.rss_delta_mb = round(_rss_mb() - before, 1)
        opened.append(_Opened(result, runtime, inputs, out))
    return results, opened


def _score(opened: list[_Opened], labels: np.ndarray | None) -> None:
    """Accuracy of every runtime against the reference's outputs on the same windows (and the labels)."""
    reference_out = next(o.out for o in opened if o.result.runtime == REFERENCE)
    label_hr = window_hr(labels) if labels is not None else None
    for o in opened:
        result, out = o.result, o.out
        agreement = compare(reference_out, out)
        result.max_abs_err = agreement.max_abs_err
        result.max_err_of_range = agreement.max_err_of_range
        result.bvp_pearson = agreement.bvp_pearson
        result.hr_abs_diff_bpm = agreement.hr_abs_diff_bpm
        result.hr_abs_diff_median_bpm = agreement.hr_abs_diff_median_bpm
        if label_hr is not None:
            result.hr_mae_vs_label_bpm = float(np.mean(np.abs(window_hr(out) - label_hr)))


def _time(opened: list[_Opened], timing: Timing, gflop: float) -> None:
    """Per-window latency after warm-up, in interleaved rounds; every run returns host memory, so GPU
    runtimes are synchronised before each timestamp."""
    samples: dict[int, list[float]] = {id(o): [] for o in opened}
    for o in opened:
        for k in range(timing.warmup):
            o.runtime.run(o.inputs[k % len(o.inputs)][None])
    for _ in range(timing.rounds):
        for o in opened:
            for k in range(timing.iterations):
                w = o.inputs[k % len(o.inputs)][None]
                samples[id(o)].append(_timed(lambda rt=o.runtime, x=w: rt.run(x)))
    for o in opened:
        result = o.result
        ms = np.array(samples[id(o)]) * 1e3
        p50 = float(np.percentile(ms, 50))
        result.latency_ms = {q: round(float(np.percentile(ms, int(q[1:]))), 3) for q in ("p50", "p90", "p99")}
        result.windows_per_s = round(1e3 / p50, 2)
        result.throughput_fps = round(1e3 / p50 * CONTRACT.window, 1)
        result.gflops_per_s = round(gflop / (p50 / 1e3), 1)
    ref = next(o.result for o in opened if o.result.runtime == REFERENCE)
    for o in opened:
        o.result.speedup_vs_reference = round(ref.latency_ms["p50"] / o.result.latency_ms["p50"], 3)  # type: ignore[index]


@dataclass(frozen=True)
class Timing:
    iterations: int = 10
    rounds: int = 3
    warmup: int = 3


def _check_inputs(models: list[Path], device: str) -> None:
    """Before anything loads: every model file exists and the reference's device is there."""
    for m in models:
        if not m.exists():
            raise EdgeRppgError(f"{m}: no such model file")
    if device not in DEVICES:
        raise EdgeRppgError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")
    if device == "cuda" and cuda_device_name() is None:
        why = "this torch build has no CUDA" if nvidia_gpus() else "no NVIDIA GPU on this machine"
        raise EdgeRppgError(f"--device cuda: {why}; edge-rppg check says what runs here and how to add the rest")


def run_bench(
    runtimes: list[str],
    models: list[Path],
    weights: Path | None = None,
    windows: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    n_windows: int = 8,
    timing: Timing = Timing(),
    threads: int | None = None,
    precision_hint: str = "f32",
    device: str = "cpu",
) -> BenchReport:
    """Benchmark ``runtimes`` (names, or "all") on the same windows, the PyTorch reference on ``device``."""
    threads = threads or os.cpu_count() or 1
    _check_inputs(models, device)
    weights = resolve_weights(weights, models)
    from edge_rppg.models.checkpoints import load_deploy_model  # torch: only when a reference is loaded

    deploy, _ = load_deploy_model(weights)
    if windows is None:
        from edge_rppg.data.synthetic import synthetic_windows

        windows, labels = synthetic_windows(n_windows, seed=BENCH_SEED)
    options = RuntimeOptions(threads=threads, precision_hint=precision_hint, device=device)
    results, opened = _open_all(_plan(expand_runtimes(runtimes), models, weights), deploy, windows, options)
    gflop = 2 * count_macs(deploy) / 1e9
    try:
        _score(opened, labels)
        _time(opened, timing, gflop)  # interleaved rounds: every runtime is open at once until here
    finally:
        for o in opened:
            o.runtime.close()
    ref_result = next(o.result for o in opened if o.result.runtime == REFERENCE)
    return BenchReport(
        hr_resolution_bpm=round(hr_resolution_bpm(), 4),
        reference=REFERENCE,
        reference_device=ref_result.device,
        arch=family_of(deploy).name,
        results=results,
        windows=len(windows),
        iterations=timing.rounds * timing.iterations,
        threads=threads,
        matmul_gflops_per_s=round(matmul_gflops(threads), 1),
        model_gflop_per_window=round(gflop, 3),
        reference_hr_mae_vs_label_bpm=ref_result.hr_mae_vs_label_bpm,
        machine=_machine(),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
    )


def _machine() -> dict[str, Any]:
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "gpus": [g.name for g in nvidia_gpus()],
        "python": platform.python_version(),
    }
