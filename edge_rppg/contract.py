"""The model's input/output contract: defined here once, read by the model, exporters, runtimes and bench."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(kw_only=True, frozen=True)
class InputContract:
    """Raw RGB face crops in, BVP out.

    The model differences consecutive frames itself, so a window of ``window`` BVP samples needs
    ``window + 1`` frames. Values stay on the 0-255 scale: the first InstanceNorm's epsilon makes the
    output scale-sensitive, so 0-1 input changes the numbers.
    """

    channels: int = 3
    window: int = 160
    height: int = 72
    width: int = 72
    fps: float = 30.0
    value_min: float = 0.0
    value_max: float = 255.0
    layout: str = "NCTHW"
    input_name: str = "frames"
    output_name: str = "bvp"

    @property
    def frames(self) -> int:
        """Frames per window: one more than BVP samples, because of the temporal difference."""
        return self.window + 1

    def assemble(self, crops: np.ndarray) -> np.ndarray:
        """Face crops [T, H, W, C] (T = ``window`` for a model window) as model input [C, T + 1, H, W] float32,
        the last crop repeated: one way for training, evaluation, calibration, bench and predict alike (and
        rPPG-Toolbox's for FactorizePhys), so that a BVP sample always stands for its own frame and the last
        one always sees the zero difference the model was trained with."""
        x = np.asarray(crops, dtype=np.float32)
        return np.ascontiguousarray(np.concatenate([x, x[-1:]]).transpose(3, 0, 1, 2))

    def input_shape(self, batch: int = 1) -> tuple[int, int, int, int, int]:
        return (batch, self.channels, self.frames, self.height, self.width)

    def output_shape(self, batch: int = 1) -> tuple[int, int]:
        return (batch, self.window)

    def to_metadata(self) -> dict[str, str]:
        """Flat string map for ONNX ``metadata_props`` / OpenVINO ``rt_info`` / engine sidecars."""
        meta = {k: str(v) for k, v in asdict(self).items()}
        meta["frames"] = str(self.frames)
        meta["input_shape"] = "x".join(str(d) for d in self.input_shape(1)[1:])
        meta["value_range"] = f"{self.value_min:g}-{self.value_max:g} raw RGB"
        return meta


CONTRACT = InputContract()
"""The contract every model family shares; only ``channels`` varies, read from the model or the export."""

MAX_DYNAMIC_BATCH = 8
"""The largest batch a ``--dynamic-batch`` export is made for: the ONNX trace's bound and the TensorRT profile's
maximum (each window is 161 x 72 x 72 x 3, so an engine's activation memory grows with it)."""
