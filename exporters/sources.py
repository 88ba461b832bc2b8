"""What an export starts from: a checkpoint (PyTorch at hand: the deploy model is the reference), or an FP32
ONNX with the reference set that travelled with it (on the device, no PyTorch: the set is the reference, and
the ONNX itself on ONNX Runtime stands in for PyTorch on windows the set does not hold).
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import edge_rppg
from edge_rppg.errors import EdgeRppgError
from edge_rppg.gate import GATE_KEY, for_checkpoint
from edge_rppg.reference_set import SHA_KEY, ReferenceSet, as_video_pixels, path_for, read_reference
from edge_rppg.runtimes import Runtime, RuntimeOptions, get_runtime

if TYPE_CHECKING:
    import numpy as np

    from edge_rppg.models.checkpoints import CheckpointInfo
    from edge_rppg.models.registry import Model


@dataclass(frozen=True)
class CheckpointSource:
    model: Model
    info: CheckpointInfo

    @property
    def path(self) -> Path:
        return Path(self.info.path)

    @property
    def channels(self) -> int:
        return self.model.contract.channels

    @functools.cached_property
    def _gflop(self) -> str:
        from edge_rppg.models import count_macs

        return f"{2 * count_macs(self.model) / 1e9:.4f}"

    def metadata(self) -> dict[str, str]:
        """Everything but the precision and the reference set's hash, which the job adds."""
        from edge_rppg.models import family_of

        family = family_of(self.model)
        gate = for_checkpoint(self.path, self.info.sha256)
        carried = {GATE_KEY: gate.to_json()} if gate.calibrated else {}
        return {
            **carried,
            **self.model.contract.to_metadata(),
            "producer": f"edge-rppg {edge_rppg.__version__}",
            "arch": family.name,
            "model": family.describe(self.model),
            "source_checkpoint": self.info.path,
            "source_sha256": self.info.sha256,
            "trained_on": str(self.info.trained_on),
            "gflop_per_window": self._gflop,
        }

    def reference_runtime(self) -> Runtime:
        from edge_rppg.runtimes.torch_runtime import TorchRuntime

        return TorchRuntime.from_model(self.model)

    def write_reference(self, windows: np.ndarray, path: Path) -> tuple[ReferenceSet, str]:
        """The PyTorch deploy model on ``windows`` as uint8 pixels, written to ``path``: (set, sha256)."""
        inputs = as_video_pixels(windows)
        with self.reference_runtime() as runtime:
            about = runtime.describe()
            made_by = f"PyTorch {about['torch']} on {about['device']}"
            refset = ReferenceSet(
                inputs=inputs, bvp=runtime.run(inputs), made_by=made_by, source_sha256=self.info.sha256
            )
        return refset, refset.write(path)

    def fp32_onnx(self, path: Path, metadata: dict[str, str], batch: int, dynamic_batch: bool) -> Path:
        from edge_rppg.exporters.onnx_export import export_fp32

        return export_fp32(self.model, path, metadata, batch=batch, dynamic_batch=dynamic_batch)


@dataclass(frozen=True)
class OnnxSource:
    path: Path
    meta: dict[str, str]

    @classmethod
    def open(cls, path: Path) -> OnnxSource:
        from edge_rppg.runtimes.metadata import model_metadata

        meta = model_metadata(path)
        if meta.get("precision", "fp32") != "fp32":
            raise EdgeRppgError(f"{path}: a {meta['precision']} ONNX; exports start from the FP32 one")
        read_reference(path, meta)  # refused here, before any work, if missing or not this model's
        return cls(path, meta)

    @property
    def channels(self) -> int:
        return int(self.meta.get("channels", 3))

    def metadata(self) -> dict[str, str]:
        return {k: v for k, v in self.meta.items() if k not in ("precision", SHA_KEY)}

    def reference_runtime(self) -> Runtime:
        return get_runtime("onnxruntime").open(self.path, RuntimeOptions())

    def write_reference(self, windows: np.ndarray, path: Path) -> tuple[ReferenceSet, str]:
        """The set that came with the ONNX, copied as it is (same bytes, same sha256): ``windows`` are its own."""
        shutil.copyfile(path_for(self.path), path)
        return read_reference(self.path, self.meta), self.meta[SHA_KEY]

    def fp32_onnx(self, path: Path, metadata: dict[str, str], batch: int, dynamic_batch: bool) -> Path:
        return self.path


ExportSource = CheckpointSource | OnnxSource


def open_export_source(path: Path) -> ExportSource:
    """An ONNX file, or a checkpoint (loading it needs PyTorch)."""
    if path.suffix == ".onnx":
        return OnnxSource.open(path)
    from edge_rppg.models.checkpoints import load_deploy_model

    return CheckpointSource(*load_deploy_model(path))
