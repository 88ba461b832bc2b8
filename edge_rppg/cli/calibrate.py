"""``calibrate``: fit a model's quality gate on labelled clips, written where predict finds it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from edge_rppg.cli.common import (
    AutoRuntimeName,
    MethodName,
    WeightsOption,
    checkpoint,
    console,
    outputs_writable,
    say,
    value,
)
from edge_rppg.errors import EdgeRppgError
from edge_rppg.methods import DEFAULT_METHOD, METHOD_TABLE

if TYPE_CHECKING:
    from edge_rppg.calibration import ClipFeatures
    from edge_rppg.data.labelled import LabelledClip
    from edge_rppg.gate import Gate
    from edge_rppg.runtimes import Runtime


def calibrate(
    data: Annotated[
        Path,
        typer.Option(
            help='Labelled clips: NAME.<video>, NAME.json ({"pulsed": ..., "ppg_fs": ...}) and, when pulsed, '
            "NAME.ppg.npy (the contact PPG); pulsed and pulseless clips both."
        ),
    ],
    weights: WeightsOption = None,
    method: Annotated[
        MethodName, typer.Option(help="Calibrate a classic method instead of a model (needs --out).")
    ] = MethodName(DEFAULT_METHOD),
    runtime: Annotated[AutoRuntimeName, typer.Option(help="Runtime that runs the model while calibrating.")] = (
        AutoRuntimeName("auto")
    ),
    threads: Annotated[int | None, typer.Option(min=1, help="Inference threads.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Where to write the gate; default: CHECKPOINT.gate.json beside the checkpoint.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a gate already at the default place.")] = False,
) -> None:
    """Fit the quality gate of a model (or a classic method) on your own labelled clips: predict, eval and serve
    then judge its answers by it, and every export of the checkpoint carries it."""
    from edge_rppg.calibration import calibrate as fit_gate
    from edge_rppg.data.labelled import read_labelled
    from edge_rppg.gate import METHOD_PREFIX, UNCALIBRATED, UNCALIBRATED_METHOD

    is_method = not METHOD_TABLE[method.value].needs_model
    source = None if is_method else checkpoint(weights)
    target = _target(source, out, force, is_method)
    outputs_writable([data, source], out=target)
    clips = read_labelled(data)
    runtime_ = _open(method.value, source, value(runtime), threads)
    base = UNCALIBRATED_METHOD if is_method else UNCALIBRATED
    key = METHOD_PREFIX + method.value if source is None else _sha(source)
    with runtime_:
        gate = fit_gate(clips, runtime_, base, str(data), key, _progress(len(clips)))
    _write(gate, target)
    _print(gate, target)


def _target(source: Path | None, out: Path | None, force: bool, is_method: bool) -> Path:
    """--out, or the sidecar predict reads; never inside the installed package, never over a gate unasked."""
    from edge_rppg.gate import sidecar_path

    if out is not None:
        return out
    if is_method or source is None:
        raise typer.BadParameter("a classic method's gate has no checkpoint to sit beside: give --out")
    if Path(__file__).resolve().parents[1] in source.resolve().parents:
        raise typer.BadParameter(f"{source}: the bundled model ships its gate; give --out for yours")
    target = sidecar_path(source)
    if target.exists() and not force:
        raise EdgeRppgError(f"{target}: already holds this checkpoint's gate; --force replaces it")
    return target


def _sha(path: Path) -> str:
    from edge_rppg.paths import file_sha256

    return file_sha256(path)


def _open(method: str, source: Path | None, runtime: str | None, threads: int | None) -> Runtime:
    from edge_rppg.predict.video import classic_runtime, pick_runtime, resolve_runtime

    if source is None:
        return classic_runtime(method)
    chosen, note = pick_runtime(None, runtime)
    if note:
        say(note)
    return resolve_runtime(source, None, chosen, threads)


def _progress(total: int) -> Callable[[LabelledClip, int, ClipFeatures], None]:
    def report(clip: LabelledClip, done: int, found: ClipFeatures) -> None:
        read = f": nothing read, counted as refused ({found.refused})" if found.refused else ""
        say(f"{done}/{total} {clip.name} ({'pulsed' if clip.pulsed else 'pulseless'}){read}")

    return report


def _write(gate: Gate, target: Path) -> None:
    from edge_rppg.atomic import write_text_atomic

    write_text_atomic(target, gate.to_json())


def _print(gate: Gate, target: Path) -> None:
    s = gate.fitted_on["scores"]
    mae = "-" if s["mae_bpm"] is None else f"{s['mae_bpm']:.2f}"
    console.print(
        f"gate: SQI >= {gate.sqi_min:g}, {gate.pass_fraction:.0%} of windows, "
        f"SNR band +-{gate.snr_half_width_hz:g} Hz, motion <= {gate.motion_max:g} face widths/s"
    )
    console.print(
        f"on these clips: an HR for {s['answered']} of {s['pulsed']} pulsed (MAE {mae} bpm), "
        f"{s['pulseless_accepted']} of {s['pulseless']} pulseless accepted; confidence ECE {s['window_ece']} "
        f"(windows), {s['answer_ece']} (answers)"
    )
    if "note" in s:
        console.print(f"[yellow]note:[/yellow] {s['note']}")
    console.print(f"written: {target}")
