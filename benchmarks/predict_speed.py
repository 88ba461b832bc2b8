"""predict's speed per runtime, with each stage's cost and the bound that inference alone sets, in one run.

    python -m benchmarks.predict_speed [--seconds 60] [--video FILE] [--runtimes torch onnxruntime openvino int8]

The video is a 640x480 MJPEG synthetic face (or ``--video``). For each runtime the bundled default model runs
once alone on one window (p50 of ``--repeats``), which bounds predict at ``stride / fps / p50`` x real time
(one window per stride of frames, nothing else on the cores); then ``predict_video`` runs the whole video,
with decode, detection, tracking and cropping on the same cores, as predict opens the runtime
(``predict.runtime_options``: workers neither pinned nor spinning), twice: on full frames
(``max_reduction=1``, every frame decoded whole) and as predict runs by default (frames decoded and tracked
at the size the face crop needs: half size for a 640x480 close-up, data/frames.py).
``int8`` is the OpenVINO INT8 export, calibrated on the built-in synthetic windows (a speed figure only: its
accuracy is judged elsewhere).
Speeds vary between runs on a shared VM: read the ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.batch_throughput import make_videos
from edge_rppg.contract import CONTRACT
from edge_rppg.data.face import CropSettings, FaceCropper
from edge_rppg.data.source import open_source
from edge_rppg.errors import ExportError
from edge_rppg.exporters import export_model
from edge_rppg.exporters.cache import cached_export
from edge_rppg.predict.pipeline import PredictOptions, Track
from edge_rppg.predict.video import predict_video, runtime_options
from edge_rppg.runtimes import RuntimeOptions, open_runtime
from edge_rppg.timing import p50_ms
from edge_rppg.weights import resolve


def model_for(name: str, weights: Path, root: Path) -> tuple[Path, str] | None:
    """The file each row runs and its runtime: the checkpoint on torch, the cached FP32 exports, an INT8 IR
    (accuracy-controlled, as a user whose plain INT8 is refused would make it; None if it is refused too)."""
    if name == "torch":
        return weights, "torch"
    if name == "int8":
        out = root / "model_int8.xml"
        try:
            export_model(weights, "openvino", "int8", out, accuracy_control=True)
        except ExportError as exc:
            print(f"int8: no row: {exc}", flush=True)
            return None
        return out, "openvino"
    return cached_export(weights, name), name


def alone_ms(path: Path, runtime: str, repeats: int) -> float:
    with open_runtime(path, runtime, RuntimeOptions()) as rt:
        x = (255 * np.random.default_rng(0).random(CONTRACT.input_shape(1))).astype(np.float32)
        return p50_ms(lambda: rt.run(x), repeats, warmup=1)


def front_ms_per_frame(video: Path, options: PredictOptions) -> float:
    """Decode, detect, track, crop and the quality measures alone, on one core, per input frame."""
    track, frames = Track(roi=options.classic_roi), 0
    start = time.perf_counter()
    with open_source(video, options.crop) as source:
        cropper = FaceCropper(options.crop, source.fps)
        for frame in source.frames():
            frames += 1
            for step in cropper.push(frame):
                track.add(step)
    return 1e3 * (time.perf_counter() - start) / frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--video", type=Path)
    ap.add_argument("--runtimes", nargs="+", default=["torch", "onnxruntime", "openvino", "int8"])
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="predict-speed-"))
    video = args.video or make_videos(root, 1, args.seconds)[0]
    weights = resolve(None)[0]
    options = PredictOptions()
    full_frames = PredictOptions(crop=CropSettings(max_reduction=1))
    made = {name: model_for(name, weights, root) for name in args.runtimes}  # exported before any clock
    models = {name: m for name, m in made.items() if m is not None}
    front, front_full = front_ms_per_frame(video, options), front_ms_per_frame(video, full_frames)
    cores = os.cpu_count() or 1
    print(f"{video}; stride {options.stride} frames at {CONTRACT.fps:g} fps; {cores} cores", flush=True)
    print(
        f"decode + detect + track + crop alone: {front:.2f} ms of one core per frame ({front_full:.2f} on full frames)",
        flush=True,
    )
    for name, (path, runtime) in models.items():
        ms = alone_ms(path, runtime, args.repeats)
        bound = options.stride / CONTRACT.fps / (ms / 1e3)
        # Every stage on every core, no time lost to sharing: the runtime uses all cores for ``ms``.
        ideal = (front + cores * ms / options.stride) / cores
        with open_runtime(path, runtime, runtime_options(None)) as rt:  # as predict runs it: unpinned, no spinning
            before = predict_video(video, rt, full_frames)
            r = predict_video(video, rt, options)
        per_frame = ", ".join(f"{k} {v / r.frames:.2f}" for k, v in r.profile_ms.items())
        hr = "refused" if r.hr_bpm is None else f"{r.hr_bpm:.1f} bpm"
        print(
            f"{name:12s} alone {ms:6.1f} ms/window (inference bound {bound:5.1f}x real time; all stages, ideally "
            f"shared: {ideal:.2f} ms/frame = {1e3 / ideal / r.fps:4.1f}x); predict {1e3 / r.speed_fps:.2f} ms/frame = "
            f"{r.speed_fps / r.fps:4.1f}x real time ({ideal * r.speed_fps / 1e3:.0%} of ideal; on full frames "
            f"{before.speed_fps / before.fps:4.1f}x, {before.hr_bpm}), {hr}; "
            f"ms per frame: {per_frame}",
            flush=True,
        )


if __name__ == "__main__":
    main()
