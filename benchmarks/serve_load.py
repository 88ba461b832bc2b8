"""Load on ``edge-rppg serve``: N video streams at 30 fps for S seconds against one server on loopback, one SSE
client per stream, one client dropped halfway. Prints the frame-to-update latency (p50/p95), the frames each stream
read against real time, the server's RSS over time and its CPU. Run it with nothing else on the machine:

    python -m benchmarks.serve_load [--streams 4] [--seconds 60] [--model M --runtime onnxruntime]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from edge_rppg.data.synthetic import synthetic_clip
from edge_rppg.data.video import write_video

DEFAULT_ONNX = Path(__file__).resolve().parents[1] / "edge_rppg" / "assets" / "default_model.onnx"
SAMPLE_S = 5.0


def make_videos(root: Path, count: int, seconds: float) -> list[Path]:
    paths = []
    for k in range(count):
        path = root / f"stream{k}.avi"
        write_video(path, synthetic_clip(seed=100 + k, n_frames=int(seconds * 30)).frames((640, 480)), 30.0)
        paths.append(path)
    return paths


def start_server(videos: list[Path], model: Path, runtime: str) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "edge_rppg", "serve", "--port", "0", "--model", str(model), "--runtime", runtime]
    for v in videos:
        cmd += ["--video", str(v)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "serving" in line:
            return proc, line.split(" at ")[-1].strip()
    raise SystemExit(f"the server did not start: {proc.wait()}")


def listen(url: str, stream: str, latencies: list[float], stop: threading.Event) -> None:
    with urllib.request.urlopen(f"{url}api/v1/streams/{stream}/events", timeout=60) as events:
        for raw in events:
            if stop.is_set():
                return
            if raw.startswith(b"data: "):
                latencies.append(json.loads(raw[6:])["latency_s"])


def state(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}api/v1/streams", timeout=10) as r:
        streams: list[dict[str, Any]] = json.loads(r.read())["streams"]
        return streams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--model", type=Path, default=DEFAULT_ONNX)
    ap.add_argument("--runtime", default="onnxruntime")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="serve-load-"))
    videos = make_videos(root, args.streams, args.seconds)
    proc, url = start_server(videos, args.model, args.runtime)
    server = psutil.Process(proc.pid)
    ids = [s["stream"] for s in state(url)]
    latencies: dict[str, list[float]] = {i: [] for i in ids}
    stops = {i: threading.Event() for i in ids}
    for i in ids:
        threading.Thread(target=listen, args=(url, i, latencies[i], stops[i]), daemon=True).start()
    started, rss, dropped = time.monotonic(), [], False
    server.cpu_percent()
    frames_at_start = {s["stream"]: s["frames"] for s in state(url)}
    while (elapsed := time.monotonic() - started) < args.seconds:
        time.sleep(SAMPLE_S)
        rss.append((round(elapsed), server.memory_info().rss / 2**20))
        if not dropped and elapsed >= args.seconds / 2:
            stops[ids[-1]].set()  # a client goes mid-stream: its queue is freed at the next window
            dropped = True
    cpu = server.cpu_percent() / 100
    final, measured = state(url), time.monotonic() - started
    proc.terminate()
    proc.wait(timeout=30)
    report(args, ids, latencies, final, frames_at_start, measured, rss, cpu)


def report(
    args: argparse.Namespace,
    ids: list[str],
    latencies: dict[str, list[float]],
    final: list[dict[str, Any]],
    frames_at_start: dict[str, int],
    wall: float,
    rss: list[tuple[int, float]],
    cpu: float,
) -> None:
    every = np.array([v for i in ids for v in latencies[i]]) * 1e3
    print(f"{args.streams} streams x 30 fps x {args.seconds:g} s, {args.runtime}, {psutil.cpu_count()} cores")
    print(f"frame -> update latency: p50 {np.percentile(every, 50):.0f} ms, p95 {np.percentile(every, 95):.0f} ms "
          f"({len(every)} updates)")  # fmt: skip
    for s in final:
        read = s["frames"] - frames_at_start[s["stream"]]
        print(
            f"  {s['stream']}: {read} frames read in {wall:.0f} s ({read / wall:.1f} fps; real time 30), "
            f"{len(latencies[s['stream']])} updates received, listeners now {s['listeners']}, error {s['error']}"
        )
    print("server RSS (MiB) every 5 s: " + ", ".join(f"{t}s {m:.0f}" for t, m in rss))
    print(f"server CPU: {cpu:.2f} cores on average")


if __name__ == "__main__":
    main()
