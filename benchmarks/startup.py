"""How long the CLI takes to start: ``edge-rppg --help`` and every command's ``--help`` in fresh processes.

    python -m benchmarks.startup [--repeats 5]

Prints the median wall and CPU time of each, and which heavy modules the start-up imported (there should be
none: tests/test_cli.py fails if torch, ONNX Runtime, OpenVINO, TensorRT or SciPy is imported to start).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

from edge_rppg.cli import COMMANDS, app

HEAVY = ("torch", "onnxruntime", "openvino", "tensorrt", "scipy", "ray")


def _time(args: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edge_rppg", *args], capture_output=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    helps = [["--help"]] + [([n] if g is app else ["weights", n]) + ["--help"] for g, n, _ in COMMANDS]
    for h in helps:
        runs = [_time(h) for _ in range(args.repeats)]
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        print(f"edge-rppg {' '.join(h):24s} wall {wall:5.2f} s  CPU {cpu:5.2f} s", flush=True)
    probe = f"import sys; from edge_rppg.cli import app; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    print(f"heavy modules imported to start: {loaded}")


if __name__ == "__main__":
    main()
