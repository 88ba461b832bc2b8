"""``export``: the deploy model to ONNX, OpenVINO or TensorRT, verified against PyTorch before it is moved in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edge_rppg.cli.common import (
    STDOUT,
    DatasetName,
    Fallback,
    JsonOption,
    PrecisionName,
    TargetName,
    WeightsOption,
    console,
    emit_json,
    outputs_writable,
    value,
    weights_from,
)

# A window is 10 MB of float32 input: a batch past this would not fit the memory of the machines we export on.
MAX_BATCH = 256


def export(
    target: Annotated[TargetName, typer.Option(help="Export format.")] = TargetName("onnx"),
    run: Annotated[Path | None, typer.Option(help="A training run folder (uses its best checkpoint).")] = None,
    weights: WeightsOption = None,
    from_onnx: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Build from an FP32 ONNX export and its reference set (m.ref.npz beside it), without PyTorch: "
            "on the device itself; verified against that set.",
        ),
    ] = None,
    precision: Annotated[PrecisionName, typer.Option(help="Precision; tolerances in the README.")] = PrecisionName(
        "fp32"
    ),
    out: Annotated[Path | None, typer.Option(help="Output file (.onnx, .xml or .engine).")] = None,
    batch: Annotated[int, typer.Option(min=1, max=MAX_BATCH, help="Static batch size.")] = 1,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch", help="Batch dimension left dynamic.")] = False,
    calibration_data: Annotated[
        Path | None, typer.Option(help="INT8: dataset or folder of videos to calibrate on (default: synthetic faces).")
    ] = None,
    dataset: Annotated[
        DatasetName | None, typer.Option(help="Format of --calibration-data ('videos': a plain folder of videos).")
    ] = None,
    calibration_windows: Annotated[int, typer.Option(min=4, help="INT8 calibration windows.")] = 32,
    held_out_windows: Annotated[
        int, typer.Option(min=1, help="INT8: held-out windows its accuracy guard runs on.")
    ] = 16,
    int8_max_hr_diff: Annotated[
        float | None, typer.Option(help="INT8 HR bound in bpm (default: the int8 tolerance).")
    ] = None,
    int8_fallback: Annotated[
        Fallback | None,
        typer.Option(help="Write the FP32 model when INT8 fails its guard (default: fail, write nothing)."),
    ] = None,
    accuracy_control: Annotated[
        bool,
        typer.Option(
            "--accuracy-control",
            help="INT8: keep in FP32 the layers that cost the pulse most on the calibration windows, until the "
            "INT8 tolerance holds there (NNCF accuracy control; needs openvino); the held-out guard still judges.",
        ),
    ] = False,
    json_path: JsonOption = None,
) -> None:
    """Export the deploy model and verify it against PyTorch.

    FactorizePhys: FSAM removed; EfficientPhys: FSAM without NMF."""
    from edge_rppg.exporters import CalibrationSource, export_model

    if calibration_data is not None and dataset is None:
        raise typer.BadParameter("--calibration-data needs --dataset (its format, or 'videos')")
    if accuracy_control and precision.value != "int8":
        raise typer.BadParameter("--accuracy-control is for --precision int8")
    calibration = CalibrationSource(
        data=calibration_data, dataset=value(dataset), windows=calibration_windows, held_out=held_out_windows
    )
    outputs_writable([from_onnx, weights, run], out=out, json=json_path)
    if from_onnx is not None and (run is not None or weights is not None):
        raise typer.BadParameter("--from builds from an ONNX; give it instead of --run or --weights, not with them")
    if from_onnx is not None and from_onnx.suffix != ".onnx":
        raise typer.BadParameter(f"--from {from_onnx}: give the FP32 .onnx export (with its .ref.npz beside it)")
    result = export_model(
        from_onnx if from_onnx is not None else weights_from(run, weights),
        target.value,
        precision.value,
        out,
        batch,
        dynamic_batch,
        calibration,
        int8_max_hr_diff_bpm=int8_max_hr_diff,
        int8_fallback=value(int8_fallback),
        accuracy_control=accuracy_control,
    )
    if json_path is not None:
        emit_json(json_path, result.to_dict())
        if json_path == STDOUT:
            return
    _print_export(result)


def _print_export(result: Any) -> None:
    console.print(
        f"[green]exported[/green] {result.target} {result.precision}: {', '.join(result.files)} "
        f"({result.size_mb:.3f} MB, {result.seconds:.1f} s)"
    )
    if result.verification:
        v = result.verification
        judged = (
            f"{v.windows} of {v.windows_offered} held-out windows (those either model shows a pulse on)"
            if v.windows_offered
            else ""
        )
        console.print(
            f"verified vs {result.reference} on {judged or f'{v.windows} windows'}: max abs err {v.max_abs_err:.2e} "
            f"({v.max_err_of_range:.2e} of the BVP range), BVP r {v.bvp_pearson:.6f}, "
            f"HR diff max {v.hr_abs_diff_bpm:.2f} / median {v.hr_abs_diff_median_bpm:.2f} bpm"
        )
    if result.int8_coverage:
        c = result.int8_coverage
        console.print(
            f"INT8: {c['int8_convolutions']}/{c['convolutions']} convolutions quantized; left in FP32: "
            f"{', '.join(c['fp32_convolutions']) or 'no convolution'}; {c['fp32_ops']}"
            + (f"; this CPU runs {c['cpu_int8_convolutions']} in INT8" if "cpu_int8_convolutions" in c else "")
        )
    if result.note:
        console.print(f"[yellow]note:[/yellow] {result.note}")
