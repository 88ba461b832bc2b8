"""Checkpoints: edge-rppg's own format and the authors' released state dicts, for every model family.

Authors' files are plain state dicts saved from ``nn.DataParallel`` (every key starts with ``module.``).
The family is recognised by its first convolution's key, the input channels by that weight's shape,
and what only the file name says (residual, transform) by ``models.authors``. The reference loads them
with ``strict=False``, which silently keeps random weights on any key mismatch; we load strictly and
name the mismatching keys.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from edge_rppg import run_dir
from edge_rppg.atomic import atomic_path
from edge_rppg.errors import CheckpointError
from edge_rppg.models.registry import DEFAULT_FAMILY, FAMILIES, Family, family_of, family_of_state, get_family
from edge_rppg.paths import file_sha256

if TYPE_CHECKING:
    from edge_rppg.models.registry import Model

FORMAT = "edge-rppg/1"


@dataclass(kw_only=True)
class CheckpointInfo:
    """What a checkpoint says about itself; shown by ``edge-rppg info`` and carried into export metadata."""

    path: str
    format: str
    sha256: str
    arch: str = DEFAULT_FAMILY
    trained_on: str | None = None
    variant: str | None = None
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(
    path: str | Path,
    model: Model,
    *,
    train_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    trained_on: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write weights + model config + training config + metrics, atomically."""
    payload = {
        "format": FORMAT,
        "arch": model.family,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_config": train_config or {},
        "metrics": metrics or {},
        "trained_on": trained_on,
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def _read(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own text advises weights_only=False, which would run whatever code the file carries.
        _training_state(path)
        raise CheckpointError(
            f"{path}: not a checkpoint of tensors (it holds other Python objects, or is no checkpoint at all); "
            "nothing in it was run"
        ) from None
    except Exception as exc:  # torch raises many types for corrupt/foreign files
        _training_state(path)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({first})") from None
    if isinstance(payload, dict) and "optimizer" in payload:
        _training_state(path)
    return payload


def _training_state(path: Path) -> None:
    """A run's last.pt holds its training state as well (optimizer, RNG): pointed to the run's weights."""
    if path.name == run_dir.LAST:
        best = path.parent / run_dir.BEST
        hint = f"; give {best} (or --run {path.parent})" if best.is_file() else ""
        raise CheckpointError(f"{path}: a training state for --resume, not weights{hint}")


def _load_strict(path: Path, model: Model, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in set(state) & set(expected)
        if tuple(state[k].shape) != tuple(expected[k].shape)
    )
    problems = []
    if missing:
        problems.append(f"missing keys {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_short(unexpected)}")
    if wrong_shape:
        problems.append(f"shape mismatch {_short(wrong_shape)}")
    if problems:
        raise CheckpointError(f"{path}: not a valid {family_of(model).title} checkpoint: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def _short(items: list[str], limit: int = 4) -> str:
    head = ", ".join(items[:limit])
    return f"[{head}{', ...' if len(items) > limit else ''}] ({len(items)})"


def _family_check(path: Path, found: Family, arch: str | None) -> None:
    if arch is not None and arch != found.name:
        wanted = get_family(arch).title
        raise CheckpointError(
            f"{path}: this checkpoint is {found.title}, not {wanted} (--arch {arch}); leave --arch out or give "
            f"a {wanted} file"
        )


def _load_ours(path: Path, raw: dict[str, Any], sha: str, arch: str | None) -> tuple[Model, CheckpointInfo]:
    family = FAMILIES.get(raw.get("arch", DEFAULT_FAMILY))
    if family is None:
        raise CheckpointError(
            f"{path}: model family {raw.get('arch')!r} is not one of {', '.join(FAMILIES)} (a newer edge-rppg?)"
        )
    _family_check(path, family, arch)
    try:
        model = family.from_config(raw["model_config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: corrupt edge-rppg checkpoint ({exc})") from None
    _load_strict(path, model, raw["state_dict"])
    info = CheckpointInfo(
        path=str(path),
        format=FORMAT,
        sha256=sha,
        arch=family.name,
        trained_on=raw.get("trained_on"),
        variant="FSAM" if model.has_fsam else "Base",
        train_config=raw.get("train_config", {}),
        metrics=raw.get("metrics", {}),
    )
    return model.eval(), info


def _load_authors(path: Path, raw: dict[str, torch.Tensor], sha: str, arch: str | None) -> tuple[Model, CheckpointInfo]:
    state = {k.removeprefix("module."): v for k, v in raw.items()}
    family = family_of_state(state)
    if family is None:
        names = " or ".join(f.title for f in FAMILIES.values())
        known = ", ".join(f.first_conv for f in FAMILIES.values())
        raise CheckpointError(
            f"{path}: not a {names} state dict: its keys {_short(sorted(state))} hold none of their first "
            f"convolutions ({known})"
        )
    _family_check(path, family, arch)
    # The reference's CPU-trained models registered the excitation bias; we treat it as the constant 1.0.
    for key in [k for k in state if k == "bias1" or k.endswith(".bias1")]:
        bias1 = state.pop(key).float()
        if not torch.allclose(bias1, torch.ones_like(bias1)):
            raise CheckpointError(f"{path}: {key} = {bias1.flatten()[:1].item():g}; only the constant 1.0 is supported")
    channels = int(state[family.first_conv].shape[1])
    try:
        config, trained_on, variant = family.from_authors_name(path, set(state), channels)
    except ValueError as exc:
        raise CheckpointError(f"{path}: unsupported {family.title} variant ({exc})") from None
    model: Model = family.model(config)
    _load_strict(path, model, state)
    info = CheckpointInfo(
        path=str(path),
        format="authors-state-dict",
        sha256=sha,
        arch=family.name,
        trained_on=trained_on,
        variant=variant,
    )
    return model.eval(), info


def load_checkpoint(path: str | Path, arch: str | None = None) -> tuple[Model, CheckpointInfo]:
    """Load ours or the authors' file into its family's network (FSAM included if the file has it), in eval
    mode. ``arch`` is what the caller assumes: another family's file is then a one-line error."""
    path = Path(path)
    raw = _read(path)
    sha = file_sha256(path)
    if isinstance(raw, dict) and raw.get("format") == FORMAT:
        return _load_ours(path, raw, sha, arch)
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(f"{path}: not a model checkpoint (neither an edge-rppg file nor a state dict)")
    return _load_authors(path, raw, sha, arch)


def load_deploy_model(path: str | Path, arch: str | None = None) -> tuple[Model, CheckpointInfo]:
    """The deployment network of any supported checkpoint (FactorizePhys: FSAM removed)."""
    model, info = load_checkpoint(path, arch)
    return family_of(model).deploy(model), info
