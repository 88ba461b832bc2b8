"""Optional dependencies: the pip line that adds each, importing one or saying which extra provides it,
and the one probe for an NVIDIA GPU. At the bottom of the package: runtimes, exporters and ``check``
all read these, so that a hint or a probe is written once."""

from __future__ import annotations

import importlib
from typing import Any

from edge_rppg.errors import RuntimeUnavailable


def install_hint(extra: str) -> str:
    """The pip line that adds a piece: an extra, or the base package for base dependencies."""
    return f"pip install 'edge-rppg[{extra}]'" if extra else "pip install edge-rppg"


def require(module: str, extra: str, why: str) -> Any:
    """Import an optional dependency, or fail with the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RuntimeUnavailable(f"{why} needs the '{module}' package ({exc}); {install_hint(extra)}") from None


def cuda_device_name() -> str | None:
    """The first CUDA device's name, or None (no GPU, or no CUDA build of PyTorch to ask)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
