"""TensorRT engines on NVIDIA GPUs (RTX/datacenter with TensorRT 10/11, Jetson with JetPack's TensorRT 10).

CUDA buffers and the stream come from torch, so no extra CUDA binding is needed. The engine's JSON
sidecar records the TensorRT version and GPU it was built for; a mismatch is refused with a clear
message instead of TensorRT's opaque deserialisation failure.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.errors import RuntimeUnavailable
from edge_rppg.optional import cuda_device_name, install_hint
from edge_rppg.runtimes.base import BaseRuntime, RuntimeOptions

# TensorRT proper first; TensorRT-RTX (same Python API, builds without a GPU) as the fallback.
TENSORRT_MODULES = ("tensorrt", "tensorrt_rtx")


def import_tensorrt() -> Any:
    errors = []
    for name in TENSORRT_MODULES:
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
    raise RuntimeUnavailable(
        "TensorRT is not installed ("
        + "; ".join(errors)
        + f"); {install_hint('tensorrt')} (NVIDIA GPU) or {install_hint('tensorrt-rtx')}"
    )


def sidecar_path(engine_path: Path) -> Path:
    return engine_path.with_suffix(engine_path.suffix + ".json")


class TensorRtRuntime(BaseRuntime):
    name = "tensorrt"

    def __init__(self, model_path: Path, options: RuntimeOptions = RuntimeOptions()):
        import torch

        trt = import_tensorrt()
        gpu = cuda_device_name()
        if gpu is None:
            raise RuntimeUnavailable("TensorRT engines run on an NVIDIA GPU and no CUDA device is visible here")
        self.model_path = Path(model_path)
        meta = json.loads(sidecar_path(self.model_path).read_text()) if sidecar_path(self.model_path).exists() else {}
        if meta and (meta.get("tensorrt") != trt.__version__ or meta.get("gpu") != gpu):
            raise RuntimeUnavailable(
                f"{self.model_path}: engine built for TensorRT {meta.get('tensorrt')} on {meta.get('gpu')}, "
                f"this machine has TensorRT {trt.__version__} on {gpu}; rebuild it here"
            )
        self.meta = meta
        self.precision = meta.get("precision", "fp32")
        self._trt, self._torch = trt, torch
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(self.model_path.read_bytes())
        if self.engine is None:
            raise RuntimeUnavailable(
                f"{self.model_path}: TensorRT could not deserialize this engine (wrong version or GPU?)"
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self._gpu = gpu
        self.device = "cuda"
        batch = int(self.engine.get_tensor_shape(self.input_name)[0])
        self.channels = int(self.engine.get_tensor_shape(self.input_name)[1])
        self.static_batch = batch if batch > 0 else None  # -1: a dynamic-batch engine

    def _run(self, frames: np.ndarray) -> np.ndarray:
        torch = self._torch
        x = torch.from_numpy(frames).cuda()
        self.context.set_input_shape(self.input_name, tuple(x.shape))
        out = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=torch.float32, device="cuda")
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, out.data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        stream.synchronize()
        return np.asarray(out.cpu().numpy())

    def _release(self) -> None:
        self.context = self.engine = None  # TensorRT frees the context, then the engine, with their references

    def describe(self) -> dict[str, Any]:
        return {"tensorrt": self._trt.__version__, "gpu": self._gpu, "precision": self.precision}
