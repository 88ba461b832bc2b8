"""Runtimes by name and by file suffix: one table, no if/elif ladder."""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_rppg.errors import EdgeRppgError, RuntimeUnavailable
from edge_rppg.optional import cuda_device_name, install_hint
from edge_rppg.runtimes.base import Runtime, RuntimeOptions
from edge_rppg.runtimes.tensorrt_runtime import TENSORRT_MODULES

# A module whose distribution on PyPI has another name.
DISTRIBUTIONS = {"tensorrt_rtx": "tensorrt-rtx"}


@dataclass(kw_only=True, frozen=True)
class RuntimeSpec:
    name: str
    suffixes: tuple[str, ...]
    entry: str  # "module:Class"
    requires: tuple[str, ...]  # any one of these Python modules
    extra: str  # "" for a base dependency
    needs_cuda: bool = False
    # --runtime auto takes it only on these CPU architectures (empty: any); an explicit --runtime runs anywhere.
    auto_machines: tuple[str, ...] = ()

    def unavailable_reason(self) -> str | None:
        """None when this runtime can run here, else why not (for bench's 'skipped: why')."""
        if not any(importlib.util.find_spec(m) is not None for m in self.requires):
            return f"{' or '.join(self.requires)} not installed ({install_hint(self.extra)})"
        if self.needs_cuda and cuda_device_name() is None:
            return "no NVIDIA GPU (CUDA) on this machine"
        return None

    def version(self) -> str | None:
        """The installed version of the first of ``requires`` that is here, read without importing it."""
        for module in self.requires:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                return importlib.metadata.version(DISTRIBUTIONS.get(module, module))
        return None

    def open(self, model_path: str | Path, options: RuntimeOptions = RuntimeOptions()) -> Runtime:
        reason = self.unavailable_reason()
        if reason:
            raise RuntimeUnavailable(f"runtime {self.name}: {reason}")
        path = Path(model_path)
        if not path.exists():
            raise EdgeRppgError(f"{path}: no such model file")
        if not path.is_file():
            raise EdgeRppgError(f"{path}: is not a model file (a folder, pipe or device)")
        if path.suffix not in self.suffixes:
            raise EdgeRppgError(
                f"{path}: runtime {self.name} opens {', '.join(self.suffixes)} files, not {path.suffix or 'this file'}"
            )
        if path.suffix == ".xml" and not path.with_suffix(".bin").exists():
            raise EdgeRppgError(f"{path}: its weights {path.with_suffix('.bin').name} are missing beside it")
        module, cls = self.entry.split(":")
        runtime_class: Callable[[Path, RuntimeOptions], Runtime] = getattr(importlib.import_module(module), cls)
        try:
            return runtime_class(path, options)
        except EdgeRppgError:
            raise
        except Exception as exc:  # a file the runtime cannot parse: one line, not a traceback
            raise EdgeRppgError(f"{path}: {self.name} cannot open it ({_first_words(exc)})") from None


def _first_words(exc: Exception) -> str:
    """The first line of a runtime's error that says something: OpenVINO's begins with its source locations."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("Exception from src/")]
    return lines[0][:300] if lines else type(exc).__name__


RUNTIMES: dict[str, RuntimeSpec] = {
    spec.name: spec
    for spec in (
        RuntimeSpec(
            name="torch",
            suffixes=(".pt", ".pth"),
            entry="edge_rppg.runtimes.torch_runtime:TorchRuntime",
            requires=("torch",),
            extra="train",
        ),
        RuntimeSpec(
            name="onnxruntime",
            suffixes=(".onnx",),
            entry="edge_rppg.runtimes.onnxruntime_runtime:OnnxRuntime",
            requires=("onnxruntime",),
            extra="",
        ),
        RuntimeSpec(
            name="openvino",
            suffixes=(".xml", ".onnx"),
            entry="edge_rppg.runtimes.openvino_runtime:OpenVinoRuntime",
            requires=("openvino",),
            extra="openvino",
            # Its CPU plugin is the fastest runtime on x86 (2.4x PyTorch eager here, README "Measured here").
            auto_machines=("x86_64", "amd64", "i686", "x86"),
        ),
        RuntimeSpec(
            name="tensorrt",
            suffixes=(".engine", ".plan"),
            entry="edge_rppg.runtimes.tensorrt_runtime:TensorRtRuntime",
            requires=TENSORRT_MODULES,
            extra="tensorrt",
            needs_cuda=True,
        ),
    )
}


AUTO = "auto"
AUTO_PREFERENCE = ("tensorrt", "openvino", "onnxruntime", "torch")  # --runtime auto: the first that runs here


def auto_runtime(suffix: str | None = None) -> tuple[str, str]:
    """The runtime ``--runtime auto`` picks, and why, in words. ``suffix``: only runtimes that open such a file
    (an exported model); None: any (a checkpoint is exported for it)."""
    skipped: list[str] = []
    for name in AUTO_PREFERENCE:
        spec = RUNTIMES[name]
        if suffix is not None and suffix not in spec.suffixes:
            continue
        reason = spec.unavailable_reason()
        machine = platform.machine().lower()
        if reason is None and spec.auto_machines and machine not in spec.auto_machines:
            reason = f"auto takes it on {'/'.join(spec.auto_machines[:2])} only, this CPU is {machine}"
        if reason is None:
            return name, "; ".join([*skipped, f"{name}: available"])
        skipped.append(f"{name}: {reason}")
    raise RuntimeUnavailable(f"no runtime here opens {suffix or 'a checkpoint'}: " + "; ".join(skipped))


def get_runtime(name: str) -> RuntimeSpec:
    try:
        return RUNTIMES[name]
    except KeyError:
        raise EdgeRppgError(f"unknown runtime {name!r}; choose from {', '.join(RUNTIMES)}") from None


def runtimes_for(path: str | Path) -> list[RuntimeSpec]:
    """Runtimes that open this file, preferred first."""
    return [spec for spec in RUNTIMES.values() if Path(path).suffix in spec.suffixes]


def open_runtime(
    model_path: str | Path, runtime: str | None = None, options: RuntimeOptions = RuntimeOptions()
) -> Runtime:
    """Open a model file on the named runtime, or on the first runtime that opens its suffix."""
    if runtime is not None:
        return get_runtime(runtime).open(model_path, options)
    specs = runtimes_for(model_path)
    if not specs:
        raise EdgeRppgError(f"{model_path}: no runtime opens {Path(model_path).suffix or 'files without a suffix'}")
    return specs[0].open(model_path, options)


__all__ = [
    "AUTO",
    "AUTO_PREFERENCE",
    "RUNTIMES",
    "Runtime",
    "RuntimeOptions",
    "RuntimeSpec",
    "auto_runtime",
    "get_runtime",
    "open_runtime",
    "runtimes_for",
]
