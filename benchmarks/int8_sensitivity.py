"""Where INT8 loses the pulse: quantize the OpenVINO IR with each layer kept in FP32 in turn, on realistic faces.

Calibration windows come from pulsed videos of the realistic corpus's calibration half, the guard windows
from pulsed and pulseless videos of its held-out half (other face, other waveform), both through the training
crop path; ``--guard-split calibration`` takes both from alternate clips of the calibration half instead, to
decide a rule without looking at the held-out half. Every variant is scored against the PyTorch deploy model on
all guard windows and as the INT8 guard judges them (TOLERANCES["int8"]: the windows either BVP shows a pulse
on), in the guard's units (worst-window BVP r, HR difference on the fine grid). Then layers are kept FP32
greedily, most helpful first, until the guard's tolerance holds; that set is what ``Int8Settings.ignored_names``
would take. Latency is p50 of batch-1 runs in this one process, so the ratios compare within one run only.

    python -m benchmarks.int8_sensitivity CORPUS [--weights W] [--videos 6] [--windows 48] [--held-out 32]
    python -m benchmarks.int8_sensitivity CORPUS --guard-split calibration --videos 4   # decide a rule: no held-out
    python -m benchmarks.int8_sensitivity CORPUS --keep "node_Conv_264;node_Conv_264,node_Conv_265"  # those sets only
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.agreement import TOLERANCES, Agreement, compare, passes_quality
from edge_rppg.data.windows import _chunks, _stack
from edge_rppg.exporters.onnx_export import export_fp32
from edge_rppg.exporters.openvino_export import (
    INT8,
    AccuracyTarget,
    Int8Settings,
    convolution_names,
    export_ir,
    int8_coverage,
)
from edge_rppg.models.checkpoints import load_deploy_model
from edge_rppg.runtimes import RuntimeOptions, get_runtime
from edge_rppg.runtimes.torch_runtime import TorchRuntime
from edge_rppg.timing import p50_ms
from edge_rppg.weights import resolve


def corpus_windows(
    corpus: Path, split: str, videos: int, count: int, work: Path, part: int | None = None, pulsed: bool = True
) -> np.ndarray:
    """Windows from ``videos`` pulsed (or pulseless) clips of ``split``, spread over the split, via the training crop
    path; ``part`` 0 or 1 takes them from alternate clips only (two disjoint sets of the same half)."""
    specs = [json.loads(f.read_text()) for f in sorted(corpus.glob(f"{split}-???.json"))]
    clips = [s for s in specs if s["pulsed"] == pulsed]
    clips = clips if part is None else clips[part::2]
    picks = [clips[i] for i in np.unique(np.linspace(0, len(clips) - 1, videos).round().astype(int))]
    folder = work / f"{split}{'' if part is None else part}{'' if pulsed else '-pulseless'}"
    folder.mkdir(parents=True)
    for s in picks:
        (folder / s["file"]).symlink_to(corpus / s["file"])
    return _stack(_chunks(folder, "videos"), count)[0]


class Judge:
    """Builds one INT8 variant of the FP32 ONNX and scores it on the guard windows: all of them, and as the INT8
    guard judges them (``TOLERANCES["int8"]``: the windows that either BVP shows a pulse on)."""

    def __init__(self, onnx: Path, calibration: np.ndarray, guard: np.ndarray, reference: np.ndarray, work: Path):
        self.onnx, self.calibration, self.guard, self.reference, self.work = onnx, calibration, guard, reference, work
        self.pulse = passes_quality(reference)
        self.count = 0

    def __call__(
        self, settings: Int8Settings | None, accuracy: AccuracyTarget | None = None
    ) -> tuple[Agreement, Agreement, float]:
        self.count += 1
        xml = self.work / f"variant{self.count}.xml"
        precision = "fp32" if settings is None else "int8"
        export_ir(self.onnx, xml, {}, precision, self.calibration, settings or INT8, accuracy)
        self.last = xml
        rt = get_runtime("openvino").open(xml, RuntimeOptions())
        out = np.concatenate([rt.run(w[None]) for w in self.guard])
        judged = TOLERANCES["int8"].agreement(self.reference, out)
        if judged is None:
            raise SystemExit("no guard window passes the quality gate: the guard set cannot judge INT8")
        return compare(self.reference, out), judged, p50_ms(partial(rt.run, self.guard[:1]))


def _agreement(a: Agreement) -> str:
    judged = f" ({a.windows}/{a.windows_offered})" if a.windows_offered is not None else ""
    return f"r {a.bvp_pearson:7.4f} dHR {a.hr_abs_diff_median_bpm:4.2f}/{a.hr_abs_diff_bpm:5.2f}{judged}"


def _row(label: str, scores: tuple[Agreement, Agreement, float], ms_fp32: float) -> str:
    every, judged, ms = scores
    held = "holds" if not TOLERANCES["int8"].violations(judged) else "fails"
    return (
        f"{label:36s} {_agreement(every):30s} | {_agreement(judged):38s} {held:5s} | {ms:6.1f} ms "
        f"({ms_fp32 / ms:4.2f}x fp32)"
    )


def accuracy_control(
    args: argparse.Namespace, model: Any, judge: Judge, ms_fp32: float, work: Path, other_clips: bool
) -> None:
    """NNCF's accuracy control with the guard's score, validated on windows the guard never sees: the calibration
    windows, and (when the guard is not theirs) the calibration half's other clips."""
    validations = [("calibration windows", judge.calibration)]
    if other_clips:
        other = corpus_windows(args.corpus, "calibration", args.videos, args.windows, work, part=1)
        validations.append(("other calibration clips", other))
    for label, windows in validations:
        target = AccuracyTarget(windows, TorchRuntime.from_model(model).run(windows), TOLERANCES["int8"])
        start = time.perf_counter()
        scores = judge(INT8, target)
        coverage = int8_coverage(judge.last)
        print(_row(f"accuracy control, {label}", scores, ms_fp32))
        print(
            f"  {coverage['int8_convolutions']}/{coverage['convolutions']} convolutions INT8, FP32: "
            f"{coverage['fp32_convolutions']}; built in {time.perf_counter() - start:.0f} s"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--videos", type=int, default=6, help="videos per half")
    ap.add_argument("--windows", type=int, default=48, help="calibration windows")
    ap.add_argument("--held-out", type=int, default=32, help="guard windows")
    ap.add_argument("--keep", default=None, help="sets of convolutions to keep FP32 (a,b;c): score those only")
    ap.add_argument(
        "--accuracy-control",
        action="store_true",
        help="score NNCF's accuracy-controlled INT8 instead (validated on the calibration windows, then on other "
        "calibration-half clips), no sweep",
    )
    ap.add_argument(
        "--guard-split",
        choices=["held-out", "calibration"],
        default="held-out",
        help="where the guard windows come from: the held-out half (judging), or the calibration half's other "
        "clips (deciding a rule: calibration windows then come from alternate clips only)",
    )
    ap.add_argument("--pulseless", type=int, default=12, help="guard windows from the split's pulseless clips too")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="int8-sensitivity-"))
    deciding = args.guard_split == "calibration"
    calibration = corpus_windows(args.corpus, "calibration", args.videos, args.windows, work, 0 if deciding else None)
    guard = corpus_windows(args.corpus, args.guard_split, args.videos, args.held_out, work, 1 if deciding else None)
    if args.pulseless:
        no_pulse = corpus_windows(args.corpus, args.guard_split, args.videos, args.pulseless, work, pulsed=False)
        guard = np.concatenate([guard, no_pulse])
    model, _ = load_deploy_model(resolve(args.weights)[0])
    with TorchRuntime.from_model(model) as torch_rt:
        reference, torch_ms = torch_rt.run(guard), p50_ms(lambda: torch_rt.run(guard[:1]))
    onnx = work / "fp32.onnx"
    export_fp32(model, onnx, {})
    judge = Judge(onnx, calibration, guard, reference, work)
    tol = TOLERANCES["int8"]
    print(
        f"{len(calibration)} calibration windows, {len(guard)} {args.guard_split} guard windows ({args.pulseless} from "
        f"pulseless clips), {int(judge.pulse.sum())} of them with a pulse in the reference; tolerance {tol}"
    )
    judged = "as the INT8 guard judges (judged/all)"
    print(f"{'variant':36s} {'all guard windows (dHR med/max)':30s} | {judged:44s} | latency")
    fp32 = judge(None)
    print(f"PyTorch eager: {torch_ms:.1f} ms, {torch_ms / fp32[2]:.2f}x the FP32 IR's time")
    print(_row("fp32", fp32, fp32[2]))
    print(_row("int8, first convolution INT8 too", judge(replace(INT8, keep_first_conv_fp32=False)), fp32[2]))
    first_only = replace(INT8, overflow_fix="FIRST_LAYER")
    print(_row("int8, NNCF's first-layer overflow fix", judge(first_only), fp32[2]))
    base = judge(INT8)
    print(_row("int8 (product settings)", base, fp32[2]))
    if args.accuracy_control:
        accuracy_control(args, model, judge, fp32[2], work, other_clips=not deciding)
        return
    if args.keep is not None:  # the named sets only, no sweep
        for keep in args.keep.split(";"):
            print(_row(f"int8, FP32: {keep}", judge(replace(INT8, ignored_names=tuple(keep.split(",")))), fp32[2]))
        return
    print("each convolution kept in FP32 alone (input order):")
    gains = {}
    for name in convolution_names(work / "variant1.xml"):
        scores = judge(replace(INT8, ignored_names=(name,)))
        gains[name] = tol.score(scores[1]) - tol.score(base[1])  # as the guard judges
        print(_row(f"  {name[-34:]}", scores, fp32[2]))

    kept: list[str] = []
    scores = base
    for name in sorted(gains, key=gains.get, reverse=True):  # type: ignore[arg-type]
        if not tol.violations(scores[1]) or gains[name] <= 0:
            break
        kept.append(name)
        scores = judge(replace(INT8, ignored_names=tuple(kept)))
        print(_row(f"greedy: {len(kept)} kept FP32", scores, fp32[2]))
    problems = tol.violations(scores[1])
    verdict = "holds" if not problems else "does not hold: " + "; ".join(problems)
    print(f"tolerance {verdict} with {len(kept)} convolution(s) kept FP32: {kept}")


if __name__ == "__main__":
    main()
