"""What reads the pulse: one table whose rows are the model (a file on a runtime) and each classic method (a formula
on the crops' mean colour). Every row opens a runtime with the same interface (windows of crops in, BVP out), so
predict, eval, calibrate and batch ask a row what it needs and what it is, never which row it is."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edge_rppg.errors import EdgeRppgError
from edge_rppg.gate import METHOD_PREFIX
from edge_rppg.signals.classic import METHODS as CLASSIC
from edge_rppg.signals.classic import WHOLE_CROP, ClassicRuntime, Roi

if TYPE_CHECKING:
    from edge_rppg.runtimes import Runtime, RuntimeOptions


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
    **{name: ClassicRow(name, m.title, needs_model=False) for name, m in CLASSIC.items()},
}
DEFAULT_METHOD = MODEL_ROW.name
