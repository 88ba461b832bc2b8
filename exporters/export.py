"""Exports: one table of targets drives ``edge-rppg export``, its verification and ``bench``.

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
from typing import Any

import numpy as np

from edge_rppg.agreement import TOLERANCES, Agreement, Tolerance
from edge_rppg.atomic import check_distinct, no_room_is_one_line, staging_prefix, sweep_staging
from edge_rppg.contract import CONTRACT
from edge_rppg.data.windows import CalibrationSource, with_channels
from edge_rppg.errors import EdgeRppgError, ExportError, RuntimeUnavailable
from edge_rppg.exporters.sources import CheckpointSource, ExportSource, OnnxSource, open_export_source
from edge_rppg.reference_set import SHA_KEY, SUFFIX, ReferenceSet, path_for
from edge_rppg.runtimes import RuntimeOptions, get_runtime

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
VERIFY_WINDOWS = 4
VERIFY_SEED = 20241
TIMING_CACHE = "tensorrt.cache"


@dataclass(kw_only=True)
class ExportJob:
    source: ExportSource
    precision: str
    out: Path
    workdir: Path
    batch: int
    dynamic_batch: bool
    calibration: Callable[[], np.ndarray]
    tolerance: Tolerance
    accuracy_control: bool = False  # INT8: NNCF keeps the layers that cost the pulse most in FP32

    @functools.cached_property
    def reference(self) -> tuple[ReferenceSet, Path, str]:
        """The reference set every file of this export carries, staged once: (set, file, sha256)."""
        path = self.workdir / f"reference{SUFFIX}"  # copied beside each model file the export writes
        refset, sha = self.source.write_reference(reference_windows(channels=self.source.channels), path)
        return refset, path, sha

    def metadata(self) -> dict[str, str]:
        return {**self.source.metadata(), "precision": self.precision, SHA_KEY: self.reference[2]}

    def reference_label(self) -> str:
        """What the export was verified against, in the words of the export's report."""
        if isinstance(self.source, CheckpointSource):
            return "PyTorch"
        if self.precision == "int8":  # held-out windows the stored set does not hold
            return f"the FP32 ONNX {self.source.path.name} on ONNX Runtime"
        return f"the stored reference set {path_for(self.source.path).name} (sha256 {self.reference[2][:12]})"

    def int8_coverage(self, staged: Path) -> dict[str, Any]:
        """Which convolutions the quantizer made INT8 and which it left in FP32."""
        if staged.suffix == ".xml":
            from edge_rppg.exporters.openvino_export import int8_coverage

            return int8_coverage(staged)
        from edge_rppg.exporters.onnx_export import int8_coverage as onnx_coverage

        return onnx_coverage(staged if staged.suffix == ".onnx" else staged.with_suffix(".onnx"))

    def int8_ir(self) -> Path:
        """The INT8 OpenVINO IR, built once: plain post-training quantization, or with accuracy control
        validated on the calibration windows against the reference (the guard's held-out windows stay unseen)."""
        from edge_rppg.exporters.openvino_export import AccuracyTarget, export_ir

        path = self.workdir / "int8" / "model.xml"
        if not path.exists():
            path.parent.mkdir()
            windows = self.calibration()
            accuracy = None
            if self.accuracy_control:
                with self.source.reference_runtime() as runtime:
                    accuracy = AccuracyTarget(windows, runtime.run(windows), self.tolerance)
            export_ir(self.fp32_onnx(), path, self.metadata(), "int8", windows, accuracy=accuracy)
        return path

    def fp32_layers(self) -> list[str]:
        """The convolutions accuracy control left in FP32 (none without it): the Q/DQ graph keeps them too."""
        if not self.accuracy_control:
            return []
        from edge_rppg.exporters.openvino_export import int8_coverage

        names = int8_coverage(self.int8_ir())["fp32_convolutions"]
        assert isinstance(names, list)  # int8_coverage's record: the names, in graph order
        return [str(n) for n in names]

    def fp32_onnx(self) -> Path:
        path = self.workdir / "fp32.onnx"
        if not path.exists():
            meta = {**self.metadata(), "precision": "fp32"}
            return self.source.fp32_onnx(path, meta, self.batch, self.dynamic_batch)
        return path


def _build_onnx(job: ExportJob, staged: Path | None = None) -> list[Path]:
    import edge_rppg.exporters.onnx_export as onnx_export

    staged = staged or job.workdir / job.out.name
    if job.precision == "fp32":
        shutil.copyfile(job.fp32_onnx(), staged)
    elif job.precision == "fp16":
        onnx_export.convert_fp16(job.fp32_onnx(), staged, job.metadata())
    else:
        onnx_export.quantize_int8_qdq(
            job.fp32_onnx(), staged, job.metadata(), job.calibration(), keep_fp32=job.fp32_layers()
        )
    return [staged]


def _build_openvino(job: ExportJob) -> list[Path]:
    from edge_rppg.exporters.openvino_export import export_ir
    from edge_rppg.runtimes.openvino_runtime import require_cpu_bf16

    staged = job.workdir / job.out.name
    if job.precision == "int8":
        built = job.int8_ir()
        built.with_suffix(".bin").replace(staged.with_suffix(".bin"))
        built.replace(staged)
    else:
        if job.precision == "bf16":
            require_cpu_bf16()  # else the plugin runs f32 and the check below would verify f32 under a bf16 name
        export_ir(job.fp32_onnx(), staged, job.metadata(), job.precision, None)
    return [staged, staged.with_suffix(".bin")]


def _build_tensorrt(job: ExportJob) -> list[Path]:
    from edge_rppg.exporters.tensorrt_export import build_engine
    from edge_rppg.runtimes.tensorrt_runtime import sidecar_path

    onnx_out = job.out.with_suffix(".onnx")
    reason = get_runtime("tensorrt").unavailable_reason()
    if reason:
        raise RuntimeUnavailable(f"cannot build a TensorRT engine here: {reason}. {_on_the_target(job)}")
    (staged_onnx,) = _build_onnx(job, job.workdir / onnx_out.name)
    staged = job.workdir / job.out.name
    # The timing cache is staged too: read from beside the output, written back only with a verified engine.
    cache = job.workdir / TIMING_CACHE
    if (job.out.parent / TIMING_CACHE).exists():
        shutil.copyfile(job.out.parent / TIMING_CACHE, cache)
    build_engine(staged_onnx, staged, dynamic_batch=job.dynamic_batch, timing_cache=cache, metadata=job.metadata())
    return [staged, sidecar_path(staged), staged_onnx, cache]


def _on_the_target(job: ExportJob) -> str:
    """How to build (and verify) the engine where it will run: from the ONNX and its reference set, no PyTorch;
    trtexec last, for a target without edge-rppg (its engine is not verified)."""
    from edge_rppg.exporters.tensorrt_export import trtexec_command

    command = f"edge-rppg export --from {{onnx}} --target tensorrt --precision {job.precision}"
    from_onnx = isinstance(job.source, OnnxSource)
    # In the current folder: beside the checkpoint may be the installed package's assets (the bundled model), and
    # the product never writes into its own installation.
    onnx = job.source.path if from_onnx else Path(job.out.with_suffix(".onnx").name)
    here = (
        ""
        if from_onnx
        else f"Export the FP32 ONNX here: edge-rppg export --weights {job.source.path} --target onnx --out {onnx} "
        f"(it writes {path_for(onnx).name} beside it); "
    )
    contract = replace(CONTRACT, channels=job.source.channels)
    typed = onnx if job.precision == "fp32" else default_output(job.source.path, "onnx", job.precision)
    unverified = trtexec_command(Path(typed.name), Path(job.out.name), job.dynamic_batch, contract=contract)
    if typed != onnx:
        unverified += f" on the {job.precision} ONNX from edge-rppg export --target onnx --precision {job.precision}"
    return (
        f"{here}copy {onnx.name} and {path_for(onnx).name} to the target and build and verify there: "
        f"{command.format(onnx=onnx.name)} (without edge-rppg there, unverified: {unverified})"
    )


@dataclass(kw_only=True, frozen=True)
class Target:
    name: str
    suffix: str
    runtime: str  # the runtime that verifies (and benchmarks) this target's files
    build: Callable[[ExportJob], list[Path]]
    # bf16 is an inference precision of OpenVINO's CPU plugin (AVX512-BF16, AMX), recorded in the IR; ONNX and
    # TensorRT have FP16 for that.
    precisions: tuple[str, ...] = ("fp32", "fp16", "int8")


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(name="onnx", suffix=".onnx", runtime="onnxruntime", build=_build_onnx),
        Target(name="openvino", suffix=".xml", runtime="openvino", build=_build_openvino, precisions=PRECISIONS),
        Target(name="tensorrt", suffix=".engine", runtime="tensorrt", build=_build_tensorrt),
    )
}


@dataclass(kw_only=True)
class ExportResult:
    target: str
    precision: str
    path: str
    files: list[str]
    size_mb: float
    seconds: float
    verification: Agreement | None
    tolerance: dict[str, Any]
    note: str = ""
    int8_guard: Agreement | None = field(default=None)  # the rejected INT8's agreement, on a fallback
    int8_coverage: dict[str, Any] | None = field(default=None)  # what the quantizer left in FP32
    reference: str = "PyTorch"  # what verified it: the live deploy model, or the stored reference set

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_output(weights: Path, target: str, precision: str) -> Path:
    """Beside the source: ``best.pt`` -> ``best_int8.xml``; an FP32 ONNX ``best_fp32.onnx`` -> ``best_int8.xml``."""
    stem = weights.stem.removesuffix("_fp32") if weights.suffix == ".onnx" else weights.stem
    return weights.parent / f"{stem}_{precision}{TARGETS[target].suffix}"


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


def _agreement(
    target: Target, staged: Path, source: ExportSource, windows: np.ndarray, tolerance: Tolerance
) -> Agreement:
    """The export against the source's reference runtime (PyTorch, or the FP32 ONNX) on ``windows``, on the
    windows that ``tolerance`` judges."""
    with source.reference_runtime() as reference:
        expected = reference.run(windows)
    with get_runtime(target.runtime).open(staged, RuntimeOptions()) as runtime:
        return tolerance.agreement(expected, np.concatenate([runtime.run(w[None]) for w in windows]))


def _tolerance(precision: str, int8_max_hr_diff_bpm: float | None) -> Tolerance:
    tolerance = TOLERANCES[precision]
    if precision == "int8" and int8_max_hr_diff_bpm is not None:
        tolerance = replace(tolerance, max_hr_diff_bpm=int8_max_hr_diff_bpm)
    return tolerance


def _verify(
    spec: Target, job: ExportJob, staged: Path, tolerance: Tolerance, guard_windows: Callable[[], np.ndarray]
) -> tuple[Agreement | None, list[str], str]:
    """(agreement, tolerance violations, note). INT8 is judged on the held-out windows, never on the
    windows it was calibrated on; other precisions on the reference set that travels with the export."""
    reason = get_runtime(spec.runtime).unavailable_reason()
    if reason is not None:
        return None, [], f"not verified here: {reason}"
    if job.precision == "int8":
        agreement = _agreement(spec, staged, job.source, guard_windows(), tolerance)
    else:
        refset = job.reference[0]
        with get_runtime(spec.runtime).open(staged, RuntimeOptions()) as runtime:
            agreement = refset.agreement(runtime.run(refset.inputs))
            ran = runtime.describe().get("inference_precision")
        if job.precision == "bf16" and ran != "bf16":
            return agreement, [f"OpenVINO ran it in {ran}, not bf16"], ""
    return agreement, tolerance.violations(agreement), ""


MODEL_SUFFIXES = tuple(t.suffix for t in TARGETS.values())


def _with_reference_sets(staged: list[Path], reference: Path) -> list[Path]:
    """The staged files and, beside each model file among them, a copy of the export's reference set."""
    sets = [path_for(p) for p in staged if p.suffix in MODEL_SUFFIXES]
    for s in sets:
        shutil.copyfile(reference, s)
    return [*staged, *sets]


def _move_into_place(staged: list[Path], out: Path) -> list[Path]:
    finals = [
        out.parent / (out.name if i == 0 else p.name.replace(staged[0].stem, out.stem, 1)) for i, p in enumerate(staged)
    ]
    # The model file last: a reader that finds the new model finds its weights and reference set already there
    # (an IR's weights hash and the reference set's hash in its metadata catch a run killed in between).
    for src, dst in reversed(list(zip(staged, finals, strict=True))):
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
    if precision not in spec.precisions:
        raise EdgeRppgError(f"--target {target} takes --precision {', '.join(spec.precisions)}, not {precision}")
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
    accuracy_control: bool = False,
) -> ExportResult:
    """Export the deploy model of ``weights`` (a checkpoint; or an FP32 ONNX export with its reference set, which
    needs no PyTorch) to ``target`` at ``precision``; verify it; write it atomically with its reference set.

    An INT8 export outside its tolerance (``TOLERANCES["int8"]``, HR bound overridable) on held-out
    windows is an error and nothing is written, unless ``int8_fallback="fp32"``: then the FP32 model is
    written beside it, never over an existing file. ``accuracy_control``: NNCF keeps in FP32 the layers
    that cost the tolerance's score most on the calibration windows (the Q/DQ ONNX for TensorRT keeps
    the same ones), before the same held-out guard judges the result.
    """
    spec = _check_args(target, precision, Path(out) if out else None, int8_fallback)
    out = Path(out) if out else default_output(Path(weights), target, precision)
    check_distinct({"the export": out}, [Path(weights)])
    source = open_export_source(Path(weights))  # a checkpoint needs PyTorch; an ONNX with its reference set does not
    out.parent.mkdir(parents=True, exist_ok=True)
    # Drawn at most once, only for INT8, shaped for the model's channels: (calibration, held-out guard).
    windows = functools.cache(lambda: tuple(with_channels(w, source.channels) for w in calibration.draw()))
    tolerance = _tolerance(precision, int8_max_hr_diff_bpm)
    start = time.perf_counter()
    sweep_staging(out)  # what a killed export of this file left behind
    with tempfile.TemporaryDirectory(prefix=staging_prefix(out), dir=out.parent) as tmp, no_room_is_one_line(out):
        job = ExportJob(
            source=source,
            precision=precision,
            out=out,
            workdir=Path(tmp),
            batch=batch,
            dynamic_batch=dynamic_batch,
            calibration=lambda: windows()[0],
            tolerance=tolerance,
            accuracy_control=accuracy_control,
        )
        staged = _with_reference_sets(spec.build(job), job.reference[1])
        agreement, problems, note = _verify(spec, job, staged[0], tolerance, lambda: windows()[1])
        coverage = job.int8_coverage(staged[0]) if precision == "int8" else None
        if coverage is not None and not coverage["int8_convolutions"]:
            problems.append("no convolution is left INT8 (all kept FP32 to hold the tolerance): slower than FP32")
        if problems and precision == "int8":
            return _int8_rejected(weights, spec, out, batch, dynamic_batch, problems, agreement, int8_fallback)
        if problems:
            why = "; ".join(problems)
            raise ExportError(f"{out}: the {target} {precision} export disagrees with {job.reference_label()}: {why}")
        finals = _move_into_place(staged, out)
    return ExportResult(
        target=target,
        precision=precision,
        path=str(out),
        files=[str(p) for p in finals],
        size_mb=round(sum(p.stat().st_size for p in finals) / 1e6, 4),
        seconds=round(time.perf_counter() - start, 2),
        verification=agreement,
        tolerance=asdict(tolerance),
        note=note,
        int8_coverage=coverage,
        reference=job.reference_label(),
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
    fallback.int8_guard = agreement
    return fallback


__all__ = ["PRECISIONS", "TARGETS", "CalibrationSource", "ExportResult", "Target", "export_model"]
