"""Whole-video evaluation as in the paper: chunk predictions concatenated per video, then HR/SNR/MACC."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_rppg.atomic import save_figure
from edge_rppg.contract import CONTRACT
from edge_rppg.data.preprocess import Chunk, chunk_window
from edge_rppg.methods import DEFAULT_METHOD, METHOD_TABLE
from edge_rppg.signals.hr import HrMethod
from edge_rppg.signals.metrics import DatasetMetrics, dataset_metrics, evaluate_signal

if TYPE_CHECKING:
    from edge_rppg.runtimes import Runtime

Predict = Callable[[np.ndarray], np.ndarray]  # windows [B, 3, 161, 72, 72] -> BVP [B, 160]


@dataclass(kw_only=True, frozen=True)
class VideoResult:
    name: str
    hr_true: float
    hr_pred: float
    snr: float
    macc: float


@dataclass
class EvalReport:
    overall: DatasetMetrics
    videos: list[VideoResult]

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall.to_dict(), "videos": [asdict(v) for v in self.videos]}


def predict_videos(predict: Predict, chunks: list[Chunk], batch: int = 4) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """BVP and label per video, chunks concatenated in time order."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for video, members in groupby(chunks, key=lambda c: c.video):
        group = sorted(members, key=lambda c: c.index)
        preds, labels = [], []
        for start in range(0, len(group), batch):
            pairs = [chunk_window(c) for c in group[start : start + batch]]
            preds.append(predict(np.stack([x for x, _ in pairs])))
            labels += [y for _, y in pairs]
        out[video] = (np.concatenate(preds).ravel(), np.concatenate(labels))
    return out


def evaluate_chunks(
    predict: Predict, chunks: list[Chunk], fs: float = CONTRACT.fps, method: HrMethod | str = HrMethod.FFT
) -> EvalReport:
    if not chunks:
        raise ValueError("no chunks to evaluate")
    return evaluate_videos(predict_videos(predict, chunks), fs, method)


def evaluate_videos(
    bvps: dict[str, tuple[np.ndarray, np.ndarray]], fs: float = CONTRACT.fps, method: HrMethod | str = HrMethod.FFT
) -> EvalReport:
    """The paper's metrics of each video's (predicted BVP, label), and of the dataset."""
    videos = []
    for name, (pred, label) in bvps.items():
        r = evaluate_signal(pred, label, fs, method)
        videos.append(VideoResult(name=name, hr_true=r.hr_true, hr_pred=r.hr_pred, snr=r.snr, macc=r.macc))
    overall = dataset_metrics(
        np.array([v.hr_pred for v in videos]),
        np.array([v.hr_true for v in videos]),
        np.array([v.snr for v in videos]),
        np.array([v.macc for v in videos]),
    )
    return EvalReport(overall, videos)


def bland_altman_png(report: EvalReport, path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = np.array([v.hr_true for v in report.videos])
    pred = np.array([v.hr_pred for v in report.videos])
    mean, diff = (true + pred) / 2, pred - true
    bias, sd = diff.mean(), diff.std()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(mean, diff, s=18)
    for y, style in ((bias, "-"), (bias + 1.96 * sd, "--"), (bias - 1.96 * sd, "--")):
        ax.axhline(y, color="k", linestyle=style, linewidth=1)
    ax.set_xlabel("mean of predicted and true HR (bpm)")
    ax.set_ylabel("predicted − true HR (bpm)")
    ax.set_title(title or f"Bland–Altman: bias {bias:.2f} bpm, LoA ±{1.96 * sd:.2f}")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def evaluate_dataset(
    data: Path,
    dataset: str,
    model_path: Path | None,
    runtime: str | None = None,
    split: tuple[float, float] = (0.0, 1.0),
    hr_method: HrMethod | str = HrMethod.FFT,
    on_no_face: str = "skip",
    log: Callable[[str], None] = print,
    method: str = DEFAULT_METHOD,
    engine: str = "local",
    ray_address: str | None = None,
) -> EvalReport:
    """Preprocess (cached) the videos of ``split``, run the model on any runtime (or a classic ``method``
    on the same crops), and score whole videos."""
    from edge_rppg.data.preprocess import preprocess_videos
    from edge_rppg.data.readers import read_dataset, split_by_subject
    from edge_rppg.errors import DatasetError

    items = split_by_subject(read_dataset(data, dataset), *split)
    chunks = preprocess_videos(
        items, dataset, data, on_no_face=on_no_face, log=log, engine=engine, ray_address=ray_address
    )
    if not chunks:
        raise DatasetError(f"{data}: no video gave a full {CONTRACT.window}-frame chunk to evaluate")
    if engine == "ray":  # each video's inference as a Ray task too, beside its chunks on the shared cache
        from edge_rppg.pools import parallel_map

        jobs = [(model_path, runtime, method, list(group)) for _, group in groupby(chunks, key=lambda c: c.video)]
        return evaluate_videos(dict(parallel_map(_video_bvp, jobs, len(jobs), engine, ray_address)), method=hr_method)
    return evaluate_chunks(_eval_runtime(model_path, runtime, method, None).run, chunks, method=hr_method)


def _eval_runtime(model_path: Path | None, runtime: str | None, method: str, threads: int | None) -> Runtime:
    """The model on its runtime, or a classic method."""
    from edge_rppg.runtimes import RuntimeOptions

    return METHOD_TABLE[method].open(model_path, runtime, RuntimeOptions(threads=threads))


def _video_bvp(
    job: tuple[Path | None, str | None, str, list[Chunk]],
) -> tuple[str, tuple[np.ndarray, np.ndarray]]:
    """One video's BVP and label on a worker with one CPU (one inference thread)."""
    model_path, runtime, method, chunks = job
    video = chunks[0].video
    return video, predict_videos(_worker_runtime(model_path, runtime, method, 1).run, chunks)[video]


_worker_runtime = functools.cache(_eval_runtime)  # once per Ray worker process, which runs many videos


def reports_to_dict(reports: dict[str, EvalReport]) -> dict[str, Any]:
    """The first method's report at the top level (as a single-method eval writes it), every one under
    ``methods``."""
    first = next(iter(reports))
    return reports[first].to_dict() | {"method": first, "methods": {k: r.to_dict() for k, r in reports.items()}}
