from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge_rppg.agreement import TOLERANCES
from edge_rppg.cli import app
from edge_rppg.runtimes import RUNTIMES


def test_bench_all_json_schema(fsam_checkpoint: Path, onnx_fp32: Path, openvino_fp32: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--runtime",
            "all",
            "--weights",
            str(fsam_checkpoint),
            "--model",
            str(onnx_fp32),
            "--model",
            str(openvino_fp32),
            "--windows",
            "2",
            "--iterations",
            "2",
            "--rounds",
            "1",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["reference"] == "torch"
    rows = {(r["runtime"], Path(r["model"]).name): r for r in report["results"]}
    assert ("torch", fsam_checkpoint.name) in rows
    assert ("onnxruntime", onnx_fp32.name) in rows and ("openvino", openvino_fp32.name) in rows
    for r in report["results"]:
        assert set(r) >= {
            "runtime",
            "precision",
            "model",
            "status",
            "reason",
            "latency_ms",
            "throughput_fps",
            "agreement",
            "size_mb",
        }
        # A row may be skipped only because its runtime cannot run here (TensorRT without a GPU), never for a
        # model this test supplied to a runtime that is here.
        unavailable = RUNTIMES[r["runtime"]].unavailable_reason()
        assert (r["status"] == "ok") == (unavailable is None), r
        if r["status"] == "ok":
            assert set(r["latency_ms"]) == {"p50", "p90", "p99"} and r["latency_ms"]["p50"] > 0
            assert r["throughput_fps"] > 0 and r["size_mb"] > 0
            tol, a = TOLERANCES["fp32"], r["agreement"]
            assert a["bvp_pearson"] >= tol.min_pearson and a["hr_abs_diff_bpm"] <= tol.max_hr_diff_bpm
            assert a["max_err_of_range"] <= tol.max_err_of_range and a["hr_abs_diff_median_bpm"] <= a["hr_abs_diff_bpm"]
            assert a["windows"] == 2 and r["reason"] is None
        else:
            assert r["status"] == "skipped" and unavailable in r["reason"], r
    assert 0 < report["hr_resolution_bpm"] <= 0.1
    trt = [r for r in report["results"] if r["runtime"] == "tensorrt"]
    assert trt and trt[0]["status"] in ("ok", "skipped")
    assert report["matmul_gflops_per_s"] > 0 and 5.9 < report["model_gflop_per_window"] < 6.1
    assert "PyTorch eager" in result.output


def test_bench_without_any_reference_is_a_clear_error(onnx_fp32: Path, tmp_path: Path) -> None:
    """An ONNX with no source on this machine and no reference set (not exported by edge-rppg): one line."""
    import onnx

    proto = onnx.load(str(onnx_fp32))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    result = CliRunner().invoke(app, ["bench", "--runtime", "onnxruntime", "--model", str(bare)])
    assert result.exit_code == 1 and "bare.onnx: carries no reference set" in result.output, result.output
    assert "Traceback" not in result.output


def test_bench_without_torch_compares_against_the_stored_reference_set(onnx_fp32: Path, openvino_fp32: Path) -> None:
    from tests.fixtures import without_torch

    args = ["bench", "--model", str(onnx_fp32), "--model", str(openvino_fp32), "--iterations", "2", "--rounds", "1"]
    proc = without_torch([*args, "--json", "-"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["reference"] == "stored" and report["reference_set"]["file"].endswith("model_fp32.onnx.ref.npz")
    assert report["reference_set"]["made_by"].startswith("PyTorch") and 5.9 < report["model_gflop_per_window"] < 6.1
    rows = {r["runtime"]: r for r in report["results"]}
    assert "torch" not in rows and {"onnxruntime", "openvino"} <= set(rows)
    tol = TOLERANCES["fp32"]
    for name in ("onnxruntime", "openvino"):
        r = rows[name]
        assert r["status"] == "ok" and r["speedup_vs_reference"] is None and r["latency_ms"]["p50"] > 0
        a = r["agreement"]
        assert a["bvp_pearson"] >= tol.min_pearson and a["hr_abs_diff_bpm"] <= tol.max_hr_diff_bpm
        assert a["max_err_of_range"] <= tol.max_err_of_range


def test_bench_refuses_models_from_two_checkpoints_against_one_stored_set(onnx_fp32: Path, tmp_path: Path) -> None:
    from edge_rppg.exporters import export_model

    other = tmp_path / "other.pt"
    from edge_rppg.models import build_model
    from edge_rppg.models.checkpoints import save_checkpoint

    save_checkpoint(other, build_model(fsam=True), trained_on="test")
    other_onnx = export_model(other, "onnx", "fp32", tmp_path / "other.onnx").path
    result = CliRunner().invoke(
        app, ["bench", "--reference", "stored", "--model", str(onnx_fp32), "--model", other_onnx]
    )
    assert result.exit_code == 1 and "other.onnx: exported from another checkpoint" in result.output, result.output


def test_bench_on_dataset_windows_reports_hr_mae_vs_ground_truth(
    fsam_checkpoint: Path, onnx_fp32: Path, tmp_path: Path
) -> None:
    from tests.fixtures import write_ubfc

    data = write_ubfc(tmp_path / "ubfc")
    out = tmp_path / "b.json"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--runtime",
            "torch",
            "--runtime",
            "onnxruntime",
            "--weights",
            str(fsam_checkpoint),
            "--model",
            str(onnx_fp32),
            "--data",
            str(data),
            "--dataset",
            "ubfc-rppg",
            "--windows",
            "2",
            "--iterations",
            "1",
            "--rounds",
            "1",
            "--json",
            str(out),
        ],
        env={"EDGE_RPPG_CACHE": str(tmp_path / "cache")},
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["windows"] == 2
    ok = [r for r in report["results"] if r["status"] == "ok"]
    assert {r["runtime"] for r in ok} == {"torch", "onnxruntime"}
    assert all(r["hr_mae_vs_label_bpm"] is not None for r in ok)
    assert report["reference_hr_mae_vs_label_bpm"] == ok[0]["hr_mae_vs_label_bpm"]
    (onnx_row,) = [r for r in ok if r["runtime"] == "onnxruntime"]
    assert onnx_row["verdict"] == "pass" and onnx_row["violations"] == []


def test_device_cuda_without_a_usable_gpu_is_one_line(fsam_checkpoint: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is usable here: the gpu test below covers --device cuda")
    result = CliRunner().invoke(
        app, ["bench", "--runtime", "torch", "--weights", str(fsam_checkpoint), "--device", "cuda"]
    )
    assert result.exit_code == 1 and "--device cuda:" in result.output and "edge-rppg check" in result.output


@pytest.mark.gpu
@pytest.mark.skipif(
    not __import__("torch").cuda.is_available(), reason="no CUDA device visible to torch (CPU build or no NVIDIA GPU)"
)
def test_bench_on_cuda_says_where_each_row_ran(fsam_checkpoint: Path, onnx_fp32: Path) -> None:
    from edge_rppg.bench.records import Timing
    from edge_rppg.bench.run import run_bench

    report = run_bench(
        ["torch", "onnxruntime", "openvino"],
        [onnx_fp32],
        fsam_checkpoint,
        n_windows=2,
        timing=Timing(2, 1, 1),
        device="cuda",
    )
    rows = {r.runtime: r for r in report.results}
    assert report.reference_device.startswith("cuda") and rows["torch"].device.startswith("cuda")
    assert rows["onnxruntime"].status == "ok" and rows["openvino"].device == "cpu"
    agreement = rows["onnxruntime"].agreement
    assert agreement is not None and agreement.bvp_pearson >= TOLERANCES["fp32"].min_pearson


def test_a_model_the_runtime_cannot_open_fails_the_run_not_skipped(fsam_checkpoint: Path, tmp_path: Path) -> None:
    """Only a runtime that cannot run here is skipped; a user's model it cannot read is a failure (exit 1)."""
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx file")
    args = ["bench", "--runtime", "onnxruntime", "--weights", str(fsam_checkpoint), "--model", str(broken)]
    result = CliRunner().invoke(app, [*args, "--windows", "1", "--iterations", "1", "--rounds", "1"])
    assert result.exit_code == 1, result.output
    assert "broken.onnx: onnxruntime failed: " in result.output and "Traceback" not in result.output


FAST = ["--windows", "2", "--iterations", "1", "--rounds", "1"]


def test_bench_runtime_openvino_alone_builds_it_and_judges_it_against_live_pytorch(tmp_path: Path) -> None:
    """The design card's line as written: no --model, no --weights. The bundled model's OpenVINO export is built,
    verified and cached, then benched beside PyTorch with a verdict; exit 0."""
    cache = tmp_path / "cache"
    out = tmp_path / "b.json"
    args = ["bench", "--runtime", "openvino", *FAST, "--json", str(out)]
    result = CliRunner().invoke(app, args, env={"EDGE_RPPG_CACHE": str(cache)})
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    rows = {r["runtime"]: r for r in report["results"]}
    assert set(rows) == {"torch", "openvino"} and report["reference"] == "torch"
    assert rows["torch"]["verdict"] == "reference" and rows["torch"]["model"].endswith("default_model.pt")
    ov = rows["openvino"]
    assert ov["status"] == "ok" and ov["built"] and ov["verdict"] == "pass" and ov["violations"] == []
    assert ov["agreement"]["bvp_pearson"] >= 0.9999 and ov["speedup_vs_reference"] > 0
    assert ov["tolerance"] == {"precision": "fp32", **vars(TOLERANCES["fp32"])}
    version = RUNTIMES["openvino"].version()
    assert version and f"openvino-fp32-openvino-{version}" in ov["model"] and ov["model"].startswith(str(cache))
    machine = report["machine"]
    assert machine["isa_class"] and machine["threads"] == report["threads"] and machine["cpu"]
    assert machine["runtime_versions"]["openvino"] == version and "gpus" in machine
    again = CliRunner().invoke(app, args, env={"EDGE_RPPG_CACHE": str(cache)})
    assert again.exit_code == 0 and "bench: building" not in again.output  # the cache was reused


def test_a_model_from_another_checkpoint_fails_its_verdict_and_bench_exits_1(onnx_fp32: Path, tmp_path: Path) -> None:
    """The fixture's ONNX (seeded random weights) judged against the bundled model: same architecture, another
    checkpoint. The verdict is fail, the exit status 1, and the line gives the figure and its bound."""
    out = tmp_path / "b.json"
    args = ["bench", "--runtime", "onnxruntime", "--model", str(onnx_fp32), "--weights", "default", *FAST]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 1, result.output
    (row,) = [r for r in json.loads(out.read_text())["results"] if r["runtime"] == "onnxruntime"]
    assert row["status"] == "ok" and row["verdict"] == "fail" and row["agreement"]["bvp_pearson"] < 0.99999
    assert f"error: {onnx_fp32}: onnxruntime fp32 fails the fp32 tolerance: " in result.output.replace("\n", "")
    assert "< 0.99999" in result.output and "Traceback" not in result.output


def test_export_and_bench_judge_with_the_same_tolerance_object(
    fsam_checkpoint: Path, onnx_fp32: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Make the fp32 bound impossible in the one table: export refuses its file and bench fails the row."""
    from dataclasses import replace

    from edge_rppg import agreement
    from edge_rppg.bench.records import Timing
    from edge_rppg.bench.run import run_bench
    from edge_rppg.errors import ExportError
    from edge_rppg.exporters import export_model

    monkeypatch.setitem(agreement.TOLERANCES, "fp32", replace(agreement.TOLERANCES["fp32"], min_pearson=1.5))
    with pytest.raises(ExportError, match=r"BVP Pearson .* < 1.5"):
        export_model(fsam_checkpoint, "onnx", "fp32", tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
    report = run_bench(["onnxruntime"], [onnx_fp32], fsam_checkpoint, n_windows=2, timing=Timing(1, 1, 1))
    (row,) = [r for r in report.results if r.runtime == "onnxruntime"]
    assert row.verdict == "fail" and row.tolerance is not None and row.tolerance["min_pearson"] == 1.5
    # The model bench builds itself is refused by the same bound in its export: a failed row, named by its path.
    monkeypatch.setenv("EDGE_RPPG_CACHE", str(tmp_path / "cache"))
    report = run_bench(["onnxruntime"], [], fsam_checkpoint, n_windows=2, timing=Timing(1, 1, 1))
    (built,) = [r for r in report.results if r.runtime == "onnxruntime"]
    assert built.built and built.status == "failed" and built.verdict == "fail", built
    assert built.model.startswith(str(tmp_path / "cache")) and "BVP Pearson" in (built.reason or "")


def test_a_precision_a_target_does_not_have_is_skipped_not_failed(fsam_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.json"
    args = ["bench", "--runtime", "onnxruntime", "--precision", "bf16", "--weights", str(fsam_checkpoint), *FAST]
    result = CliRunner().invoke(app, [*args, "--json", str(out)], env={"EDGE_RPPG_CACHE": str(tmp_path / "c")})
    assert result.exit_code == 0, result.output
    (row,) = [r for r in json.loads(out.read_text())["results"] if r["runtime"] == "onnxruntime"]
    assert row["status"] == "skipped" and row["verdict"] is None and "not bf16" in row["reason"]


@pytest.mark.slow
def test_bench_model_of_an_int8_export_is_judged_with_nothing_left_blank(tmp_path: Path) -> None:
    """`export --precision int8 --out m8.xml`, then `bench --model m8.xml`: the reference is found from the
    export's own metadata (the bundled checkpoint), and every accuracy figure is there with its verdict."""
    m8 = tmp_path / "m8.xml"
    exported = CliRunner().invoke(app, ["export", "--target", "openvino", "--precision", "int8", "--out", str(m8)])
    assert exported.exit_code == 0, exported.output
    out = tmp_path / "b.json"
    # INT8 is judged on the windows either model shows a pulse on, at least 4 (MIN_JUDGED_WINDOWS)
    args = ["bench", "--model", str(m8), "--windows", "4", "--iterations", "1", "--rounds", "1"]
    result = CliRunner().invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["reference"] == "torch"
    (row,) = [r for r in report["results"] if r["model"] == str(m8)]
    assert row["precision"] == "int8" and row["verdict"] == "pass" and row["tolerance"]["precision"] == "int8"
    assert all(v is not None for v in row["agreement"].values() if not isinstance(v, str)), row["agreement"]
