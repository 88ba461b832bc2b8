"""What reads the pulse: one table whose rows are the model (a file on a runtime) and each classic method (a formula
on the crops' mean colour). Every row opens a runtime with the same interface (windows of crops in, BVP out), so
predict, eval, calibrate and batch ask a row what it needs and what it is, never which row it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge_rppg.contract import CONTRACT
from edge_rppg.errors import EdgeRppgError
from edge_rppg.gate import METHOD_PREFIX
from edge_rppg.runtimes.base import BaseRuntime
from edge_rppg.signals.classic import METHODS, WHOLE_CROP, Roi, mean_rgb, run_method

if TYPE_CHECKING:
    from edge_rppg.runtimes import Runtime, RuntimeOptions


class ClassicRuntime(BaseRuntime):
    """A classic method behind the runtime interface: model windows in, BVP out, no model file.

    Each window's trace is its crops' spatial mean RGB; the method runs on the window's 161 frames and its
    last 160 samples line up with the model's BVP (one sample per frame difference)."""

    precision = "fp64"
    device = "cpu"
    channels = 3
    any_crop_size = True

    def __init__(self, method: str, roi: Roi = WHOLE_CROP) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
        self.method = METHODS[method]
        self.name = method
        self.model_path = Path(f"<{method}>")
        self.roi = roi

    def _run(self, frames: np.ndarray) -> np.ndarray:
        rgb = mean_rgb(frames, self.roi)
        sign = self.method.polarity
        return np.stack([sign * run_method(self.name, trace, CONTRACT.fps)[1:] for trace in rgb]).astype(np.float32)

    def _release(self) -> None:
        pass  # nothing held: a formula, no model

    def describe(self) -> dict[str, str]:
        return {"method": self.method.title}


@dataclass(frozen=True)
class Method:
    """A row: ``needs_model`` says whether it runs a model file (``--weights``/``--model``) or none at all."""

    name: str
    title: str
    needs_model: bool

    def open(self, model: Path | None, runtime: str | None, options: RuntimeOptions, roi: Roi = WHOLE_CROP) -> Runtime:
        """The runtime that reads the pulse: ``model`` on ``runtime`` for a model row, ``roi`` for a classic one."""
        raise NotImplementedError

    def identity(self, model: Path | None) -> str:
        """What a result was made with, for resuming a batch: a model file's sha256, or the method's name."""
        raise NotImplementedError


@dataclass(frozen=True)
class ModelMethod(Method):
    def open(self, model: Path | None, runtime: str | None, options: RuntimeOptions, roi: Roi = WHOLE_CROP) -> Runtime:
        from edge_rppg.runtimes import open_runtime  # ONNX Runtime and NumPy's linear algebra: not at start-up

        if model is None:
            raise EdgeRppgError(f"the {self.name} method needs a model file (--weights or --model)")
        rt = open_runtime(model, runtime, options)
        if rt.channels != 3:
            rt.close()
            raise EdgeRppgError(f"{model}: this model takes {rt.channels} input channels; video is RGB (3 channels)")
        return rt

    def identity(self, model: Path | None) -> str:
        from edge_rppg.paths import model_sha256

        assert model is not None
        return model_sha256(model)


@dataclass(frozen=True)
class ClassicRow(Method):
    def open(self, model: Path | None, runtime: str | None, options: RuntimeOptions, roi: Roi = WHOLE_CROP) -> Runtime:
        return ClassicRuntime(self.name, roi)

    def identity(self, model: Path | None) -> str:
        return METHOD_PREFIX + self.name


MODEL_ROW = ModelMethod("model", "the model (a checkpoint, or its export on a runtime)", needs_model=True)
METHOD_TABLE: dict[str, Method] = {
    MODEL_ROW.name: MODEL_ROW,
    **{name: ClassicRow(name, m.title, needs_model=False) for name, m in METHODS.items()},
}
DEFAULT_METHOD = MODEL_ROW.name
