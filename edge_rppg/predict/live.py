"""Live feedback while ``predict --webcam`` runs: an OpenCV window on a desktop session, printed lines otherwise."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.data.detectors import Box

TRACE_SAMPLES = int(10 * CONTRACT.fps)  # the BVP drawn over the video: its last 10 s

if TYPE_CHECKING:
    from edge_rppg.predict.video import LiveWindow


def live_printer(window: LiveWindow) -> None:
    est = window.estimate
    hr = "  --  " if est.hr_bpm is None else f"{est.hr_bpm:6.1f}"
    hrv, breathing = window.vitals.hrv, window.vitals.breathing
    extra = "" if hrv is None else f"  RMSSD {hrv.rmssd_ms:5.1f} ms"
    if breathing.rate_bpm is not None:
        extra += f"  breathing {breathing.rate_bpm:4.1f}/min"
    print(f"t={est.time_s:6.1f} s  HR {hr} bpm  SQI {est.sqi:4.2f}  {est.quality}{extra}", flush=True)


def live_display() -> tuple[Callable[..., None], Callable[[np.ndarray, Box | None], bool]]:
    """OpenCV window: face box, BVP trace and HR drawn on the video; 'q' stops."""
    import cv2

    state: dict[str, Any] = {"hr": None, "bvp": np.zeros(0)}

    def on_window(window: LiveWindow) -> None:
        state["hr"], state["bvp"] = window.estimate.hr_bpm, window.trace[-TRACE_SAMPLES:]

    def on_frame(rgb: np.ndarray, box: Box | None) -> bool:
        img = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if box is not None:
            x, y, w, h = box
            cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), 2)
        trace = state["bvp"]
        if len(trace) > 1:
            hgt, wid = img.shape[:2]
            ys = (hgt - 40 - 30 * (trace - trace.mean()) / (trace.std() + 1e-9)).astype(np.int32)
            xs = np.linspace(0, wid - 1, len(trace)).astype(np.int32)
            cv2.polylines(img, [np.stack([xs, ys], 1)], False, (0, 0, 255), 2)
        text = "-- bpm" if state["hr"] is None else f"{state['hr']:.0f} bpm"  # "--": the quality check refused
        cv2.putText(img, text, (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 255), 2)
        cv2.imshow("edge-rppg", img)
        return (cv2.waitKey(1) & 0xFF) != ord("q")

    return on_window, on_frame


def live_callbacks() -> tuple[Callable[..., None], Callable[[np.ndarray, Box | None], bool] | None]:
    """Webcam feedback: a window on a desktop session, one printed line per estimate otherwise."""
    return live_display() if os.environ.get("DISPLAY") else (live_printer, None)
