"""What bench judges against: the PyTorch reference (a checkpoint), or the reference set that travelled with an
exported model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge_rppg.bench.records import BENCH_SEED, BenchResult
from edge_rppg.bench.verdict import REFERENCE as REFERENCE_VERDICT
from edge_rppg.errors import EdgeRppgError
from edge_rppg.optional import torch_installed
from edge_rppg.reference_set import SHA_KEY, ReferenceSet, path_for, read_reference
from edge_rppg.runtimes.metadata import model_metadata

if TYPE_CHECKING:
    from edge_rppg.models.registry import Model

STORED = "stored"


REFERENCES = ("auto", "torch", STORED)


def resolve_weights(weights: Path | None, models: list[Path], reference: str = "auto") -> Path | None:
    """The live reference's checkpoint: given, or the source recorded in an exported model's metadata when it is
    on this machine and PyTorch is installed; None: the models' stored reference set is the reference."""
    if reference not in REFERENCES:
        raise EdgeRppgError(f"unknown reference {reference!r}; choose from {', '.join(REFERENCES)}")
    if reference == STORED:
        return None
    if reference == "auto" and not torch_installed():  # a device: the stored set is all there is
        return None
    if weights is not None:
        return weights
    for m in models:
        src = model_metadata(m).get("source_checkpoint")
        if src and Path(src).exists():
            return Path(src)
    if reference == "torch":
        raise EdgeRppgError("bench --reference torch needs the checkpoint: give --weights")
    return None


@dataclass(kw_only=True, frozen=True)
class StoredReference:
    """The reference set that travelled with the first model (every model must come from its checkpoint)."""

    refset: ReferenceSet
    file: Path
    sha256: str
    arch: str
    gflop: float | None

    @classmethod
    def of(cls, models: list[Path]) -> StoredReference:
        if not models:
            raise EdgeRppgError("bench needs the PyTorch reference (--weights) or an exported model (--model)")
        metas = [model_metadata(m) for m in models]
        refset = read_reference(models[0], metas[0])
        for m, meta in zip(models[1:], metas[1:], strict=True):
            if meta.get("source_sha256") != refset.source_sha256:
                raise EdgeRppgError(
                    f"{m}: exported from another checkpoint than {models[0].name}, whose reference set bench uses; "
                    "bench them apart or give --weights"
                )
        gflop = metas[0].get("gflop_per_window")
        return cls(
            refset=refset,
            file=path_for(models[0]),
            sha256=metas[0][SHA_KEY],
            arch=metas[0].get("arch", "?"),
            gflop=float(gflop) if gflop else None,
        )

    def describe(self) -> dict[str, str]:
        return {"file": str(self.file), "sha256": self.sha256, "made_by": self.refset.made_by}


def stored_row(stored: StoredReference) -> BenchResult:
    """The stored reference as the row the others are judged against: outputs that travelled, no timing here."""
    return BenchResult(
        runtime=STORED,
        precision="fp32",
        model=str(stored.file),
        device=stored.refset.made_by,
        reason="outputs computed where the model was exported; PyTorch is not timed on this machine",
        verdict=REFERENCE_VERDICT,
    )


def reference_runtime(
    weights: Path | None,
    models: list[Path],
    windows: np.ndarray | None,
    labels: np.ndarray | None,
    n_windows: int,
) -> tuple[Model | None, StoredReference | None, np.ndarray, np.ndarray | None]:
    """(live deploy model, stored reference, windows, labels): PyTorch on ``weights`` (resolve_weights), else
    the reference set that travelled with the models, on its windows."""
    if weights is None:
        stored = StoredReference.of(models)
        if windows is not None:
            raise EdgeRppgError(
                f"{models[0]}: --data needs the live PyTorch reference (--weights); the stored set has its own windows"
            )
        return None, stored, stored.refset.inputs, None
    from edge_rppg.models.checkpoints import load_deploy_model  # torch: only when a reference is loaded

    deploy, _ = load_deploy_model(weights)
    if windows is None:
        from edge_rppg.data.synthetic import synthetic_windows

        windows, labels = synthetic_windows(n_windows, seed=BENCH_SEED)
    return deploy, None, windows, labels
