"""Both model families side by side in one run: torch eager, ONNX Runtime, OpenVINO FP32, bf16 and INT8, with
latency per window, GFLOP/s against this machine's matmul rate, and agreement with PyTorch. Beside bench's p50 of
every OpenVINO row: the median of OpenVINO's own ``benchmark_app`` on the same file in the same run, with the
settings bench uses (batch 1, the same threads, one stream, the precision the runtime computes in),
so that a gap between the two is ours to explain, not the plugin's.

    python -m benchmarks.families [--factorizephys W] [--efficientphys W] [--windows 8] [--out runs/families]

Defaults: the bundled default model, and the authors' UBFC EfficientPhys_FSAM if it was pulled
(``edge-rppg weights pull efficientphys-fsam-ubfc``), else a seeded untrained EfficientPhys: latency does
not depend on the weights, and agreement is measured on the same windows either way.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import torch

from edge_rppg.bench.records import Timing
from edge_rppg.bench.run import run_bench
from edge_rppg.errors import EdgeRppgError
from edge_rppg.exporters import export_model
from edge_rppg.models import get_family
from edge_rppg.models.checkpoints import save_checkpoint
from edge_rppg.runtimes.openvino_runtime import MODEL_HINTS
from edge_rppg.weights import WeightsError, resolve


def _efficientphys(out: Path) -> Path:
    try:
        return resolve("efficientphys-fsam-ubfc")[0]
    except WeightsError:
        torch.manual_seed(0)
        path = out / "efficientphys_untrained.pt"
        save_checkpoint(path, get_family("efficientphys").build(), trained_on="untrained (seed 0)")
        return path


def benchmark_app_median_ms(model: str, precision: str, threads: int, iterations: int = 30) -> float | None:
    """OpenVINO's own timer on ``model`` (None where it is not installed or fails, said on stderr)."""
    tool = Path(sys.executable).with_name("benchmark_app")
    hint = MODEL_HINTS.get(precision, "f32")  # what OpenVinoRuntime compiles it to compute in
    # -hint none: benchmark_app takes -nstreams/-nthreads only then; one stream is what bench's latency hint runs
    cmd = [str(tool), "-m", model, "-d", "CPU", "-api", "sync", "-hint", "none", "-nstreams", "1"]
    cmd += ["-nthreads", str(threads), "-infer_precision", hint, "-niter", str(iterations)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"benchmark_app on {model}: {exc}", file=sys.stderr)
        return None
    median = re.search(r"Median:\s+([0-9.]+) ms", done.stdout)
    if done.returncode or not median:
        said = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        print(f"benchmark_app on {model}: exit {done.returncode}: {said[-1]}", file=sys.stderr)
        return None
    return float(median.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--factorizephys", type=Path, default=None)
    ap.add_argument("--efficientphys", type=Path, default=None)
    ap.add_argument("--windows", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path("runs/families"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    checkpoints = {
        "factorizephys": resolve(args.factorizephys)[0],
        "efficientphys": args.efficientphys or _efficientphys(args.out),
    }
    rows = []
    for family, weights in checkpoints.items():
        models = []
        for target, precision, suffix in (
            ("onnx", "fp32", ".onnx"),
            ("openvino", "fp32", ".xml"),
            ("openvino", "bf16", ".xml"),  # refused, and said so, on a CPU that does not compute in bf16
            ("openvino", "int8", ".xml"),
        ):
            try:
                models.append(
                    Path(export_model(weights, target, precision, args.out / f"{family}_{precision}{suffix}").path)
                )
            except EdgeRppgError as exc:  # an INT8 outside its tolerance, bf16 on a CPU without it: said, not run
                print(f"{family} {target} {precision}: {exc}")
        report = run_bench(["all"], models, weights, n_windows=args.windows, timing=Timing(10, 3, 3))
        for r in report.results:
            if r.latency_ms and r.agreement and r.gflops_per_s is not None and report.matmul_gflops_per_s:
                peer = None
                if r.runtime == "openvino":
                    peer = benchmark_app_median_ms(r.model, r.precision, report.threads)
                rows.append(
                    (
                        family,
                        r.runtime + (" (onnx)" if r.runtime == "openvino" and r.model.endswith(".onnx") else ""),
                        r.precision,
                        r.latency_ms.p50,
                        r.speedup_vs_reference,
                        r.gflops_per_s,
                        r.gflops_per_s / report.matmul_gflops_per_s,
                        r.agreement.bvp_pearson,
                        r.agreement.hr_abs_diff_bpm,
                        report.model_gflop_per_window,
                        peer,
                    )
                )
        machine = report.machine
    print(
        f"{machine['cpu']}, {machine['cores']} cores; matmul {report.matmul_gflops_per_s:.0f} GFLOP/s at "
        f"{report.threads} threads"
    )
    # benchmark_app: OpenVINO's own median on the same file, same run
    head = "family        runtime          prec  GFLOP/win  p50 ms  benchmark_app  x torch  GFLOP/s  of matmul"
    print(head + "  BVP r   dHR")
    for f, rt, p, ms, x, g, frac, pearson, dhr, gw, peer in rows:
        ba = f"{peer:13.1f}" if peer is not None else f"{'-':>13s}"
        row = f"{f:13s} {rt:16s} {p:5s} {gw:9.2f} {ms:7.1f} {ba} {x:8.2f} {g:8.1f} {frac:10.1%} {pearson:.5f} {dhr:.3f}"
        print(row)


if __name__ == "__main__":
    main()
