"""TensorRT engines, strongly typed: the precision is decided by the ONNX graph (FP32, FP16 or Q/DQ INT8).

TensorRT 11 removed the FP16/INT8 builder flags and calibrators; Jetson's TensorRT 10 (10.12+) accepts
the same strongly typed flow, so one build serves both. Engines stay plain plans (trtexec and Polygraphy
load them); what they were built for goes into a JSON sidecar.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_rppg.contract import CONTRACT, MAX_DYNAMIC_BATCH, InputContract
from edge_rppg.errors import ExportError
from edge_rppg.optional import cuda_device_name
from edge_rppg.runtimes.tensorrt_runtime import import_tensorrt, sidecar_path

WORKSPACE_BYTES = 1 << 30


def trtexec_command(
    onnx_path: Path,
    engine_path: Path,
    dynamic_batch: bool = False,
    max_batch: int = MAX_DYNAMIC_BATCH,
    contract: InputContract = CONTRACT,
) -> str:
    """The equivalent on-device build (e.g. on a Jetson, where trtexec ships with JetPack)."""
    cmd = f"trtexec --onnx={onnx_path} --saveEngine={engine_path} --stronglyTyped"
    cmd += f" --memPoolSize=workspace:{WORKSPACE_BYTES >> 20}"
    if dynamic_batch:
        shape = "x".join(str(d) for d in contract.input_shape(1)[1:])
        name = contract.input_name
        cmd += f" --minShapes={name}:1x{shape} --optShapes={name}:1x{shape} --maxShapes={name}:{max_batch}x{shape}"
    return cmd


def build_engine(
    onnx_path: Path,
    engine_path: Path,
    *,
    dynamic_batch: bool = False,
    max_batch: int = MAX_DYNAMIC_BATCH,
    timing_cache: Path | None = None,
    metadata: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Parse the ONNX, build a strongly typed serialized engine, write it and its sidecar. Returns the sidecar."""
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise ExportError(f"{onnx_path}: TensorRT could not parse the ONNX graph: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    cache_bytes = timing_cache.read_bytes() if timing_cache and timing_cache.exists() else b""
    cache = config.create_timing_cache(cache_bytes)
    config.set_timing_cache(cache, ignore_mismatch=False)
    input_tensor = network.get_input(0)
    if dynamic_batch or input_tensor.shape[0] == -1:
        profile = builder.create_optimization_profile()
        one = (1, *tuple(input_tensor.shape)[1:])  # the graph's own channels and frames
        profile.set_shape(input_tensor.name, one, one, (max_batch, *one[1:]))
        config.add_optimization_profile(profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ExportError(f"{onnx_path}: TensorRT failed to build an engine (see the TensorRT log above)")
    engine_path.write_bytes(bytes(plan))
    if timing_cache is not None:
        timing_cache.write_bytes(bytes(cache.serialize()))
    sidecar = {
        "tensorrt": trt.__version__,
        "tensorrt_module": trt.__name__,
        "gpu": cuda_device_name(),
        "layers": network.num_layers,
        "dynamic_batch": bool(dynamic_batch),
        "max_batch": max_batch if dynamic_batch else int(input_tensor.shape[0]),
        **(metadata or {}),
    }
    sidecar_path(engine_path).write_text(json.dumps(sidecar, indent=2))
    return sidecar
