"""INT8 on real-looking faces, before and after: calibration source and NNCF settings, judged on held-out videos.

"Real-looking" here: the harder synthetic videos (head rotation/scale, light steps, darker skin, weaker pulse,
MJPEG 60-90), written to disk in the UBFC-rPPG layout and read back through the same face-crop path as
training. Calibration videos and guard videos are different subjects. Prints one table; ratios are
measured in this one run (latency: OpenVINO f32/int8 vs PyTorch eager, batch 1, all cores).

    python -m benchmarks.int8_real_faces [--weights W] [--subjects 9] [--seconds 12]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from edge_rppg.agreement import compare
from edge_rppg.data.synthetic import synthetic_windows, write_synthetic_ubfc
from edge_rppg.data.windows import CalibrationSource
from edge_rppg.exporters.onnx_export import export_fp32
from edge_rppg.exporters.openvino_export import INT8, Int8Settings, export_ir, int8_coverage
from edge_rppg.models.checkpoints import load_deploy_model
from edge_rppg.runtimes import RuntimeOptions, get_runtime
from edge_rppg.runtimes.torch_runtime import TorchRuntime
from edge_rppg.timing import p50_ms

TRAINED = Path(__file__).resolve().parents[1] / "tests" / "assets" / "synthetic_fsam.pt"

# Round 1's INT8, written out so that the rows below stay what they say when the product's defaults move.
ROUND_1 = Int8Settings(
    range_estimator="MINMAX", keep_first_norm_fp32=False, keep_first_conv_fp32=False, overflow_fix="FIRST_LAYER"
)
QUANTILE = replace(ROUND_1, range_estimator="MEAN_QUANTILE")
# (row, calibration windows: synthetic | real | both, settings): each row changes one thing from a row above it,
# ending at the product's INT8; the README's before/after chain (min-max, quantiles, + first norm) is rows 2, 6, 7.
VARIANTS: tuple[tuple[str, str, Int8Settings], ...] = (
    ("int8 round 1: synthetic calibration, min-max", "synthetic", ROUND_1),
    ("int8: real-looking calibration, min-max", "real", ROUND_1),
    ("int8: real-looking + synthetic, min-max", "both", ROUND_1),
    (
        "int8: real-looking, MEAN_NO_OUTLIERS ranges",
        "real",
        replace(ROUND_1, range_estimator="MEAN_NO_OUTLIERS_MINMAX"),
    ),
    ("int8: real-looking, HISTOGRAM ranges", "real", replace(ROUND_1, range_estimator="HISTOGRAM")),
    ("int8: real-looking, quantile ranges", "real", QUANTILE),
    ("int8: real-looking, quantile + first norm fp32", "real", replace(QUANTILE, keep_first_norm_fp32=True)),
    (
        "int8: ... + first conv fp32",
        "real",
        replace(QUANTILE, keep_first_norm_fp32=True, keep_first_conv_fp32=True),
    ),
    ("int8: ... + 7-bit weights everywhere (the product's)", "real", INT8),
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", type=Path, default=TRAINED)
    ap.add_argument("--subjects", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=22.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="int8-"))
    data = write_synthetic_ubfc(work / "hard", args.subjects, args.seconds, seed=31, hard=True)
    calib_real, held = CalibrationSource(data=data, dataset="ubfc-rppg", windows=64, held_out=64).draw()
    calib_synth = synthetic_windows(32, seed=7)[0]
    print(
        f"calibration windows: {len(calib_real)} real-looking / {len(calib_synth)} built-in synthetic; "
        f"held-out guard windows: {len(held)}"
    )

    model, _ = load_deploy_model(args.weights)
    torch_rt = TorchRuntime.from_model(model)
    reference = torch_rt.run(held)
    onnx = work / "fp32.onnx"
    export_fp32(model, onnx, {})
    both = np.concatenate([calib_real, calib_synth])
    variants = [("fp32", None, None)] + [
        (name, {"synthetic": calib_synth, "real": calib_real, "both": both}[source], settings)
        for name, source, settings in VARIANTS
    ]
    w1 = held[:1]
    t_torch = p50_ms(lambda: torch_rt.run(w1), 40)
    print(
        f"{'variant':45s} {'r (worst)':>10s} {'err/range':>10s} {'dHR max':>8s} {'dHR med':>8s} {'ms':>7s} "
        f"{'x torch':>8s}  fp32 convs"
    )
    print(f"{'pytorch eager':45s} {'':>10s} {'':>10s} {'':>8s} {'':>8s} {t_torch:7.1f} {1.0:8.2f}")
    for name, calib, settings in variants:
        xml = work / f"{abs(hash(name))}.xml"
        export_ir(onnx, xml, {}, "fp32" if calib is None else "int8", calib, settings or INT8)
        rt = get_runtime("openvino").open(xml, RuntimeOptions())
        out = np.concatenate([rt.run(w[None]) for w in held])
        a = compare(reference, out)
        ms = p50_ms(partial(rt.run, w1), 40)
        fp32_convs = int8_coverage(xml)["fp32_convolutions"] if calib is not None else []
        assert isinstance(fp32_convs, list)
        print(
            f"{name:45s} {a.bvp_pearson:10.5f} {a.max_err_of_range:10.2e} {a.hr_abs_diff_bpm:8.2f} "
            f"{a.hr_abs_diff_median_bpm:8.2f} "
            f"{ms:7.1f} {t_torch / ms:8.2f}  {len(fp32_convs)}"
        )


if __name__ == "__main__":
    main()
