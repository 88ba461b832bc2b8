"""The full and the slim install side by side: what a device pays for each.

    python -m benchmarks.install_footprint --venv .venv --venv .venv-slim [--seconds 60] [--repeats 3]

For each venv: its size on disk, whether PyTorch imports, ``edge-rppg --help`` wall and CPU time, and
``edge-rppg predict VIDEO`` with no options (the bundled model, ``--runtime auto``): wall time, peak RSS and
frames/s. The video is ``demo-video`` at 640x480. Each venv's predict runs once untimed first (the full
install exports the checkpoint for its runtime once and caches it); the venvs then alternate in every
repeat, and the medians are printed. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stdout: str


def run_measured(cmd: list[str]) -> Measured:
    """One child process, its own resource use (wait4 reports the child alone, not all children so far)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}")
    return Measured(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out)


def venv_size_mb(venv: Path) -> float:
    total = sum(p.lstat().st_size for p in venv.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 1e6


def has_torch(venv: Path) -> bool:
    return subprocess.run([str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True).returncode == 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--venv", type=Path, action="append", required=True)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cli = {v: str(v / "bin" / "edge-rppg") for v in args.venv}
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "demo.avi"
        first = args.venv[0]
        subprocess.run([cli[first], "demo-video", str(video), "--seconds", str(args.seconds)], check=True)
        predict = ["predict", str(video), "--json", "-"]
        for v in args.venv:
            run_measured([cli[v], *predict])  # untimed: the full install's cached export is made here
        helps: dict[Path, list[Measured]] = {v: [] for v in args.venv}
        runs: dict[Path, list[Measured]] = {v: [] for v in args.venv}
        for _ in range(args.repeats):
            for v in args.venv:
                helps[v].append(run_measured([cli[v], "--help"]))
                runs[v].append(run_measured([cli[v], *predict]))
    print(
        f"{'venv':14s} {'size MB':>8s} {'torch':>6s} {'--help wall/CPU s':>18s} {'predict wall s':>15s} "
        f"{'peak RSS MB':>12s} {'frames/s':>9s} runtime"
    )
    for v in args.venv:
        med = lambda xs: statistics.median(xs)
        fps = [json.loads(m.stdout)["speed_fps"] for m in runs[v]]
        runtime = json.loads(runs[v][0].stdout)["runtime"]
        print(
            f"{v.name:14s} {venv_size_mb(v):8.0f} {'yes' if has_torch(v) else 'no':>6s} "
            f"{med(h.wall_s for h in helps[v]):8.2f} / {med(h.cpu_s for h in helps[v]):5.2f}   "
            f"{med(m.wall_s for m in runs[v]):15.2f} {med(m.peak_rss_mb for m in runs[v]):12.0f} "
            f"{med(fps):9.0f} {runtime}"
        )


if __name__ == "__main__":
    main()
