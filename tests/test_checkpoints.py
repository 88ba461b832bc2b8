from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge_rppg.errors import CheckpointError
from edge_rppg.models import build_model, count_parameters
from edge_rppg.models.checkpoints import load_checkpoint, load_deploy_model, save_checkpoint


def _authors_file(tmp_path: Path, name: str, fsam: bool, residual: bool = True) -> tuple[Path, torch.nn.Module]:
    """A state dict written in the authors' released layout: nn.DataParallel prefix, no bias1 key."""
    torch.manual_seed(7)
    from edge_rppg.models import FSAMConfig

    model = build_model(fsam=FSAMConfig(residual=residual) if fsam else False)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path / name
    torch.save(state, path)
    return path, model


def test_authors_layout_keys_and_counts(tmp_path: Path) -> None:
    path, _ = _authors_file(tmp_path, "UBFC-rPPG_FactorizePhys_FSAM_Res.pth", fsam=True)
    state = torch.load(path, weights_only=True)
    assert len(state) == 16 and sum(v.numel() for v in state.values()) == 52_168
    assert "module.rppg_head.fsam.post_conv_block.0.conv.weight" in state
    assert "module.rppg_feature_extractor.FeatureExtractor.6.conv_block_3d.0.weight" in state
    assert tuple(state["module.rppg_head.final_layer.2.weight"].shape) == (1, 8, 3, 3, 3)


@pytest.mark.parametrize(
    ("name", "fsam", "residual"),
    [
        ("PURE_FactorizePhys_Base.pth", False, True),
        ("UBFC-rPPG_FactorizePhys_FSAM.pth", True, False),
        ("iBVP_FactorizePhys_FSAM_Res.pth", True, True),
    ],
)
def test_authors_checkpoints_load_and_reproduce_outputs(tmp_path: Path, name: str, fsam: bool, residual: bool) -> None:
    path, original = _authors_file(tmp_path, name, fsam, residual)
    model, info = load_checkpoint(path)
    assert model.has_fsam == fsam
    if fsam:
        assert model.config.fsam is not None and model.config.fsam.residual == residual
    assert info.trained_on == name.split("_FactorizePhys")[0]
    x = torch.rand(1, 3, 161, 72, 72) * 255
    original.eval()
    with torch.no_grad():
        assert torch.equal(model(x), original(x))
    deploy, _ = load_deploy_model(path)
    assert count_parameters(deploy) == 51_840


def test_transform_is_read_from_the_file_name(tmp_path: Path) -> None:
    path, _ = _authors_file(tmp_path, "UBFC-rPPG_FactorizePhys_FSAM_Res_K-TAB.pth", fsam=True)
    model, _ = load_checkpoint(path)
    assert model.config.fsam is not None and model.config.fsam.transform == "K_TAB"


def test_wrong_state_dict_names_file_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"module.backbone.conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert str(path) in message and "backbone.conv1.weight" in message and "motion_conv1.weight" in message


def test_wrong_shape_is_reported(tmp_path: Path) -> None:
    path, _ = _authors_file(tmp_path, "X_FactorizePhys_Base.pth", fsam=False)
    state = torch.load(path, weights_only=True)
    state["module.rppg_head.final_layer.2.weight"] = torch.zeros(1, 8, 3, 3, 1)
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_checkpoint(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_unreadable_file_fails_clearly(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"broken.pth"):
        load_checkpoint(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.pt")


def test_own_format_roundtrip(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = build_model(fsam=True)
    path = tmp_path / "run" / "best.pt"
    save_checkpoint(path, model, train_config={"epochs": 3}, metrics={"val_mae": 2.5}, trained_on="synthetic")
    loaded, info = load_checkpoint(path)
    assert loaded.config == model.config
    assert info.trained_on == "synthetic" and info.metrics == {"val_mae": 2.5} and info.train_config == {"epochs": 3}
    assert len(info.sha256) == 64
    assert not list(path.parent.glob("*.tmp"))  # atomic write left no temp file
    x = torch.rand(1, 3, 33, 72, 72) * 255
    with torch.no_grad():
        assert torch.equal(loaded(x), model.eval()(x))


def test_a_runs_training_state_is_pointed_to_its_weights(tmp_path: Path) -> None:
    model = build_model(fsam=True)
    save_checkpoint(tmp_path / "best.pt", model)
    save_checkpoint(tmp_path / "last.pt", model, extra={"rng": {"numpy": __import__("numpy").random.get_state()}})
    with pytest.raises(CheckpointError, match=r"last.pt: a training state for --resume, not weights; give .*best.pt"):
        load_checkpoint(tmp_path / "last.pt")
    # As training writes it now: data only (it loads with weights_only), still pointed to the run's weights.
    save_checkpoint(tmp_path / "last.pt", model, extra={"optimizer": {"state": {}, "param_groups": []}})
    with pytest.raises(CheckpointError, match=r"last.pt: a training state for --resume, not weights; give .*best.pt"):
        load_checkpoint(tmp_path / "last.pt")


def test_a_file_of_random_bytes_is_named_without_advice_to_unpickle_it(tmp_path: Path) -> None:
    import os

    path = tmp_path / "random.pt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    assert str(caught.value).startswith(f"{path}: ") and "weights_only" not in str(caught.value)
