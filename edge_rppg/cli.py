"""The ``edge-rppg`` command line: each command parses its options, calls one API function, prints."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edge_rppg.bench import DEVICES, Outcome
from edge_rppg.classic import METHODS
from edge_rppg.data.readers import READERS, UNLABELLED
from edge_rppg.errors import EdgeRppgError
from edge_rppg.exporters import PRECISIONS, TARGETS
from edge_rppg.hr import HrMethod
from edge_rppg.models.registry import DEFAULT_FAMILY, FAMILIES
from edge_rppg.runtimes import RUNTIMES, Runtime
from edge_rppg.runtimes.base import PRECISION_HINTS
from edge_rppg.train.config import PRESETS

app = typer.Typer(add_completion=False, no_args_is_help=True, help="FactorizePhys rPPG from training to the edge.")
# Wide tables (bench) must not fold into one-character columns when output goes to a file or CI log.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

# Closed choices are Enums built from the tables that define them: an unknown value is a usage error
# (exit 2) that lists the choices, and a new table entry is a new choice with no CLI change.
TargetName = Enum("TargetName", {k: k for k in TARGETS}, type=str)  # type: ignore[misc]
PrecisionName = Enum("PrecisionName", {k: k for k in PRECISIONS}, type=str)  # type: ignore[misc]
RuntimeName = Enum("RuntimeName", {k: k for k in RUNTIMES}, type=str)  # type: ignore[misc]
BenchRuntime = Enum("BenchRuntime", {**{k: k for k in RUNTIMES}, "all": "all"}, type=str)  # type: ignore[misc]
DatasetName = Enum("DatasetName", {k: k for k in READERS}, type=str)  # type: ignore[misc]
PrecisionHint = Enum("PrecisionHint", {k: k for k in PRECISION_HINTS}, type=str)  # type: ignore[misc]
DeviceName = Enum("DeviceName", {k: k for k in DEVICES}, type=str)  # type: ignore[misc]
ArchName = Enum("ArchName", {k: k for k in FAMILIES}, type=str)  # type: ignore[misc]
FsamModeName = Enum("FsamModeName", {m: m for f in FAMILIES.values() for m in f.fsam_modes}, type=str)  # type: ignore[misc]
PresetName = Enum("PresetName", {k: k for k in PRESETS}, type=str)  # type: ignore[misc]
# "model": the deep model (--weights/--model); the others run with no model at all (edge_rppg/classic.py).
MethodName = Enum("MethodName", {k: k for k in ("model", *METHODS)}, type=str)  # type: ignore[misc]
LabelledDataset = Enum("LabelledDataset", {k: k for k in READERS if k not in UNLABELLED}, type=str)  # type: ignore[misc]


class Fallback(str, Enum):
    fp32 = "fp32"


class NoFace(str, Enum):
    skip = "skip"
    fail = "fail"


class Loss(str, Enum):
    pearson = "pearson"
    pearson_reference = "pearson-reference"


def _value(choice: Enum | None) -> Any:
    return None if choice is None else choice.value


@app.callback()
def _root() -> None:
    """FactorizePhys rPPG from training to the edge: train, export, bench, predict, eval."""


def user_errors(fn: F) -> F:
    """EdgeRppgError: one red line, exit 1; Ctrl-C: exit 130; anything else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            # Ctrl-C: nothing half-written (every output is atomic), the shell's convention for SIGINT.
            err_console.print("interrupted: nothing written", highlight=False)
            raise typer.Exit(130) from None
        except EdgeRppgError as exc:
            # User text (paths, key lists, "[tensorrt]" in install hints) is escaped, never read as markup.
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@user_errors
def info(
    weights: Annotated[
        Path | None,
        typer.Option(help="Checkpoint: ours or the authors' *_FactorizePhys_* / *_EfficientPhys_FSAM .pth."),
    ] = None,
    arch: Annotated[
        ArchName | None, typer.Option(help="Model family (default: from the checkpoint, or factorizephys).")
    ] = None,
    fsam: Annotated[bool, typer.Option("--fsam", help="Summarise the network with FSAM (training form).")] = False,
    deploy: Annotated[
        bool, typer.Option("--deploy", help="Summarise the deploy network (FactorizePhys: FSAM removed).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Architecture, parameters, MACs per window, input contract, and what a checkpoint was trained on."""
    from edge_rppg.info import model_info

    if fsam and deploy:
        raise typer.BadParameter("--fsam and --deploy exclude each other")
    summary = model_info(_checkpoint(weights) if weights else None, deploy=deploy, fsam=fsam, arch=_value(arch))
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict()) + "\n")
        return
    table = Table(title=summary.architecture, show_header=False)
    table.add_row("parameters", f"{summary.parameters:,}")
    table.add_row("MACs / window", f"{summary.macs / 1e9:.3f} G ({summary.gflops:.2f} GFLOP)")
    inp = summary.input
    table.add_row(
        "input", f"{inp['name']} {inp['shape']} float32 raw 0-255 ({inp['shape'][1]} channels) @ {inp['fps']:g} fps"
    )
    table.add_row("output", f"{summary.output['name']} {summary.output['shape']}")
    table.add_row("config", ", ".join(f"{k}={v}" for k, v in summary.config.items()))
    if summary.provenance:
        table.add_row("provenance", json.dumps(summary.provenance))
    if summary.checkpoint:
        for key in ("path", "format", "variant", "trained_on", "sha256"):
            table.add_row(key, str(summary.checkpoint.get(key)))
        if summary.checkpoint.get("metrics"):
            table.add_row("metrics", json.dumps(summary.checkpoint["metrics"]))
    console.print(table)


@app.command()
def check(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False) -> None:
    """What this machine can run (runtimes, GPU, CPU features) and how to add what is missing."""
    from edge_rppg.check import check as run_check

    report = run_check()
    if as_json:
        sys.stdout.write(json.dumps(report.to_dict()) + "\n")
        return
    console.print(f"edge-rppg {report.edge_rppg}, Python {report.python}, {report.platform}")
    console.print(f"CPU: {report.cpu}; {', '.join(report.cpu_flags) or 'no AVX2/AVX-512/AMX'}")
    console.print(
        "GPU: "
        + (
            "; ".join(
                f"{g.name} (compute {g.compute_capability or '?'}, driver {g.driver or '?'})" for g in report.gpus
            )
            or "no NVIDIA GPU (driver not found)"
        )
    )
    table = Table(show_header=True)
    for col in ("component", "version", "status", "to install"):
        table.add_column(col)
    for c in report.components:
        table.add_row(
            c.name,
            c.version or "-",
            ("[green]ok[/green] " if c.ok else "[yellow]missing[/yellow] ") + escape(c.detail),
            escape(c.install),
        )
    console.print(table)


weights_app = typer.Typer(
    no_args_is_help=True, help="The authors' released checkpoints by name: list, pull (sha256-verified), path."
)
app.add_typer(weights_app, name="weights")


@weights_app.command("list")
def weights_list(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False) -> None:
    """Every released checkpoint: name, file, sha256, licence, and whether it is in the cache."""
    from edge_rppg.weights import LICENSE, RELEASED, base_url

    rows = [e.to_dict() for e in RELEASED.values()]
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table(title=f"the authors' released weights ({LICENSE}); from {base_url()}")
    for col in ("name", "file", "arch", "sha256", "cached"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        table.add_row(
            r["name"],
            r["file"],
            r["arch"] + ("" if r["supported"] else " (128x128: not loadable)"),
            r["sha256"][:12] + "...",
            "yes" if r["cached"] else "-",
        )
    console.print(table)
    console.print(
        "edge-rppg weights pull NAME --accept-license, then --weights NAME in any command; "
        "the bundled model is --weights default (or no --weights at all)"
    )


@weights_app.command("pull")
@user_errors
def weights_pull(
    name: Annotated[str, typer.Argument(help="A name from `edge-rppg weights list` (or its file name).")],
    accept_license: Annotated[
        bool, typer.Option("--accept-license", help="Accept the authors' research-only licence (remembered).")
    ] = False,
) -> None:
    """Download a released checkpoint into the cache, verify its sha256, write it atomically."""
    from edge_rppg.weights import pull

    console.print(str(pull(name, accept_license)))


@weights_app.command("path")
@user_errors
def weights_path(name: Annotated[str, typer.Argument(help="A weights name, or 'default'.")]) -> None:
    """Where a weights name resolves (exit 1 with the pull command when it is not downloaded)."""
    console.print(str(_checkpoint(Path(name))))


@app.command(name="demo-video")
@user_errors
def demo_video(
    out: Annotated[Path, typer.Argument(help="Video file to write (.avi or .mp4).")] = Path("demo.avi"),
    seconds: Annotated[float, typer.Option(min=6, help="Length.")] = 20.0,
    hr: Annotated[
        float | None, typer.Option(min=40, max=180, help="Heart rate of the pulse (default: drawn from the seed).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Which synthetic subject (skin tone, face, motion).")] = 1,
    hard: Annotated[
        bool, typer.Option("--hard", help="Head rotation/scale, a light step, stronger compression.")
    ] = False,
) -> None:
    """A synthetic face video with a known pulse, to try predict in a minute."""
    from edge_rppg.data.synthetic import write_demo_video

    true_hr = write_demo_video(out, seconds, hr, seed, hard)
    console.print(f"wrote {out}: {seconds:g} s, true heart rate {true_hr:.1f} bpm; try: edge-rppg predict {out}")


def main() -> None:  # pragma: no cover
    app()


PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _outputs_writable(**paths: Path | None) -> None:
    """Every output a command will write, checked before it computes anything."""
    from edge_rppg.atomic import check_writable

    for kind, path in paths.items():
        if path is not None:
            check_writable(path, PLOT_SUFFIXES if kind == "plot" else None)


def _checkpoint(weights: Path | None) -> Path:
    """--weights as given (a file, a released name, ``default``), or the bundled default model, said in one line."""
    from edge_rppg.weights import resolve

    path, note = resolve(weights)
    if note:
        err_console.print(f"[dim]{note}[/dim]", highlight=False)
    return path


def _weights_from(run: Path | None, weights: Path | None) -> Path:
    if run is not None and weights is not None:
        raise typer.BadParameter("give one of --run DIR or --weights PATH|NAME, not both")
    if run is not None:
        from edge_rppg.run_dir import best_checkpoint

        return best_checkpoint(run)
    return _checkpoint(weights)


@app.command()
@user_errors
def export(
    target: Annotated[TargetName, typer.Option(help="Export format.")] = TargetName("onnx"),
    run: Annotated[Path | None, typer.Option(help="A training run folder (uses its best checkpoint).")] = None,
    weights: Annotated[
        Path | None,
        typer.Option(help="A checkpoint file or a weights name (edge-rppg weights list); default: the bundled model."),
    ] = None,
    precision: Annotated[PrecisionName, typer.Option(help="Precision; tolerances in the README.")] = PrecisionName(
        "fp32"
    ),
    out: Annotated[Path | None, typer.Option(help="Output file (.onnx, .xml or .engine).")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Static batch size.")] = 1,
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the export report as JSON.")] = False,
) -> None:
    """Export the deploy model and verify it against PyTorch.

    FactorizePhys: FSAM removed; EfficientPhys: FSAM without NMF."""
    from edge_rppg.exporters import CalibrationSource, export_model

    if calibration_data is not None and dataset is None:
        raise typer.BadParameter("--calibration-data needs --dataset (its format, or 'videos')")
    calibration = CalibrationSource(calibration_data, _value(dataset), calibration_windows, held_out_windows)
    _outputs_writable(out=out)
    result = export_model(
        _weights_from(run, weights),
        target.value,
        precision.value,
        out,
        batch,
        dynamic_batch,
        calibration,
        int8_max_hr_diff_bpm=int8_max_hr_diff,
        int8_fallback=_value(int8_fallback),
    )
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict()) + "\n")
        return
    console.print(
        f"[green]exported[/green] {result.target} {result.precision}: {', '.join(result.files)} "
        f"({result.size_mb:.3f} MB, {result.seconds:.1f} s)"
    )
    if result.verification:
        v = result.verification
        console.print(
            f"verified vs PyTorch on {v['windows']} windows: max abs err {v['max_abs_err']:.2e} "
            f"({v['max_err_of_range']:.2e} of the BVP range), BVP r {v['bvp_pearson']:.6f}, "
            f"HR diff max {v['hr_abs_diff_bpm']:.2f} / median {v['hr_abs_diff_median_bpm']:.2f} bpm"
        )
    if result.int8_coverage:
        c = result.int8_coverage
        console.print(
            f"INT8: {c['int8_convolutions']}/{c['convolutions']} convolutions quantized; left in FP32: "
            f"{', '.join(c['fp32_convolutions']) or 'no convolution'}; {c['fp32_ops']}"
        )
    if result.note:
        console.print(f"[yellow]note:[/yellow] {result.note}")


# bench's table: (column, the result's field, its format); latency fields come from r.latency_ms.
BENCH_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("runtime", "runtime", ""),
    ("device", "device", ""),
    ("precision", "precision", ""),
    ("model", "model", "name"),
    ("p50 ms", "p50", ".1f"),
    ("p90 ms", "p90", ".1f"),
    ("p99 ms", "p99", ".1f"),
    ("frames/s", "throughput_fps", ".0f"),
    ("GFLOP/s", "gflops_per_s", ".1f"),
    ("max err/range", "max_err_of_range", ".1e"),
    ("BVP r", "bvp_pearson", ".5f"),
    ("ΔHR max", "hr_abs_diff_bpm", ".2f"),
    ("ΔHR med", "hr_abs_diff_median_bpm", ".2f"),
    ("HR MAE", "hr_mae_vs_label_bpm", ".2f"),
    ("MB", "size_mb", ".3f"),
)


def _bench_cell(result: Any, field: str, fmt: str) -> str:
    value = (result.latency_ms or {}).get(field) if field in ("p50", "p90", "p99") else getattr(result, field)
    if value is None:
        return "-"
    return Path(value).name if fmt == "name" else format(value, fmt)


def _bench_table(report: Any) -> Table:
    table = Table(
        title=f"edge-rppg bench ({report.arch}): {report.windows} windows, {report.iterations} timed runs "
        f"each, {report.threads} threads; "
        f"HR in bpm on a {report.hr_resolution_bpm:.3f}-bpm grid"
    )
    for column, _, _ in BENCH_COLUMNS:
        table.add_column(column, no_wrap=True)
    for r in report.results:
        if r.outcome is Outcome.OK:
            table.add_row(*(_bench_cell(r, field, fmt) for _, field, fmt in BENCH_COLUMNS))
    return table


@app.command()
@user_errors
def bench(
    runtime: Annotated[list[BenchRuntime], typer.Option(help="Runtimes to compare (repeatable).")] = [
        BenchRuntime("all")
    ],
    model: Annotated[list[Path], typer.Option(help="Exported model files (.onnx, .xml, .engine); repeatable.")] = [],
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
    threads: Annotated[int | None, typer.Option(help="Threads per runtime (default: all cores).")] = None,
    precision_hint: Annotated[PrecisionHint, typer.Option(help="OpenVINO CPU inference precision.")] = PrecisionHint(
        "f32"
    ),
    device: Annotated[
        DeviceName, typer.Option(help="Where the PyTorch reference (and ONNX Runtime) run: compare like with like.")
    ] = DeviceName("cpu"),
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
) -> None:
    """Accuracy against the PyTorch reference and latency of each runtime, side by side."""
    from edge_rppg.bench import Timing, run_bench

    _outputs_writable(json=json_path)
    win = lab = None
    if data is not None:
        from edge_rppg.data.windows import dataset_windows

        win, lab = dataset_windows(data, _value(dataset), windows)
    if weights is not None or not model:
        weights = _checkpoint(weights)
    report = run_bench(
        [r.value for r in runtime],
        model,
        weights,
        win,
        lab,
        windows,
        Timing(iterations, rounds),
        threads=threads,
        precision_hint=precision_hint.value,
        device=device.value,
    )
    console.print(_bench_table(report))
    for r in report.results:
        if r.outcome is not Outcome.OK:
            console.print(f"[yellow]{r.runtime}[/yellow] {Path(r.model).name}: {r.status}", highlight=False)
    console.print(
        f"model: {report.model_gflop_per_window:.2f} GFLOP/window; this machine's FP32 matmul: "
        f"{report.matmul_gflops_per_s:.0f} GFLOP/s at {report.threads} threads; peak RSS {report.peak_rss_mb:.0f} MB"
    )
    for r in report.results:
        if r.speedup_vs_reference is not None and r.runtime != report.reference:
            console.print(
                f"  {r.runtime} {r.precision} ({r.device}): {r.speedup_vs_reference:.2f}x PyTorch eager on "
                f"{report.reference_device} (p50)"
            )
    if json_path:
        report.write_json(json_path)
        console.print(f"wrote {json_path}")
    failed = [r for r in report.results if r.outcome is Outcome.FAILED]
    if failed:
        # A model the user named that cannot open or run is an error; a runtime not installed here is only skipped.
        raise EdgeRppgError(
            f"{failed[0].model}: {failed[0].runtime} {failed[0].status}"
            + (f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else "")
        )


@app.command()
@user_errors
def train(
    ctx: typer.Context,
    arch: Annotated[ArchName, typer.Option(help="Model family.")] = ArchName(DEFAULT_FAMILY),
    preset: Annotated[
        PresetName | None,
        typer.Option(
            help="A named recipe (default-model: how the bundled model was made); options you give override it."
        ),
    ] = None,
    data: Annotated[Path | None, typer.Option(help="Dataset folder (absent: the built-in synthetic dataset).")] = None,
    dataset: Annotated[LabelledDataset, typer.Option(help="Dataset format of --data.")] = LabelledDataset("ubfc-rppg"),
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=1)] = 4,
    lr: Annotated[float, typer.Option(min=1e-9, help="One-cycle maximum learning rate.")] = 1e-3,
    fsam: Annotated[
        bool, typer.Option("--fsam/--no-fsam", help="FactorizePhys: train with FSAM (removed again for deployment).")
    ] = True,
    fsam_mode: Annotated[
        FsamModeName,
        typer.Option(
            help="EfficientPhys: FSAM's NMF (steady: identity, as the released models; segment: factorise each "
            "20-frame segment)."
        ),
    ] = FsamModeName("steady"),
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N")] = "auto",
    seed: Annotated[int, typer.Option()] = 0,
    out: Annotated[Path, typer.Option(help="Run folder: config, checkpoints, metrics, plot.")] = Path("runs/train"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last epoch.")] = False,
    loss: Annotated[
        Loss, typer.Option(help="pearson (per sample, along time) | pearson-reference (authors' code)")
    ] = Loss.pearson,
    on_no_face: Annotated[NoFace, typer.Option(help="A video where no face is found.")] = NoFace.skip,
    synthetic_subjects: Annotated[int, typer.Option(min=2, help="Subjects of the synthetic dataset.")] = 16,
    synthetic_seconds: Annotated[float, typer.Option(min=6, help="Seconds per synthetic video.")] = 27.0,
    synthetic_hard: Annotated[
        float,
        typer.Option(
            min=0, max=1, help="Fraction of synthetic subjects with head motion, light steps, dark skin, MJPEG."
        ),
    ] = 0.0,
    workers: Annotated[int | None, typer.Option(help="Parallel preprocessing processes.")] = None,
) -> None:
    """Train FactorizePhys or EfficientPhys with FSAM (paper recipe).

    On the built-in synthetic dataset when no --data."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from edge_rppg import run_dir
    from edge_rppg.train.config import TrainConfig
    from edge_rppg.train.loop import train as run_training

    cfg = TrainConfig(
        arch=arch.value,
        data=data,
        dataset=dataset.value,
        out=out,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        fsam=fsam,
        fsam_mode=fsam_mode.value,
        device=device,
        seed=seed,
        loss=loss.value,
        on_no_face=on_no_face.value,
        workers=workers,
        synthetic_subjects=synthetic_subjects,
        synthetic_seconds=synthetic_seconds,
        synthetic_hard=synthetic_hard,
        given=frozenset(k for k in ctx.params if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE"),
    )
    if preset is not None:
        cfg.apply_preset(preset.value)
    _outputs_writable(run=cfg.out / run_dir.CONFIG)  # before the data is prepared: that can take hours
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("epoch", total=None, loss=float("nan"))
        state = {"epoch": 0}

        def progress(step: int, total: int, mean_loss: float) -> None:
            if step == 1:
                state["epoch"] += 1
                bar.reset(task, total=total, description=f"epoch {state['epoch']}")
            bar.update(task, completed=step, loss=mean_loss)

        result = run_training(cfg, resume=resume, log=lambda m: console.print(m, highlight=False), progress=progress)
    if not result.is_main:
        return
    best = result.best_epoch()
    console.print(
        f"[green]done[/green]: {result.run} (best checkpoint {result.best.name}"
        + (f", validation HR MAE {best['val_mae_bpm']:.2f} bpm at epoch {best['epoch']}" if best else "")
        + ")"
    )


@app.command(name="eval")
@user_errors
def evaluate(
    data: Annotated[Path, typer.Option(help="Dataset folder.")],
    dataset: Annotated[LabelledDataset, typer.Option(help="Dataset format of --data.")] = LabelledDataset("ubfc-rppg"),
    weights: Annotated[
        Path | None,
        typer.Option(help="A checkpoint file or a weights name (edge-rppg weights list); default: the bundled model."),
    ] = None,
    model: Annotated[Path | None, typer.Option(help="An exported model (.onnx, .xml, .engine).")] = None,
    runtime: Annotated[RuntimeName | None, typer.Option(help="Runtime for --model (default: by suffix).")] = None,
    split: Annotated[tuple[float, float], typer.Option(help="Subject fraction range to evaluate.")] = (0.0, 1.0),
    method: Annotated[
        list[MethodName],
        typer.Option(help="rPPG method: model (--weights/--model) or a classic one; repeat for a side-by-side table."),
    ] = [MethodName("model")],
    hr_method: Annotated[
        HrMethod,
        typer.Option(
            help="HR estimator: fft (the paper's), fft-fine, peak (robust beats), peak-naive (the toolbox's)."
        ),
    ] = HrMethod.FFT,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the metrics as JSON here.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Bland–Altman plot PNG (the first method).")] = None,
    on_no_face: Annotated[NoFace, typer.Option(help="A video where no face is found.")] = NoFace.skip,
) -> None:
    """Whole-video evaluation with the paper's metrics (MAE, RMSE, MAPE, Pearson, SNR, MACC ± SE)."""
    from edge_rppg.evaluate import bland_altman_png, evaluate_dataset, write_reports

    if weights is not None and model is not None:
        raise typer.BadParameter("give one of --weights or --model, not both")
    if not 0.0 <= split[0] < split[1] <= 1.0:
        raise typer.BadParameter(f"--split {split[0]:g} {split[1]:g}: give 0 <= FROM < TO <= 1 (an empty split)")
    _outputs_writable(json=json_path, plot=plot)
    names = list(dict.fromkeys(m.value for m in method))
    source = (model or _checkpoint(weights)) if "model" in names else None
    reports = {
        name: evaluate_dataset(
            data,
            dataset.value,
            source if name == "model" else None,
            _value(runtime),
            split,
            hr_method,
            on_no_face.value,
            log=lambda m: console.print(m, highlight=False),
            method=name,
        )
        for name in names
    }
    first = reports[names[0]].overall
    table = Table(title=f"{dataset.value}: {first.n} videos, HR by {hr_method.value}")
    for col in ("method", "MAE", "RMSE", "MAPE %", "Pearson", "SNR dB", "MACC"):
        table.add_column(col)
    for name, report in reports.items():
        o = report.overall
        cells = (
            f"{getattr(o, k):.3f} ± {getattr(o, k + '_se'):.3f}"
            for k in ("mae", "rmse", "mape", "pearson", "snr", "macc")
        )
        table.add_row(name, *cells)
    console.print(table)
    if json_path:
        write_reports(reports, json_path)
    if plot:
        bland_altman_png(reports[names[0]], plot)


@app.command()
@user_errors
def predict(
    video: Annotated[
        Path | None, typer.Argument(help="Video file (avi, mp4, mkv, ...) or a folder of image frames.")
    ] = None,
    webcam: Annotated[int | None, typer.Option(help="Webcam index: live mode instead of a file.")] = None,
    weights: Annotated[
        Path | None,
        typer.Option(help="A checkpoint file or a weights name (edge-rppg weights list); default: the bundled model."),
    ] = None,
    model: Annotated[Path | None, typer.Option(help="An exported model (.onnx, .xml, .engine).")] = None,
    method: Annotated[
        MethodName, typer.Option(help="rPPG method: model (the default) or a classic one, which needs no model.")
    ] = MethodName("model"),
    runtime: Annotated[RuntimeName | None, typer.Option(help="Runtime (default: by file).")] = None,
    stride: Annotated[int, typer.Option(min=1, help="Frames between windows (30 = one estimate per second).")] = 30,
    fps: Annotated[
        float | None, typer.Option(min=1, max=240, help="Frame rate, when the file does not say (image folders).")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Inference threads.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Summary JSON.")] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="BVP and HR time series CSV.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Plot PNG: BVP, HR over time, quality.")] = None,
    profile: Annotated[bool, typer.Option("--profile", help="Print where the time goes.")] = False,
) -> None:
    """Heart rate from your own video or webcam, on any runtime, faster than real time."""
    from edge_rppg.predict import PredictOptions, live_callbacks, predict_video, resolve_runtime, write_outputs

    if (video is None) == (webcam is None):
        raise typer.BadParameter("give a VIDEO or --webcam INDEX")
    if weights is not None and model is not None:
        raise typer.BadParameter("give one of --weights or --model, not both")
    _outputs_writable(json=json_path, csv=csv_path, plot=plot)
    if fps is not None and video is not None and video.is_file():
        from edge_rppg.data.video import probe

        own = probe(video).fps
        if own is not None and abs(own - fps) > 1e-3:
            err_console.print(
                f"[dim]{video}: --fps {fps:g} overrides the file's own {own:g} fps[/dim]", highlight=False
            )
    if method.value != "model":
        if weights is not None or model is not None:
            raise typer.BadParameter(f"--method {method.value} runs without a model; leave out --weights/--model")
        from edge_rppg.classic import ClassicRuntime

        rt: Runtime = ClassicRuntime(method.value)
    else:
        rt = resolve_runtime(None if model else _checkpoint(weights), model, _value(runtime), threads)
    on_window, on_frame = live_callbacks() if webcam is not None else (None, None)
    source: Path | int = video if video is not None else (webcam or 0)
    result = predict_video(
        source,
        rt,
        PredictOptions(stride=stride, fps=fps, threads=threads),
        on_window=on_window,
        on_frame=on_frame,
    )
    write_outputs(result, json_path, csv_path, plot)
    hr = (
        f"[bold]{result.hr_bpm:.1f} bpm[/bold]"
        if result.hr_bpm is not None
        else "[bold yellow]no reliable pulse[/bold yellow]"
    )
    console.print(
        f"{hr} ({result.hr_reason}) over {result.frames} frames ({result.fps:g} fps); {result.speed_fps:.0f} frames/s "
        f"({result.speed_fps / result.fps:.1f}x real time) on {result.runtime}"
    )
    if result.hrv:
        v = result.hrv
        console.print(
            f"HRV from {v['beats']} beats: mean HR {v['mean_hr_bpm']:.1f} bpm, SDNN {v['sdnn_ms']:.1f} ms, "
            f"RMSSD {v['rmssd_ms']:.1f} ms, pNN50 {v['pnn50']:.2f}"
        )
    r = result.respiration
    console.print(
        f"breathing: {r['rate_bpm']:.1f} breaths/min (quality {r['quality']:.2f})"
        if r["rate_bpm"] is not None
        else f"breathing: not measured ({r['status']})"
    )
    if result.input_error:
        console.print(f"[yellow]warning:[/yellow] the input ended early: {escape(result.input_error)}")
    if result.frames_without_face:
        console.print(f"[yellow]note:[/yellow] {result.frames_without_face} frames before the first face were skipped")
    if profile:
        p = result.profile_ms
        console.print(
            "time (ms, total / per frame): " + ", ".join(f"{k} {v:.0f} / {v / result.frames:.2f}" for k, v in p.items())
        )
