"""ONNX: the FP32 graph every other target starts from, and its FP16 / INT8 (Q/DQ) variants.

Reduced precision lives in the graph (what strongly typed TensorRT 10.12+/11 needs). In every reduced
mode the input slices, the frame subtraction and the first InstanceNorm stay FP32: subtracting nearly
equal frames in low precision destroys the ~1 % pulse.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx

from edge_rppg.contract import CONTRACT, MAX_DYNAMIC_BATCH

if TYPE_CHECKING:
    from edge_rppg.models.registry import Model

OPSET = 20
# The dynamo exporter logs a warning per missing torchvision op; this model uses none of them.
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)


def export_fp32(
    model: Model, path: Path, metadata: dict[str, str], batch: int = 1, dynamic_batch: bool = False
) -> Path:
    """Trace the deploy model with the dynamo exporter into one self-contained .onnx file."""
    import torch  # here only: FP16 and Q/DQ INT8 from an FP32 ONNX run where PyTorch is not installed

    model = model.eval()
    example = torch.zeros(model.contract.input_shape(batch))
    dynamic_shapes = {"frames": {0: torch.export.Dim("batch", min=1, max=MAX_DYNAMIC_BATCH)}} if dynamic_batch else None
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            (example,),
            dynamo=True,
            input_names=[CONTRACT.input_name],
            output_names=[CONTRACT.output_name],
            dynamic_shapes=dynamic_shapes,
            opset_version=OPSET,
            external_data=False,
            verbose=False,
            report=False,
        )
    assert program is not None  # the dynamo exporter returns a program or raises
    proto = program.model_proto
    write_model(proto, path, metadata)
    return path


def write_model(proto: onnx.ModelProto, path: Path, metadata: dict[str, str]) -> None:
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props}, **metadata})
    onnx.checker.check_model(proto, full_check=True)
    buffer = io.BytesIO()
    onnx.save_model(proto, buffer)
    path.write_bytes(buffer.getvalue())


_NORMS = ("InstanceNormalization", "BatchNormalization")
_LAYOUT_OPS = ("Transpose", "Reshape")


def precision_sensitive_nodes(proto: onnx.ModelProto) -> list[str]:
    """Names of the input slices, the frame subtraction and the first norm that reads it (through the
    layout ops that move frames into the batch axis, in EfficientPhys)."""
    graph = proto.graph
    sub = next(n for n in graph.node if n.op_type == "Sub")
    producers = {out: n for n in graph.node for out in n.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    names = [sub.name] + [producers[i].name for i in sub.input if i in producers and producers[i].op_type == "Slice"]
    frontier = list(sub.output)
    while frontier:
        for n in consumers.get(frontier.pop(), []):
            if n.op_type in _NORMS + _LAYOUT_OPS:
                names.append(n.name)
            if n.op_type in _LAYOUT_OPS:
                frontier.extend(n.output)
    return names


def _convolutions(proto: onnx.ModelProto) -> list[onnx.NodeProto]:
    """The Conv nodes, in graph order (which ONNX keeps topological)."""
    return [n for n in proto.graph.node if n.op_type == "Conv"]


def first_convolution(proto: onnx.ModelProto) -> list[str]:
    """The name of the first Conv node: the one that reads the normalised frame difference."""
    return [n.name for n in _convolutions(proto)[:1]]


def convert_fp16(fp32_path: Path, path: Path, metadata: dict[str, str]) -> Path:
    """Mixed FP16 graph with FP32 inputs/outputs and the temporal difference + first norm in FP32."""
    from onnxconverter_common import float16

    proto = onnx.load(str(fp32_path))
    keep = precision_sensitive_nodes(proto)
    fp16 = float16.convert_float_to_float16(proto, keep_io_types=True, node_block_list=keep, disable_shape_infer=False)
    write_model(fp16, path, metadata)
    return path


class _Windows:
    """ONNX Runtime calibration reader over windows [N, 3, 161, 72, 72]."""

    def __init__(self, windows: Iterable[np.ndarray]):
        self._it = iter(windows)

    def get_next(self) -> dict[str, np.ndarray] | None:
        w = next(self._it, None)
        return None if w is None else {CONTRACT.input_name: np.ascontiguousarray(w[None], dtype=np.float32)}


def quantize_int8_qdq(
    fp32_path: Path, path: Path, metadata: dict[str, str], calibration: np.ndarray, keep_fp32: Sequence[str] = ()
) -> Path:
    """Explicit INT8: symmetric Q/DQ pairs around the convolutions, calibrated on real-looking windows;
    ``keep_fp32`` names convolutions left without Q/DQ (what accuracy control kept FP32 in the IR, whose
    layer names are the ONNX node names), so a strongly typed TensorRT engine runs them in FP32 too.

    Symmetric int8 with zero-point 0 is what TensorRT's explicit quantization accepts. Not a CPU speed
    option: ONNX Runtime runs this graph slower than FP32.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    from edge_rppg.exporters.openvino_export import INT8  # what the IR keeps FP32, the engine keeps too

    proto = onnx.load(str(fp32_path))
    keep = [
        *precision_sensitive_nodes(proto),
        *(first_convolution(proto) if INT8.keep_first_conv_fp32 else []),
        *keep_fp32,
    ]
    tmp = path.with_suffix(".qdq.tmp.onnx")
    try:
        quantize_static(
            str(fp32_path),
            str(tmp),
            _Windows(calibration),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=keep,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
        )
        write_model(onnx.load(str(tmp)), path, metadata)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def int8_coverage(path: Path) -> dict[str, object]:
    """Conv nodes fed by a DequantizeLinear (run INT8 by TensorRT) vs left in FP32."""
    proto = onnx.load(str(path), load_external_data=False)
    producer = {o: n.op_type for n in proto.graph.node for o in n.output}
    convs = _convolutions(proto)
    fp32 = [n.name for n in convs if producer.get(n.input[0]) != "DequantizeLinear"]
    kinds: dict[str, int] = {}
    for n in proto.graph.node:
        kinds[n.op_type] = kinds.get(n.op_type, 0) + 1
    return {
        "convolutions": len(convs),
        "int8_convolutions": len(convs) - len(fp32),
        "fp32_convolutions": fp32,
        "fp32_ops": {k: kinds[k] for k in ("InstanceNormalization", "Sub", "Tanh", "Sigmoid") if k in kinds},
    }
