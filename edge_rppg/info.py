"""The model summary a user wants before deploying (``edge-rppg info``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_rppg.models import DEFAULT_FAMILY, count_macs, count_parameters, family_of, get_family
from edge_rppg.models.checkpoints import load_checkpoint

if TYPE_CHECKING:
    from edge_rppg.models.registry import Model


@dataclass(kw_only=True)
class ModelSummary:
    arch: str
    architecture: str
    config: dict[str, Any]
    parameters: int
    macs: int
    gflops: float
    input: dict[str, Any]
    output: dict[str, Any]
    checkpoint: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    layers: list[str] = field(default_factory=list)

    @property
    def fsam(self) -> dict[str, Any] | None:
        return self.config.get("fsam")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(
    model: Model, checkpoint: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None
) -> ModelSummary:
    macs = count_macs(model)
    contract = model.contract
    return ModelSummary(
        arch=family_of(model).name,
        architecture=family_of(model).describe(model),
        config=model.config.to_dict(),
        parameters=count_parameters(model),
        macs=macs,
        gflops=round(2 * macs / 1e9, 3),
        input={
            "name": contract.input_name,
            "shape": ["B", *contract.input_shape(1)[1:]],
            "dtype": "float32",
            "range": [contract.value_min, contract.value_max],
            "fps": contract.fps,
            "layout": contract.layout,
        },
        output={"name": contract.output_name, "shape": ["B", contract.window]},
        checkpoint=checkpoint,
        provenance=provenance,
        layers=[f"{name}: {tuple(p.shape)}" for name, p in model.named_parameters()],
    )


def model_info(
    weights: Path | None = None, deploy: bool = False, fsam: bool = False, arch: str | None = None
) -> ModelSummary:
    """Summary of a checkpoint (or of a fresh network of ``arch``); ``deploy`` gives the deployment form."""
    provenance = None
    if weights is not None:
        model, info = load_checkpoint(weights, arch)
        ckpt: dict[str, Any] | None = {k: v for k, v in asdict(info).items() if k != "train_config"}
        provenance = info.train_config.get("provenance") or (
            {"train_config": info.train_config} if info.train_config else None
        )
    else:
        family = get_family(arch or DEFAULT_FAMILY)
        model, ckpt = family.build(fsam=fsam or not family.fsam_removed_for_deploy), None
    if deploy:
        model = family_of(model).deploy(model)
    return summarize(model, ckpt, provenance)
