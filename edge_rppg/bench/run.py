"""``edge-rppg bench``: every runtime on the same windows in one run, against the PyTorch reference.

Latencies are measured per window (batch 1) after warm-up, in interleaved rounds so that a passing
load on a shared machine hits every runtime alike; percentiles, not means. Accuracy is reported in
the user's units: BVP error and correlation, and heart rate in bpm.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import edge_rppg.bench.plan as bench_plan
from edge_rppg.agreement import TOLERANCES
from edge_rppg.bench.machine import machine, matmul_gflops, rss_mb, size_mb
from edge_rppg.bench.plan import REFERENCE, Planned, expand_runtimes
from edge_rppg.bench.records import DEVICES, BenchReport, BenchResult, Latency, RowStatus, Timing
from edge_rppg.bench.reference import STORED, StoredReference, reference_runtime, resolve_weights, stored_row
from edge_rppg.bench.verdict import FAIL, judge, judged_precision
from edge_rppg.bench.verdict import REFERENCE as REFERENCE_VERDICT
from edge_rppg.check import nvidia_gpus
from edge_rppg.contract import CONTRACT
from edge_rppg.data.windows import with_channels
from edge_rppg.errors import EdgeRppgError, RuntimeUnavailable
from edge_rppg.models import count_macs, family_of
from edge_rppg.optional import cuda_device_name
from edge_rppg.runtimes import Runtime, RuntimeOptions, get_runtime
from edge_rppg.signals.hr import hr_resolution_bpm, window_hr
from edge_rppg.timing import timed_ms

if TYPE_CHECKING:
    from edge_rppg.models.registry import Model


def _open(name: str, path: Path, deploy: Model | None, options: RuntimeOptions) -> Runtime:
    if name == REFERENCE:
        assert deploy is not None  # planned only with a live reference
        from edge_rppg.runtimes.torch_runtime import TorchRuntime

        return TorchRuntime.from_model(deploy, options)
    return get_runtime(name).open(path, options)


@dataclass(kw_only=True)
class _Opened:
    row: BenchResult  # what opening it told: precision, device, size, details
    runtime: Runtime
    inputs: np.ndarray  # the windows with this model's channel count
    out: np.ndarray  # its BVP for every window


def _open_one(
    planned: Planned, path: Path, deploy: Model | None, windows: np.ndarray, options: RuntimeOptions
) -> BenchResult | _Opened:
    """Open one (runtime, file) and run it once on all windows; a runtime that cannot run here is skipped,
    a model it cannot open or run has failed."""
    name = planned.runtime
    row = BenchResult(runtime=name, model=str(path), built=planned.built)
    before = rss_mb()
    try:
        runtime = _open(name, path, deploy, options)
        inputs = with_channels(windows, runtime.channels)
        out = np.concatenate([runtime.run(w[None]) for w in inputs])
    except RuntimeUnavailable as exc:
        return replace(row, status=RowStatus.SKIPPED, reason=str(exc))
    except EdgeRppgError as exc:  # the user's model is unreadable or does not fit the contract
        return _failed(row, str(exc))
    except Exception as exc:  # a runtime crashing on a model is a result to report, not a reason to stop
        first = str(exc).splitlines()[0] if str(exc) else ""
        return _failed(row, f"{type(exc).__name__}: {first}")
    row = replace(
        row,
        precision=runtime.precision,
        device=str(runtime.device),
        size_mb=size_mb(path),
        details=runtime.describe(),
        rss_delta_mb=round(rss_mb() - before, 1),
    )
    return _Opened(row=row, runtime=runtime, inputs=inputs, out=out)


def _failed(row: BenchResult, reason: str) -> BenchResult:
    return replace(row, status=RowStatus.FAILED, reason=reason, verdict=FAIL, violations=[reason])


def _open_all(
    plan: list[Planned], deploy: Model | None, windows: np.ndarray, options: RuntimeOptions
) -> list[BenchResult | _Opened]:
    """Every planned row in order: a finished row (skipped, or a build that failed) or an opened runtime."""
    entries: list[BenchResult | _Opened] = []
    for p in plan:
        if p.path is not None and p.skipped is None and p.failed is None:
            entries.append(_open_one(p, p.path, deploy, windows, options))
            continue
        row = BenchResult(runtime=p.runtime, precision=p.precision, model=str(p.path or "-"), built=p.built)
        if p.failed is not None:
            entries.append(_failed(row, p.failed))
        else:
            entries.append(replace(row, status=RowStatus.SKIPPED, reason=p.skipped))
    return entries


def _score(o: _Opened, reference_out: np.ndarray | None, label_hr: np.ndarray | None) -> dict[str, Any]:
    """Accuracy against the reference's outputs on the same windows (and the labels), on the windows that the
    tolerance of its precision judges; none when the reference itself could not run."""
    precision = judged_precision(o.row.precision, o.row.details)
    mae = float(np.mean(np.abs(window_hr(o.out) - label_hr))) if label_hr is not None else None
    if reference_out is None:  # judged a failure: nothing to compare with
        return {"hr_mae_vs_label_bpm": mae}
    return {"agreement": TOLERANCES[precision].agreement(reference_out, o.out), "hr_mae_vs_label_bpm": mae}


def _judged(row: BenchResult, reference_mae: float | None) -> BenchResult:
    """The row with its verdict: the reference's own row is the yardstick, a skipped row has none."""
    if row.status is RowStatus.SKIPPED or row.verdict is not None:
        return row
    if row.runtime == REFERENCE:
        return replace(row, verdict=REFERENCE_VERDICT)
    precision = judged_precision(row.precision, row.details)
    j = judge(precision, row.agreement, row.hr_mae_vs_label_bpm, reference_mae)
    return replace(row, verdict=j.verdict, tolerance=j.tolerance_dict(), violations=list(j.violations))


def _latencies(opened: list[_Opened], timing: Timing) -> list[Latency]:
    """Per-window latency after warm-up, in interleaved rounds; every run returns host memory, so GPU
    runtimes are synchronised before each timestamp."""
    samples: list[list[float]] = [[] for _ in opened]
    for o in opened:
        timed_ms(partial(o.runtime.run, o.inputs[:1]), 0, timing.warmup)
    for _ in range(timing.rounds):
        for i, o in enumerate(opened):
            for k in range(timing.iterations):
                w = o.inputs[k % len(o.inputs)][None]
                samples[i] += timed_ms(partial(o.runtime.run, w))
    out = []
    for s in samples:
        ms = np.array(s)
        p50, p90, p99 = (round(float(np.percentile(ms, q)), 3) for q in (50, 90, 99))
        out.append(Latency(p50=p50, p90=p90, p99=p99))
    return out


def _speed(latency: Latency, reference: Latency | None, gflop: float | None) -> dict[str, Any]:
    return {
        "latency_ms": latency,
        "windows_per_s": round(1e3 / latency.p50, 2),
        "throughput_fps": round(1e3 / latency.p50 * CONTRACT.window, 1),
        "gflops_per_s": round(gflop / (latency.p50 / 1e3), 1) if gflop else None,
        # a stored reference has outputs, no timing
        "speedup_vs_reference": round(reference.p50 / latency.p50, 3) if reference else None,
    }


def _measure(
    entries: list[BenchResult | _Opened],
    labels: np.ndarray | None,
    stored: StoredReference | None,
    timing: Timing,
    gflop: float | None,
) -> list[BenchResult]:
    """Score and time every opened runtime (all open at once: interleaved rounds), then close them."""
    opened = [e for e in entries if isinstance(e, _Opened)]
    try:
        reference_out = (
            stored.refset.bvp if stored else next((o.out for o in opened if o.row.runtime == REFERENCE), None)
        )
        label_hr = window_hr(labels) if labels is not None else None
        latencies = dict(zip(map(id, opened), _latencies(opened, timing), strict=True))
    finally:
        for o in opened:
            o.runtime.close()
    ref = next((latencies[id(o)] for o in opened if o.row.runtime == REFERENCE), None)
    results = [
        e
        if isinstance(e, BenchResult)
        else replace(e.row, **_score(e, reference_out, label_hr), **_speed(latencies[id(e)], ref, gflop))
        for e in entries
    ]
    reference_mae = next((r.hr_mae_vs_label_bpm for r in results if r.runtime == REFERENCE), None)
    return [_judged(r, reference_mae) for r in results]


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
    precision_hint: str | None = None,
    device: str = "cpu",
    reference: str = "auto",
    precisions: tuple[str, ...] = ("fp32",),
    progress: Callable[[str], None] = lambda _: None,
) -> BenchReport:
    """Benchmark ``runtimes`` (names, or "all") on the same windows, against the PyTorch reference on ``device``,
    or, with no checkpoint at hand (or no PyTorch, or ``reference="stored"``), against the reference set stored
    with the models. A named runtime with no model file it opens is benched on the export of ``weights`` for it
    at each of ``precisions`` (``bench_plan``). Every row but the reference's gets a verdict."""
    threads = threads or os.cpu_count() or 1
    _check_inputs(models, device)
    built = bench_plan.builds(runtimes, models, weights, list(precisions), progress)
    every_model = [*models, *(b.path for b in built if b.path is not None and b.failed is None)]
    live = resolve_weights(weights, every_model, reference)
    if live is None and not every_model:
        whys = "; ".join(f"{b.runtime} {b.precision}: {b.skipped or b.failed}" for b in built)
        where = f"{weights}: " if weights is not None else ""
        raise EdgeRppgError(f"{where}no PyTorch reference and no exported model to bench: {whys or 'give --model'}")
    deploy, stored, windows, labels = reference_runtime(live, every_model, windows, labels, n_windows)
    names = [r for r in expand_runtimes(runtimes) if stored is None or r != REFERENCE]
    options = RuntimeOptions(threads=threads, precision_hint=precision_hint, device=device)
    entries = _open_all(bench_plan.plan(names, models, live if deploy else None, built), deploy, windows, options)
    gflop = 2 * count_macs(deploy) / 1e9 if deploy is not None else stored.gflop if stored else None
    results = _measure(entries, labels, stored, timing, gflop)
    ref_result = next((r for r in results if r.runtime == REFERENCE and r.status is RowStatus.OK), None)
    return BenchReport(
        hr_resolution_bpm=round(hr_resolution_bpm(), 4),
        reference=REFERENCE if stored is None else STORED,
        reference_device=ref_result.device if ref_result else stored.refset.made_by if stored else "-",
        reference_set=stored.describe() if stored else None,
        arch=family_of(deploy).name if deploy is not None else stored.arch if stored else "?",
        results=[stored_row(stored), *results] if stored else results,
        windows=len(windows),
        iterations=timing.rounds * timing.iterations,
        threads=threads,
        matmul_gflops_per_s=round(matmul_gflops(threads), 1) if deploy is not None else None,
        model_gflop_per_window=round(gflop, 3) if gflop is not None else None,
        reference_hr_mae_vs_label_bpm=ref_result.hr_mae_vs_label_bpm if ref_result else None,
        machine=machine(threads),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
    )
