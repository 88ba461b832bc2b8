"""What every command shares: the consoles, the choices (each built from the table that defines it), the
error mapping, the JSON convention, and how ``--weights`` and outputs are resolved before any work.

Nothing here imports torch, ONNX Runtime, OpenVINO or TensorRT: ``edge-rppg --help`` stays light, and
each command imports what it runs."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import sys
from collections.abc import Callable, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from edge_rppg.bench.records import DEVICES
from edge_rppg.bench.reference import REFERENCES
from edge_rppg.data.readers import READERS, UNLABELLED
from edge_rppg.errors import EdgeRppgError, RuntimeUnavailable
from edge_rppg.exporters import PRECISIONS, TARGETS
from edge_rppg.methods import METHOD_TABLE
from edge_rppg.models.registry import FAMILIES
from edge_rppg.optional import install_hint, missing_package
from edge_rppg.pools import ENGINES
from edge_rppg.runtimes import AUTO, RUNTIMES
from edge_rppg.runtimes.base import PRECISION_HINTS
from edge_rppg.train.config import PRESETS

# Wide tables (bench) must not fold into one-character columns when output goes to a file or CI log.
# A closed stdout (``>&-``) is None here: Rich then writes nowhere, and errors still reach stderr.
# No emoji codes: user text such as "cuda:x:" or a path with ":smile:" in it is printed as typed.
console = Console(width=None if sys.stdout is not None and sys.stdout.isatty() else 160, emoji=False)
err_console = Console(stderr=True, emoji=False)
F = TypeVar("F", bound=Callable[..., Any])
STDOUT = Path("-")  # ``--json -``: the JSON is the command's whole output, on stdout
PLOT_SUFFIXES = (".png", ".pdf", ".svg")


def _choices(name: str, values: Any) -> Any:
    """A closed choice as an Enum of its table's keys: an unknown value is a usage error (exit 2) that
    lists the choices, and a new table entry is a new choice with no CLI change."""
    return Enum(name, {v: v for v in values}, type=str)


TargetName = _choices("TargetName", TARGETS)
PrecisionName = _choices("PrecisionName", PRECISIONS)
RuntimeName = _choices("RuntimeName", RUNTIMES)
AutoRuntimeName = _choices("AutoRuntimeName", [AUTO, *RUNTIMES])
BenchRuntime = _choices("BenchRuntime", [*RUNTIMES, "all"])
DatasetName = _choices("DatasetName", READERS)
LabelledDataset = _choices("LabelledDataset", [k for k in READERS if k not in UNLABELLED])
PrecisionHint = _choices("PrecisionHint", PRECISION_HINTS)
DeviceName = _choices("DeviceName", DEVICES)
ReferenceName = _choices("ReferenceName", REFERENCES)
ArchName = _choices("ArchName", FAMILIES)
FsamModeName = _choices("FsamModeName", dict.fromkeys(m for f in FAMILIES.values() for m in f.fsam_modes))
PresetName = _choices("PresetName", PRESETS)
EngineName = _choices("EngineName", ENGINES)
# The deep model (--weights/--model), or a classic method with no model at all (edge_rppg/methods.py).
MethodName = _choices("MethodName", METHOD_TABLE)
Fallback = _choices("Fallback", ["fp32"])
NoFace = _choices("NoFace", ["skip", "fail"])
Loss = _choices("Loss", ["pearson", "pearson-reference"])


def value(choice: Enum | None) -> Any:
    return None if choice is None else choice.value


def user_errors(fn: F) -> F:
    """EdgeRppgError or a missing optional package: one red line, exit 1; Ctrl-C: exit 130; anything else is a
    bug and keeps its traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _finite_numbers(kwargs)
        try:
            _inputs_readable(kwargs)
            return fn(*args, **kwargs)
        except KeyboardInterrupt:
            # Ctrl-C: nothing half-written (every output is atomic), the shell's convention for SIGINT.
            err_console.print("interrupted: nothing written", highlight=False)
            raise typer.Exit(130) from None
        except ModuleNotFoundError as exc:
            line = missing_package(exc)  # an optional package (torch on a slim install); anything else is a bug
            if line is None:
                raise
            err_console.print(f"[red]error:[/red] {escape(line)}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None
        except EdgeRppgError as exc:
            # User text (paths, key lists, "[tensorrt]" in install hints) is escaped, never read as markup.
            err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _finite_numbers(options: dict[str, Any]) -> None:
    """Every float option is a finite number: NaN and infinities pass Click's ranges (every comparison with NaN is
    false) and would fail, or silently judge nothing, long after the command started. A usage error, exit 2."""
    for name, given in options.items():
        values = given if isinstance(given, (list, tuple)) else (given,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            # Every float option is declared by its parameter's name (none takes another spelling).
            shown = " ".join(str(v) for v in values)
            raise typer.BadParameter(f"--{name.replace('_', '-')} {shown}: give a finite number")


# Every option or argument that names something a command reads (a file, or a folder where one is taken).
INPUT_OPTIONS = ("video", "model", "weights", "from_onnx", "data", "list_file", "calibration_data", "run")


def _inputs_readable(options: dict[str, Any]) -> None:
    """An input that is a FIFO, a socket or a device is refused before any work: opening a FIFO nobody writes
    to blocks forever, and a device yields whatever it yields."""
    for name in INPUT_OPTIONS:
        given = options.get(name)
        for path in given if isinstance(given, list) else [given]:
            if isinstance(path, Path) and path.exists() and not (path.is_file() or path.is_dir()):
                raise EdgeRppgError(f"{path}: not a regular file (a pipe, socket or device); give a file")


def _json_safe(value: Any) -> Any:
    """NaN and infinities (a measure with nothing to measure) as null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def emit_json(path: Path, payload: Any) -> None:
    """``payload`` as one JSON document: one line on stdout for ``-``, else indented, atomically into the file."""
    payload = _json_safe(payload)
    if path == STDOUT:
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    from edge_rppg.atomic import write_text_atomic

    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")
    console.print(f"wrote {path}")


def outputs_writable(inputs: Sequence[Path | int | None] = (), **paths: Path | None) -> None:
    """Every output a command will write, checked before it computes anything: writable, a regular file or none,
    and neither one of ``inputs`` nor another of the outputs."""
    from edge_rppg.atomic import check_distinct, check_writable

    given = {f"--{kind}": path for kind, path in paths.items() if path is not None and path != STDOUT}
    for kind, path in given.items():
        check_writable(path, PLOT_SUFFIXES if kind == "--plot" else None)
    check_distinct(given, [i for i in inputs if isinstance(i, Path)])
    if paths.get("plot") is not None and importlib.util.find_spec("matplotlib") is None:
        hint = install_hint("plot")
        raise RuntimeUnavailable(f"{paths['plot']}: --plot needs matplotlib, which is not installed: {hint}")


def say(note: str) -> None:
    """A note beside the result (what was chosen for the user), dim, on stderr, one line however long."""
    err_console.print(f"[dim]{escape(note)}[/dim]", highlight=False, soft_wrap=True)


def checkpoint(weights: Path | None) -> Path:
    """--weights as given (a file, a released name, ``default``), or the bundled default model, said in one line."""
    from edge_rppg.weights import resolve

    path, note = resolve(weights)
    if note:
        say(note)
    return path


def weights_from(run: Path | None, weights: Path | None) -> Path:
    if run is not None and weights is not None:
        raise typer.BadParameter("give one of --run DIR or --weights PATH|NAME, not both")
    if run is not None:
        from edge_rppg.run_dir import best_checkpoint

        return best_checkpoint(run)
    return checkpoint(weights)


# Options several commands take, declared once.
WeightsOption = Annotated[
    Path | None,
    typer.Option(help="A checkpoint file or a weights name (edge-rppg weights list); default: the bundled model."),
]
RayAddressOption = Annotated[str | None, typer.Option(help="A Ray cluster: auto, or ray://HOST:PORT.")]
ModelOption = Annotated[Path | None, typer.Option(help="An exported model (.onnx, .xml, .engine).")]
# The one --json convention of every command: a path, or - for stdout.
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Write the result as JSON to this file ('-': print it, and nothing else).")
]


def weights_or_model(weights: Path | None, model: Path | None, runtime: str | None) -> tuple[Path | None, Path | None]:
    """(checkpoint, None) or (None, exported model): --model as given, else --weights resolved; the bundled
    model runs from its shipped ONNX where PyTorch is not installed (and not asked for by name)."""
    if model is not None:
        if model.exists() and not model.is_file():
            raise EdgeRppgError(
                f"{model}: is not a model file (a folder, pipe or device); give the .onnx, .xml or .engine"
            )
        return None, model
    from edge_rppg.weights import bundled_onnx

    path = checkpoint(weights)
    onnx = None if runtime == "torch" else bundled_onnx(path)
    if onnx is None:
        return path, None
    say(f"PyTorch is not installed: the bundled model runs from its verified ONNX export ({onnx.name})")
    return None, onnx
