"""``eval``: whole-video evaluation with the paper's metrics, a model and classic methods side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edge_rppg.cli.common import (
    STDOUT,
    EngineName,
    JsonOption,
    LabelledDataset,
    MethodName,
    ModelOption,
    NoFace,
    RayAddressOption,
    RuntimeName,
    WeightsOption,
    console,
    emit_json,
    outputs_writable,
    value,
    weights_or_model,
)
from edge_rppg.methods import DEFAULT_METHOD, METHOD_TABLE
from edge_rppg.signals.hr import HrMethod


def evaluate(
    data: Annotated[Path, typer.Option(help="Dataset folder.")],
    dataset: Annotated[LabelledDataset, typer.Option(help="Dataset format of --data.")] = LabelledDataset("ubfc-rppg"),
    weights: WeightsOption = None,
    model: ModelOption = None,
    runtime: Annotated[RuntimeName | None, typer.Option(help="Runtime for --model (default: by suffix).")] = None,
    split: Annotated[tuple[float, float], typer.Option(help="Subject fraction range to evaluate.")] = (0.0, 1.0),
    method: Annotated[
        list[MethodName],
        typer.Option(help="rPPG method: model (--weights/--model) or a classic one; repeat for a side-by-side table."),
    ] = [MethodName(DEFAULT_METHOD)],
    hr_method: Annotated[
        HrMethod,
        typer.Option(
            help="HR estimator: fft (the paper's), fft-fine, peak (robust beats), peak-naive (the toolbox's)."
        ),
    ] = HrMethod.FFT,
    json_path: JsonOption = None,
    plot: Annotated[Path | None, typer.Option(help="Bland–Altman plot PNG (the first method).")] = None,
    on_no_face: Annotated[NoFace, typer.Option(help="A video where no face is found.")] = NoFace("skip"),
    engine: Annotated[
        EngineName, typer.Option(help="Many videos: a local process pool, or a Ray cluster.")
    ] = EngineName("local"),
    ray_address: RayAddressOption = None,
) -> None:
    """Whole-video evaluation with the paper's metrics (MAE, RMSE, MAPE, Pearson, SNR, MACC ± SE)."""
    from edge_rppg.evaluate import bland_altman_png, evaluate_dataset, reports_to_dict

    if weights is not None and model is not None:
        raise typer.BadParameter("give one of --weights or --model, not both")
    if not 0.0 <= split[0] < split[1] <= 1.0:
        raise typer.BadParameter(f"--split {split[0]:g} {split[1]:g}: give 0 <= FROM < TO <= 1 (an empty split)")
    outputs_writable([weights, model], json=json_path, plot=plot)
    names = list(dict.fromkeys(m.value for m in method))
    needs_model = any(METHOD_TABLE[name].needs_model for name in names)
    source = next(p for p in weights_or_model(weights, model, value(runtime)) if p) if needs_model else None
    reports = {
        name: evaluate_dataset(
            data,
            dataset.value,
            source if METHOD_TABLE[name].needs_model else None,
            value(runtime),
            split,
            hr_method,
            on_no_face.value,
            log=lambda m: console.print(m, highlight=False),
            method=name,
            engine=engine.value,
            ray_address=ray_address,
        )
        for name in names
    }
    if json_path != STDOUT:
        console.print(_metrics_table(reports, dataset.value, hr_method))
    if json_path is not None:
        emit_json(json_path, reports_to_dict(reports))
    if plot:
        bland_altman_png(reports[names[0]], plot)


def _metrics_table(reports: dict[str, Any], dataset: str, hr_method: HrMethod) -> Table:
    first = next(iter(reports.values())).overall
    table = Table(title=f"{dataset}: {first.n} videos, HR by {hr_method.value}")
    for col in ("method", "MAE", "RMSE", "MAPE %", "Pearson", "SNR dB", "MACC"):
        table.add_column(col)
    for name, report in reports.items():
        o = report.overall
        cells = (
            f"{getattr(o, k):.3f} ± {getattr(o, k + '_se'):.3f}"
            for k in ("mae", "rmse", "mape", "pearson", "snr", "macc")
        )
        table.add_row(name, *cells)
    return table
