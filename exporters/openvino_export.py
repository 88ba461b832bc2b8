"""OpenVINO IR (xml/bin) for Intel CPUs, converted from the ONNX graph.

Converting the ONNX (not the torch module) keeps InstanceNorm as OpenVINO's fused MVN; the torch
frontend cannot convert the frame difference and the FX path splits the norm into ~10 ops (1.8x slower).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.agreement import Tolerance
from edge_rppg.errors import ExportError
from edge_rppg.optional import require
from edge_rppg.runtimes.openvino_runtime import WEIGHTS_KEY


def _convert(onnx_path: Path, metadata: dict[str, str]) -> tuple[Any, Any]:
    ov = require("openvino", "OpenVINO export")
    model = ov.convert_model(str(onnx_path))
    for key, value in metadata.items():
        model.set_rt_info(value, ["model_info", key])
    return ov, model


@dataclass(kw_only=True, frozen=True)
class Int8Settings:
    """How NNCF quantizes the IR; measured variants are in benchmarks/int8_real_faces.py."""

    preset: str = "MIXED"  # symmetric weights, asymmetric activations: tanh outputs are not centred
    # Quantizing the temporal difference drops BVP correlation to ~0.97; excluding it gives 0.999.
    ignored_types: tuple[str, ...] = ("Subtract",)
    keep_first_norm_fp32: bool = True  # the norm right after the difference sees the ~1 % pulse: r 0.9955 -> 0.9986
    # The convolution that reads it as well: of the 12 kept FP32 one at a time on the realistic corpus's calibration
    # half, the first gained most (worst-window BVP r 0.9922 -> 0.9978 over all guard windows, the next best 0.9934;
    # benchmarks/int8_sensitivity.py). The Q/DQ ONNX for TensorRT keeps the same one (onnx_export.first_convolution).
    keep_first_conv_fp32: bool = True
    fast_bias_correction: bool = True
    # Weights in 7 bits on every layer (NNCF's OverflowFix): a CPU without VNNI multiplies u8 x s8 pairs into
    # saturating 16-bit sums (vpmaddubsw), and full 8-bit weights overflowed them. On this AVX2-only EPYC the bundled
    # model's INT8 went from r 0.9937 (FIRST_LAYER, NNCF's default) to 0.9998 on the synthetic guard windows. The IR
    # does not know which CPU will run it, so the fix is always on.
    overflow_fix: str = "ENABLE"
    # How activation ranges are estimated over the calibration windows (an NNCF RangeEstimatorParametersSet name).
    range_estimator: str = "MEAN_QUANTILE"  # light steps and motion make min-max ranges too wide: r 0.986 -> 0.995
    # Layers (IR friendly names) kept FP32 besides those above: what benchmarks/int8_sensitivity.py finds.
    ignored_names: tuple[str, ...] = ()


INT8 = Int8Settings()


def _convolutions(model: Any) -> list[Any]:
    """The model's convolutions, in graph order."""
    return [op for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"]


def _first_convolution(model: Any) -> list[str]:
    return [op.get_friendly_name() for op in _convolutions(model)[:1]]


def _norm_of_difference(model: Any) -> list[str]:
    """The MVN that normalises the frame difference (FactorizePhys's first InstanceNorm), found by
    following the first Subtract through layout ops; none when no MVN reads it (EfficientPhys's BatchNorm
    is folded into multiplies and adds, and its only MVN is FSAM's, deep in the network)."""
    ops = model.get_ordered_ops()
    frontier = [op for op in ops if op.get_type_name() == "Subtract"][:1]
    while frontier:
        node = frontier.pop()
        for target in (t.get_node() for out in node.outputs() for t in out.get_target_inputs()):
            if target.get_type_name() == "MVN":
                return [target.get_friendly_name()]
            if target.get_type_name() in ("Reshape", "Transpose"):
                frontier.append(target)
    return []


@dataclass(frozen=True)
class AccuracyTarget:
    """What an accuracy-controlled INT8 is scored on while NNCF builds it: windows that are not the guard's
    (the guard stays held out), the PyTorch BVP on them, and the tolerance the score must keep."""

    windows: np.ndarray
    reference: np.ndarray
    tolerance: Tolerance

    def validate(self, compiled: Any, windows: Iterable[np.ndarray]) -> tuple[float, None]:
        out = np.concatenate([np.asarray(compiled(_as_batch(w))[0]).reshape(1, -1) for w in windows])
        return self.tolerance.score(self.tolerance.agreement(self.reference, out)), None


def _as_batch(window: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(window[None], dtype=np.float32)


def quantize_int8(
    model: Any, calibration: np.ndarray, settings: Int8Settings = INT8, accuracy: AccuracyTarget | None = None
) -> Any:
    """NNCF post-training quantization; with ``accuracy``, NNCF's accuracy control reverts the operations that
    cost the score most to FP32 until the score is within the tolerance of the FP32 model's."""
    nncf = require("nncf", "INT8 export")
    from nncf.quantization.advanced_parameters import OverflowFix
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    names = [
        *(_norm_of_difference(model) if settings.keep_first_norm_fp32 else []),
        *(_first_convolution(model) if settings.keep_first_conv_fp32 else []),
        *settings.ignored_names,
    ]
    common: dict[str, Any] = {
        "preset": getattr(nncf.QuantizationPreset, settings.preset),
        "subset_size": len(calibration),
        "fast_bias_correction": settings.fast_bias_correction,
        "advanced_quantization_parameters" if accuracy else "advanced_parameters": nncf.AdvancedQuantizationParameters(
            activations_range_estimator_params=getattr(RangeEstimatorParametersSet, settings.range_estimator),
            overflow_fix=getattr(OverflowFix, settings.overflow_fix),
        ),
        "ignored_scope": nncf.IgnoredScope(types=list(settings.ignored_types), names=names, validate=False),
    }
    nncf.set_log_level(logging.WARNING)
    dataset = nncf.Dataset(list(calibration), _as_batch)
    # NNCF draws progress bars on stdout; keep stdout for results (export --json).
    with contextlib.redirect_stdout(sys.stderr):
        if accuracy is None:
            return nncf.quantize(model, dataset, **common)
        return nncf.quantize_with_accuracy_control(
            model,
            dataset,
            nncf.Dataset(list(accuracy.windows), _as_batch),
            accuracy.validate,
            max_drop=1.0 - accuracy.tolerance.min_pearson,
            drop_type=nncf.DropType.ABSOLUTE,
            **common,
        )


def export_ir(
    onnx_path: Path,
    xml_path: Path,
    metadata: dict[str, str],
    precision: str,
    calibration: np.ndarray | None,
    int8: Int8Settings = INT8,
    accuracy: AccuracyTarget | None = None,
) -> Path:
    """fp32: weights kept FP32 (save_model compresses to FP16 by default: error 2.5e-5 -> 1.5e-3);
    fp16: weights stored FP16; bf16: the FP32 IR, which the runtime compiles to compute in bf16 (its metadata
    says bf16: runtimes.openvino_runtime.MODEL_HINTS); int8: NNCF post-training quantization with the
    subtraction left in FP32."""
    ov, model = _convert(onnx_path, metadata)
    if precision == "int8":
        assert calibration is not None
        model = quantize_int8(model, calibration, int8, accuracy)
        for key, value in metadata.items():
            model.set_rt_info(value, ["model_info", key])
    ov.save_model(model, str(xml_path), compress_to_fp16=(precision == "fp16"))
    _seal(ov, model, xml_path, compress_to_fp16=(precision == "fp16"))
    return xml_path


def _seal(ov: Any, model: Any, xml_path: Path, compress_to_fp16: bool) -> None:
    """Write the sha256 of the weights into the IR itself (``WEIGHTS_KEY``), so that an .xml beside another
    export's .bin (a copy or an export interrupted between its files) is refused on load, never run."""
    from edge_rppg.paths import file_sha256

    digest = file_sha256(xml_path.with_suffix(".bin"))
    model.set_rt_info(digest, ["model_info", WEIGHTS_KEY])
    ov.save_model(model, str(xml_path), compress_to_fp16=compress_to_fp16)
    if file_sha256(xml_path.with_suffix(".bin")) != digest:  # the weights must not change with the metadata
        raise ExportError(f"{xml_path}: OpenVINO wrote other weights on a second save; nothing written")


# Ops that only move data: the TSM's slices/pads/concats sit between a FakeQuantize and its convolution,
# and OpenVINO's low-precision transformations carry the INT8 through them.
_DATA_MOVES = ("StridedSlice", "Slice", "Pad", "Concat", "Reshape", "Transpose")


def _quantized_input(node: Any) -> bool:
    if node.get_type_name() == "FakeQuantize":
        return True
    if node.get_type_name() not in _DATA_MOVES:
        return False
    sources = [node.input_value(i).get_node() for i in range(node.get_input_size())]
    data = [n for n in sources if n.get_type_name() != "Constant"]
    return bool(data) and all(_quantized_input(n) for n in data)


def convolution_names(xml_path: Path) -> list[str]:
    """The IR's convolutions by friendly name, in graph order: what ``Int8Settings.ignored_names`` takes."""
    ov = require("openvino", "OpenVINO")
    return [op.get_friendly_name() for op in _convolutions(ov.Core().read_model(str(xml_path)))]


def cpu_convolution_precisions(xml_path: Path) -> dict[str, str]:
    """Each convolution's precision as this machine's CPU plugin runs it (its runtime model): a quantizer in
    front of a convolution is a request that the plugin's low-precision passes can fail to honour."""
    ov = require("openvino", "OpenVINO")
    runtime_model = ov.Core().compile_model(str(xml_path), "CPU").get_runtime_model()
    infos = [(op.get_friendly_name(), op.get_rt_info()) for op in runtime_model.get_ordered_ops()]
    return {n: i["runtimePrecision"].astype(str) for n, i in infos if i["layerType"].astype(str) == "Convolution"}


def int8_coverage(xml_path: Path) -> dict[str, object]:
    """Convolutions whose activation input is quantized (a FakeQuantize feeds them) vs left in FP32, how many
    of them this machine's CPU plugin runs in INT8, and how many ops of each kind run in FP32 around them."""
    ov = require("openvino", "OpenVINO")
    model = ov.Core().read_model(str(xml_path))
    convs = _convolutions(model)
    fp32 = [op.get_friendly_name() for op in convs if not _quantized_input(op.input_value(0).get_node())]
    on_cpu = cpu_convolution_precisions(xml_path)
    kinds: dict[str, int] = {}
    for op in model.get_ordered_ops():
        kinds[op.get_type_name()] = kinds.get(op.get_type_name(), 0) + 1
    return {
        "convolutions": len(convs),
        "int8_convolutions": len(convs) - len(fp32),
        "fp32_convolutions": fp32,
        "cpu_int8_convolutions": sum(p in ("u8", "i8") for p in on_cpu.values()),
        "cpu_fp32_convolutions": [n for n, p in on_cpu.items() if p not in ("u8", "i8")],
        "fp32_ops": {k: kinds[k] for k in ("MVN", "Subtract", "Tanh", "Sigmoid") if k in kinds},
    }
