"""EfficientPhys + FSAM and the model-family registry: counts, the authors' layout, parity, export, training."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from edge_rppg.cli import app
from edge_rppg.errors import CheckpointError
from edge_rppg.exporters import export_model
from edge_rppg.models import FAMILIES, EfficientPhys, count_macs, count_parameters, get_family
from edge_rppg.models.checkpoints import load_checkpoint, load_deploy_model, save_checkpoint
from edge_rppg.models.efficientphys import temporal_shift
from edge_rppg.runtimes import open_runtime


def _golden(batch: int = 1) -> torch.Tensor:
    """The deterministic §11-style input: no RNG, so reference numbers can be written down."""
    b, c, t, h, w = torch.meshgrid(
        *(torch.arange(n, dtype=torch.float64) for n in (batch, 3, 161, 72, 72)), indexing="ij"
    )
    x = (
        128
        + 60 * torch.sin(0.11 * t + 0.05 * h + 0.07 * w + 1.3 * c + 0.5 * b)
        + 3 * torch.sin(2 * np.pi * 1.2 * t / 30 + 0.02 * h)
    )
    return x.float()


def _authors_file(
    tmp_path: Path, name: str = "UBFC-rPPG_EfficientPhys_FSAM.pth", bias1: bool = False
) -> tuple[Path, EfficientPhys]:
    """A state dict in the authors' released layout: DataParallel prefix, BatchNorm stats, num_batches_tracked."""
    torch.manual_seed(3)
    model = get_family("efficientphys").build()
    with torch.no_grad():
        model.batch_norm.running_mean.uniform_(-1, 1)
        model.batch_norm.running_var.uniform_(0.5, 2)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    if bias1:
        state["module.bias1"] = torch.tensor(1.0)
    path = tmp_path / name
    torch.save(state, path)
    return path, model.eval()


def test_parameter_counts_of_every_family_and_channel_count() -> None:
    assert count_parameters(get_family("efficientphys").build()) == 140_655
    fp = get_family("factorizephys")
    assert [count_parameters(fp.build(fsam=False, in_channels=c)) for c in (1, 3, 4)] == [51_408, 51_840, 52_056]
    assert [count_parameters(fp.build(fsam=True, in_channels=c)) for c in (1, 3, 4)] == [51_736, 52_168, 52_384]
    macs = count_macs(get_family("efficientphys").build())
    assert 12.8e9 < macs < 13.0e9 and macs / count_macs(fp.build()) == pytest.approx(4.3, abs=0.1)


def test_authors_layout_loads_strictly_and_reproduces_outputs(tmp_path: Path) -> None:
    path, original = _authors_file(tmp_path, bias1=True)
    state = torch.load(path, weights_only=True)
    assert len(state) == 22 and state["module.batch_norm.num_batches_tracked"].dtype == torch.int64
    model, info = load_checkpoint(path)
    assert (info.arch, info.trained_on, type(model)) == ("efficientphys", "UBFC-rPPG", EfficientPhys)
    x = torch.rand(1, 3, 161, 72, 72) * 255
    with torch.no_grad():
        assert torch.equal(model(x), original(x))
    del state["module.final_dense_2.bias"]
    torch.save(state, path)
    with pytest.raises(
        CheckpointError, match=r"not a valid EfficientPhys checkpoint: missing keys \[final_dense_2.bias\]"
    ):
        load_checkpoint(path)


def test_steady_state_is_the_reference_nmf_after_its_first_call() -> None:
    """Every later reference call factorises 1 x N rows: its NMF returns the row, so the steady state
    (no NMF in the graph) must equal running the literal NMF on those rows."""
    torch.manual_seed(0)
    model = get_family("efficientphys").build().eval()
    shifted = torch.rand(160, 64, 7, 7)
    with torch.no_grad():
        steady, _ = model.feature_factorizer.attention(shifted, None, 6)
        literal, error = model.feature_factorizer.attention(shifted, 1, 6)
    assert float((steady - literal).abs().max() / (steady.max() - steady.min())) < 1e-5
    assert error is not None and float(error) < 1e-3


def test_reference_mode_factorises_once_then_matches_the_deploy_network() -> None:
    torch.manual_seed(1)
    steady = get_family("efficientphys").build().eval()
    reference = EfficientPhys(replace(steady.config, fsam_mode="reference")).eval()
    segment = EfficientPhys(replace(steady.config, fsam_mode="segment")).eval()
    for m in (reference, segment):
        m.load_state_dict(steady.state_dict())
    x = _golden()
    with torch.no_grad():
        first, second, y, y_segment = reference(x), reference(x), steady(x), segment(x)
    assert torch.equal(first, y_segment) and not torch.allclose(first, y, atol=1e-3)
    assert torch.allclose(second, y, atol=1e-5)
    assert get_family("efficientphys").deploy(reference).config.fsam_mode == "steady"


def test_temporal_shift_equals_the_slice_assignment_formula() -> None:
    x = torch.randn(40, 6, 3, 3)
    v = x.view(2, 20, 6, 3, 3)
    expected = torch.zeros_like(v)
    expected[:, :-1, :2] = v[:, 1:, :2]
    expected[:, 1:, 2:4] = v[:, :-1, 2:4]
    expected[:, :, 4:] = v[:, :, 4:]
    assert torch.equal(temporal_shift(x, 20), expected.view(40, 6, 3, 3))


def test_a_window_does_not_depend_on_the_rest_of_its_batch() -> None:
    torch.manual_seed(2)
    model = get_family("efficientphys").build().eval()
    x = torch.rand(2, 3, 161, 72, 72) * 255
    with torch.no_grad():
        assert torch.allclose(model(x)[:1], model(x[:1]), atol=1e-5)


@pytest.fixture(scope="module")
def ep_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(4)
    path = tmp_path_factory.mktemp("ep") / "ep.pt"
    save_checkpoint(path, get_family("efficientphys").build(), trained_on="test")
    return path


@pytest.mark.parametrize("target", ["onnx", "openvino"])
def test_export_round_trip_has_no_scatter_and_verifies(ep_checkpoint: Path, tmp_path: Path, target: str) -> None:
    result = export_model(ep_checkpoint, target, "fp32", tmp_path / f"ep{'.onnx' if target == 'onnx' else '.xml'}")
    assert result.verification is not None and result.verification.max_err_of_range < 1e-5
    onnx_path = tmp_path / "check.onnx"
    export_model(ep_checkpoint, "onnx", "fp32", onnx_path, dynamic_batch=True)
    graph = onnx.load(str(onnx_path))
    ops = {n.op_type for n in graph.graph.node}
    assert "ScatterND" not in ops and {"Pad", "Concat", "BatchNormalization", "Gemm"} <= ops
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["arch"] == "efficientphys" and meta["channels"] == "3"
    runtime = open_runtime(result.path)
    x = np.random.default_rng(0).uniform(0, 255, (3, 3, 161, 72, 72)).astype(np.float32)
    deploy, _ = load_deploy_model(ep_checkpoint)
    with torch.no_grad():
        expected = deploy(torch.from_numpy(x)).numpy()
    assert np.abs(runtime.run(x) - expected).max() < 1e-3


@pytest.mark.parametrize("channels", [1, 4])
def test_thermal_and_rgbt_factorizephys_load_export_and_bench(tmp_path: Path, channels: int) -> None:
    torch.manual_seed(5)
    model = get_family("factorizephys").build(fsam=True, in_channels=channels)
    name = f"iBVP_{'T' if channels == 1 else 'RGBT'}_FactorizePhys_FSAM_Res.pth"
    torch.save({f"module.{k}": v for k, v in model.state_dict().items()}, tmp_path / name)
    loaded, info = load_checkpoint(tmp_path / name)
    assert loaded.config.in_channels == channels and info.trained_on == f"iBVP_{'T' if channels == 1 else 'RGBT'}"
    result = export_model(tmp_path / name, "onnx", "fp32", tmp_path / "m.onnx")
    assert result.verification is not None and result.verification.bvp_pearson > 0.99999
    out = CliRunner().invoke(
        app,
        [
            "bench",
            "--runtime",
            "onnxruntime",
            "--model",
            str(tmp_path / "m.onnx"),
            "--weights",
            str(tmp_path / name),
            "--windows",
            "2",
            "--iterations",
            "1",
            "--rounds",
            "1",
            "--json",
            str(tmp_path / "b.json"),
        ],
    )
    assert out.exit_code == 0, out.output
    rows = {r["runtime"]: r for r in json.loads((tmp_path / "b.json").read_text())["results"]}
    assert rows["onnxruntime"]["status"] == "ok" and rows["onnxruntime"]["agreement"]["bvp_pearson"] > 0.99999


def test_one_epoch_training_then_predict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_rppg.data.synthetic import write_demo_video

    monkeypatch.setenv("EDGE_RPPG_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    out = CliRunner().invoke(
        app,
        [
            "train",
            "--arch",
            "efficientphys",
            "--epochs",
            "1",
            "--synthetic-subjects",
            "2",
            "--synthetic-seconds",
            "8",
            "--workers",
            "1",
            "--out",
            str(run),
        ],
    )
    assert out.exit_code == 0, out.output
    model, info = load_checkpoint(run / "best.pt")
    assert (
        info.arch == "efficientphys"
        and info.train_config["fsam_mode"] == "steady"
        and model.config.fsam_mode == "steady"
    )
    video = tmp_path / "demo.avi"
    write_demo_video(video, 12.0, hr_bpm=80.0)
    j = tmp_path / "p.json"
    # One epoch on two subjects has not learnt the pulse yet: this checks the EfficientPhys path end to end
    # (crop, windows, inference, signal quality); its accuracy is measured by benchmarks/efficientphys_fsam_modes.py.
    out = CliRunner().invoke(app, ["predict", str(video), "--weights", str(run / "best.pt"), "--json", str(j)])
    assert out.exit_code == 0, out.output
    summary = json.loads(j.read_text())
    assert summary["windows"] >= 5 and len(summary["per_window"]) == summary["windows"]
    assert all(np.isfinite(w["sqi"]) for w in summary["per_window"])


def test_a_checkpoint_of_the_other_family_is_one_line(ep_checkpoint: Path) -> None:
    out = CliRunner().invoke(app, ["info", "--arch", "factorizephys", "--weights", str(ep_checkpoint)])
    assert out.exit_code == 1
    assert "this checkpoint is EfficientPhys, not FactorizePhys" in out.output and "Traceback" not in out.output


def test_info_reports_the_family() -> None:
    out = CliRunner().invoke(app, ["info", "--arch", "efficientphys", "--json", "-"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert (
        summary["parameters"] == 140_655
        and summary["arch"] == "efficientphys"
        and summary["input"]["shape"][1:] == [3, 161, 72, 72]
    )
    assert set(FAMILIES) == {"factorizephys", "efficientphys"}


def test_released_checkpoint_goldens() -> None:
    """Numbers of the authors' UBFC EfficientPhys_FSAM on the deterministic input; the authors' code gives
    the same to 1.2e-7 of the output range (steady) and 8e-8 (first call), measured on this machine."""
    from edge_rppg.weights import WeightsError, resolve

    try:
        path, _ = resolve("efficientphys-fsam-ubfc")
    except WeightsError as exc:
        pytest.skip(f"the authors' file is not in the cache ({exc})")
    model, _ = load_checkpoint(path)
    reference = EfficientPhys(replace(model.config, fsam_mode="reference")).eval()
    reference.load_state_dict(model.state_dict())
    with torch.no_grad():
        first, steady = reference(_golden())[0], model(_golden())[0]
    assert steady[:4].tolist() == pytest.approx([0.175375, -0.433763, -1.075892, -3.169787], abs=1e-4)
    assert float(steady.sum()) == pytest.approx(-29.3591, abs=1e-3) and float(steady.std()) == pytest.approx(
        3.77494, abs=1e-4
    )
    assert first[:4].tolist() == pytest.approx([0.597064, -0.048786, -0.888115, -3.247755], abs=1e-4)


def test_int8_keeps_fp32_only_the_norm_that_reads_the_frame_difference(
    ep_checkpoint: Path, openvino_fp32: Path, tmp_path: Path
) -> None:
    import openvino as ov

    from edge_rppg.exporters.openvino_export import _norm_of_difference

    core = ov.Core()
    factorizephys = core.read_model(str(openvino_fp32))
    (name,) = _norm_of_difference(factorizephys)
    first_mvn = next(op for op in factorizephys.get_ordered_ops() if op.get_type_name() == "MVN")
    assert name == first_mvn.get_friendly_name()
    ep = core.read_model(export_model(ep_checkpoint, "openvino", "fp32", tmp_path / "ep.xml").path)
    assert _norm_of_difference(ep) == [] and any(
        op.get_type_name() == "MVN" for op in ep.get_ordered_ops()
    )  # FSAM's norm stays quantizable


def test_int8_coverage_says_which_convolutions_the_cpu_runs_in_int8(ep_checkpoint: Path, tmp_path: Path) -> None:
    """A quantizer in front of a convolution is a request: with EfficientPhys's temporal shift (Slice, Pad, Concat)
    between the quantizers and its 3x3 convolutions, the CPU plugin runs those in FP32 (measured with OpenVINO
    2026.4). The coverage report says so instead of counting them INT8."""
    from edge_rppg.data.synthetic import synthetic_windows
    from edge_rppg.exporters.onnx_export import export_fp32
    from edge_rppg.exporters.openvino_export import cpu_convolution_precisions, export_ir, int8_coverage

    onnx = export_fp32(load_deploy_model(ep_checkpoint)[0], tmp_path / "ep.onnx", {})
    xml = export_ir(onnx, tmp_path / "ep.xml", {}, "int8", synthetic_windows(2, seed=1)[0])
    c = int8_coverage(xml)
    on_cpu = cpu_convolution_precisions(xml)
    assert c["cpu_int8_convolutions"] == sum(p in ("u8", "i8") for p in on_cpu.values()) < c["int8_convolutions"]
    assert set(c["fp32_convolutions"]) <= set(c["cpu_fp32_convolutions"])  # type: ignore[arg-type]
