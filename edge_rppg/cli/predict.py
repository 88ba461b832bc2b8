"""``predict``: heart rate, HRV and breathing from a user's video or webcam, with a model or a classic method."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from edge_rppg.cli.common import (
    STDOUT,
    AutoRuntimeName,
    JsonOption,
    MethodName,
    ModelOption,
    WeightsOption,
    checkpoint,
    console,
    emit_json,
    err_console,
    outputs_writable,
    value,
)

if TYPE_CHECKING:
    from edge_rppg.predict import PredictResult
    from edge_rppg.runtimes import Runtime


def predict(
    video: Annotated[
        Path | None, typer.Argument(help="Video file (avi, mp4, mkv, ...) or a folder of image frames.")
    ] = None,
    webcam: Annotated[int | None, typer.Option(help="Webcam index: live mode instead of a file.")] = None,
    weights: WeightsOption = None,
    model: ModelOption = None,
    method: Annotated[
        MethodName, typer.Option(help="rPPG method: model (the default) or a classic one, which needs no model.")
    ] = MethodName("model"),
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
) -> None:
    """Heart rate from your own video or webcam, on any runtime, faster than real time."""
    from edge_rppg.live import live_callbacks
    from edge_rppg.predict import PredictOptions, predict_video
    from edge_rppg.predict_files import write_outputs

    if (video is None) == (webcam is None):
        raise typer.BadParameter("give a VIDEO or --webcam INDEX")
    if weights is not None and model is not None:
        raise typer.BadParameter("give one of --weights or --model, not both")
    outputs_writable(json=json_path, csv=csv_path, plot=plot)
    if fps is not None and video is not None and video.is_file():
        _say_fps_override(video, fps)
    rt = _runtime(method.value, weights, model, value(runtime), threads)
    on_window, on_frame = live_callbacks() if webcam is not None else (None, None)
    source: Path | int = video if video is not None else (webcam or 0)
    result = predict_video(source, rt, PredictOptions(stride=stride, fps=fps), on_window=on_window, on_frame=on_frame)
    write_outputs(result, None if json_path == STDOUT else json_path, csv_path, plot)
    if json_path == STDOUT:
        emit_json(STDOUT, result.summary())
        return
    _print_result(result, profile)


def _say_fps_override(video: Path, fps: float) -> None:
    from edge_rppg.data.video import probe

    own = probe(video).fps
    if own is not None and abs(own - fps) > 1e-3:
        err_console.print(f"[dim]{video}: --fps {fps:g} overrides the file's own {own:g} fps[/dim]", highlight=False)


def _runtime(
    method: str, weights: Path | None, model: Path | None, runtime: str | None, threads: int | None
) -> Runtime:
    """A classic method (no model at all), or the model on its runtime."""
    if method != "model":
        if weights is not None or model is not None:
            raise typer.BadParameter(f"--method {method} runs without a model; leave out --weights/--model")
        from edge_rppg.predict import classic_runtime

        return classic_runtime(method)
    from edge_rppg.predict import pick_runtime, resolve_runtime

    weights = None if model else checkpoint(weights)
    runtime, note = pick_runtime(model, runtime)
    if note:
        err_console.print(f"[dim]{escape(note)}[/dim]", highlight=False)
    return resolve_runtime(weights, model, runtime, threads)


def _print_result(result: PredictResult, profile: bool) -> None:
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
