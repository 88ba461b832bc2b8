"""PyTorch eager: the reference every other runtime is measured against."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from edge_rppg.models.checkpoints import load_deploy_model
from edge_rppg.runtimes.base import BaseRuntime, RuntimeOptions

if TYPE_CHECKING:
    from edge_rppg.models.registry import Model


class TorchRuntime(BaseRuntime):
    name = "torch"

    def __init__(self, model_path: Path, options: RuntimeOptions = RuntimeOptions(), model: Model | None = None):
        self.model_path = Path(model_path)
        self.options = options
        if options.threads:
            torch.set_num_threads(options.threads)
        self.device = torch.device(options.device)
        if model is None:
            model, self.checkpoint = load_deploy_model(self.model_path)
        self.model = model.to(self.device).eval()
        self.precision = "fp32"
        self.channels: int = model.contract.channels

    @classmethod
    def from_model(cls, model: Model, options: RuntimeOptions = RuntimeOptions()) -> TorchRuntime:
        """The reference on a model already in memory (export verification, bench)."""
        return cls(Path("<in-memory model>"), options, model=model)

    def _run(self, x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return np.asarray(self.model(torch.from_numpy(x).to(self.device)).float().cpu().numpy())

    def _release(self) -> None:
        self.model = None  # type: ignore[assignment]

    def describe(self) -> dict[str, Any]:
        return {"torch": torch.__version__, "device": str(self.device), "threads": torch.get_num_threads()}
