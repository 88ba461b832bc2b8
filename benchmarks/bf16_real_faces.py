"""bf16 against PyTorch on realistic faces: OpenVINO's CPU plugin computing in bf16 vs f32, same IR.

Windows come from pulsed videos of one half of the realistic corpus, through the training crop path: the
calibration half to choose the bf16 tolerance, the held-out half (the default) to judge it. Each model's
FP32 IR runs once in f32 and once in bf16; both are compared with the PyTorch deploy model on every window
(worst-window BVP r, max error of the BVP range, HR difference on the fine grid) and on the windows whose
reference passes predict's signal-quality check. Latency is p50 of batch-1 runs in this one process:
compare the ratios within one run only.

    python -m benchmarks.bf16_real_faces CORPUS [--split held-out|calibration] [--weights W ...] [--videos 6]
"""

from __future__ import annotations

import argparse
import tempfile
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.int8_sensitivity import corpus_windows
from edge_rppg.agreement import TOLERANCES, compare, passes_quality
from edge_rppg.exporters.onnx_export import export_fp32
from edge_rppg.exporters.openvino_export import export_ir
from edge_rppg.models.checkpoints import load_deploy_model
from edge_rppg.runtimes import RuntimeOptions, get_runtime
from edge_rppg.runtimes.torch_runtime import TorchRuntime
from edge_rppg.timing import p50_ms
from edge_rppg.weights import resolve


def _row(name: str, hint: str, ms: float, torch_ms: float, reference: np.ndarray, out: np.ndarray) -> str:
    shown = passes_quality(reference)
    every, pulse = compare(reference, out), compare(reference[shown], out[shown])
    held = "holds" if not TOLERANCES["bf16"].violations(every) else "misses"
    return (
        f"{name:28s} {hint:5s} {ms:7.1f} {torch_ms / ms:6.2f}  {every.bvp_pearson:.6f} {every.max_err_of_range:9.2e} "
        f"{every.hr_abs_diff_median_bpm:6.3f}/{every.hr_abs_diff_bpm:6.3f}  {pulse.bvp_pearson:.6f} "
        f"{pulse.hr_abs_diff_bpm:6.3f}  {held}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--weights", action="append", default=None, help="checkpoints (default: the bundled model)")
    ap.add_argument("--split", choices=["held-out", "calibration"], default="held-out")
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--windows", type=int, default=24)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        windows = corpus_windows(args.corpus, args.split, args.videos, args.windows, Path(tmp))
        print(f"{len(windows)} {args.split} windows")
        print(
            f"{'model':28s} {'hint':5s} {'p50 ms':>7s} {'x torch':>6s}  {'BVP r':8s} {'err/range':>9s} "
            f"{'dHR med/max':>13s}  {'pulse r':8s} {'dHR max':>6s}  bf16 tolerance"
        )
        for weights in args.weights or [None]:
            path = resolve(weights)[0]
            model = load_deploy_model(path)[0]
            with TorchRuntime.from_model(model) as torch_rt:
                reference, torch_ms = torch_rt.run(windows), p50_ms(lambda: torch_rt.run(windows[:1]))
            xml = export_ir(export_fp32(model, Path(tmp) / f"{path.stem}.onnx", {}), Path(tmp) / f"{path.stem}.xml", {},
                            "fp32", None)  # fmt: skip
            for hint in ("f32", "bf16"):
                with get_runtime("openvino").open(xml, RuntimeOptions(precision_hint=hint)) as rt:
                    assert rt.describe()["inference_precision"] == hint, rt.describe()
                    print(
                        _row(
                            path.name, hint, p50_ms(partial(rt.run, windows[:1])), torch_ms, reference, rt.run(windows)
                        )
                    )


if __name__ == "__main__":
    main()
