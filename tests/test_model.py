from __future__ import annotations

import pytest
import torch

from edge_rppg.contract import CONTRACT
from edge_rppg.models import FSAMConfig, build_model, count_macs, count_parameters, nmf, to_deploy
from edge_rppg.models.fsam import TRANSFORMS, from_matrix, matrix_shape, to_matrix


def test_parameter_counts_match_the_paper() -> None:
    assert count_parameters(build_model(fsam=False)) == 51_840
    assert count_parameters(build_model(fsam=True)) == 52_168
    assert count_parameters(to_deploy(build_model(fsam=True))) == 51_840


def test_deploy_model_has_no_fsam_parameters() -> None:
    deploy = to_deploy(build_model(fsam=True))
    assert deploy.rppg_head.fsam is None
    assert not any("fsam" in name for name, _ in deploy.named_parameters())


def test_macs_per_window() -> None:
    macs = count_macs(build_model())
    assert 2.95e9 < macs < 3.05e9  # paper: ~3.0 G multiply-accumulates per 161-frame window


@pytest.mark.parametrize(("batch", "frames"), [(1, 161), (3, 161), (2, 33), (1, 65)])
def test_output_shapes(batch: int, frames: int) -> None:
    model = build_model().eval()
    with torch.no_grad():
        y = model(torch.rand(batch, 3, frames, CONTRACT.height, CONTRACT.width) * 255)
    assert y.shape == (batch, frames - 1)


def test_nmf_reconstructs_a_nonnegative_rank1_matrix() -> None:
    torch.manual_seed(1)
    u, v = torch.rand(2, 12, 1) + 0.1, torch.rand(2, 1, 20) + 0.1
    m = u @ v
    rec = nmf(m, rank=1, steps=4)
    assert torch.allclose(rec, m, rtol=1e-4, atol=1e-5)


def test_nmf_gradient_flows_only_through_the_last_coefficient_update() -> None:
    m = (torch.rand(1, 6, 9) + 0.1).requires_grad_()
    nmf(m).sum().backward()
    assert m.grad is not None and torch.isfinite(m.grad).all() and m.grad.abs().sum() > 0


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_transforms_map_and_map_back(transform: str) -> None:
    x = torch.arange(2 * 8 * 160 * 7 * 7, dtype=torch.float32).reshape(2, 8, 160, 7, 7)
    m = to_matrix(x, transform)  # type: ignore[arg-type]
    assert m.shape == (2, *matrix_shape(transform, 8, 160, 7, 7))  # type: ignore[arg-type]
    assert torch.equal(from_matrix(m, x.shape), x)


def test_t_kab_is_a_raw_view_not_a_permute() -> None:
    # Row d of the T_KAB matrix holds channel d // 20 and frames 8*(d % 20) .. +7 (reference layout).
    x = torch.arange(8 * 160 * 49, dtype=torch.float32).reshape(1, 8, 160, 7, 7)
    m = to_matrix(x, "T_KAB")
    assert m.shape == (1, 160, 392)
    assert torch.equal(m[0, 21], x[0, 1, 8:16].flatten())


def test_fsam_runs_in_training_and_is_skipped_in_eval() -> None:
    torch.manual_seed(0)
    model = build_model(fsam=True)
    x = torch.rand(2, 3, 33, 72, 72) * 255
    model.train()
    model(x)
    assert model.rppg_head.last_appx_error is not None and model.rppg_head.last_appx_error.item() > 0
    model.rppg_head.last_appx_error = None
    model.eval()
    with torch.no_grad():
        model(x)
    assert model.rppg_head.last_appx_error is None


def test_fsam_changes_the_training_output() -> None:
    torch.manual_seed(0)
    with_fsam = build_model(fsam=True, drop_rate=0.0).train()
    without = build_model(fsam=False, drop_rate=0.0).train()
    without.load_state_dict(to_deploy(with_fsam).state_dict())
    x = torch.rand(1, 3, 33, 72, 72) * 255
    assert not torch.allclose(with_fsam(x), without(x))


def test_deploy_output_equals_fsam_model_in_eval_mode() -> None:
    torch.manual_seed(3)
    model = build_model(fsam=FSAMConfig(residual=True)).eval()
    deploy = to_deploy(model)
    x = torch.rand(2, 3, 161, 72, 72) * 255
    with torch.no_grad():
        assert torch.allclose(model(x), deploy(x), atol=1e-6)


def test_fsam_at_inference_option_runs_fsam_in_eval() -> None:
    torch.manual_seed(3)
    model = build_model(fsam=True, fsam_at_inference=True).eval()
    x = torch.rand(1, 3, 33, 72, 72) * 255
    with torch.no_grad():
        y_fsam = model(x)
        y_plain = to_deploy(model)(x)
    assert model.rppg_head.last_appx_error is not None
    assert not torch.allclose(y_fsam, y_plain)
