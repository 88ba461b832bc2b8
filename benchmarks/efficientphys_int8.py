"""EfficientPhys INT8 against its FP32 IR, with the temporal shift in front of each convolution (the product's
graph), behind it (``ShiftBehind``, a candidate) and as a depthwise temporal convolution (``ShiftAsConv``, a
candidate): latency, what the CPU plugin actually runs in INT8, and the pulse on realistic windows.

With the shift in front, NNCF quantizes each channel slice on its own and the plugin runs the 3x3 convolutions
in FP32 under their quantizers, so INT8 is hardly faster than FP32 (#21 item 3). Behind the convolution (a time
shift commutes with a per-frame convolution, and a zero frame convolves to zero), every convolution runs INT8,
at the price of three convolutions per layer and more memory traffic. As a convolution (a depthwise 3x1x1 kernel
over time with one-hot weights, zero-padded: the same values exactly), the shift is an op the quantizers can sit in
front of, at the price of two transposes per shift. All are the same network with the same
weights (the script prints how far their PyTorch outputs differ); only the graph differs.
Calibration windows come from the realistic corpus's calibration half, the judged windows from its held-out
half (pulsed clips), both against the PyTorch deploy model. Latency: p50 of batch-1 runs, 2 threads, in this
one process (ratios within this run only).

    python -m benchmarks.efficientphys_int8 CORPUS [--weights efficientphys-fsam-ubfc] [--windows 16]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.int8_sensitivity import corpus_windows
from edge_rppg.agreement import TOLERANCES, compare
from edge_rppg.exporters.onnx_export import export_fp32
from edge_rppg.exporters.openvino_export import INT8, export_ir
from edge_rppg.models.checkpoints import load_deploy_model
from edge_rppg.models.efficientphys import EfficientPhys
from edge_rppg.runtimes import RuntimeOptions, get_runtime
from edge_rppg.runtimes.torch_runtime import TorchRuntime
from edge_rppg.timing import p50_ms
from edge_rppg.weights import resolve


def _shift_frames(y: torch.Tensor, segment: int, step: int) -> torch.Tensor:
    """Each frame replaced by the one ``step`` (+1 or -1) away in its segment, zero past the segment's ends."""
    nt, c, h, w = y.shape
    v = y.reshape(-1, segment, c, h, w)
    v = F.pad(v[:, 1:], (0, 0, 0, 0, 0, 0, 0, 1)) if step > 0 else F.pad(v[:, :-1], (0, 0, 0, 0, 0, 0, 1, 0))
    return v.reshape(nt, c, h, w)


def shifted_conv(conv: torch.nn.Conv2d, x: torch.Tensor, segment: int, fold_div: int) -> torch.Tensor:
    """``conv(temporal_shift(x))`` as the shift of the convolutions of each channel fold (bias added once)."""
    fold = x.shape[1] // fold_div
    w, padding = conv.weight, conv.padding
    assert not isinstance(padding, str), "a numeric padding, as EfficientPhys's convolutions have"

    def part(lo: int, hi: int | None, bias: torch.Tensor | None) -> torch.Tensor:
        return F.conv2d(x[:, lo:hi], w[:, lo:hi], bias, conv.stride, padding, conv.dilation)

    ahead, behind, rest = part(0, fold, None), part(fold, 2 * fold, None), part(2 * fold, None, conv.bias)
    return _shift_frames(ahead, segment, +1) + _shift_frames(behind, segment, -1) + rest


class ShiftBehind(EfficientPhys):
    """The candidate: the shift behind convolutions 2-4 (the first stays FP32 in INT8 and keeps it in front)."""

    def _motion(self, x: torch.Tensor) -> torch.Tensor:
        seg, fold = self.config.frame_depth, self.config.fold_div
        x = torch.tanh(self.motion_conv1(self._shift(x)))
        x = torch.tanh(shifted_conv(self.motion_conv2, x, seg, fold))
        x = self.dropout_conv(self.pool(x))
        x = torch.tanh(shifted_conv(self.motion_conv3, x, seg, fold))
        x = self.dropout_conv(self.pool(x))
        x = torch.tanh(shifted_conv(self.motion_conv4, x, seg, fold))
        out: torch.Tensor = self.dropout_conv(self.pool(x))
        return out


class ShiftAsConv(EfficientPhys):
    """The candidate: each shift a depthwise convolution over time (next frame, previous frame, or itself)."""

    def _shift(self, x: torch.Tensor) -> torch.Tensor:
        nt, c, h, w = x.shape
        seg, fold = self.config.frame_depth, c // self.config.fold_div
        taps = torch.zeros(c, 1, 3, 1, 1, dtype=x.dtype)
        taps[:fold, 0, 2] = 1.0  # out[t] = in[t + 1]
        taps[fold : 2 * fold, 0, 0] = 1.0  # out[t] = in[t - 1]
        taps[2 * fold :, 0, 1] = 1.0
        v = x.reshape(-1, seg, c, h, w).transpose(1, 2)
        return F.conv3d(v, taps, padding=(1, 0, 0), groups=c).transpose(1, 2).reshape(nt, c, h, w)


def plugin_precisions(xml: Path, threads: int) -> list[str]:
    """The precision the CPU plugin runs each convolution in (its runtime model), in graph order."""
    import openvino as ov

    compiled = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_NUM_THREADS": threads})
    infos = [op.get_rt_info() for op in compiled.get_runtime_model().get_ordered_ops()]
    return [i["runtimePrecision"].astype(str) for i in infos if i["layerType"].astype(str) == "Convolution"]


def graphs(product: EfficientPhys) -> dict[str, EfficientPhys]:
    """The product's network and each candidate graph, with the product's weights."""
    models = {"shift in front (product)": product}
    for label, graph in (("shift behind (candidate)", ShiftBehind), ("shift as conv (candidate)", ShiftAsConv)):
        models[label] = graph(product.config).eval()
        models[label].load_state_dict(product.state_dict())
    return models


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--weights", default="efficientphys-fsam-ubfc")
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--windows", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ep-int8-"))
    torch.set_num_threads(args.threads)
    calib = corpus_windows(args.corpus, "calibration", args.videos, args.windows, work)
    judged = corpus_windows(args.corpus, "held-out", args.videos, args.windows, work)
    product, _ = load_deploy_model(resolve(Path(args.weights) if Path(args.weights).exists() else args.weights)[0])
    if not isinstance(product, EfficientPhys):
        raise SystemExit(f"error: {args.weights}: not an EfficientPhys checkpoint")
    models = graphs(product)
    torch_rt = TorchRuntime.from_model(product)
    reference = torch_rt.run(judged)
    same = max(
        float(np.abs(TorchRuntime.from_model(m).run(judged) - reference).max() / np.ptp(reference))
        for m in models.values()
    )
    t_torch = p50_ms(lambda: torch_rt.run(judged[:1]))
    print(
        f"calibration windows {len(calib)}, judged (held-out) windows {len(judged)}; PyTorch eager {t_torch:.1f} ms; "
        f"the graphs' PyTorch outputs differ by at most {same:.1e} of the range"
    )
    print(
        f"{'variant':34s} {'ms':>7s} {'x torch':>8s} {'x FP32':>7s} {'r all':>9s} {'dHR max':>8s} "
        f"{'judged: n, r, dHR':>18s}  convs (8: INT8, f: FP32)"
    )
    for name, model in models.items():
        onnx = export_fp32(model, work / f"{type(model).__name__}.onnx", {})
        rows: dict[str, Any] = {}
        for precision in ("fp32", "int8"):
            xml = work / f"{type(model).__name__}_{precision}.xml"
            export_ir(onnx, xml, {}, precision, calib if precision == "int8" else None, INT8)
            with get_runtime("openvino").open(xml, RuntimeOptions(threads=args.threads)) as rt:
                out = np.concatenate([rt.run(w[None]) for w in judged])
                rows[precision] = (p50_ms(lambda: rt.run(judged[:1])), out, xml)
        for precision, (ms, out, xml) in rows.items():
            a, j = compare(reference, out), TOLERANCES["int8"].agreement(reference, out)  # all windows; as judged
            convs = "".join("8" if p in ("u8", "i8") else "f" for p in plugin_precisions(xml, args.threads))
            print(
                f"{name + ' ' + precision:34s} {ms:7.1f} {t_torch / ms:8.2f} {rows['fp32'][0] / ms:7.2f} "
                f"{a.bvp_pearson:9.5f} {a.hr_abs_diff_bpm:8.2f} {j.windows:3d} r {j.bvp_pearson:7.5f} "
                f"{j.hr_abs_diff_bpm:5.2f}  {convs}"
            )


if __name__ == "__main__":
    main()
