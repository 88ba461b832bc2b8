"""TensorRT: a real engine build wherever a TensorRT builder imports; running it needs an NVIDIA GPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from edge_rppg.runtimes import get_runtime

HAS_BUILDER = any(importlib.util.find_spec(m) for m in ("tensorrt", "tensorrt_rtx"))
GPU_REASON = get_runtime("tensorrt").unavailable_reason()


@pytest.mark.skipif(
    not HAS_BUILDER, reason="neither tensorrt nor tensorrt_rtx is installed (pip install edge-rppg[tensorrt-rtx])"
)
@pytest.mark.parametrize("dynamic", [False, True])
def test_engine_builds_from_the_onnx_graph(
    onnx_fp32: Path, fsam_checkpoint: Path, tmp_path: Path, dynamic: bool
) -> None:
    from edge_rppg.exporters import export_model
    from edge_rppg.exporters.tensorrt_export import build_engine

    source = onnx_fp32
    if dynamic:
        source = tmp_path / "dyn.onnx"
        export_model(fsam_checkpoint, "onnx", "fp32", source, dynamic_batch=True)
    engine = tmp_path / "m.engine"
    sidecar = build_engine(
        source, engine, dynamic_batch=dynamic, timing_cache=tmp_path / "t.cache", metadata={"precision": "fp32"}
    )
    assert engine.stat().st_size > 100_000
    on_disk = json.loads((tmp_path / "m.engine.json").read_text())
    assert on_disk == sidecar and sidecar["precision"] == "fp32" and sidecar["layers"] > 24
    assert (tmp_path / "t.cache").stat().st_size > 0
    # The plan is plain TensorRT bytes: no metadata prepended (trtexec and Polygraphy must load it).
    assert engine.read_bytes()[:1] != b"{"


TRAINED = Path(__file__).parent / "assets" / "synthetic_fsam.pt"


@pytest.mark.gpu
@pytest.mark.skipif(GPU_REASON is not None, reason=f"TensorRT runtime unavailable: {GPU_REASON}")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_tensorrt_engine_builds_runs_and_verifies_on_gpu(tmp_path: Path, precision: str) -> None:
    from edge_rppg.agreement import TOLERANCES
    from edge_rppg.exporters import export_model

    result = export_model(TRAINED, "tensorrt", precision, tmp_path / f"m_{precision}.engine")
    assert result.precision == precision and result.verification is not None
    v, tol = result.verification, TOLERANCES[precision]
    assert v.bvp_pearson >= tol.min_pearson and v.hr_abs_diff_bpm <= tol.max_hr_diff_bpm
    runtime = get_runtime("tensorrt").open(result.path)
    y = runtime.run(np.random.rand(4, 3, 161, 72, 72).astype(np.float32) * 255)  # batch 4 on a batch-1 engine: chunked
    assert y.shape == (4, 160) and runtime.static_batch == 1  # type: ignore[attr-defined]


@pytest.mark.gpu
@pytest.mark.skipif(GPU_REASON is not None, reason=f"TensorRT runtime unavailable: {GPU_REASON}")
def test_stale_engine_is_refused_in_one_line(tmp_path: Path) -> None:
    from edge_rppg.errors import RuntimeUnavailable
    from edge_rppg.exporters import export_model

    result = export_model(TRAINED, "tensorrt", "fp32", tmp_path / "m.engine")
    sidecar = Path(result.path + ".json")
    meta = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({**meta, "tensorrt": "0.0.1"}))
    with pytest.raises(RuntimeUnavailable, match=r"engine built for TensorRT 0.0.1.*rebuild it here"):
        get_runtime("tensorrt").open(result.path)
