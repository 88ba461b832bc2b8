"""edge-rppg: FactorizePhys from training to the edge (ONNX, OpenVINO, TensorRT)."""

import sys

from edge_rppg.contract import CONTRACT, InputContract
from edge_rppg.errors import EdgeRppgError

# A health product on an edge box sends nothing anywhere unless asked: OpenVINO's converter reports usage to an
# analytics host through openvino_telemetry when that package imports, and falls back to its own no-op stub when it
# does not. Marked unimportable before OpenVINO is first imported (every import of it goes through this package).
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

__version__ = "0.1.0"

__all__ = ["CONTRACT", "EdgeRppgError", "InputContract", "__version__"]
