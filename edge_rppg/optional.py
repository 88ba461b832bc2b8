"""Optional dependencies: the pip line that adds each, importing one or saying which extra provides it,
and the one probe for an NVIDIA GPU. At the bottom of the package: runtimes, exporters and ``check``
all read these, so that a hint or a probe is written once."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from edge_rppg.errors import RuntimeUnavailable

# Which extra installs each optional package (module name: extra). The base install has no PyTorch: a command
# that reaches an import of one of these says, in one line, what to install (cli.common.user_errors, require).
EXTRA_OF: dict[str, str] = {
    "torch": "train",
    "onnxscript": "train",
    "h5py": "train",
    "onnx": "onnx",
    "onnxconverter_common": "onnx",
    "matplotlib": "plot",
    "openvino": "openvino",
    "nncf": "openvino",
    "ray": "ray",
    "starlette": "serve",
    "uvicorn": "serve",
}


def install_hint(extra: str) -> str:
    """The pip line that adds a piece: an extra, or the base package for base dependencies."""
    return f"pip install 'edge-rppg[{extra}]'" if extra else "pip install edge-rppg"


def require(module: str, why: str) -> Any:
    """Import an optional dependency, or fail with the extra that provides it (``EXTRA_OF``; a base one if none)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = install_hint(EXTRA_OF.get(module, ""))
        raise RuntimeUnavailable(f"{why} needs the '{module}' package ({exc}); {hint}") from None


def missing_package(exc: ModuleNotFoundError) -> str | None:
    """The one line for an optional package that is not installed, or None for any other missing module (a bug)."""
    top = (exc.name or "").split(".")[0]
    if top not in EXTRA_OF:
        return None
    return f"this needs the '{top}' package, which is not installed: {install_hint(EXTRA_OF[top])}"


def torch_installed() -> bool:
    """Whether PyTorch can be imported here, without importing it (a slim install has none)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except ImportError:  # a finder that refuses torch outright
        return False


def cuda_device_name() -> str | None:
    """The first CUDA device's name, or None (no GPU, or no CUDA build of PyTorch to ask)."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
