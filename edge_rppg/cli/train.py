"""``train``: FactorizePhys or EfficientPhys with FSAM, on a dataset or the built-in synthetic set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from edge_rppg.cli.common import (
    ArchName,
    FsamModeName,
    LabelledDataset,
    Loss,
    NoFace,
    PresetName,
    console,
    outputs_writable,
)
from edge_rppg.models.registry import DEFAULT_FAMILY


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
    ] = Loss("pearson"),
    on_no_face: Annotated[NoFace, typer.Option(help="A video where no face is found.")] = NoFace("skip"),
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
    from edge_rppg import run_dir
    from edge_rppg.train.config import TrainConfig
    from edge_rppg.train.loop import train as run_training

    given = frozenset(k for k in ctx.params if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE")
    options = {k: getattr(v, "value", v) for k, v in ctx.params.items() if k not in ("preset", "resume")}
    cfg = TrainConfig(**options, given=given)
    if preset is not None:
        cfg.apply_preset(preset.value)
    outputs_writable(run=cfg.out / run_dir.CONFIG)  # before the data is prepared: that can take hours
    with _epoch_bar() as progress:
        result = run_training(cfg, resume=resume, log=lambda m: console.print(m, highlight=False), progress=progress)
    if not result.is_main:
        return
    best = result.best_epoch()
    console.print(
        f"[green]done[/green]: {result.run} (best checkpoint {result.best.name}"
        + (f", validation HR MAE {best['val_mae_bpm']:.2f} bpm at epoch {best['epoch']}" if best else "")
        + ")"
    )


@contextmanager
def _epoch_bar() -> Iterator[Callable[[int, int, float], None]]:
    """A progress bar that restarts at each epoch; yields the training loop's progress callback."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("epoch", total=None, loss=float("nan"))
        state = {"epoch": 0}

        def progress(step: int, total: int, mean_loss: float) -> None:
            if step == 1:
                state["epoch"] += 1
                bar.reset(task, total=total, description=f"epoch {state['epoch']}")
            bar.update(task, completed=step, loss=mean_loss)

        yield progress
