"""``edge-rppg bench``: every runtime on the same windows in one run, against the PyTorch reference.

Latencies are measured per window (batch 1) after warm-up, in interleaved rounds so that a passing
load on a shared machine hits every runtime alike; percentiles, not means. Accuracy is reported in
the user's units: BVP error and correlation, and heart rate in bpm.
"""

from __future__ import annotations

import os
import platform
import resource
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import psutil

import edge_rppg.bench.plan as bench_plan
from edge_rppg.agreement import TOLERANCES, Agreement
from edge_rppg.bench.plan import REFERENCE, Planned, expand_runtimes
from edge_rppg.bench.verdict import FAIL, judge, judged_precision
from edge_rppg.bench.verdict import REFERENCE as REFERENCE_VERDICT
from edge_rppg.check import cpu_flags, cpu_name, nvidia_gpus
from edge_rppg.contract import CONTRACT
from edge_rppg.data.windows import with_channels
from edge_rppg.errors import EdgeRppgError, RuntimeUnavailable
from edge_rppg.models import count_macs, family_of
from edge_rppg.optional import cuda_device_name, torch_installed
from edge_rppg.reference_set import SHA_KEY, ReferenceSet, path_for, read_reference
from edge_rppg.runtimes import RUNTIMES, Runtime, RuntimeOptions, get_runtime
from edge_rppg.runtimes.metadata import model_metadata
from edge_rppg.signals.hr import hr_resolution_bpm, window_hr
from edge_rppg.timing import timed_ms

if TYPE_CHECKING:
    from edge_rppg.models.registry import Model

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


def matmul_gflops(threads: int, n: int = 1024, repeats: int = 5) -> float:
    """This machine's FP32 matrix-multiply rate at the same thread count: the yardstick for GFLOP/s."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best_ms = min(timed_ms(lambda: torch.mm(a, b), repeats))
    return 2 * n**3 / (best_ms / 1e3) / 1e9


def _size_mb(path: Path) -> float:
    files = [path] + ([path.with_suffix(".bin")] if path.suffix == ".xml" else [])
    return round(sum(f.stat().st_size for f in files if f.exists()) / 1e6, 4)


def _rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 1e6


STORED = "stored"
REFERENCES = ("auto", "torch", STORED)


def resolve_weights(weights: Path | None, models: list[Path], reference: str = "auto") -> Path | None:
    """The live reference's checkpoint: given, or the source recorded in an exported model's metadata when it is
    on this machine and PyTorch is installed; None: the models' stored reference set is the reference."""
    if reference not in REFERENCES:
        raise EdgeRppgError(f"unknown reference {reference!r}; choose from {', '.join(REFERENCES)}")
    if reference == STORED:
        return None
    if reference == "auto" and not torch_installed():  # a device: the stored set is all there is
        return None
    if weights is not None:
        return weights
    for m in models:
        src = model_metadata(m).get("source_checkpoint")
        if src and Path(src).exists():
            return Path(src)
    if reference == "torch":
        raise EdgeRppgError("bench --reference torch needs the checkpoint: give --weights")
    return None


@dataclass(kw_only=True, frozen=True)
class StoredReference:
    """The reference set that travelled with the first model (every model must come from its checkpoint)."""

    refset: ReferenceSet
    file: Path
    sha256: str
    arch: str
    gflop: float | None

    @classmethod
    def of(cls, models: list[Path]) -> StoredReference:
        if not models:
            raise EdgeRppgError("bench needs the PyTorch reference (--weights) or an exported model (--model)")
        metas = [model_metadata(m) for m in models]
        refset = read_reference(models[0], metas[0])
        for m, meta in zip(models[1:], metas[1:], strict=True):
            if meta.get("source_sha256") != refset.source_sha256:
                raise EdgeRppgError(
                    f"{m}: exported from another checkpoint than {models[0].name}, whose reference set bench uses; "
                    "bench them apart or give --weights"
                )
        gflop = metas[0].get("gflop_per_window")
        return cls(
            refset=refset,
            file=path_for(models[0]),
            sha256=metas[0][SHA_KEY],
            arch=metas[0].get("arch", "?"),
            gflop=float(gflop) if gflop else None,
        )

    def describe(self) -> dict[str, str]:
        return {"file": str(self.file), "sha256": self.sha256, "made_by": self.refset.made_by}


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
    before = _rss_mb()
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
        size_mb=_size_mb(path),
        details=runtime.describe(),
        rss_delta_mb=round(_rss_mb() - before, 1),
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


def _stored_row(stored: StoredReference) -> BenchResult:
    """The stored reference as the row the others are judged against: outputs that travelled, no timing here."""
    return BenchResult(
        runtime=STORED,
        precision="fp32",
        model=str(stored.file),
        device=stored.refset.made_by,
        reason="outputs computed where the model was exported; PyTorch is not timed on this machine",
        verdict=REFERENCE_VERDICT,
    )


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


def _reference(
    weights: Path | None,
    models: list[Path],
    windows: np.ndarray | None,
    labels: np.ndarray | None,
    n_windows: int,
) -> tuple[Model | None, StoredReference | None, np.ndarray, np.ndarray | None]:
    """(live deploy model, stored reference, windows, labels): PyTorch on ``weights`` (resolve_weights), else
    the reference set that travelled with the models, on its windows."""
    if weights is None:
        stored = StoredReference.of(models)
        if windows is not None:
            raise EdgeRppgError(
                f"{models[0]}: --data needs the live PyTorch reference (--weights); the stored set has its own windows"
            )
        return None, stored, stored.refset.inputs, None
    from edge_rppg.models.checkpoints import load_deploy_model  # torch: only when a reference is loaded

    deploy, _ = load_deploy_model(weights)
    if windows is None:
        from edge_rppg.data.synthetic import synthetic_windows

        windows, labels = synthetic_windows(n_windows, seed=BENCH_SEED)
    return deploy, None, windows, labels


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
    deploy, stored, windows, labels = _reference(live, every_model, windows, labels, n_windows)
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
        results=[_stored_row(stored), *results] if stored else results,
        windows=len(windows),
        iterations=timing.rounds * timing.iterations,
        threads=threads,
        matmul_gflops_per_s=round(matmul_gflops(threads), 1) if deploy is not None else None,
        model_gflop_per_window=round(gflop, 3) if gflop is not None else None,
        reference_hr_mae_vs_label_bpm=ref_result.hr_mae_vs_label_bpm if ref_result else None,
        machine=machine(threads),
        peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 1),
    )


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
