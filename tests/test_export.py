from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from edge_rppg.cli import app
from edge_rppg.contract import CONTRACT
from edge_rppg.errors import EdgeRppgError, RuntimeUnavailable
from edge_rppg.exporters import TARGETS, export_model
from edge_rppg.runtimes import get_runtime


def test_onnx_graph_contract_and_metadata(onnx_fp32: Path, fsam_checkpoint: Path) -> None:
    model = onnx.load(str(onnx_fp32))
    onnx.checker.check_model(model, full_check=True)
    (inp,) = model.graph.input
    (out,) = model.graph.output
    assert inp.name == CONTRACT.input_name and out.name == CONTRACT.output_name
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    assert dims == list(CONTRACT.input_shape(1))
    ops = {n.op_type for n in model.graph.node}
    assert {"Slice", "Sub", "InstanceNormalization", "Conv", "Tanh"} <= ops  # diff + norm inside the graph
    assert not any("fsam" in i.name for i in model.graph.initializer)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["fps"] == "30.0" and meta["window"] == "160" and meta["precision"] == "fp32"
    assert meta["source_checkpoint"] == str(fsam_checkpoint) and len(meta["source_sha256"]) == 64
    assert meta["trained_on"] == "test" and meta["producer"].startswith("edge-rppg")


def test_dynamic_batch_onnx_runs_several_batch_sizes(fsam_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "dyn.onnx"
    result = export_model(fsam_checkpoint, "onnx", "fp32", out, dynamic_batch=True)
    assert result.verification is not None
    session = ort.InferenceSession(str(out))
    for b in (1, 3):
        y = session.run(None, {"frames": np.random.rand(*CONTRACT.input_shape(b)).astype(np.float32) * 255})[0]
        assert y.shape == (b, CONTRACT.window)


def test_fp16_onnx_keeps_the_frame_difference_in_fp32(fsam_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "m_fp16.onnx"
    result = export_model(fsam_checkpoint, "onnx", "fp16", out)
    model = onnx.load(str(out))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    fp16_weights = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert len(fp16_weights) >= 11
    # The Sub node reads the FP32 input slices directly: no Cast between input and subtraction.
    producers = {o: n for n in model.graph.node for o in n.output}
    sub = next(n for n in model.graph.node if n.op_type == "Sub")
    assert all(producers[i].op_type == "Slice" for i in sub.input)
    assert result.verification is not None and result.verification["bvp_pearson"] > 0.999


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_openvino_ir(fsam_checkpoint: Path, tmp_path: Path, precision: str) -> None:
    out = tmp_path / f"m_{precision}.xml"
    result = export_model(fsam_checkpoint, "openvino", precision, out)
    assert out.exists() and out.with_suffix(".bin").exists()
    assert result.verification is not None
    if precision == "fp32":
        assert result.verification["max_abs_err"] <= 1e-3 and result.verification["hr_abs_diff_bpm"] == 0
    runtime = get_runtime("openvino").open(out)
    assert runtime.meta["precision"] == precision and runtime.meta["window"] == "160"  # type: ignore[attr-defined]


def test_fp16_ir_is_about_half_the_fp32_weights(openvino_fp32: Path, fsam_checkpoint: Path, tmp_path: Path) -> None:
    fp16 = tmp_path / "h.xml"
    export_model(fsam_checkpoint, "openvino", "fp16", fp16)
    assert fp16.with_suffix(".bin").stat().st_size < 0.6 * openvino_fp32.with_suffix(".bin").stat().st_size


@pytest.mark.slow
def test_openvino_int8_kept_when_within_the_hr_bound(fsam_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "m_int8.xml"
    result = export_model(fsam_checkpoint, "openvino", "int8", out, calibration_windows=8, int8_max_hr_diff_bpm=1000)
    assert result.precision == "int8" and result.int8_guard is not None and out.exists()
    assert result.verification is not None and result.verification["bvp_pearson"] > 0.99
    import openvino as ov

    ops = {op.get_type_name() for op in ov.Core().read_model(str(out)).get_ops()}
    assert "FakeQuantize" in ops


@pytest.mark.slow
def test_int8_rejected_by_the_hr_guard_keeps_fp32(fsam_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "m_int8.xml"
    result = export_model(fsam_checkpoint, "openvino", "int8", out, calibration_windows=4, int8_max_hr_diff_bpm=-1)
    assert result.precision == "fp32" and "INT8 rejected" in result.note
    assert not out.exists() and Path(result.path).exists() and Path(result.path).name == "m_fp32.xml"


def test_failed_export_leaves_nothing(fsam_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edge_rppg.exporters as ex

    from edge_rppg.agreement import Tolerance

    strict = Tolerance(max_err_of_range=0.0, min_pearson=1.1, max_hr_diff_bpm=0.0)
    monkeypatch.setitem(ex.TOLERANCES, "fp32", strict)
    with pytest.raises(EdgeRppgError, match="disagrees with PyTorch"):
        export_model(fsam_checkpoint, "onnx", "fp32", tmp_path / "x.onnx")
    assert list(tmp_path.iterdir()) == []


def test_tensorrt_without_gpu_fails_at_once_with_trtexec_line(fsam_checkpoint: Path, tmp_path: Path) -> None:
    if get_runtime("tensorrt").unavailable_reason() is None:
        pytest.skip("a GPU with TensorRT is here: the real build runs in test_tensorrt_engine_runs_on_gpu")
    with pytest.raises(RuntimeUnavailable) as err:
        export_model(fsam_checkpoint, "tensorrt", "fp16", tmp_path / "m.engine")
    msg = str(err.value)
    assert "trtexec --onnx=" in msg and "--stronglyTyped" in msg and "--precision fp16" in msg
    assert list(tmp_path.iterdir()) == []


def test_unknown_target_and_bad_suffix(fsam_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(EdgeRppgError, match="unknown target"):
        export_model(fsam_checkpoint, "tflite")
    with pytest.raises(EdgeRppgError, match=r"\.xml file"):
        export_model(fsam_checkpoint, "openvino", "fp32", tmp_path / "m.onnx")


def test_targets_table_names_a_runtime_for_each_target() -> None:
    for target in TARGETS.values():
        assert get_runtime(target.runtime).suffixes.__contains__(target.suffix)


def test_cli_export_json(fsam_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.onnx"
    result = CliRunner().invoke(app, ["export", "--weights", str(fsam_checkpoint), "--target", "onnx", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["path"] == str(out) and report["verification"]["hr_abs_diff_bpm"] == 0
