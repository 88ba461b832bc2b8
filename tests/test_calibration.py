"""A quality gate per model: fitted by ``edge-rppg calibrate`` on real labelled video files, found beside the
checkpoint, carried inside every export, and the one predict judges by; a model without one says so."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edge_rppg.calibration import clip_features, decide, expected_calibration_error, fit, score
from edge_rppg.cli import app
from edge_rppg.data.face import CropSettings
from edge_rppg.data.labelled import read_labelled
from edge_rppg.data.source import open_source
from edge_rppg.gate import (
    GATE_KEY,
    UNCALIBRATED,
    UNCALIBRATED_METHOD,
    Gate,
    GateError,
    for_checkpoint,
    for_method,
    sidecar_path,
)
from edge_rppg.paths import file_sha256
from edge_rppg.predict.pipeline import PredictOptions, check_run, run_pipeline
from edge_rppg.predict.video import classic_runtime, gate_of, predict_video, read_vitals, resolve_runtime
from edge_rppg.runtimes.metadata import for_model_file
from edge_rppg.weights import DEFAULT_MODEL as BUNDLED_CHECKPOINT
from tests.fixtures import write_labelled

runner = CliRunner()


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labelled(tmp_path_factory.mktemp("labelled"), pulsed=(3, 5, 7), pulseless=(11, 13))


@pytest.fixture(scope="module")
def own_checkpoint(fsam_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's own checkpoint in a folder of its own (its gate is written beside it)."""
    path = tmp_path_factory.mktemp("own") / "mine.pt"
    shutil.copyfile(BUNDLED_CHECKPOINT, path)  # the bundled weights under another name: same sha, same gate
    return path


def test_a_gate_round_trips_and_a_damaged_or_foreign_one_is_refused(tmp_path: Path, fsam_checkpoint: Path) -> None:
    gate = replace(UNCALIBRATED, confidence=((0.5, 0.4), (0.9, 0.95)), fitted_on={"data": "d", "clips": 3})
    assert Gate.from_json(gate.to_json(), "x") == gate
    assert gate.confidence_of(0.7) == pytest.approx(0.675) and UNCALIBRATED.confidence_of(0.7) is None
    with pytest.raises(GateError, match="not a quality gate"):
        Gate.from_json('{"sqi_min": 1}', "g.json")
    with pytest.raises(GateError, match="finite"):
        Gate.from_json(replace(gate, sqi_min=float("nan")).to_json(), "g.json")
    for bad in (((0.5, float("nan")),), ((0.5, 1.5),)):  # a map that would print a confidence of nan or 150 %
        with pytest.raises(GateError, match=r"g\.json: .*confidence maps"):
            Gate.from_json(replace(gate, answer_confidence=bad).to_json(), "g.json")
    ckpt = tmp_path / "m.pt"
    shutil.copyfile(fsam_checkpoint, ckpt)
    sidecar_path(ckpt).write_text(replace(gate, model="0" * 64).to_json())
    with pytest.raises(GateError, match="another model"):
        for_checkpoint(ckpt, file_sha256(ckpt))


def test_an_uncalibrated_model_says_so_and_gives_no_confidence(fsam_checkpoint: Path, tmp_path: Path) -> None:
    from edge_rppg.data.synthetic import write_demo_video

    video = tmp_path / "v.avi"
    write_demo_video(video, seconds=12, size=(160, 120))
    result = predict_video(video, resolve_runtime(fsam_checkpoint, None, "torch", 2))
    assert result.quality_gate["calibrated"] is False and "uncalibrated" in result.quality_gate["label"]
    assert result.hr_confidence is None and all(w.confidence is None for w in result.per_window)
    assert not for_method("ica").calibrated and for_method("ica").witness is False


def test_the_shipped_gates_are_each_models_own() -> None:
    """The bundled model and the classic methods ship a fitted gate; a method's has no POS witness."""
    bundled = for_checkpoint(BUNDLED_CHECKPOINT, file_sha256(BUNDLED_CHECKPOINT))
    assert bundled.calibrated and bundled.model == file_sha256(BUNDLED_CHECKPOINT) and bundled.confidence
    assert bundled.answer_confidence and bundled.fitted_on["scores"]["answers"] > 0  # answers have their own map
    for method in ("pos", "chrom", "green"):
        gate = for_method(method)
        assert gate.calibrated and not gate.witness and gate.model == f"method:{method}" and gate.answer_confidence


def test_decide_is_what_predict_does(labelled: Path, fsam_checkpoint: Path) -> None:
    """The fit judges rules on features; predict judges by read_vitals: the same answer per clip and window."""
    runtime = resolve_runtime(fsam_checkpoint, None, "torch", 2)
    for clip in read_labelled(labelled)[:3]:
        with open_source(clip.video, CropSettings()) as source:
            run = run_pipeline(source, runtime, PredictOptions())
        check_run(run, source.name)
        fps = source.fps
        from edge_rppg.calibration import features, ppg_truth

        truth = ppg_truth(clip.ppg, clip.ppg_fs) if clip.ppg is not None else None
        f = features(run, fps, clip.name, True, truth)
        for gate in (UNCALIBRATED, replace(UNCALIBRATED, sqi_min=0.3, pass_fraction=0.2, snr_half_width_hz=0.1)):
            d = decide(gate, f)
            r = read_vitals(run, "torch", fps, clip.name, gate)
            assert [w.hr_bpm is not None for w in r.per_window] == d.passed.tolist()
            assert (r.hr_bpm is None) == (d.hr_bpm is None)
            if d.hr_bpm is not None:
                assert r.hr_bpm == pytest.approx(d.hr_bpm, abs=0.01)


def test_calibrate_fits_a_gate_that_predict_and_every_export_then_use(labelled: Path, own_checkpoint: Path) -> None:
    sidecar = sidecar_path(own_checkpoint)
    args = ["calibrate", "--data", str(labelled), "--weights", str(own_checkpoint), "--runtime", "onnxruntime"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    gate = Gate.from_json(sidecar.read_text(), str(sidecar))
    assert gate.calibrated and gate.model == file_sha256(own_checkpoint) and gate.fitted_on["clips"] == 5
    scores = gate.fitted_on["scores"]
    assert scores["pulseless"] == 2 and scores["pulseless_accepted"] == 0 and scores["pulsed"] == 3
    assert "written: " in result.output and "pulseless accepted" in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 1 and "--force replaces it" in again.output  # an existing gate is not replaced unasked
    assert for_checkpoint(own_checkpoint, file_sha256(own_checkpoint)) == gate
    from edge_rppg.exporters import export_model

    onnx = own_checkpoint.parent / "mine.onnx"
    export_model(own_checkpoint, "onnx", "fp32", onnx)
    xml = own_checkpoint.parent / "mine.xml"
    export_model(onnx, "openvino", "fp32", xml)  # from the ONNX, as on a device: the gate travels on
    for model in (onnx, xml):
        assert for_model_file(model) == gate, model
    video = next(labelled.glob("pulsed-*.avi"))
    on_ov = predict_video(video, resolve_runtime(None, xml, "openvino", 2))
    assert on_ov.quality_gate["calibrated"] and on_ov.quality_gate["model"] == gate.model


def test_an_export_cached_before_calibration_is_not_reused_after(tmp_path: Path, fsam_checkpoint: Path) -> None:
    from edge_rppg.exporters.cache import cache_path

    ckpt = tmp_path / "m.pt"
    shutil.copyfile(fsam_checkpoint, ckpt)
    before = cache_path(ckpt, "onnxruntime")
    sidecar_path(ckpt).write_text(replace(UNCALIBRATED, fitted_on={"data": "x", "clips": 1}).to_json())
    assert cache_path(ckpt, "onnxruntime") != before


def test_a_classic_method_is_calibrated_like_a_model(labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "pos.gate.json"
    result = runner.invoke(app, ["calibrate", "--data", str(labelled), "--method", "pos", "--out", str(out)])
    assert result.exit_code == 0, result.output
    gate = Gate.from_json(out.read_text(), str(out))
    assert gate.model == "method:pos" and not gate.witness and gate.peak_candidates == 1
    no_out = runner.invoke(app, ["calibrate", "--data", str(labelled), "--method", "pos"])
    assert no_out.exit_code == 2 and "--out" in no_out.output


def test_calibrate_refuses_clips_without_pulseless_ones_before_any_work(labelled: Path, tmp_path: Path) -> None:
    only_pulsed = tmp_path / "pulsed"
    only_pulsed.mkdir()
    for f in labelled.glob("pulsed-*"):
        shutil.copyfile(f, only_pulsed / f.name)
    out = tmp_path / "g.json"
    result = runner.invoke(app, ["calibrate", "--data", str(only_pulsed), "--method", "pos", "--out", str(out)])
    assert result.exit_code == 1 and "calibration needs both" in result.output and not out.exists()
    broken = tmp_path / "broken"
    shutil.copytree(labelled, broken)
    (broken / "pulseless-11.json").write_text('{"pulsed": "no"}')
    result = runner.invoke(app, ["calibrate", "--data", str(broken), "--method", "pos", "--out", str(out)])
    assert result.exit_code == 1 and "pulseless-11.json" in result.output and not out.exists()


def test_a_clip_predict_reads_nothing_from_counts_as_refused_and_calibrate_goes_on(
    labelled: Path, tmp_path: Path
) -> None:
    """A pulsed clip with no face in it: predict refuses it outright, so every rule does; calibrate says so for that
    clip, counts it against coverage, and fits on the rest instead of stopping with an error."""
    from edge_rppg.data.video import write_video

    data = tmp_path / "data"
    shutil.copytree(labelled, data)
    empty = np.random.default_rng(0).integers(90, 110, (150, 96, 96, 3), dtype=np.uint8)  # 5 s of a wall
    write_video(data / "pulsed-wall.avi", iter(empty), 30.0)
    (data / "pulsed-wall.json").write_text('{"pulsed": true, "ppg_fs": 30.0}')
    np.save(data / "pulsed-wall.ppg.npy", np.sin(np.arange(150) / 30 * 2 * np.pi * 1.2))
    out = tmp_path / "g.json"
    result = runner.invoke(app, ["calibrate", "--data", str(data), "--method", "pos", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pulsed-wall (pulsed): nothing read, counted as refused" in result.output
    assert "no face found" in result.output
    fitted = Gate.from_json(out.read_text(), str(out)).fitted_on
    assert list(fitted["nothing_read"]) == ["pulsed-wall"] and fitted["scores"]["pulsed"] == 4


def test_the_fit_keeps_within_its_bounds_or_refuses_everything() -> None:
    """Features made by hand: a model whose pulseless clips look as good as its pulsed ones gets a gate that
    refuses; one whose pulse is clear gets a gate that answers right and rejects the pulseless clips."""
    from edge_rppg.calibration import GRID, ClipFeatures

    w = len(GRID["snr_half_width_hz"])

    def clip(name: str, pulsed: bool, hr: float, sqi: float) -> ClipFeatures:
        n = 20
        truth = np.full(n, 72.0 if pulsed else np.nan)
        return ClipFeatures(
            name=name, pulsed=pulsed, hr=np.full((w, n), hr), sqi=np.full((w, n), sqi), light=np.zeros((w, n)),
            witness=np.full(n, np.nan), motion=np.zeros(n), lost=np.zeros(n, bool), truth=truth,
        )  # fmt: skip

    clear = [clip(f"p{k}", True, 72.0, 0.9) for k in range(4)] + [clip(f"n{k}", False, 100.0, 0.35) for k in range(4)]
    gate = fit(clear, UNCALIBRATED, "hand", "m")
    s = score(gate, clear)
    assert s["answered"] == 4 and s["pulseless_accepted"] == 0 and s["mae_bpm"] == 0
    fooled = [clip(f"p{k}", True, 72.0, 0.9) for k in range(4)] + [clip(f"n{k}", False, 100.0, 0.95) for k in range(4)]
    refusing = fit(fooled, UNCALIBRATED_METHOD, "hand", "m")
    assert score(refusing, fooled)["answered"] == 0 and "refused" in refusing.fitted_on["scores"]["note"]
    assert expected_calibration_error(np.array([0.9, 0.9]), np.array([1.0, 0.0])) == pytest.approx(0.4)


def test_an_answers_confidence_is_the_share_of_such_answers_that_were_right() -> None:
    """The median of many segments is right more often than one segment is: an answer's confidence comes from its
    own map, fitted on answers, and a bin that was always right is still not certain."""
    from edge_rppg.calibration import ANSWER_CONFIDENCE_MIN_BIN as BIN
    from edge_rppg.calibration import fit_answer_confidence

    all_right = [(0.6, True, f"clip{k}") for k in range(BIN)]
    knots = fit_answer_confidence(all_right)
    gate = replace(UNCALIBRATED, confidence=((0.0, 0.2), (1.0, 0.9)), answer_confidence=knots)
    assert gate.confidence_of_answer([0.5, 0.7]) == pytest.approx((BIN + 1) / (BIN + 2), abs=1e-3)
    assert Gate.from_json(gate.to_json(), "x") == gate
    two_clips = [(0.6, True, f"clip{k % 2}") for k in range(2 * BIN)]  # many spans of two clips: two answers' worth
    assert fit_answer_confidence(two_clips)[0][1] == pytest.approx(3 / 4)
    mixed = [(0.3, False, f"a{k}") for k in range(BIN)] + [(0.8, True, f"b{k}") for k in range(BIN)]
    low, high = (
        replace(gate, answer_confidence=fit_answer_confidence(mixed)).confidence_of_answer([m]) for m in (0.3, 0.8)
    )
    assert low == pytest.approx(1 / (BIN + 2), abs=1e-3) and high == pytest.approx((BIN + 1) / (BIN + 2), abs=1e-3)
    backwards = [(0.3, True, f"a{k}") for k in range(BIN)] + [(0.8, False, f"b{k}") for k in range(BIN)]
    pooled = fit_answer_confidence(backwards)  # made monotone: one share for both
    assert pooled[0][1] == pooled[1][1] == pytest.approx(0.5)
    assert fit_answer_confidence([]) == ((0.0, 0.0), (1.0, 0.0))
    no_map = replace(gate, answer_confidence=())  # a gate fitted before answers had a map: their segments' mean
    assert no_map.confidence_of_answer([0.5, 0.7]) == pytest.approx(0.6) and no_map.confidence_of_answer([]) is None


def test_the_fit_gives_answers_their_own_confidence() -> None:
    """calibrate fits the answers' map on the answers its rule gives: four clips read right at a segment confidence
    well under 1 make answers that are surer than their segments."""
    from edge_rppg.calibration import GRID, ClipFeatures

    w, n = len(GRID["snr_half_width_hz"]), 20

    def clip(name: str, pulsed: bool) -> ClipFeatures:
        wrong = np.arange(n) % 4 == 0  # one segment in four reads an octave off: any span's median is still right
        hr = np.where(wrong, 144.0, 72.0) if pulsed else np.full(n, 100.0)
        sqi = np.full((w, n), 0.8 if pulsed else 0.3)
        return ClipFeatures(
            name=name, pulsed=pulsed, hr=np.tile(hr, (w, 1)), sqi=sqi, light=np.zeros((w, n)),
            witness=np.full(n, np.nan), motion=np.zeros(n), lost=np.zeros(n, bool),
            truth=np.full(n, 72.0 if pulsed else np.nan),
        )  # fmt: skip

    clips = [clip(f"p{k}", True) for k in range(8)] + [clip(f"n{k}", False) for k in range(4)]
    gate = fit(clips, UNCALIBRATED_METHOD, "hand", "m")
    segment = gate.confidence_of(0.8)
    assert segment is not None and segment < 0.8
    answer = gate.confidence_of_answer([segment])
    assert answer is not None and answer > segment and answer == pytest.approx(9 / 10, abs=0.01)  # 8 clips, all right
    assert gate.fitted_on["scores"]["answer_ece"] == pytest.approx(0.1, abs=0.01)


def test_calibrate_runs_on_features_of_real_files(labelled: Path) -> None:
    clip = read_labelled(labelled)[0]
    f = clip_features(clip, classic_runtime("pos"), UNCALIBRATED_METHOD)
    assert f.hr.shape[0] == 3 and np.isfinite(f.truth).any() and f.pulsed


def test_gate_of_a_runtime_is_its_models(onnx_fp32: Path) -> None:
    from edge_rppg.runtimes.metadata import model_metadata

    assert GATE_KEY not in model_metadata(onnx_fp32)  # an uncalibrated checkpoint's export carries none
    with resolve_runtime(None, onnx_fp32, "onnxruntime", 1) as rt:
        assert not gate_of(rt).calibrated
    assert gate_of(classic_runtime("pos")).model == "method:pos"


def _write_flickering(path: Path, pulse: bool, light_bpm: float | None, seconds: float = 12.0) -> None:
    """A synthetic face (written by OpenCV) under a light that swings 3 % at ``light_bpm`` over the whole scene."""
    from edge_rppg.data.synthetic import synthetic_clip
    from edge_rppg.data.video import write_video
    from tests.fixtures import SIZE

    n = int(seconds * 30)
    swing = np.ones(n) if light_bpm is None else 1 + 0.03 * np.sin(2 * np.pi * light_bpm / 60 * np.arange(n) / 30)
    frames = synthetic_clip(3, n, pulse=pulse).frames(SIZE)
    write_video(path, (np.clip(f * s, 0, 255).astype(np.uint8) for f, s in zip(frames, swing, strict=False)), 30.0)


def test_the_background_witness_sees_the_light_and_not_the_pulse(tmp_path: Path) -> None:
    """Beside the face, a light swinging at 96 bpm holds most of the background's HR-band power at 96 bpm; a
    steady light leaves nothing there, and a pulse on the skin does not reach the background."""
    flicker, steady = tmp_path / "flicker.avi", tmp_path / "steady.avi"
    _write_flickering(flicker, pulse=False, light_bpm=96.0)
    _write_flickering(steady, pulse=True, light_bpm=None)
    scenes = {}
    for path in (flicker, steady):
        with open_source(path, CropSettings(), 30.0) as source:
            run = run_pipeline(source, classic_runtime("pos"), PredictOptions())
        scenes[path.stem] = run.track.scene(len(run.track.lost) - 300, len(run.track.lost))
    assert scenes["flicker"].light_share(96.0) > 0.5
    assert scenes["steady"].light_share(96.0) < 0.2
    from edge_rppg.signals.quality import segment_quality
    from tests.test_vitals import ppg_from_ibis

    pulse, _ = ppg_from_ibis(np.full(14, 60 / 96.0), 0, noise=0.05)
    judged = segment_quality(pulse[:300], UNCALIBRATED, scene=scenes["flicker"])
    assert any(r.startswith("light: the background shows 96 bpm") for r in judged.reasons), judged.reasons
    assert not any(
        r.startswith("light") for r in segment_quality(pulse[:300], UNCALIBRATED, scene=scenes["steady"]).reasons
    )
