"""The ``edge-rppg`` command line: one module per command group, registered here from one table.

Each command parses its options, calls one API function and prints; the error mapping (one red line and
exit 1 for a user's error, 130 on Ctrl-C) is applied here, once, to every command."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from edge_rppg.cli import bench, calibrate, evaluate, export, models, predict, serve, train
from edge_rppg.cli.common import user_errors

app = typer.Typer(add_completion=False, no_args_is_help=True, help="FactorizePhys rPPG from training to the edge.")
weights_app = typer.Typer(
    no_args_is_help=True, help="The authors' released checkpoints by name: list, pull (sha256-verified), path."
)
app.add_typer(weights_app, name="weights")

# (group, command name, function), in the order --help lists them.
COMMANDS: tuple[tuple[typer.Typer, str, Callable[..., Any]], ...] = (
    (app, "info", models.info),
    (app, "check", models.check),
    (weights_app, "list", models.weights_list),
    (weights_app, "pull", models.weights_pull),
    (weights_app, "path", models.weights_path),
    (app, "demo-video", models.demo_video),
    (app, "export", export.export),
    (app, "bench", bench.bench),
    (app, "train", train.train),
    (app, "eval", evaluate.evaluate),
    (app, "predict", predict.predict),
    (app, "calibrate", calibrate.calibrate),
    (app, "serve", serve.serve),
)
for group, name, command in COMMANDS:
    group.command(name=name)(user_errors(command))


@app.callback()
def _root() -> None:
    """FactorizePhys rPPG from training to the edge: train, export, bench, predict, eval."""


__all__ = ["COMMANDS", "app"]
