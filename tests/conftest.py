from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from edge_rppg.models import build_model
from edge_rppg.models.checkpoints import save_checkpoint
from edge_rppg.paths import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def _one_cache_per_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every cache (preprocessed datasets, predict's exports) in one folder for the session, subprocesses
    included: the tests neither read nor fill the user's own cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(tmp_path_factory.mktemp("cache")))
    yield
    patch.undo()


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


PAGE_BYTES = 4096


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """``mount(kib, mode)``: a real tiny tmpfs, unmounted afterwards; ``mode`` "rw", "ro", or "full" (every
    free byte taken by a filler file, so that the next write fails with ENOSPC).

    Only root can mount; elsewhere the fault tests are skipped, since nothing else makes a disk full."""
    import os
    import subprocess

    mounted: list[Path] = []

    def mount(kib: int, mode: str = "rw") -> Path:
        if os.geteuid() != 0:
            pytest.skip("a full or read-only disk needs a tmpfs mount, which needs root")
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        opts = f"size={kib}k" + (",ro" if mode == "ro" else "")
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(point)], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(point)
        if mode == "full":
            with contextlib.suppress(OSError), open(point / "filler", "wb", buffering=0) as f:
                while True:
                    f.write(b"\0" * PAGE_BYTES)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", str(point)], check=False)
