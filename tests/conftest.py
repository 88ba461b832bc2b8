from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge_rppg.models import build_model
from edge_rppg.models.checkpoints import save_checkpoint


@pytest.fixture(scope="session")
def fsam_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An FSAM-trained-form model (seeded random weights) in our checkpoint format."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, build_model(fsam=True), trained_on="test", metrics={"val_mae": 1.0})
    return path


@pytest.fixture(scope="session")
def onnx_fp32(fsam_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge_rppg.exporters import export_model

    out = tmp_path_factory.mktemp("onnx") / "model_fp32.onnx"
    export_model(fsam_checkpoint, "onnx", "fp32", out)
    return out


@pytest.fixture(scope="session")
def openvino_fp32(fsam_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edge_rppg.exporters import export_model

    out = tmp_path_factory.mktemp("ov") / "model_fp32.xml"
    export_model(fsam_checkpoint, "openvino", "fp32", out)
    return out
