"""Both model families side by side in one run: torch eager, ONNX Runtime, OpenVINO FP32, bf16 and INT8, with
latency per window, GFLOP/s against this machine's matmul rate, and agreement with PyTorch.

    python benchmarks/families.py [--factorizephys W] [--efficientphys W] [--windows 8] [--out runs/families]

Defaults: the bundled default model, and the authors' UBFC EfficientPhys_FSAM if it was pulled
(``edge-rppg weights pull efficientphys-fsam-ubfc``), else a seeded untrained EfficientPhys: latency does
not depend on the weights, and agreement is measured on the same windows either way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from edge_rppg.bench import Timing, run_bench
from edge_rppg.errors import EdgeRppgError
from edge_rppg.exporters import export_model
from edge_rppg.models import get_family
from edge_rppg.models.checkpoints import save_checkpoint
from edge_rppg.weights import WeightsError, resolve


def _efficientphys(out: Path) -> Path:
    try:
        return resolve("efficientphys-fsam-ubfc")[0]
    except WeightsError:
        torch.manual_seed(0)
        path = out / "efficientphys_untrained.pt"
        save_checkpoint(path, get_family("efficientphys").build(), trained_on="untrained (seed 0)")
        return path


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
            if r.latency_ms and r.agreement:
                rows.append(
                    (
                        family,
                        r.runtime,
                        r.precision,
                        r.latency_ms.p50,
                        r.speedup_vs_reference,
                        r.gflops_per_s,
                        r.gflops_per_s / report.matmul_gflops_per_s,
                        r.agreement.bvp_pearson,
                        r.agreement.hr_abs_diff_bpm,
                        report.model_gflop_per_window,
                    )
                )
        machine = report.machine
    print(
        f"{machine['cpu']}, {machine['cores']} cores; matmul {report.matmul_gflops_per_s:.0f} GFLOP/s at "
        f"{report.threads} threads"
    )
    print("family         runtime      prec   GFLOP/win  p50 ms   x torch  GFLOP/s  of matmul  BVP r     dHR bpm")
    for f, rt, p, ms, x, g, frac, r, dhr, gw in rows:
        print(f"{f:14s} {rt:12s} {p:5s}  {gw:8.2f}  {ms:7.1f}  {x:7.2f}  {g:7.1f}  {frac:8.1%}  {r:.5f}  {dhr:.3f}")


if __name__ == "__main__":
    main()
