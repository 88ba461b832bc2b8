"""``bench``: each runtime's accuracy against the PyTorch reference, in heart-rate terms, and its latency."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edge_rppg.bench.plan import runtimes_to_build
from edge_rppg.bench.records import RowStatus
from edge_rppg.cli.common import (
    STDOUT,
    BenchRuntime,
    DeviceName,
    JsonOption,
    LabelledDataset,
    PrecisionHint,
    PrecisionName,
    ReferenceName,
    checkpoint,
    console,
    emit_json,
    outputs_writable,
    say,
    value,
)
from edge_rppg.errors import EdgeRppgError

# bench's table (the JSON has every measure): (column, the result's field as a dotted path, its format, the
# tolerance's bound shown beside it).
BENCH_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("runtime", "runtime", "", ""),
    ("device", "device", "", ""),
    ("precision", "precision", "", ""),
    ("model", "model", "name", ""),
    ("p50 ms", "latency_ms.p50", ".1f", ""),
    ("× PyTorch", "speedup_vs_reference", ".2f", ""),
    ("max err/range", "agreement.max_err_of_range", ".1e", "≤ max_err_of_range"),
    ("BVP r", "agreement.bvp_pearson", ".5f", "≥ min_pearson"),
    ("ΔHR max", "agreement.hr_abs_diff_bpm", ".2f", "≤ max_hr_diff_bpm"),
    ("HR MAE", "hr_mae_vs_label_bpm", ".2f", ""),
    ("verdict", "verdict", "verdict", ""),
)
VERDICT_STYLES = {"pass": "[green]pass[/green]", "fail": "[red]fail[/red]", "reference": "reference"}


def bench(
    runtime: Annotated[list[BenchRuntime], typer.Option(help="Runtimes to compare (repeatable).")] = [
        BenchRuntime("all")
    ],
    model: Annotated[
        list[Path],
        typer.Option(
            help="Exported model files (.onnx, .xml, .engine); repeatable. A named runtime with none that it opens "
            "runs the export of --weights for it (built, verified and cached once)."
        ),
    ] = [],
    precision: Annotated[
        list[PrecisionName],
        typer.Option(help="Precisions of the models bench builds from --weights (repeatable)."),
    ] = [PrecisionName("fp32")],
    weights: Annotated[
        Path | None,
        typer.Option(
            help="Reference checkpoint or weights name (default: the export's source, else the bundled model)."
        ),
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Dataset folder: windows and ground truth from it.")] = None,
    dataset: Annotated[LabelledDataset | None, typer.Option(help="Dataset format of --data.")] = None,
    windows: Annotated[int, typer.Option(min=1, help="Windows to run (synthetic, or the first of --data).")] = 8,
    iterations: Annotated[int, typer.Option(min=1, help="Timed runs per round per model.")] = 10,
    rounds: Annotated[int, typer.Option(min=1, help="Interleaved rounds.")] = 3,
    threads: Annotated[int | None, typer.Option(min=1, help="Threads per runtime (default: all cores).")] = None,
    precision_hint: Annotated[
        PrecisionHint | None,
        typer.Option(
            help="OpenVINO CPU inference precision (default: the model's own: bf16 for a bf16 export, else f32)."
        ),
    ] = None,
    device: Annotated[
        DeviceName, typer.Option(help="Where the PyTorch reference (and ONNX Runtime) run: compare like with like.")
    ] = DeviceName("cpu"),
    reference: Annotated[
        ReferenceName,
        typer.Option(
            help="What the runtimes are compared with: 'torch' (the live deploy model), 'stored' (the reference set "
            "that travelled with the export; needs no PyTorch), 'auto' (torch when the checkpoint and PyTorch are "
            "here, else stored)."
        ),
    ] = ReferenceName("auto"),
    json_path: JsonOption = None,
) -> None:
    """Accuracy against the PyTorch reference (live, or stored with the export) and latency of each runtime."""
    from edge_rppg.bench.records import Timing
    from edge_rppg.bench.run import run_bench

    outputs_writable([*model, weights, data], json=json_path)
    win = lab = None
    if data is not None:
        from edge_rppg.data.windows import dataset_windows

        win, lab = dataset_windows(data, value(dataset), windows)
    names = [r.value for r in runtime]
    if weights is not None or runtimes_to_build(names, model) or (not model and reference.value != "stored"):
        weights = checkpoint(weights)
    report = run_bench(
        names,
        model,
        weights,
        win,
        lab,
        windows,
        Timing(iterations, rounds),
        threads=threads,
        precision_hint=value(precision_hint),
        device=device.value,
        reference=reference.value,
        precisions=tuple(dict.fromkeys(p.value for p in precision)),
        progress=say,
    )
    if json_path != STDOUT:
        _print_bench(report)
    if json_path is not None:
        emit_json(json_path, report.to_dict())
    _fail_on_failed(report)


def _field(result: Any, path: str) -> Any:
    value = result
    for name in path.split("."):
        value = getattr(value, name) if value is not None else None
    return value


def _bench_cell(result: Any, path: str, fmt: str, bound: str) -> str:
    value = _field(result, path)
    if value is None:
        return "-"
    if fmt in ("name", "verdict"):
        return Path(value).name if fmt == "name" else VERDICT_STYLES.get(value, value)
    cell = format(value, fmt)
    if bound and result.tolerance:
        sign, key = bound.split()
        limit = result.tolerance.get(key)
        cell += f" {sign} {limit:g}" if limit is not None else ""
    return cell


def _bench_table(report: Any) -> Table:
    table = Table(
        title=f"edge-rppg bench ({report.arch}): {report.windows} windows, {report.iterations} timed runs "
        f"each, {report.threads} threads; "
        f"HR in bpm on a {report.hr_resolution_bpm:.3f}-bpm grid"
    )
    for column, *_ in BENCH_COLUMNS:
        table.add_column(column, no_wrap=True)
    for r in report.results:
        if r.status is RowStatus.OK:
            table.add_row(*(_bench_cell(r, field, fmt, bound) for _, field, fmt, bound in BENCH_COLUMNS))
    return table


def _print_bench(report: Any) -> None:
    console.print(_bench_table(report))
    for r in report.results:
        if r.status is not RowStatus.OK:
            console.print(f"[yellow]{_label(r)}[/yellow]: {r.status.value}: {r.reason}", highlight=False)
        elif r.violations:
            why = f"fails the {r.tolerance['precision']} tolerance: {'; '.join(r.violations)}"
            console.print(f"[red]{_label(r)}[/red]: {why}", highlight=False)
    gflop = f"{report.model_gflop_per_window:.2f}" if report.model_gflop_per_window is not None else "?"
    matmul = f"{report.matmul_gflops_per_s:.0f} GFLOP/s" if report.matmul_gflops_per_s is not None else "not measured"
    console.print(
        f"model: {gflop} GFLOP/window; this machine's FP32 matmul: {matmul} at {report.threads} threads; "
        f"peak RSS {report.peak_rss_mb:.0f} MB"
    )
    if report.reference_set:
        ref = report.reference_set
        console.print(
            f"reference: the stored set {ref['file']} (sha256 {ref['sha256'][:12]}, {ref['made_by']}), "
            "not a live PyTorch run"
        )
    for r in report.results:
        if r.speedup_vs_reference is not None and r.runtime != report.reference:
            console.print(
                f"  {r.runtime} {r.precision} ({r.device}): {r.speedup_vs_reference:.2f}x PyTorch eager on "
                f"{report.reference_device} (p50)"
            )


def _label(r: Any) -> str:
    """``runtime precision model``, leaving out what the row does not have."""
    return " ".join(x for x in (r.runtime, r.precision, Path(r.model).name) if x != "-")


def _fail_on_failed(report: Any) -> None:
    """Exit 1 when any row fails: its tolerance, or to open, run or build its model; a runtime not installed here
    is only skipped. The line names the first failure's figure and bound."""
    failed = [r for r in report.results if r.verdict == "fail"]
    if not failed:
        return
    first = failed[0]
    why = (
        f"failed: {first.reason}"
        if first.status is RowStatus.FAILED
        else f"fails the {first.tolerance['precision']} tolerance: {'; '.join(first.violations)}"
    )
    more = f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else ""
    precision = f" {first.precision}" if first.precision != "-" else ""
    raise EdgeRppgError(f"{first.model}: {first.runtime}{precision} {why}{more}")
