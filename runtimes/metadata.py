"""What an exported model says about itself (contract, precision, source checkpoint, reference set hash),
read from the file without compiling it: ONNX ``metadata_props``, OpenVINO ``rt_info``, an engine's sidecar."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from edge_rppg.errors import EdgeRppgError
from edge_rppg.gate import Gate, for_checkpoint, for_exported
from edge_rppg.optional import require
from edge_rppg.paths import file_sha256


def _onnx(path: Path) -> dict[str, str]:
    try:
        import onnx
    except ImportError:  # a slim install: ONNX Runtime (a base dependency) reads the same metadata_props
        return _onnx_by_onnxruntime(path)
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def _onnx_by_onnxruntime(path: Path) -> dict[str, str]:
    ort = require("onnxruntime", "reading an ONNX model's metadata")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # parse, don't compile
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return dict(session.get_modelmeta().custom_metadata_map)


def _openvino(path: Path) -> dict[str, str]:
    ov = require("openvino", "reading an OpenVINO IR's metadata")
    from edge_rppg.runtimes.openvino_runtime import _rt_info

    return _rt_info(ov.Core().read_model(str(path)))


def _engine(path: Path) -> dict[str, str]:
    from edge_rppg.runtimes.tensorrt_runtime import sidecar_path

    sidecar = sidecar_path(path)
    return {k: str(v) for k, v in json.loads(sidecar.read_text()).items()} if sidecar.exists() else {}


READERS: dict[str, Callable[[Path], dict[str, str]]] = {".onnx": _onnx, ".xml": _openvino, ".engine": _engine}


def model_metadata(path: Path) -> dict[str, str]:
    if path.suffix not in READERS:
        raise EdgeRppgError(f"{path}: not an exported model ({', '.join(READERS)})")
    try:
        return READERS[path.suffix](path)
    except EdgeRppgError:
        raise
    except Exception as exc:  # a damaged file: the reader's own message, on one line
        raise EdgeRppgError(
            f"{path}: cannot read its metadata: {str(exc).splitlines()[0] if str(exc) else exc}"
        ) from None


def for_model_file(path: Path) -> Gate:
    """The gate of a model file as a runtime opens it: an export's (from its metadata) or a checkpoint's."""
    if path.suffix in READERS:
        return for_exported(path, model_metadata(path))
    return for_checkpoint(path, file_sha256(path))
