"""``info``, ``check``, ``weights list|pull|path`` and ``demo-video``: what a model is, what this machine runs,
where the authors' weights come from, and a video to try predict on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from edge_rppg.cli.common import (
    STDOUT,
    ArchName,
    JsonOption,
    checkpoint,
    console,
    emit_json,
    outputs_writable,
    value,
)

# demo-video's longest: an hour of frames is written in minutes, a longer one is a typo.
DEMO_MAX_SECONDS = 3600.0


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
    json_path: JsonOption = None,
) -> None:
    """Architecture, parameters, MACs per window, input contract, and what a checkpoint was trained on."""
    from edge_rppg.info import model_info

    if fsam and deploy:
        raise typer.BadParameter("--fsam and --deploy exclude each other")
    outputs_writable([weights], json=json_path)
    summary = model_info(checkpoint(weights) if weights else None, deploy=deploy, fsam=fsam, arch=value(arch))
    if json_path is not None:
        emit_json(json_path, summary.to_dict())
        if json_path == STDOUT:
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


def check(
    json_path: JsonOption = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Also report a Ray cluster: auto, or ray://HOST:PORT.")
    ] = None,
) -> None:
    """What this machine can run (runtimes, GPU, CPU features, Ray) and how to add what is missing."""
    from edge_rppg.check import check as run_check

    outputs_writable(json=json_path)
    report = run_check(ray_address)
    if json_path is not None:
        emit_json(json_path, report.to_dict())
        if json_path == STDOUT:
            return
    console.print(f"edge-rppg {report.edge_rppg}, Python {report.python}, {report.platform}")
    console.print(f"CPU: {report.cpu}; {', '.join(report.cpu_flags) or 'no AVX2/AVX-512/AMX'}")
    gpus = "; ".join(f"{g.name} (compute {g.compute_capability or '?'}, driver {g.driver or '?'})" for g in report.gpus)
    console.print("GPU: " + (gpus or "no NVIDIA GPU (driver not found)"))
    table = Table(show_header=True)
    for col in ("component", "version", "status", "to install"):
        table.add_column(col)
    for c in report.components:
        status = ("[green]ok[/green] " if c.ok else "[yellow]missing[/yellow] ") + escape(c.detail)
        table.add_row(c.name, c.version or "-", status, escape(c.install))
    console.print(table)


def weights_list(json_path: JsonOption = None) -> None:
    """Every released checkpoint: name, file, sha256, licence, and whether it is in the cache."""
    from edge_rppg.weights import LICENSE, RELEASED, base_url

    outputs_writable(json=json_path)
    rows = [e.to_dict() for e in RELEASED.values()]
    if json_path is not None:
        emit_json(json_path, rows)
        if json_path == STDOUT:
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


def weights_pull(
    name: Annotated[str, typer.Argument(help="A name from `edge-rppg weights list` (or its file name).")],
    accept_license: Annotated[
        bool, typer.Option("--accept-license", help="Accept the authors' research-only licence (remembered).")
    ] = False,
) -> None:
    """Download a released checkpoint into the cache, verify its sha256, write it atomically."""
    from edge_rppg.weights import pull

    console.print(str(pull(name, accept_license)))


def weights_path(name: Annotated[str, typer.Argument(help="A weights name, or 'default'.")]) -> None:
    """Where a weights name resolves (exit 1 with the pull command when it is not downloaded)."""
    console.print(str(checkpoint(Path(name))))


def demo_video(
    out: Annotated[Path, typer.Argument(help="Video file to write (.avi or .mp4).")] = Path("demo.avi"),
    seconds: Annotated[float, typer.Option(min=6, max=DEMO_MAX_SECONDS, help="Length.")] = 20.0,
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

    outputs_writable(video=out)
    true_hr = write_demo_video(out, seconds, hr, seed, hard)
    console.print(f"wrote {out}: {seconds:g} s, true heart rate {true_hr:.1f} bpm; try: edge-rppg predict {out}")
