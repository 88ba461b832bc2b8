from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edge_rppg.agreement import TOLERANCES, compare
from edge_rppg.data.synthetic import synthetic_windows
from edge_rppg.errors import EdgeRppgError, RuntimeUnavailable
from edge_rppg.optional import cuda_device_name
from edge_rppg.runtimes import RUNTIMES, RuntimeOptions, get_runtime, open_runtime, runtimes_for


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    return synthetic_windows(2, seed=11)[0]


@pytest.mark.parametrize(
    ("name", "fixture"), [("onnxruntime", "onnx_fp32"), ("openvino", "openvino_fp32"), ("openvino", "onnx_fp32")]
)
def test_runtime_agrees_with_torch(
    name: str, fixture: str, request: pytest.FixtureRequest, fsam_checkpoint: Path, windows: np.ndarray
) -> None:
    model_path = request.getfixturevalue(fixture)
    reference = open_runtime(fsam_checkpoint, "torch").run(windows)
    runtime = get_runtime(name).open(model_path, RuntimeOptions(threads=2))
    out = runtime.run(windows)
    assert out.shape == (2, 160) and out.dtype == np.float32
    a = compare(reference, out)
    assert not TOLERANCES["fp32"].violations(a), a
    assert runtime.describe()["threads"] == 2  # the thread count asked for is the one that ran


def test_openvino_reports_the_precision_that_ran(openvino_fp32: Path) -> None:
    f32 = get_runtime("openvino").open(openvino_fp32, RuntimeOptions(precision_hint="f32")).describe()
    assert f32["inference_precision"] == "f32"


def test_runtime_for_suffix() -> None:
    assert [s.name for s in runtimes_for("m.onnx")] == ["onnxruntime", "openvino"]
    assert [s.name for s in runtimes_for("m.engine")] == ["tensorrt"]


def test_wrong_suffix_and_missing_file(onnx_fp32: Path, tmp_path: Path) -> None:
    with pytest.raises(EdgeRppgError, match=r"opens .xml, .onnx files"):
        get_runtime("openvino").open(_touch(tmp_path / "m.engine"))
    with pytest.raises(EdgeRppgError, match="no such model file"):
        get_runtime("onnxruntime").open(tmp_path / "none.onnx")
    with pytest.raises(EdgeRppgError, match="unknown runtime"):
        get_runtime("tflite")


def _touch(p: Path) -> Path:
    p.write_bytes(b"")
    return p


def test_a_runtime_that_cannot_run_here_says_why_and_what_to_install() -> None:
    missing = replace(RUNTIMES["openvino"], requires=("no_such_module_here",))
    assert missing.unavailable_reason() == "no_such_module_here not installed (pip install 'edge-rppg[openvino]')"
    with pytest.raises(RuntimeUnavailable, match="runtime openvino: no_such_module_here not installed"):
        missing.open("m.xml")
    assert RUNTIMES["onnxruntime"].unavailable_reason() is None  # a base dependency runs everywhere
    tensorrt = RUNTIMES["tensorrt"]
    if any(importlib.util.find_spec(m) for m in tensorrt.requires) and cuda_device_name() is None:
        assert tensorrt.unavailable_reason() == "no NVIDIA GPU (CUDA) on this machine"  # installed, no GPU


@pytest.mark.parametrize(
    ("name", "fixture"), [("torch", "fsam_checkpoint"), ("onnxruntime", "onnx_fp32"), ("openvino", "openvino_fp32")]
)
def test_every_runtime_checks_its_input_and_closes(
    name: str, fixture: str, request: pytest.FixtureRequest, windows: np.ndarray
) -> None:
    """The base class, for every runtime: a window off the contract is one line naming the model (not the
    runtime's own shape error), one window without a batch axis runs, and a closed runtime refuses to run."""
    model_path = request.getfixturevalue(fixture)
    with get_runtime(name).open(model_path) as runtime:
        for bad, why in ((windows[:, :, :160], "not \\[B, 3, 161, 72, 72\\]"), (windows[:, :1], "not \\[B, 3")):
            with pytest.raises(EdgeRppgError, match=why) as err:
                runtime.run(bad)
            assert str(model_path) in str(err.value) and "\n" not in str(err.value)
        assert runtime.run(windows[0]).shape == (1, 160)
        assert runtime.run(windows.astype(np.uint8)).dtype == np.float32  # raw pixels as they come from video
    with pytest.raises(EdgeRppgError, match="was closed"):
        runtime.run(windows)


def test_predict_runs_openvino_unpinned_and_onnxruntime_without_spinning(openvino_fp32: Path, onnx_fp32: Path) -> None:
    # predict's crop thread shares the cores with inference: a pinned or spinning worker holds a core it needs.
    from edge_rppg.predict.video import resolve_runtime

    with resolve_runtime(None, openvino_fp32, "openvino", None) as ov_rt:
        assert ov_rt.describe()["pinned"] is False
    with resolve_runtime(None, onnx_fp32, "onnxruntime", None) as ort_rt:
        options = ort_rt.session.get_session_options()  # type: ignore[attr-defined]
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    if _pins_by_default():  # bench (and eval) keep the plugin's own choice
        with open_runtime(openvino_fp32, "openvino", RuntimeOptions()) as bench_rt:
            assert bench_rt.describe()["pinned"] is True


def _pins_by_default() -> bool:
    import openvino as ov

    return bool(ov.Core().get_property("CPU", "ENABLE_CPU_PINNING"))
