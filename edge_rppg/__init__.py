"""edge-rppg: FactorizePhys from training to the edge (ONNX, OpenVINO, TensorRT)."""

from edge_rppg.contract import CONTRACT, InputContract
from edge_rppg.errors import EdgeRppgError

__version__ = "0.1.0"

__all__ = ["CONTRACT", "EdgeRppgError", "InputContract", "__version__"]
