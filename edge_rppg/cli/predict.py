"""``predict``: heart rate, HRV and breathing from a user's video or webcam, with a model or a classic method."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from edge_rppg.cli.common import (
    STDOUT,
    AutoRuntimeName,
    EngineName,
    JsonOption,
    MethodName,
    ModelOption,
    RayAddressOption,
    WeightsOption,
    console,
    emit_json,
    outputs_writable,
    say,
    value,
    weights_or_model,
)
from edge_rppg.errors import EdgeRppgError
from edge_rppg.methods import DEFAULT_METHOD, METHOD_TABLE

if TYPE_CHECKING:
    from edge_rppg.predict.batch import BatchSpec
    from edge_rppg.predict.video import PredictResult
    from edge_rppg.runtimes import Runtime


def predict(
    video: Annotated[
        Path | None, typer.Argument(help="Video file (avi, mp4, mkv, ...) or a folder of image frames.")
    ] = None,
    webcam: Annotated[int | None, typer.Option(min=0, help="Webcam index: live mode instead of a file.")] = None,
    weights: WeightsOption = None,
    model: ModelOption = None,
    method: Annotated[
        MethodName, typer.Option(help="rPPG method: model (the default) or a classic one, which needs no model.")
    ] = MethodName(DEFAULT_METHOD),
    runtime: Annotated[
        AutoRuntimeName,
        typer.Option(
            help="Runtime; auto: TensorRT on an NVIDIA GPU, else OpenVINO on x86, else ONNX Runtime, else torch."
        ),
    ] = AutoRuntimeName("auto"),
    stride: Annotated[int, typer.Option(min=1, help="Frames between windows (30 = one estimate per second).")] = 30,
    fps: Annotated[
        float | None, typer.Option(min=1, max=240, help="Frame rate, when the file does not say (image folders).")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Inference threads.")] = None,
    json_path: JsonOption = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="BVP and HR time series CSV.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Plot PNG: BVP, HR over time, quality.")] = None,
    profile: Annotated[bool, typer.Option("--profile", help="Print where the time goes.")] = False,
    out: Annotated[
        Path | None, typer.Option(help="Many videos (VIDEO a folder or a glob, or --list): one JSON each, here.")
    ] = None,
    list_file: Annotated[Path | None, typer.Option("--list", help="A file of video paths, one a line.")] = None,
    engine: Annotated[
        EngineName, typer.Option(help="Many videos: a local process pool, or a Ray cluster.")
    ] = EngineName("local"),
    ray_address: RayAddressOption = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Many videos: workers (default: one per core).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Many videos: redo the ones already done.")] = False,
    series: Annotated[
        bool, typer.Option("--series", help="Many videos: each one's BVP/HR and beats CSVs beside its JSON.")
    ] = False,
) -> None:
    """Heart rate from your own video, a folder of videos, or a webcam, on any runtime, faster than real time."""
    from edge_rppg.predict.live import live_callbacks
    from edge_rppg.predict.video import PredictOptions, predict_video
    from edge_rppg.predict.writers import write_outputs

    if out is not None or list_file is not None:
        if out is None or webcam is not None or any(p is not None for p in (json_path, csv_path, plot)):
            raise typer.BadParameter(
                "many videos: give --out RESULTS_DIR (one JSON per video), no --webcam/--json/--csv/--plot"
            )
        options = PredictOptions(stride=stride, fps=fps)
        spec = _batch_spec(method.value, weights, model, value(runtime), threads, options)
        spec = replace(spec, series_dir=out if series else None)
        _predict_many(video, list_file, out, spec, engine.value, ray_address, workers, force)
        return
    if (video is None) == (webcam is None):
        raise typer.BadParameter("give a VIDEO or --webcam INDEX")
    if weights is not None and model is not None:
        raise typer.BadParameter("give one of --weights or --model, not both")
    outputs_writable([video, weights, model], json=json_path, csv=csv_path, plot=plot)
    from edge_rppg.data.source import open_source

    options = PredictOptions(stride=stride, fps=fps)
    with open_source(video if video is not None else (webcam or 0), options.crop, fps) as source:  # once
        _say_fps_override(source.name, source.stated_fps, fps)
        rt = _runtime(method.value, weights, model, value(runtime), threads)
        on_window, on_frame = live_callbacks() if webcam is not None else (None, None)
        result = predict_video(source, rt, options, on_window=on_window, on_frame=on_frame)
    write_outputs(result, None if json_path == STDOUT else json_path, csv_path, plot)
    if json_path == STDOUT:
        emit_json(STDOUT, result.summary())
        return
    _print_result(result, profile)


def _say_fps_override(name: str, own: float | None, fps: float | None) -> None:
    if fps is not None and own is not None and abs(own - fps) > 1e-3:
        say(f"{name}: --fps {fps:g} overrides the file's own {own:g} fps")


def _runtime(
    method: str, weights: Path | None, model: Path | None, runtime: str | None, threads: int | None
) -> Runtime:
    """The method's runtime: the model's file on its runtime, or a classic method on the crops."""
    from edge_rppg.predict.video import runtime_options

    path, runtime = model_file(method, weights, model, runtime)
    return METHOD_TABLE[method].open(path, runtime, runtime_options(threads))


def model_file(
    method: str, weights: Path | None, model: Path | None, runtime: str | None
) -> tuple[Path | None, str | None]:
    """The file the method runs and its runtime (``auto`` resolved, a checkpoint exported once for it), or none for
    a classic method, which a model given by mistake is refused for."""
    from edge_rppg.predict.video import model_to_run

    if not METHOD_TABLE[method].needs_model:
        if weights is not None or model is not None:
            raise typer.BadParameter(f"--method {method} runs without a model; leave out --weights/--model")
        return None, None
    weights, model = weights_or_model(weights, model, runtime)
    return model_to_run(weights, model, _chosen(model, runtime))


def _chosen(model: Path | None, runtime: str | None) -> str | None:
    """The runtime that will run (``auto`` resolved), said in one line when auto chose it."""
    from edge_rppg.predict.video import pick_runtime

    runtime, note = pick_runtime(model, runtime)
    if note:
        say(note)
    return runtime


def _batch_spec(
    method: str, weights: Path | None, model: Path | None, runtime: str | None, threads: int | None, options: Any
) -> BatchSpec:
    """What every worker loads: a checkpoint on another runtime than torch is exported here, once."""
    from edge_rppg.predict.batch import BatchSpec

    path, runtime = model_file(method, weights, model, runtime)
    return BatchSpec(method=method, model=path, runtime=runtime, threads=threads or 0, options=options)


def _predict_many(
    video: Path | None,
    list_file: Path | None,
    out: Path,
    spec: BatchSpec,
    engine: str,
    ray_address: str | None,
    workers: int | None,
    force: bool,
) -> None:
    from edge_rppg.predict.batch import collect_videos, plan_workers, run_batch

    outputs_writable(out=out / "results.csv")
    videos = collect_videos(None if video is None else str(video), list_file)
    n, threads = plan_workers(len(videos), workers)
    spec = replace(spec, threads=spec.threads or threads)  # --threads, else the cores shared among the workers
    with _videos_bar() as progress:
        report = run_batch(
            videos, spec, out, engine, workers=n, force=force, ray_address=ray_address, progress=progress
        )
    console.print(
        f"{report.videos} videos: {report.ran} run ({report.frames} frames in {report.seconds:.0f} s, {engine}, "
        f"{n} workers x {spec.threads} threads), {report.skipped} already done, {report.failed} failed; "
        f"{report.summary_csv}"
    )
    if report.failed:
        raise EdgeRppgError(f"{out}: {report.failed} of {report.videos} videos failed; results.csv says why for each")


@contextmanager
def _videos_bar() -> Iterator[Callable[[Any, int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("videos"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TextColumn("{task.fields[fps]:.0f} frames/s"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("videos", total=None, failed=0, fps=0.0)
        failed, frames, start = 0, 0, time.perf_counter()

        def progress(outcome: Any, done: int, total: int) -> None:
            nonlocal failed, frames
            failed += outcome.error is not None
            frames += outcome.frames
            fps = frames / max(time.perf_counter() - start, 1e-9)
            bar.update(task, completed=done, total=total, failed=failed, fps=fps)

        yield progress


def _print_result(result: PredictResult, profile: bool) -> None:
    hr = (
        f"[bold]{result.hr_bpm:.1f} bpm[/bold]"
        if result.hr_bpm is not None
        else "[bold yellow]no reliable pulse[/bold yellow]"
    )
    sure = "" if result.hr_confidence is None else f"confidence {result.hr_confidence:.2f}; "
    console.print(
        f"{hr} ({sure}{result.hr_reason}) over {result.frames} frames ({result.fps:g} fps); "
        f"{result.speed_fps:.0f} frames/s ({result.speed_fps / result.fps:.1f}x real time) on {result.runtime}"
    )
    console.print(f"quality gate: {escape(result.quality_gate['label'])}", highlight=False)
    if result.hrv:
        v = result.hrv
        console.print(
            f"HRV from {v.beats} beats: mean HR {v.mean_hr_bpm:.1f} bpm, SDNN {v.sdnn_ms:.1f} ms, "
            f"RMSSD {v.rmssd_ms:.1f} ms, pNN50 {v.pnn50:.2f}"
        )
    elif result.hr_bpm is not None:
        console.print(f"HRV: not measured ({result.hrv_reason})")
    r = result.respiration
    console.print(
        f"breathing: {r.rate_bpm:.1f} breaths/min (quality {r.quality:.2f})"
        if r.rate_bpm is not None
        else f"breathing: not measured ({r.status})"
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
        if result.frame_reduction > 1:
            console.print(f"frames tracked and cropped at 1/{result.frame_reduction} of their size")
        if result.windows:
            # Threads share the cores: a stage's time here is what it took beside the others, not alone.
            console.print(f"inference: {p['infer'] / result.windows:.1f} ms per window over {result.windows} windows")
