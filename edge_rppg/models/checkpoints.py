"""Checkpoints: edge-rppg's own format and the authors' released state dicts.

Authors' files are plain state dicts saved from ``nn.DataParallel`` (every key starts with ``module.``),
named ``<TrainSet>_FactorizePhys_<Base|FSAM|FSAM_Res>[_<K-TAB|T-KAB|TK-AB>].pth``. The residual flag and
the transform are not stored in the file, only in its name. The reference loads them with
``strict=False``, which silently keeps random weights on any key mismatch; we load strictly and name
the mismatching keys.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from edge_rppg.atomic import atomic_path
from edge_rppg.errors import CheckpointError
from edge_rppg.models.factorizephys import FactorizePhys, ModelConfig, to_deploy
from edge_rppg.models.fsam import FSAMConfig

FORMAT = "edge-rppg/1"
_FSAM_PREFIX = "rppg_head.fsam."
_AUTHORS_NAME = re.compile(r"^(?P<train>.+?)_FactorizePhys_(?P<variant>Base|FSAM_Res|FSAM)(?P<rest>.*)$")
_TRANSFORM_IN_NAME = {"_K-TAB": "K_TAB", "_T-KAB": "T_KAB", "_TK-AB": "TK_AB"}


@dataclass
class CheckpointInfo:
    """What a checkpoint says about itself; shown by ``edge-rppg info`` and carried into export metadata."""

    path: str
    format: str
    sha256: str
    trained_on: str | None = None
    variant: str | None = None
    train_config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(
    path: str | Path,
    model: FactorizePhys,
    *,
    train_config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    trained_on: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write weights + model config + training config + metrics, atomically."""
    payload = {
        "format": FORMAT,
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
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/foreign files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({first})") from None


def _config_from_authors_name(path: Path, has_fsam_keys: bool) -> tuple[ModelConfig, str | None, str | None]:
    match = _AUTHORS_NAME.match(path.stem)
    trained_on = match.group("train") if match else None
    variant = match.group("variant") if match else None
    if not has_fsam_keys:
        return ModelConfig(), trained_on, variant or "Base"
    transform = "T_KAB"
    rest = match.group("rest") if match else ""
    for tag, name in _TRANSFORM_IN_NAME.items():
        if tag in rest:
            transform = name
    # FSAM_Res is the paper's main model; a file named plain FSAM was trained without the residual.
    residual = variant != "FSAM"
    return ModelConfig(fsam=FSAMConfig(transform=transform, residual=residual)), trained_on, variant or "FSAM_Res"


def _load_strict(path: Path, model: FactorizePhys, state: dict[str, torch.Tensor]) -> None:
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
        raise CheckpointError(f"{path}: not a FactorizePhys checkpoint: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def _short(items: list[str], limit: int = 4) -> str:
    head = ", ".join(items[:limit])
    return f"[{head}{', ...' if len(items) > limit else ''}] ({len(items)})"


def load_checkpoint(path: str | Path) -> tuple[FactorizePhys, CheckpointInfo]:
    """Load ours or the authors' file into a FactorizePhys (with FSAM if the file has it), in eval mode."""
    path = Path(path)
    raw = _read(path)
    sha = file_sha256(path)
    if isinstance(raw, dict) and raw.get("format") == FORMAT:
        try:
            config = ModelConfig.from_dict(raw["model_config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: corrupt edge-rppg checkpoint ({exc})") from None
        model = FactorizePhys(config)
        _load_strict(path, model, raw["state_dict"])
        info = CheckpointInfo(
            path=str(path),
            format=FORMAT,
            sha256=sha,
            trained_on=raw.get("trained_on"),
            variant="FSAM" if config.fsam else "Base",
            train_config=raw.get("train_config", {}),
            metrics=raw.get("metrics", {}),
        )
        return model.eval(), info
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(f"{path}: not a FactorizePhys checkpoint (neither an edge-rppg file nor a state dict)")
    state = {k.removeprefix("module."): v for k, v in raw.items()}
    # The reference's CPU-trained models registered the excitation bias; we treat it as the constant 1.0.
    bias1 = state.pop("rppg_head.bias1", None)
    if bias1 is not None and not torch.allclose(bias1.float(), torch.ones_like(bias1.float())):
        raise CheckpointError(f"{path}: rppg_head.bias1 = {bias1.flatten()[:1].item():g}; only the constant 1.0 is supported")
    has_fsam = any(k.startswith(_FSAM_PREFIX) for k in state)
    config, trained_on, variant = _config_from_authors_name(path, has_fsam)
    model = FactorizePhys(config)
    _load_strict(path, model, state)
    info = CheckpointInfo(path=str(path), format="authors-state-dict", sha256=sha, trained_on=trained_on, variant=variant)
    return model.eval(), info


def load_deploy_model(path: str | Path) -> tuple[FactorizePhys, CheckpointInfo]:
    """The deployment network (FSAM removed) from any supported checkpoint."""
    model, info = load_checkpoint(path)
    return to_deploy(model), info
