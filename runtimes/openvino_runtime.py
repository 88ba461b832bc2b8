"""OpenVINO on Intel CPUs (IR .xml, or an .onnx read directly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.errors import EdgeRppgError, RuntimeUnavailable
from edge_rppg.optional import require
from edge_rppg.paths import file_sha256
from edge_rppg.runtimes.base import BaseRuntime, RuntimeOptions

# An IR's metadata field holding the sha256 of its .bin (written by the exporter): the pair is checked on load.
WEIGHTS_KEY = "weights_sha256"

# What the CPU plugin computes in for a model of each precision, unless asked otherwise: a bf16 export is an FP32 IR
# compiled to run in bf16 (its metadata says so); everything else runs as it was verified, in f32.
MODEL_HINTS = {"bf16": "bf16"}


class OpenVinoRuntime(BaseRuntime):
    name = "openvino"

    def __init__(self, model_path: Path, options: RuntimeOptions = RuntimeOptions()):
        ov = require("openvino", "the openvino runtime")
        self.model_path = Path(model_path)
        core = ov.Core()
        model = core.read_model(str(self.model_path))
        self.meta = _rt_info(model)
        _check_weights(self.model_path, self.meta)
        hint = options.precision_hint or MODEL_HINTS.get(self.meta.get("precision", ""), "f32")
        config: dict[str, Any] = {"PERFORMANCE_HINT": options.performance_hint, "INFERENCE_PRECISION_HINT": hint}
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = options.threads
        device = "GPU" if options.device.startswith("gpu") else "CPU"
        if options.shares_cores and device == "CPU":
            config["ENABLE_CPU_PINNING"] = False
        self.compiled = core.compile_model(model, device, config)
        self.request = self.compiled.create_infer_request()
        # Report what actually ran, not what was asked for: the CPU plugin may pick a lower precision.
        # "f32", "bf16", "f16": the element type the CPU plugin runs in, named as PRECISION_HINTS names it
        self.effective_precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.precision = self.meta.get("precision", "fp32")
        self._device = device
        self.device = "cpu" if device == "CPU" else "intel-gpu"
        self._version = ov.get_version()
        batch = model.input(0).get_partial_shape()[0]
        self.channels = model.input(0).get_partial_shape()[1].get_length()
        self.static_batch = batch.get_length() if batch.is_static else None

    def _run(self, x: np.ndarray) -> np.ndarray:
        result = self.request.infer({0: x})
        return np.asarray(result[self.compiled.output(0)], dtype=np.float32).copy()

    def _release(self) -> None:
        self.request = self.compiled = None  # the plugin frees them with the last reference

    def describe(self) -> dict[str, Any]:
        return {
            "openvino": self._version,
            "device": self._device,
            "inference_precision": self.effective_precision,
            "threads": int(self.compiled.get_property("INFERENCE_NUM_THREADS")),
            "pinned": bool(self.compiled.get_property("ENABLE_CPU_PINNING")) if self._device == "CPU" else None,
        }


def _check_weights(xml: Path, meta: dict[str, str]) -> None:
    """The .bin beside an IR is the one it was exported with (IRs exported before the seal carry none)."""
    expected = meta.get(WEIGHTS_KEY)
    if expected and file_sha256(xml.with_suffix(".bin")) != expected:
        raise EdgeRppgError(
            f"{xml.with_suffix('.bin')}: not the weights {xml.name} was exported with (another export's, or one "
            "interrupted between its files); export again"
        )


def _rt_info(model: Any) -> dict[str, str]:
    if not model.has_rt_info(["model_info"]):
        return {}
    return {str(k): v.astype(str) for k, v in model.get_rt_info(["model_info"]).astype(dict).items()}


def cpu_precisions() -> list[str]:
    """What OpenVINO's CPU plugin can compute in here (OPTIMIZATION_CAPABILITIES: FP32, INT8, BF16, FP16...)."""
    ov = require("openvino", "the openvino runtime")
    return [str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")]


def require_cpu_bf16() -> None:
    """bf16 only where the CPU computes it: elsewhere the plugin quietly runs f32 under a bf16 hint."""
    caps = cpu_precisions()
    if "BF16" not in caps:
        raise RuntimeUnavailable(
            f"--precision bf16: this CPU does not compute in bf16 (OpenVINO's CPU capabilities: {', '.join(caps)}); "
            "it needs AVX512-BF16 or AMX"
        )
