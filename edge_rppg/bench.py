"""``edge-rppg bench``: every runtime on the same windows in one run, against the PyTorch reference.

Latencies are measured per window (batch 1) after warm-up, in interleaved rounds so that a passing
load on a shared machine hits every runtime alike; percentiles, not means. Accuracy is reported in
the user's units: BVP error and correlation, and heart rate in bpm.
"""

from __future__ import annotations

import importlib.util
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
from edge_rppg.reference_set import SHA_KEY, ReferenceSet, path_for, read_reference
from edge_rppg.runtimes import RUNTIMES, Runtime, RuntimeOptions, get_runtime
from edge_rppg.runtimes.metadata import model_metadata

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


def _plan(runtimes: list[str], models: list[Path], weights: Path | None) -> list[tuple[str, Path | None, str | None]]:
    """(runtime, model file, skip reason) for every pairing the user asked for."""
    plan: list[tuple[str, Path | None, str | None]] = []
    for name in runtimes:
        spec = get_runtime(name)
        reason = spec.unavailable_reason()
        files = [w for w in [weights] if w] if name == REFERENCE else [m for m in models if m.suffix in spec.suffixes]
        if not files:
            plan.append(
                (name, None, reason or f"no model file for {name} (give --model with {'/'.join(spec.suffixes)})")
            )
        for f in files:
            plan.append((name, f, reason))
    return plan


REFERENCES = ("auto", "torch", "stored")


def _torch_installed() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:  # a finder that refuses torch outright
        return False


def resolve_weights(weights: Path | None, models: list[Path], reference: str = "auto") -> Path | None:
    """The live reference's checkpoint: given, or the source recorded in an exported model's metadata when it is
    on this machine and PyTorch is installed; None: the models' stored reference set is the reference."""
    if reference not in REFERENCES:
        raise EdgeRppgError(f"unknown reference {reference!r}; choose from {', '.join(REFERENCES)}")
    if reference == "stored":
        return None
    if weights is not None:
        return weights
    if reference == "auto" and not _torch_installed():
        return None
    for m in models:
        src = model_metadata(m).get("source_checkpoint")
        if src and Path(src).exists():
            return Path(src)
    if reference == "torch":
        raise EdgeRppgError("bench --reference torch needs the checkpoint: give --weights")
    return None


@dataclass(frozen=True)
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
            refset, path_for(models[0]), metas[0][SHA_KEY], metas[0].get("arch", "?"), float(gflop) if gflop else None
        )

    def describe(self) -> dict[str, str]:
        return {"file": str(self.file), "sha256": self.sha256, "made_by": self.refset.made_by}


def expand_runtimes(names: list[str]) -> list[str]:
    """The runtimes to run: "all" is every runtime in the table; the reference always runs first."""
    expanded = list(RUNTIMES) if "all" in names else list(dict.fromkeys(names))
    return expanded if REFERENCE in expanded else [REFERENCE, *expanded]


def _open(name: str, path: Path, deploy: Model | None, options: RuntimeOptions) -> Runtime:
    if name == REFERENCE:
        assert deploy is not None  # planned only with a live reference
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
    plan: list[tuple[str, Path | None, str | None]], deploy: Model | None, windows: np.ndarray, options: RuntimeOptions
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


def _score(opened: list[_Opened], labels: np.ndarray | None, stored: StoredReference | None) -> None:
    """Accuracy of every runtime against the reference's outputs on the same windows (and the labels): the live
    PyTorch row's, or the stored set's."""
    reference_out = stored.refset.bvp if stored else next(o.out for o in opened if o.result.runtime == REFERENCE)
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


def _time(opened: list[_Opened], timing: Timing, gflop: float | None) -> None:
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
        result.gflops_per_s = round(gflop / (p50 / 1e3), 1) if gflop else None
    ref = next((o.result for o in opened if o.result.runtime == REFERENCE), None)
    for o in opened:
        if ref is not None:  # a stored reference has outputs, no timing
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


def _reference(
    weights: Path | None,
    models: list[Path],
    windows: np.ndarray | None,
    labels: np.ndarray | None,
    n_windows: int,
    reference: str,
) -> tuple[Model | None, StoredReference | None, np.ndarray, np.ndarray | None]:
    """(live deploy model, stored reference, windows, labels): PyTorch when a checkpoint is at hand (and the
    user did not ask for the stored set), else the reference set that travelled with the models, on its windows."""
    weights = resolve_weights(weights, models, reference)
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
) -> BenchReport:
    """Benchmark ``runtimes`` (names, or "all") on the same windows, against the PyTorch reference on ``device``,
    or, with no checkpoint at hand (or no PyTorch, or ``reference="stored"``), against the reference set stored
    with the models."""
    threads = threads or os.cpu_count() or 1
    _check_inputs(models, device)
    deploy, stored, windows, labels = _reference(weights, models, windows, labels, n_windows, reference)
    names = [r for r in expand_runtimes(runtimes) if stored is None or r != REFERENCE]
    options = RuntimeOptions(threads=threads, precision_hint=precision_hint, device=device)
    results, opened = _open_all(_plan(names, models, weights if deploy else None), deploy, windows, options)
    gflop = 2 * count_macs(deploy) / 1e9 if deploy is not None else stored.gflop if stored else None
    try:
        _score(opened, labels, stored)
        _time(opened, timing, gflop)  # interleaved rounds: every runtime is open at once until here
    finally:
        for o in opened:
            o.runtime.close()
    ref_result = next((o.result for o in opened if o.result.runtime == REFERENCE), None)
    return BenchReport(
        hr_resolution_bpm=round(hr_resolution_bpm(), 4),
        reference=REFERENCE if stored is None else "stored",
        reference_device=ref_result.device if ref_result else stored.refset.made_by if stored else "-",
        reference_set=stored.describe() if stored else None,
        arch=family_of(deploy).name if deploy is not None else stored.arch if stored else "?",
        results=results,
        windows=len(windows),
        iterations=timing.rounds * timing.iterations,
        threads=threads,
        matmul_gflops_per_s=round(matmul_gflops(threads), 1) if deploy is not None else None,
        model_gflop_per_window=round(gflop, 3) if gflop is not None else None,
        reference_hr_mae_vs_label_bpm=ref_result.hr_mae_vs_label_bpm if ref_result else None,
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
