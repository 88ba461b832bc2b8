from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from edge_rppg.agreement import TOLERANCES, Agreement
from edge_rppg.cli import app
from edge_rppg.contract import CONTRACT
from edge_rppg.errors import EdgeRppgError, RuntimeUnavailable
from edge_rppg.exporters import TARGETS, CalibrationSource, export_model
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
    # The Sub node reads FP32 input slices: no Cast anywhere between the input and the subtraction (a crop's
    # 0-255 floats rounded to FP16 would lose the pulse, a fraction of a gray level, before it is differenced).
    producers = {o: n for n in model.graph.node for o in n.output}
    sub = next(n for n in model.graph.node if n.op_type == "Sub")
    assert all(producers[i].op_type == "Slice" for i in sub.input)
    upstream, seen = list(sub.input), []
    while upstream:
        node = producers.get(upstream.pop())
        if node is not None:
            seen.append(node.op_type)
            upstream.extend(node.input[:1])
    assert "Cast" not in seen and seen, seen
    assert result.verification is not None and result.verification.bvp_pearson > 0.999


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_openvino_ir(fsam_checkpoint: Path, tmp_path: Path, precision: str) -> None:
    out = tmp_path / f"m_{precision}.xml"
    result = export_model(fsam_checkpoint, "openvino", precision, out)
    assert out.exists() and out.with_suffix(".bin").exists()
    assert result.verification is not None
    if precision == "fp32":
        assert not TOLERANCES["fp32"].violations(result.verification)
    runtime = get_runtime("openvino").open(out)
    assert runtime.meta["precision"] == precision and runtime.meta["window"] == "160"  # type: ignore[attr-defined]


def test_fp16_ir_is_about_half_the_fp32_weights(openvino_fp32: Path, fsam_checkpoint: Path, tmp_path: Path) -> None:
    fp16 = tmp_path / "h.xml"
    export_model(fsam_checkpoint, "openvino", "fp16", fp16)
    assert fp16.with_suffix(".bin").stat().st_size < 0.6 * openvino_fp32.with_suffix(".bin").stat().st_size


TRAINED = Path(__file__).parent / "assets" / "synthetic_fsam.pt"  # trained by `edge-rppg train` on synthetic faces


@pytest.mark.slow
def test_openvino_int8_kept_on_held_out_windows_within_its_tolerance(tmp_path: Path) -> None:
    out = tmp_path / "m_int8.xml"
    result = export_model(TRAINED, "openvino", "int8", out, calibration=CalibrationSource(windows=16, held_out=8))
    assert result.precision == "int8" and out.exists()
    v, tol = result.verification, TOLERANCES["int8"]
    assert v is not None and v.windows_offered == 8  # judged on the held-out windows, not the calibration ones
    assert v.bvp_pearson >= tol.min_pearson and v.hr_abs_diff_bpm <= tol.max_hr_diff_bpm
    assert result.int8_coverage is not None and result.int8_coverage["int8_convolutions"] > 0
    import openvino as ov

    ops = {op.get_type_name() for op in ov.Core().read_model(str(out)).get_ops()}
    assert "FakeQuantize" in ops


@pytest.mark.slow
def test_bundled_default_model_int8_passes_its_guard_on_the_built_in_windows(tmp_path: Path) -> None:
    """``export --precision int8`` with no weights and no data: the first thing a user tries. On a CPU without
    VNNI, full 8-bit weights overflowed its 16-bit sums and the guard refused it (r 0.9937 on an AVX2 EPYC)."""
    from edge_rppg.weights import resolve

    out = tmp_path / "default_int8.xml"
    result = export_model(resolve(None)[0], "openvino", "int8", out)
    v, tol = result.verification, TOLERANCES["int8"]
    assert result.precision == "int8" and out.exists()
    assert v is not None and v.bvp_pearson >= tol.min_pearson and v.hr_abs_diff_bpm <= tol.max_hr_diff_bpm


@pytest.mark.slow
def test_int8_rejected_writes_nothing_unless_asked_and_never_overwrites_fp32(tmp_path: Path) -> None:
    out = tmp_path / "m_int8.xml"
    small = CalibrationSource(windows=4, held_out=2)
    with pytest.raises(EdgeRppgError, match=r"INT8 rejected on held-out windows.*nothing written"):
        export_model(TRAINED, "openvino", "int8", out, calibration=small, int8_max_hr_diff_bpm=-1)
    assert list(tmp_path.iterdir()) == []
    result = export_model(
        TRAINED, "openvino", "int8", out, calibration=small, int8_max_hr_diff_bpm=-1, int8_fallback="fp32"
    )
    assert result.precision == "fp32" and "INT8 rejected" in result.note and result.int8_guard is not None
    assert not out.exists() and Path(result.path).name == "m_fp32.xml"
    before = (tmp_path / "m_fp32.bin").read_bytes()
    with pytest.raises(EdgeRppgError, match=r"m_fp32.xml: .*would overwrite"):
        export_model(TRAINED, "openvino", "int8", out, calibration=small, int8_max_hr_diff_bpm=-1, int8_fallback="fp32")
    assert (tmp_path / "m_fp32.bin").read_bytes() == before


def test_int8_tolerance_rejects_a_2_bpm_error_the_7_bpm_grid_could_not_see() -> None:
    """A damaged model: the reference BVP time-stretched so its pulse runs 2 bpm faster."""
    from edge_rppg.agreement import compare
    from edge_rppg.data.synthetic import synthetic_windows
    from edge_rppg.runtimes.torch_runtime import TorchRuntime
    from edge_rppg.signals.filters import bvp_filters
    from edge_rppg.signals.hr import fft_hr, window_hr

    reference = TorchRuntime(TRAINED).run(synthetic_windows(4, seed=3)[0])
    hr = window_hr(reference)
    t = np.arange(reference.shape[1], dtype=np.float64)
    damaged = np.stack([np.interp(t * (h + 2.0) / h, t, r) for r, h in zip(reference, hr, strict=True)])
    damaged[:, t * (hr.max() + 2) / hr.max() > t[-1]] = reference[:, -1:]  # hold the end rather than extrapolate
    agreement = compare(reference, damaged)
    assert agreement.hr_abs_diff_median_bpm == pytest.approx(2.0, abs=0.5)
    assert any("HR differs" in p for p in TOLERANCES["int8"].violations(agreement))
    coarse = [fft_hr(bvp_filters(r)) - fft_hr(bvp_filters(d)) for r, d in zip(reference, damaged, strict=True)]
    assert 0.0 in coarse  # on the old 7-bpm grid at least one window showed no difference at all


def _pulse_and_noise_windows() -> tuple[np.ndarray, np.ndarray]:
    """Six BVP windows with a clean pulse (real PPG shape, 60-110 bpm) and six of band-limited noise that the
    quality check refuses (about one such window in six passes it by chance, at 5.3 s)."""
    from edge_rppg.agreement import passes_quality
    from edge_rppg.data.synthetic import ppg_waveform
    from edge_rppg.signals.filters import bvp_filters

    rng = np.random.default_rng(0)
    n = CONTRACT.window
    pulse = np.stack([ppg_waveform(n, CONTRACT.fps, hr, 0.02, 0.25, rng)[0] for hr in np.linspace(60, 110, 6)])
    noise = np.stack([bvp_filters(rng.normal(0, 1, n)) for _ in range(12)])
    return pulse + rng.normal(0, 0.02, pulse.shape), noise[~passes_quality(noise)][:6]


def test_int8_guard_judges_the_windows_either_model_shows_a_pulse_on() -> None:
    """On a window with no readable pulse INT8's noise differs from the reference's in every value (its spectral
    peak anywhere), and neither model's HR would be shown: the guard judges the others. A pulse the candidate
    invents on such a window is judged; with too few windows that show a pulse the guard cannot judge at all."""
    from edge_rppg.agreement import MIN_JUDGED_WINDOWS, passes_quality

    pulse, noise = _pulse_and_noise_windows()
    assert passes_quality(pulse).all() and not passes_quality(noise).any()  # the premise
    rng = np.random.default_rng(1)
    reference = np.concatenate([pulse, noise])
    candidate = np.concatenate([pulse + rng.normal(0, 0.01, pulse.shape), noise[::-1]])
    int8 = TOLERANCES["int8"]
    judged = int8.agreement(reference, candidate)
    assert (judged.windows, judged.windows_offered) == (6, 12) and not int8.violations(judged), judged
    every = replace(int8, shown_only=False)
    assert any("HR differs" in p for p in every.violations(every.agreement(reference, candidate)))

    invented = candidate.copy()
    invented[6] = pulse[0]  # a pulse where the reference shows none
    assert int8.agreement(reference, invented).windows == 7
    assert any("Pearson" in p for p in int8.violations(int8.agreement(reference, invented)))

    few = np.concatenate([pulse[: MIN_JUDGED_WINDOWS - 1], noise])
    problems = int8.violations(int8.agreement(few, few))
    assert len(problems) == 1 and f"only {MIN_JUDGED_WINDOWS - 1} of " in problems[0]


@pytest.mark.slow
def test_int8_calibration_data_from_a_dataset_through_the_cli(tmp_path: Path) -> None:
    from tests.fixtures import write_ubfc

    data = write_ubfc(tmp_path / "ubfc", subjects=(1, 2, 3))
    env = {"EDGE_RPPG_CACHE": str(tmp_path / "cache")}
    calib, held = CalibrationSource(data=data, dataset="ubfc-rppg", windows=8, held_out=8).draw()
    assert calib.shape[1:] == held.shape[1:] == (3, 161, 72, 72) and len(calib) == 2 and len(held) == 1  # by video
    out = tmp_path / "m_int8.xml"
    result = CliRunner().invoke(
        app,
        [
            "export",
            "--weights",
            str(TRAINED),
            "--target",
            "openvino",
            "--precision",
            "int8",
            "--calibration-data",
            str(data),
            "--dataset",
            "ubfc-rppg",
            "--int8-fallback",
            "fp32",
            "--out",
            str(out),
            "--json",
            "-",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # The held-out video gives one window, fewer than the guard needs to judge INT8: it refuses, and the FP32
    # fallback is written with the rejected INT8's figures.
    assert report["precision"] == "fp32" and report["int8_guard"]["windows_offered"] == 1
    assert "of 1 windows carry a pulse" in report["note"] and Path(report["path"]).exists()


def test_failed_export_leaves_nothing(fsam_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_rppg.agreement import TOLERANCES, Tolerance

    strict = Tolerance(max_err_of_range=0.0, min_pearson=1.1, max_hr_diff_bpm=0.0)
    monkeypatch.setitem(TOLERANCES, "fp32", strict)
    with pytest.raises(EdgeRppgError, match="disagrees with PyTorch"):
        export_model(fsam_checkpoint, "onnx", "fp32", tmp_path / "x.onnx")
    assert list(tmp_path.iterdir()) == []


def test_tensorrt_without_gpu_says_how_to_build_on_the_target(fsam_checkpoint: Path, tmp_path: Path) -> None:
    if get_runtime("tensorrt").unavailable_reason() is None:
        pytest.skip("a GPU with TensorRT is here: the real build runs in test_tensorrt_engine_runs_on_gpu")
    with pytest.raises(RuntimeUnavailable) as err:
        export_model(fsam_checkpoint, "tensorrt", "fp16", tmp_path / "m.engine")
    msg = str(err.value)
    assert "edge-rppg export --from m.onnx --target tensorrt --precision fp16" in msg and "m.onnx.ref.npz" in msg
    assert "trtexec --onnx=model_fp16.onnx" in msg and "--stronglyTyped" in msg  # the unverified way, last
    assert list(tmp_path.iterdir()) == []


def test_unknown_target_and_bad_suffix(fsam_checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(EdgeRppgError, match="unknown target"):
        export_model(fsam_checkpoint, "tflite")
    with pytest.raises(EdgeRppgError, match=r"\.xml file"):
        export_model(fsam_checkpoint, "openvino", "fp32", tmp_path / "m.onnx")


def test_bf16_is_an_openvino_precision_only(fsam_checkpoint: Path, tmp_path: Path) -> None:
    for target in ("onnx", "tensorrt"):
        with pytest.raises(EdgeRppgError, match=f"--target {target} takes --precision fp32, fp16, int8, not bf16"):
            export_model(fsam_checkpoint, target, "bf16", tmp_path / f"m{TARGETS[target].suffix}")
    assert list(tmp_path.iterdir()) == []


def test_bf16_ir_computes_in_bf16_within_its_tolerance_or_is_refused_on_a_cpu_without_it(tmp_path: Path) -> None:
    """A bf16 export is verified in bf16 (the runtime compiles it so, and says so) where the CPU computes in bf16;
    elsewhere it is refused up front, never verified as f32 under a bf16 name."""
    from edge_rppg.runtimes import RuntimeOptions
    from edge_rppg.runtimes.openvino_runtime import cpu_precisions

    out = tmp_path / "m_bf16.xml"
    if "BF16" not in cpu_precisions():
        with pytest.raises(RuntimeUnavailable, match="does not compute in bf16"):
            export_model(TRAINED, "openvino", "bf16", out)
        assert not out.exists()
        return
    result = export_model(TRAINED, "openvino", "bf16", out)
    assert result.verification is not None and not TOLERANCES["bf16"].violations(result.verification)
    assert result.verification.max_err_of_range > 5e-4  # it did run bf16 (OpenVINO f32: about 2e-6 here)
    with get_runtime("openvino").open(out) as runtime:
        assert runtime.describe()["inference_precision"] == "bf16" and runtime.precision == "bf16"
    with get_runtime("openvino").open(out, RuntimeOptions(precision_hint="f32")) as runtime:
        assert runtime.describe()["inference_precision"] == "f32"  # asked for by name, f32 it is
    from edge_rppg.bench.records import Timing
    from edge_rppg.bench.run import run_bench

    results = run_bench(["openvino"], [out], TRAINED, n_windows=2, timing=Timing(1, 1, 1)).results
    (row,) = [r for r in results if r.runtime == "openvino"]  # beside the PyTorch reference's own row
    assert row.precision == "bf16" and row.status == "ok" and row.agreement is not None
    assert row.agreement.bvp_pearson >= TOLERANCES["bf16"].min_pearson


def test_targets_table_names_a_runtime_for_each_target() -> None:
    for target in TARGETS.values():
        assert get_runtime(target.runtime).suffixes.__contains__(target.suffix)


def test_cli_export_json(fsam_checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.onnx"
    result = CliRunner().invoke(
        app, ["export", "--weights", str(fsam_checkpoint), "--target", "onnx", "--out", str(out), "--json", "-"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["path"] == str(out) and not TOLERANCES["fp32"].violations(Agreement(**report["verification"]))


@pytest.mark.slow
def test_int8_ignored_names_keep_that_convolution_fp32(onnx_fp32: Path, tmp_path: Path) -> None:
    """The hook int8_sensitivity.py's findings go through: a named convolution stays FP32, the rest INT8."""
    from dataclasses import replace

    from edge_rppg.data.synthetic import synthetic_windows
    from edge_rppg.exporters.openvino_export import INT8, convolution_names, export_ir, int8_coverage

    calibration = synthetic_windows(4, seed=7)[0]
    plain = int8_coverage(export_ir(onnx_fp32, tmp_path / "plain.xml", {}, "int8", calibration))
    first = next(name for name in convolution_names(tmp_path / "plain.xml") if name not in plain["fp32_convolutions"])
    kept = replace(INT8, ignored_names=(first,))
    coverage = int8_coverage(export_ir(onnx_fp32, tmp_path / "kept.xml", {}, "int8", calibration, kept))
    assert first in coverage["fp32_convolutions"] and first not in plain["fp32_convolutions"]
    assert coverage["int8_convolutions"] == plain["int8_convolutions"] - 1


@pytest.mark.slow
def test_int8_keeps_the_first_convolution_fp32_in_the_ir_and_in_the_qdq_onnx_alike(
    onnx_fp32: Path, tmp_path: Path
) -> None:
    """The convolution that reads the normalised frame difference stays FP32 (Int8Settings.keep_first_conv_fp32),
    every other one is INT8; the Q/DQ ONNX that TensorRT builds an engine from leaves the same one without Q/DQ."""
    from dataclasses import replace

    from edge_rppg.data.synthetic import synthetic_windows
    from edge_rppg.exporters.onnx_export import int8_coverage as onnx_coverage
    from edge_rppg.exporters.onnx_export import quantize_int8_qdq
    from edge_rppg.exporters.openvino_export import INT8, convolution_names, export_ir, int8_coverage

    calibration = synthetic_windows(4, seed=7)[0]
    ir = int8_coverage(export_ir(onnx_fp32, tmp_path / "int8.xml", {}, "int8", calibration))
    names = convolution_names(tmp_path / "int8.xml")
    assert ir["fp32_convolutions"] == names[:1] and ir["int8_convolutions"] == len(names) - 1
    qdq = onnx_coverage(quantize_int8_qdq(onnx_fp32, tmp_path / "qdq.onnx", {}, calibration))
    assert qdq["fp32_convolutions"] == names[:1] and qdq["int8_convolutions"] == len(names) - 1
    every = replace(INT8, keep_first_conv_fp32=False)
    assert (
        int8_coverage(export_ir(onnx_fp32, tmp_path / "all.xml", {}, "int8", calibration, every))["fp32_convolutions"]
        == []
    )


@pytest.mark.slow
def test_accuracy_control_reverts_until_the_score_holds_and_qdq_keeps_the_same_fp32(tmp_path: Path) -> None:
    """With a bound that plain INT8 misses on its validation windows (5 % less BVP r loss than it has), NNCF's
    accuracy control, scored in the guard's units, keeps convolutions in FP32 until the score holds there, and
    no more than it needs. (The loss is spread thinly over every layer: reverting the worst one removes about
    a tenth of it, so a bound at half the loss reverts all twelve with OpenVINO 2026.4 / NNCF 3.4, and the
    test would no longer see the search stop.) The Q/DQ ONNX that TensorRT reads leaves those same convolutions
    (IR names are the ONNX node names) without Q/DQ."""
    from edge_rppg.agreement import Tolerance, compare
    from edge_rppg.data.synthetic import synthetic_windows
    from edge_rppg.exporters.onnx_export import export_fp32, quantize_int8_qdq
    from edge_rppg.exporters.onnx_export import int8_coverage as onnx_coverage
    from edge_rppg.exporters.openvino_export import AccuracyTarget, export_ir, int8_coverage
    from edge_rppg.models.checkpoints import load_deploy_model
    from edge_rppg.runtimes import RuntimeOptions
    from edge_rppg.runtimes.torch_runtime import TorchRuntime

    model = load_deploy_model(TRAINED)[0]
    onnx_path = export_fp32(model, tmp_path / "fp32.onnx", {})
    windows = synthetic_windows(2, seed=7)[0]
    reference = TorchRuntime.from_model(model).run(windows)

    def agreement(xml: Path) -> Agreement:
        with get_runtime("openvino").open(xml, RuntimeOptions()) as runtime:
            return compare(reference, runtime.run(windows))

    plain = export_ir(onnx_path, tmp_path / "plain.xml", {}, "int8", windows)
    strict = Tolerance(
        max_err_of_range=None, min_pearson=1 - (1 - agreement(plain).bvp_pearson) * 0.95, max_hr_diff_bpm=1000.0
    )
    assert strict.violations(agreement(plain))  # plain INT8 misses it: accuracy control has work to do
    target = AccuracyTarget(windows, reference, strict)
    controlled = export_ir(onnx_path, tmp_path / "ac.xml", {}, "int8", windows, accuracy=target)
    assert not strict.violations(agreement(controlled))
    kept = int8_coverage(controlled)["fp32_convolutions"]
    assert set(int8_coverage(plain)["fp32_convolutions"]) < set(kept)  # type: ignore[call-overload]
    # Not everything: it stops when the score holds. How many it reverts first depends on the windows (6 of 12
    # stayed INT8 on bench's windows before they were assembled like training's, 4 since).
    assert int8_coverage(controlled)["int8_convolutions"] > 0
    qdq = quantize_int8_qdq(onnx_path, tmp_path / "qdq.onnx", {}, windows, keep_fp32=kept)  # type: ignore[arg-type]
    assert set(kept) <= set(onnx_coverage(qdq)["fp32_convolutions"])  # type: ignore[call-overload]
    assert onnx_coverage(qdq)["int8_convolutions"] > 0


def test_accuracy_control_is_an_int8_option(fsam_checkpoint: Path) -> None:
    result = CliRunner().invoke(
        app, ["export", "--weights", str(fsam_checkpoint), "--precision", "fp32", "--accuracy-control"]
    )
    assert result.exit_code == 2 and "--precision int8" in result.output


def test_reference_set_travels_with_the_export_and_a_tampered_one_is_refused(onnx_fp32: Path, tmp_path: Path) -> None:
    """The set beside the ONNX replays on ONNX Runtime within the fp32 tolerance, its hash is the model's,
    and a set changed by one value, moved to another model, or missing is one line naming the file."""
    import shutil

    from edge_rppg.reference_set import SHA_KEY, ReferenceSet, path_for, read_reference

    meta = {p.key: p.value for p in onnx.load(str(onnx_fp32)).metadata_props}
    refset = read_reference(onnx_fp32, meta)
    assert refset.inputs.dtype == np.uint8 and refset.bvp.shape == (len(refset.inputs), CONTRACT.window)
    assert refset.made_by.startswith("PyTorch") and refset.source_sha256 == meta["source_sha256"]
    with get_runtime("onnxruntime").open(onnx_fp32) as runtime:
        assert not TOLERANCES["fp32"].violations(refset.agreement(runtime.run(refset.inputs)))
    copy = tmp_path / onnx_fp32.name
    shutil.copyfile(onnx_fp32, copy)
    bvp = refset.bvp.copy()
    bvp[0, 0] += 1e-3
    ReferenceSet(inputs=refset.inputs, bvp=bvp, made_by=refset.made_by, source_sha256=refset.source_sha256).write(
        path_for(copy)
    )
    with pytest.raises(EdgeRppgError, match=r"ref\.npz: does not match model_fp32\.onnx"):
        read_reference(copy, meta)
    path_for(copy).unlink()
    with pytest.raises(EdgeRppgError, match="no such reference set"):
        read_reference(copy, meta)
    with pytest.raises(EdgeRppgError, match="carries no reference set"):
        read_reference(copy, {k: v for k, v in meta.items() if k != SHA_KEY})


def test_export_from_onnx_without_torch_builds_and_verifies_against_the_stored_set(
    onnx_fp32: Path, tmp_path: Path
) -> None:
    """On a device without PyTorch: an OpenVINO IR from the ONNX and its reference set, verified against that
    set; the IR carries the same set (same sha256), so bench can check it there too."""
    from edge_rppg.reference_set import SHA_KEY, path_for
    from edge_rppg.runtimes.metadata import model_metadata
    from tests.fixtures import without_torch

    out = tmp_path / "device.xml"
    proc = without_torch(["export", "--from", str(onnx_fp32), "--target", "openvino", "--out", str(out), "--json", "-"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["reference"].startswith("the stored reference set model_fp32.onnx.ref.npz")
    assert not TOLERANCES["fp32"].violations(Agreement(**report["verification"]))
    assert path_for(out).read_bytes() == path_for(onnx_fp32).read_bytes()
    assert model_metadata(out)[SHA_KEY] == model_metadata(onnx_fp32)[SHA_KEY]
    assert model_metadata(out)["source_sha256"] == model_metadata(onnx_fp32)["source_sha256"]


# As if PyTorch were not installed: its import fails (a None in sys.modules would instead break SciPy's probe).
NO_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoTorch())
"""


@pytest.fixture(scope="module")
def trained_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(export_model(TRAINED, "onnx", "fp32", tmp_path_factory.mktemp("trained") / "trained_fp32.onnx").path)


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_onnx_exports_from_an_onnx_need_onnx_and_not_torch(trained_onnx: Path, tmp_path: Path, precision: str) -> None:
    """A device install with the onnx extra and no PyTorch builds the FP16 and the Q/DQ INT8 ONNX from the FP32
    ONNX and verifies them (the slim venv has no onnx, so this runs here with torch's import blocked)."""
    import subprocess
    import sys

    out = tmp_path / f"m_{precision}.onnx"
    args = ["export", "--from", str(trained_onnx), "--target", "onnx", "--precision", precision, "--out", str(out)]
    args += ["--calibration-windows", "8", "--held-out-windows", "4", "--json", "-"]
    code = f"{NO_TORCH}\nfrom edge_rppg.cli import app\napp({args!r}, prog_name='edge-rppg')\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["precision"] == precision and report["verification"] is not None and out.exists()


def test_export_from_onnx_refuses_a_missing_or_foreign_reference_set(onnx_fp32: Path, tmp_path: Path) -> None:
    import shutil

    from edge_rppg.reference_set import path_for

    lone = tmp_path / "lone.onnx"
    shutil.copyfile(onnx_fp32, lone)
    args = ["export", "--target", "openvino", "--out", str(tmp_path / "x.xml")]
    result = CliRunner().invoke(app, [*args, "--from", str(lone)])
    assert result.exit_code == 1 and "lone.onnx.ref.npz: no such reference set" in result.output, result.output
    altered = bytearray(path_for(onnx_fp32).read_bytes())
    altered[len(altered) // 2] ^= 1
    path_for(lone).write_bytes(bytes(altered))
    result = CliRunner().invoke(app, [*args, "--from", str(lone)])
    assert result.exit_code == 1 and "lone.onnx.ref.npz: does not match lone.onnx" in result.output, result.output
    assert not (tmp_path / "x.xml").exists()
    result = CliRunner().invoke(app, [*args, "--from", str(lone), "--weights", str(lone)])
    assert result.exit_code == 2


@pytest.mark.slow
def test_export_int8_from_onnx_without_torch_is_guarded_against_the_fp32_onnx(tmp_path: Path) -> None:
    from tests.fixtures import without_torch

    onnx_path = Path(export_model(TRAINED, "onnx", "fp32", tmp_path / "trained_fp32.onnx").path)
    out = tmp_path / "trained_int8.xml"
    args = ["export", "--from", str(onnx_path), "--target", "openvino", "--precision", "int8"]
    proc = without_torch([*args, "--calibration-windows", "8", "--held-out-windows", "4", "--json", "-"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["path"] == str(out) and report["reference"] == "the FP32 ONNX trained_fp32.onnx on ONNX Runtime"
    assert report["verification"]["windows_offered"] == 4 and report["int8_coverage"]["int8_convolutions"] > 0


def test_int8_real_faces_benchmark_rows_each_measure_something_different() -> None:
    """Its rows once collapsed into three identical settings when the defaults moved: every (calibration,
    settings) pair differs, and the last row is the product's INT8 reached from round 1's by the rows above."""
    from dataclasses import replace

    from benchmarks.int8_real_faces import QUANTILE, VARIANTS
    from edge_rppg.exporters.openvino_export import INT8

    pairs = [(source, settings) for _, source, settings in VARIANTS]
    assert len(set(pairs)) == len(pairs), pairs
    first_conv = replace(QUANTILE, keep_first_norm_fp32=True, keep_first_conv_fp32=True)
    assert VARIANTS[-1][2] == INT8 == replace(first_conv, overflow_fix="ENABLE")
