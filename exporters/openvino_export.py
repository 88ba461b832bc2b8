"""OpenVINO IR (xml/bin) for Intel CPUs, converted from the ONNX graph.

Converting the ONNX (not the torch module) keeps InstanceNorm as OpenVINO's fused MVN; the torch
frontend cannot convert the frame difference and the FX path splits the norm into ~10 ops (1.8x slower).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_rppg.runtimes.base import require


def _convert(onnx_path: Path, metadata: dict[str, str]):  # type: ignore[no-untyped-def]
    ov = require("openvino", "openvino", "OpenVINO export")
    model = ov.convert_model(str(onnx_path))
    for key, value in metadata.items():
        model.set_rt_info(value, ["model_info", key])
    return ov, model


def export_ir(onnx_path: Path, xml_path: Path, metadata: dict[str, str], precision: str, calibration: np.ndarray | None) -> Path:
    """fp32: weights kept FP32 (save_model compresses to FP16 by default: error 2.5e-5 -> 1.5e-3);
    fp16: weights stored FP16; int8: NNCF post-training quantization with the subtraction left in FP32."""
    ov, model = _convert(onnx_path, metadata)
    if precision == "int8":
        nncf = require("nncf", "openvino", "INT8 export")
        assert calibration is not None
        dataset = nncf.Dataset(list(calibration), lambda w: np.ascontiguousarray(w[None], dtype=np.float32))
        model = nncf.quantize(
            model,
            dataset,
            preset=nncf.QuantizationPreset.MIXED,
            subset_size=len(calibration),
            # Quantizing the temporal difference drops BVP correlation to ~0.97; excluding it gives 0.999.
            ignored_scope=nncf.IgnoredScope(types=["Subtract"]),
        )
        for key, value in metadata.items():
            model.set_rt_info(value, ["model_info", key])
    ov.save_model(model, str(xml_path), compress_to_fp16=(precision == "fp16"))
    return xml_path
