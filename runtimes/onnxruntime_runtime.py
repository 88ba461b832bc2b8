"""ONNX Runtime: CPU by default, CUDA when onnxruntime-gpu and a GPU are there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.optional import require
from edge_rppg.runtimes.base import BaseRuntime, RuntimeOptions


class OnnxRuntime(BaseRuntime):
    name = "onnxruntime"

    def __init__(self, model_path: Path, options: RuntimeOptions = RuntimeOptions()):
        ort = require("onnxruntime", "the onnxruntime runtime")
        self.model_path = Path(model_path)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if options.threads:
            so.intra_op_num_threads = options.threads
        if options.shares_cores:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"]
        if options.device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self.session = ort.InferenceSession(str(self.model_path), so, providers=providers)
        self.device = "cuda" if self.session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        self.meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.precision = self.meta.get("precision", "fp32")
        self._threads = options.threads
        self._ort_version = ort.__version__
        batch, self.channels = self.session.get_inputs()[0].shape[:2]
        self.static_batch = batch if isinstance(batch, int) else None

    def _run(self, x: np.ndarray) -> np.ndarray:
        (out,) = self.session.run([CONTRACT.output_name], {CONTRACT.input_name: x})
        return np.asarray(out, dtype=np.float32)

    def _release(self) -> None:
        self.session = None  # the session's memory goes with its last reference

    def describe(self) -> dict[str, Any]:
        return {
            "onnxruntime": self._ort_version,
            "providers": self.session.get_providers(),
            "threads": self._threads or "auto",
        }
