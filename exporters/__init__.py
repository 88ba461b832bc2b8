"""Export targets: one table drives ``edge-rppg export``, its verification and ``bench``.

Every export starts from the family's deploy model (FactorizePhys: FSAM removed), goes through one FP32 ONNX
graph, and is verified against the PyTorch deploy model right after it is made; an export that disagrees beyond the
tolerance of its precision is deleted and reported.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import edge_rppg
from edge_rppg.agreement import TOLERANCES, Agreement, Tolerance, compare
from edge_rppg.atomic import no_room_is_one_line, sweep_staging
from edge_rppg.data.windows import CalibrationSource, with_channels
from edge_rppg.errors import EdgeRppgError, ExportError, RuntimeUnavailable
from edge_rppg.models import family_of
from edge_rppg.runtimes import RuntimeOptions, get_runtime

if TYPE_CHECKING:
    from edge_rppg.models.checkpoints import CheckpointInfo
    from edge_rppg.models.registry import Model

PRECISIONS = ("fp32", "fp16", "int8")
VERIFY_WINDOWS = 4
VERIFY_SEED = 20241
TIMING_CACHE = "tensorrt.cache"


@dataclass
class ExportJob:
    model: Model
    checkpoint: CheckpointInfo
    precision: str
    out: Path
    workdir: Path
    batch: int
    dynamic_batch: bool
    calibration: Callable[[], np.ndarray]

    def metadata(self) -> dict[str, str]:
        family = family_of(self.model)
        return {
            **self.model.contract.to_metadata(),
            "producer": f"edge-rppg {edge_rppg.__version__}",
            "arch": family.name,
            "model": family.describe(self.model),
            "precision": self.precision,
            "source_checkpoint": self.checkpoint.path,
            "source_sha256": self.checkpoint.sha256,
            "trained_on": str(self.checkpoint.trained_on),
        }

    def int8_coverage(self, staged: Path) -> dict[str, Any]:
        """Which convolutions the quantizer made INT8 and which it left in FP32."""
        if staged.suffix == ".xml":
            from edge_rppg.exporters.openvino_export import int8_coverage

            return int8_coverage(staged)
        from edge_rppg.exporters.onnx_export import int8_coverage as onnx_coverage

        return onnx_coverage(staged if staged.suffix == ".onnx" else staged.with_suffix(".onnx"))

    def fp32_onnx(self) -> Path:
        from edge_rppg.exporters.onnx_export import export_fp32

        path = self.workdir / "fp32.onnx"
        if not path.exists():
            meta = {**self.metadata(), "precision": "fp32"}
            export_fp32(self.model, path, meta, batch=self.batch, dynamic_batch=self.dynamic_batch)
        return path


def _build_onnx(job: ExportJob) -> list[Path]:
    from edge_rppg.exporters import onnx_export

    staged = job.workdir / job.out.name
    if job.precision == "fp32":
        shutil.copyfile(job.fp32_onnx(), staged)
    elif job.precision == "fp16":
        onnx_export.convert_fp16(job.fp32_onnx(), staged, job.metadata())
    else:
        onnx_export.quantize_int8_qdq(job.fp32_onnx(), staged, job.metadata(), job.calibration())
    return [staged]


def _build_openvino(job: ExportJob) -> list[Path]:
    from edge_rppg.exporters.openvino_export import export_ir

    staged = job.workdir / job.out.name
    calibration = job.calibration() if job.precision == "int8" else None
    export_ir(job.fp32_onnx(), staged, job.metadata(), job.precision, calibration)
    return [staged, staged.with_suffix(".bin")]


def _build_tensorrt(job: ExportJob) -> list[Path]:
    from edge_rppg.exporters.tensorrt_export import build_engine, trtexec_command
    from edge_rppg.runtimes.tensorrt_runtime import sidecar_path

    onnx_out = job.out.with_suffix(".onnx")
    reason = get_runtime("tensorrt").unavailable_reason()
    if reason:
        raise RuntimeUnavailable(
            f"cannot build a TensorRT engine here: {reason}. Build it on the target instead: "
            f"edge-rppg export --weights {job.checkpoint.path} --target onnx --precision {job.precision} --out "
            f"{onnx_out}, "
            f"then: {trtexec_command(onnx_out, job.out, job.dynamic_batch, contract=job.model.contract)}"
        )
    (staged_onnx,) = _build_onnx(replace(job, out=onnx_out))
    staged = job.workdir / job.out.name
    # The timing cache is staged too: read from beside the output, written back only with a verified engine.
    cache = job.workdir / TIMING_CACHE
    if (job.out.parent / TIMING_CACHE).exists():
        shutil.copyfile(job.out.parent / TIMING_CACHE, cache)
    build_engine(staged_onnx, staged, dynamic_batch=job.dynamic_batch, timing_cache=cache, metadata=job.metadata())
    return [staged, sidecar_path(staged), staged_onnx, cache]


@dataclass(frozen=True)
class Target:
    name: str
    suffix: str
    runtime: str  # the runtime that verifies (and benchmarks) this target's files
    build: Callable[[ExportJob], list[Path]]
    extra: str
    devices: str


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("onnx", ".onnx", "onnxruntime", _build_onnx, "", "any (ONNX Runtime, trtexec)"),
        Target("openvino", ".xml", "openvino", _build_openvino, "openvino", "Intel CPU / GPU / NPU"),
        Target("tensorrt", ".engine", "tensorrt", _build_tensorrt, "tensorrt", "NVIDIA GPU, Jetson"),
    )
}


@dataclass
class ExportResult:
    target: str
    precision: str
    path: str
    files: list[str]
    size_mb: float
    seconds: float
    verification: dict[str, Any] | None
    tolerance: dict[str, Any]
    note: str = ""
    int8_guard: dict[str, Any] | None = field(default=None)  # the rejected INT8's agreement, on a fallback
    int8_coverage: dict[str, Any] | None = field(default=None)  # what the quantizer left in FP32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_output(weights: Path, target: str, precision: str) -> Path:
    return weights.parent / f"{weights.stem}_{precision}{TARGETS[target].suffix}"


def fp32_sibling(out: Path) -> Path:
    """Where an INT8 export's FP32 fallback goes: the same name with fp32 for int8."""
    return (
        out.with_name(out.name.replace("int8", "fp32"))
        if "int8" in out.name
        else out.with_name(f"{out.stem}_fp32{out.suffix}")
    )


def reference_windows(count: int = VERIFY_WINDOWS, channels: int = 3) -> np.ndarray:
    from edge_rppg.data.synthetic import synthetic_windows

    return with_channels(synthetic_windows(count, seed=VERIFY_SEED)[0], channels)


def _agreement(target: Target, staged: Path, model: Model, windows: np.ndarray) -> Agreement:
    from edge_rppg.runtimes.torch_runtime import TorchRuntime

    reference = TorchRuntime.from_model(model).run(windows)
    runtime = get_runtime(target.runtime).open(staged, RuntimeOptions())
    return compare(reference, np.concatenate([runtime.run(w[None]) for w in windows]))


def _tolerance(precision: str, int8_max_hr_diff_bpm: float | None) -> Tolerance:
    tolerance = TOLERANCES[precision]
    if precision == "int8" and int8_max_hr_diff_bpm is not None:
        tolerance = replace(tolerance, max_hr_diff_bpm=int8_max_hr_diff_bpm)
    return tolerance


def _verify(
    spec: Target, job: ExportJob, staged: Path, tolerance: Tolerance, guard_windows: Callable[[], np.ndarray]
) -> tuple[Agreement | None, list[str], str]:
    """(agreement, tolerance violations, note). INT8 is judged on the held-out windows, never on the
    windows it was calibrated on; other precisions on fixed synthetic windows."""
    reason = get_runtime(spec.runtime).unavailable_reason()
    if reason is not None:
        return None, [], f"not verified here: {reason}"
    windows = guard_windows() if job.precision == "int8" else reference_windows(channels=job.model.contract.channels)
    agreement = _agreement(spec, staged, job.model, windows)
    return agreement, tolerance.violations(agreement), ""


def _move_into_place(staged: list[Path], out: Path) -> list[Path]:
    finals = [
        out.parent / (out.name if i == 0 else p.name.replace(staged[0].stem, out.stem, 1)) for i, p in enumerate(staged)
    ]
    for src, dst in zip(staged, finals):
        src.replace(dst)
    return finals


def _check_args(target: str, precision: str, out: Path | None, int8_fallback: str | None) -> Target:
    if target not in TARGETS:
        raise EdgeRppgError(f"unknown target {target!r}; choose from {', '.join(TARGETS)}")
    if precision not in PRECISIONS:
        raise EdgeRppgError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if int8_fallback not in (None, "fp32"):
        raise EdgeRppgError(f"unknown INT8 fallback {int8_fallback!r}; the only fallback is fp32")
    spec = TARGETS[target]
    if out is not None and out.suffix != spec.suffix:
        raise EdgeRppgError(f"{out}: a {target} export is written to a {spec.suffix} file")
    return spec


def export_model(
    weights: Path,
    target: str = "onnx",
    precision: str = "fp32",
    out: Path | None = None,
    batch: int = 1,
    dynamic_batch: bool = False,
    calibration: CalibrationSource = CalibrationSource(),
    int8_max_hr_diff_bpm: float | None = None,
    int8_fallback: str | None = None,
) -> ExportResult:
    """Export the deploy model of ``weights`` to ``target`` at ``precision``; verify it; write it atomically.

    An INT8 export outside its tolerance (``TOLERANCES["int8"]``, HR bound overridable) on held-out
    windows is an error and nothing is written, unless ``int8_fallback="fp32"``: then the FP32 model is
    written beside it, never over an existing file.
    """
    spec = _check_args(target, precision, Path(out) if out else None, int8_fallback)
    out = Path(out) if out else default_output(Path(weights), target, precision)
    from edge_rppg.models.checkpoints import load_deploy_model  # torch: only when a checkpoint is exported

    model, info = load_deploy_model(weights)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Drawn at most once, only for INT8, shaped for the model's channels: (calibration, held-out guard).
    windows = functools.cache(lambda: tuple(with_channels(w, model.contract.channels) for w in calibration.draw()))
    tolerance = _tolerance(precision, int8_max_hr_diff_bpm)
    start = time.perf_counter()
    sweep_staging(out)  # what a killed export of this file left behind
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", dir=out.parent) as tmp, no_room_is_one_line(out):
        job = ExportJob(model, info, precision, out, Path(tmp), batch, dynamic_batch, lambda: windows()[0])
        staged = spec.build(job)
        agreement, problems, note = _verify(spec, job, staged[0], tolerance, lambda: windows()[1])
        if problems and precision == "int8":
            return _int8_rejected(weights, spec, out, batch, dynamic_batch, problems, agreement, int8_fallback)
        if problems:
            raise ExportError(f"{out}: the {target} {precision} export disagrees with PyTorch: {'; '.join(problems)}")
        coverage = job.int8_coverage(staged[0]) if precision == "int8" else None
        finals = _move_into_place(staged, out)
    return ExportResult(
        target=target,
        precision=precision,
        path=str(out),
        files=[str(p) for p in finals],
        size_mb=round(sum(p.stat().st_size for p in finals) / 1e6, 4),
        seconds=round(time.perf_counter() - start, 2),
        verification=agreement.to_dict() if agreement else None,
        tolerance=asdict(tolerance),
        note=note,
        int8_coverage=coverage,
    )


def _int8_rejected(
    weights: Path,
    spec: Target,
    out: Path,
    batch: int,
    dynamic_batch: bool,
    problems: list[str],
    agreement: Agreement | None,
    int8_fallback: str | None,
) -> ExportResult:
    why = f"INT8 rejected on held-out windows: {'; '.join(problems)}"
    if int8_fallback != "fp32":
        raise ExportError(f"{out}: {why}; nothing written (--int8-fallback fp32 writes the FP32 model instead)")
    fp32_out = fp32_sibling(out)
    if fp32_out.exists():
        raise ExportError(f"{fp32_out}: {why}; the FP32 fallback would overwrite this existing file, nothing written")
    fallback = export_model(weights, spec.name, "fp32", fp32_out, batch, dynamic_batch)
    fallback.note = f"{why}; wrote the FP32 model instead"
    fallback.int8_guard = agreement.to_dict() if agreement else None
    return fallback


__all__ = ["PRECISIONS", "TARGETS", "CalibrationSource", "ExportResult", "Target", "export_model"]
