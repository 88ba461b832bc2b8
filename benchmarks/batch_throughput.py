"""Videos per minute for batch predict: 1 and 2 local workers, and Ray, in one run; and the per-stage costs
(decode, detect+crop, infer per frame) that say where the bottleneck is.

    python -m benchmarks.batch_throughput [--videos 6] [--seconds 20] [--runtime openvino]

Each configuration runs the same videos into a fresh results folder with the same model (exported once,
before the clock starts); ratios within this run are the figures, not the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.video import write_video
from edge_rppg.exporters.cache import cached_export
from edge_rppg.predict.batch import BatchSpec, collect_videos, plan_workers, result_path, run_batch
from edge_rppg.weights import resolve


def make_videos(folder: Path, count: int, seconds: float) -> list[Path]:
    for k in range(count):
        clip = synthetic_clip(seed=500 + k, n_frames=int(seconds * 30))
        write_video(folder / f"v{k}.avi", clip.frames((640, 480)), 30.0)
    return collect_videos(str(folder), None)


def stage_ms(out: Path, videos: list[Path]) -> dict[str, float]:
    """Per-frame milliseconds of each stage, summed over the videos (predict's own profile)."""
    totals: dict[str, float] = {}
    frames = 0
    for v in videos:
        result = json.loads(result_path(out, v).read_text())["result"]
        frames += result["frames"]
        for stage, ms in result["profile_ms"].items():
            totals[stage] = totals.get(stage, 0.0) + ms
    return {stage: ms / frames for stage, ms in totals.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--runtime", default="openvino")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="batch-bench-"))
    (root / "videos").mkdir()
    videos = make_videos(root / "videos", args.videos, args.seconds)
    model = cached_export(resolve(None)[0], args.runtime)
    cores = os.cpu_count() or 1
    rates = {}
    for label, engine, workers in (
        ("local, 1 worker", "local", 1),
        ("local, 2 workers", "local", 2),
        ("ray, 2 actors", "ray", 2),
    ):
        n, threads = plan_workers(len(videos), workers, cores)
        spec = BatchSpec(model=model, runtime=args.runtime, threads=threads)
        out = root / label.replace(" ", "").replace(",", "-")
        start = time.perf_counter()
        report = run_batch(videos, spec, out, engine, workers=n)
        minutes = (time.perf_counter() - start) / 60
        rates[label] = len(videos) / minutes
        stages = ", ".join(f"{k} {v:.2f}" for k, v in stage_ms(out, videos).items() if k != "wall")
        print(
            f"{label:18s} {n} x {threads} threads: {rates[label]:6.1f} videos/min "
            f"({report.frames / (minutes * 60):6.0f} frames/s; ms per frame: {stages})",
            flush=True,
        )
    base = rates["local, 1 worker"]
    print("ratios: " + ", ".join(f"{k} {v / base:.2f}x" for k, v in rates.items()))


if __name__ == "__main__":
    main()
