"""The reference set that travels with every export: a few input windows as video gives them (uint8), the
PyTorch deploy model's BVP on exactly those inputs and their HR on the fine grid. An export is verified,
and benchmarked, against it where there is no PyTorch (a Jetson, a kiosk); the model's metadata holds its
sha256, so a set that belongs to another model, or was altered, is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_rppg.agreement import TOLERANCES, Agreement, compare
from edge_rppg.errors import EdgeRppgError
from edge_rppg.signals.hr import window_hr

SUFFIX = ".ref.npz"
SHA_KEY = "reference_sha256"  # the model metadata field that names its reference set


def path_for(model: Path) -> Path:
    """Where a model file's reference set lies: beside it, ``m.onnx`` -> ``m.onnx.ref.npz`` (each model file its
    own: ``m.onnx`` and ``m.xml`` from two exports hold sets of different bytes)."""
    return model.with_name(model.name + SUFFIX)


def as_video_pixels(windows: np.ndarray) -> np.ndarray:
    """Windows rounded to the uint8 pixels a video would give: what the set stores, so the inputs a device
    replays are exactly the ones the reference ran on."""
    return np.asarray(np.clip(np.rint(windows), 0, 255), dtype=np.uint8)


@dataclass(kw_only=True, frozen=True)
class ReferenceSet:
    inputs: np.ndarray  # uint8 [N, C, 161, 72, 72]
    bvp: np.ndarray  # float32 [N, 160]: the PyTorch deploy model on ``inputs``
    made_by: str  # what computed ``bvp`` ("PyTorch 2.13.0 on cpu")
    source_sha256: str  # the checkpoint the deploy model came from

    @property
    def hr_bpm(self) -> np.ndarray:
        return window_hr(self.bvp)

    def to_bytes(self) -> bytes:
        """The compressed .npz bytes (the sha256 is taken of these, as written)."""
        buffer = io.BytesIO()
        about = {"made_by": self.made_by, "source_sha256": self.source_sha256, "tolerances": _tolerances()}
        np.savez_compressed(
            buffer, inputs=self.inputs, bvp=self.bvp, hr_bpm=self.hr_bpm, about=np.array(json.dumps(about))
        )
        return buffer.getvalue()

    def write(self, path: Path) -> str:
        """Write the set to ``path``; returns its sha256 (for the model's metadata)."""
        data = self.to_bytes()
        path.write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    def agreement(self, candidate: np.ndarray) -> Agreement:
        return compare(self.bvp, candidate)


def _tolerances() -> dict[str, Any]:
    return {name: vars(t) for name, t in TOLERANCES.items()}


def read_reference(model: Path, metadata: dict[str, str]) -> ReferenceSet:
    """The reference set beside ``model``, checked against the sha256 in the model's metadata."""
    path = path_for(model)
    expected = metadata.get(SHA_KEY)
    if not expected:
        raise EdgeRppgError(f"{model}: carries no reference set (exported before reference sets, or not by edge-rppg)")
    if not path.exists():
        raise EdgeRppgError(f"{path}: no such reference set; it travels beside {model.name}, copy it along")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != expected:
        raise EdgeRppgError(f"{path}: does not match {model.name} (sha256 differs from the model's {SHA_KEY})")
    with np.load(io.BytesIO(data)) as npz:
        about = json.loads(str(npz["about"]))
        return ReferenceSet(
            inputs=npz["inputs"], bvp=npz["bvp"], made_by=about["made_by"], source_sha256=about["source_sha256"]
        )
