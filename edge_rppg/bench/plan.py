"""What ``bench`` will run: every (runtime, model file) pairing the user asked for, and the models it builds.

A runtime the user names with no ``--model`` file that it opens (and every runtime of ``--runtime all`` when no
``--model`` is given) is benched on the export of ``--weights`` for it, at each ``--precision``: made once,
verified as ``export`` verifies it, and cached (``exporters.cache``). A build that fails its own verification is
a failed row, judged ``fail``; a runtime that cannot run here is a skipped row with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_rppg.errors import EdgeRppgError, RuntimeUnavailable
from edge_rppg.optional import install_hint, torch_installed
from edge_rppg.runtimes import RUNTIMES, get_runtime

REFERENCE = "torch"
ALL = "all"


@dataclass(frozen=True, kw_only=True)
class Planned:
    """One row to come: a model file on a runtime, or why there is none."""

    runtime: str
    path: Path | None = None
    precision: str = "-"
    skipped: str | None = None  # cannot run here: not an error
    failed: str | None = None  # its build failed (its own verification included): an error
    built: bool = False  # exported by bench from --weights (cached), not given with --model


def expand_runtimes(names: list[str]) -> list[str]:
    """The runtimes to run: "all" is every runtime in the table; the reference always runs first."""
    expanded = list(RUNTIMES) if ALL in names else list(dict.fromkeys(names))
    return expanded if REFERENCE in expanded else [REFERENCE, *expanded]


def _opens(name: str, models: list[Path]) -> list[Path]:
    return [m for m in models if m.suffix in get_runtime(name).suffixes]


def runtimes_to_build(requested: list[str], models: list[Path]) -> list[str]:
    """Runtimes benched on a build of --weights: each named one with no --model file it opens, and with no
    --model at all, every one of "all"."""
    named = [n for n in dict.fromkeys(requested) if n != ALL]
    implied = [n for n in RUNTIMES if ALL in requested and not models]
    return [n for n in dict.fromkeys([*named, *implied]) if n != REFERENCE and not _opens(n, models)]


def build_source(weights: Path | None) -> tuple[Path | None, str]:
    """(what the builds are exported from, or None and why not): the checkpoint where PyTorch is here; on a device
    without it, an FP32 ONNX with its reference set (the export path that needs no PyTorch)."""
    if weights is None:
        return None, "no --weights"
    if torch_installed():
        return weights, ""
    from edge_rppg.reference_set import path_for
    from edge_rppg.weights import bundled_onnx

    onnx = bundled_onnx(weights)
    if onnx is None:
        return None, f"{weights.name} needs PyTorch ({install_hint('train')})"
    if not path_for(onnx).exists():  # 7-8 MB of windows: not shipped in the package
        return None, (
            f"{onnx.name} is installed without its reference set; export on a workstation and bench the copy here "
            "(README: on the device)"
        )
    return onnx, ""


def build(runtime: str, precision: str, source: tuple[Path | None, str], progress: Callable[[str], None]) -> Planned:
    """The cached, verified export of ``source`` for ``runtime`` at ``precision``, as a planned row."""
    from edge_rppg.exporters.cache import cache_path, cached_export, target_for

    target = target_for(runtime)
    row = Planned(runtime=runtime, precision=precision, built=True)
    if precision not in target.precisions:
        return _as(row, skipped=f"{target.name} exports take {', '.join(target.precisions)}, not {precision}")
    origin, why_not = source
    if origin is None:
        return _as(row, skipped=f"no --model file for {runtime}, and nothing to build one from: {why_not}")
    reason = get_runtime(runtime).unavailable_reason()
    if reason is not None:
        return _as(row, skipped=reason)
    out = cache_path(origin, runtime, precision)
    said = f"bench: building the {precision} {runtime} model of {origin.name} (verified, then cached)"
    try:
        path = cached_export(origin, runtime, precision, on_build=lambda _path: progress(said))
    except RuntimeUnavailable as exc:  # e.g. bf16 on a CPU that does not compute it
        return _as(row, skipped=str(exc))
    except EdgeRppgError as exc:  # the export's own verification refused it: the runtime fails the check
        return _as(row, path=out, failed=str(exc).removeprefix(f"{out}: "))
    return Planned(runtime=runtime, path=path, precision=precision, built=True)


def _as(row: Planned, path: Path | None = None, **why: str) -> Planned:
    return Planned(runtime=row.runtime, path=path, precision=row.precision, built=True, **why)


def builds(
    requested: list[str],
    models: list[Path],
    weights: Path | None,
    precisions: list[str],
    progress: Callable[[str], None] = lambda _: None,
) -> list[Planned]:
    """Every build the request implies, in runtime then precision order."""
    source = build_source(weights)
    return [build(n, p, source, progress) for n in runtimes_to_build(requested, models) for p in precisions]


def plan(names: list[str], models: list[Path], weights: Path | None, built: list[Planned]) -> list[Planned]:
    """Every row in order: the live reference on its checkpoint, each --model file on each runtime that opens it,
    and the builds."""
    rows: list[Planned] = []
    for name in names:
        files = [weights] if name == REFERENCE and weights is not None else _opens(name, models)
        mine = [b for b in built if b.runtime == name]
        unavailable = get_runtime(name).unavailable_reason()
        if not files and not mine and name != REFERENCE:
            suffixes = "/".join(get_runtime(name).suffixes)
            rows.append(Planned(runtime=name, skipped=unavailable or f"no model file for {name} (--model {suffixes})"))
        rows.extend(Planned(runtime=name, path=f, skipped=unavailable) for f in files)
        rows.extend(mine)
    return rows
