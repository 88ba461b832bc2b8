"""Exports of a checkpoint (or of an ONNX, on the device) for ONNX Runtime, OpenVINO and TensorRT, each verified
against the PyTorch reference before it is moved into place: ``export_model`` and the table of targets (export.py),
the cache predict exports into (cache.py), the formats' own steps (onnx_export, openvino_export, tensorrt_export) and
what an export starts from (sources.py)."""

from edge_rppg.data.windows import CalibrationSource
from edge_rppg.exporters.export import (
    PRECISIONS,
    TARGETS,
    ExportResult,
    Target,
    export_model,
)

__all__ = [
    "PRECISIONS",
    "TARGETS",
    "CalibrationSource",
    "ExportResult",
    "Target",
    "export_model",
]
