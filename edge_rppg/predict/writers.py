"""What ``predict`` writes: the JSON summary, the BVP/HR time series and beats CSVs, the plot. All atomic."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.atomic import save_figure, write_text_atomic
from edge_rppg.contract import CONTRACT
from edge_rppg.errors import EdgeRppgError, StageFailed
from edge_rppg.predict.video import PredictResult, WindowEstimate


def _fmt_hr(hr: float | None) -> str:
    return "" if hr is None else f"{hr:.2f}"


def _series_csv(result: PredictResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["frame", "time_s", "bvp", "hr_bpm", "sqi", "quality"])
    marks = {e.start_frame + CONTRACT.window - 1: e for e in result.per_window}
    current: WindowEstimate | None = None
    first = round(result.bvp_start_s * CONTRACT.fps)
    for i, v in enumerate(result.bvp, start=first):
        current = marks.get(i, current)
        w.writerow(
            [
                i,
                f"{i / CONTRACT.fps:.4f}",
                f"{v:.6f}",
                _fmt_hr(current.hr_bpm) if current else "",
                f"{current.sqi:.3f}" if current else "",
                current.quality if current else "",
            ]
        )
    return buf.getvalue()


def _beats_csv(result: PredictResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["beat", "time_s", "ibi_ms", "ibi_clean"])
    for k, t in enumerate(result.beats_s):
        ibi = "" if k == 0 else f"{(t - result.beats_s[k - 1]) * 1e3:.1f}"
        clean = "" if k == 0 else str(bool(result.clean_ibi[k - 1])).lower()
        w.writerow([k, f"{t:.4f}", ibi, clean])
    return buf.getvalue()


def beats_csv_path(csv_path: Path) -> Path:
    return csv_path.with_name(f"{csv_path.stem}.beats.csv")


def write_outputs(result: PredictResult, json_path: Path | None, csv_path: Path | None, plot_path: Path | None) -> None:
    """JSON summary; CSV time series plus a beats table beside it (``<name>.beats.csv``); plot. All atomic; a
    failure is one line naming the file and the writing stage."""
    texts: list[tuple[Path, Callable[[], str]]] = []
    if json_path:
        texts.append((json_path, lambda: json.dumps(result.summary(), indent=2) + "\n"))
    if csv_path:
        texts += [(csv_path, lambda: _series_csv(result)), (beats_csv_path(csv_path), lambda: _beats_csv(result))]
    made = [(path, _writing(path, make)) for path, make in texts]  # all made before any is written
    for path, text in made:
        _writing(path, write_text_atomic, path, text)
    if plot_path:
        _writing(plot_path, _plot, result, plot_path)


def _writing(path: Path, step: Callable[..., Any], *args: object) -> Any:
    try:
        return step(*args)
    except EdgeRppgError:  # a full disk, an output that is the input: already one line
        raise
    except Exception as exc:
        raise StageFailed.of(path, "writing", exc) from exc


def _plot(result: PredictResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.bvp_start_s + np.arange(len(result.bvp)) / CONTRACT.fps
    wt = [e.time_s for e in result.per_window]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    axes[0].plot(t, result.bvp, lw=0.8)
    at = np.round((result.beats_s - result.bvp_start_s) * CONTRACT.fps).astype(int)
    idx = np.clip(at, 0, max(len(result.bvp) - 1, 0))
    axes[0].plot(result.beats_s, result.bvp[idx] if len(result.bvp) else [], "v", ms=4, color="C3", label="beats")
    axes[0].set_ylabel("BVP (z)")
    hr = "no reliable pulse" if result.hr_bpm is None else f"{result.hr_bpm:.1f} bpm"
    axes[0].set_title(f"{Path(result.source).name}: {hr} ({result.runtime})")
    axes[1].plot(wt, [np.nan if e.hr_bpm is None else e.hr_bpm for e in result.per_window], "o-", ms=3)
    axes[1].set_ylabel("HR (bpm)")
    axes[2].plot(wt, [e.sqi for e in result.per_window], "o-", ms=3, color="C2")
    for e in result.per_window:
        if e.quality != "ok":
            axes[2].axvspan(e.time_s - 0.5, e.time_s + 0.5, color="C3", alpha=0.2)
    axes[2].set_ylabel("SQI")
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, path)
