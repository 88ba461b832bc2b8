"""The ``edge-rppg`` command line: each command parses its options, calls one API function, prints."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from edge_rppg.errors import EdgeRppgError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="FactorizePhys rPPG from training to the edge.")
console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def _root() -> None:
    """FactorizePhys rPPG from training to the edge: train, export, bench, predict, eval."""


def user_errors(fn: F) -> F:
    """Turn EdgeRppgError into one red line and exit code 1; anything else is a bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EdgeRppgError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


@app.command()
@user_errors
def info(
    weights: Annotated[Path | None, typer.Option(help="Checkpoint: ours or the authors' *_FactorizePhys_*.pth.")] = None,
    fsam: Annotated[bool, typer.Option("--fsam", help="Summarise the network with FSAM (training form).")] = False,
    deploy: Annotated[bool, typer.Option("--deploy", help="Summarise the deploy network (FSAM removed).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Architecture, parameters, MACs per window, input contract, and what a checkpoint was trained on."""
    from edge_rppg.info import model_info

    if fsam and deploy:
        raise typer.BadParameter("--fsam and --deploy exclude each other")
    summary = model_info(weights, deploy=deploy, fsam=fsam)
    if as_json:
        sys.stdout.write(json.dumps(summary.to_dict()) + "\n")
        return
    table = Table(title=summary.architecture, show_header=False)
    table.add_row("parameters", f"{summary.parameters:,}")
    table.add_row("MACs / window", f"{summary.macs / 1e9:.3f} G ({summary.gflops:.2f} GFLOP)")
    table.add_row("input", f"{summary.input['name']} {summary.input['shape']} float32 raw RGB 0-255 @ {summary.input['fps']:g} fps")
    table.add_row("output", f"{summary.output['name']} {summary.output['shape']}")
    if summary.fsam:
        table.add_row("FSAM", ", ".join(f"{k}={v}" for k, v in summary.fsam.items()))
    if summary.checkpoint:
        for key in ("path", "format", "variant", "trained_on", "sha256"):
            table.add_row(key, str(summary.checkpoint.get(key)))
        if summary.checkpoint.get("metrics"):
            table.add_row("metrics", json.dumps(summary.checkpoint["metrics"]))
    console.print(table)


def main() -> None:  # pragma: no cover
    app()
