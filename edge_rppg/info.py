"""The model summary a user wants before deploying (``edge-rppg info``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_rppg.contract import CONTRACT
from edge_rppg.models import FactorizePhys, build_model, count_macs, count_parameters, to_deploy
from edge_rppg.models.checkpoints import load_checkpoint


@dataclass
class ModelSummary:
    architecture: str
    fsam: dict[str, Any] | None
    parameters: int
    macs: int
    gflops: float
    input: dict[str, Any]
    output: dict[str, Any]
    checkpoint: dict[str, Any] | None = None
    layers: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(model: FactorizePhys, checkpoint: dict[str, Any] | None = None) -> ModelSummary:
    macs = count_macs(model)
    layers = [
        f"{name}: {tuple(p.shape)}" for name, p in model.named_parameters()
    ]
    return ModelSummary(
        architecture="FactorizePhys" + (" + FSAM" if model.has_fsam else " (deploy, no FSAM)"),
        fsam=model.config.to_dict()["fsam"],
        parameters=count_parameters(model),
        macs=macs,
        gflops=round(2 * macs / 1e9, 3),
        input={"name": CONTRACT.input_name, "shape": ["B", *CONTRACT.input_shape(1)[1:]], "dtype": "float32",
               "range": [CONTRACT.value_min, CONTRACT.value_max], "fps": CONTRACT.fps, "layout": CONTRACT.layout},
        output={"name": CONTRACT.output_name, "shape": ["B", CONTRACT.window]},
        checkpoint=checkpoint,
        layers=layers,
    )


def model_info(weights: Path | None = None, deploy: bool = False, fsam: bool = False) -> ModelSummary:
    """Summary of a checkpoint (or of a fresh network); ``deploy`` removes FSAM first."""
    if weights is not None:
        model, info = load_checkpoint(weights)
        ckpt: dict[str, Any] | None = {k: v for k, v in asdict(info).items() if k != "train_config"}
    else:
        model, ckpt = build_model(fsam=fsam), None
    if deploy:
        model = to_deploy(model)
    return summarize(model, ckpt)
