"""The multi-scale loss: FFT term, target pooling, scale and term weights, LPIPS switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fdikp_cli.training.losses import MultiScaleLoss, fft_l1


def test_fft_l1_matches_numpy_orthonormal_spectrum() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 8, 12, generator=gen), torch.rand(2, 3, 8, 12, generator=gen)
    reference = np.abs(np.fft.fft2(a.numpy().astype(np.float64), norm="ortho")
                       - np.fft.fft2(b.numpy().astype(np.float64), norm="ortho")).mean()
    assert float(fft_l1(a, b)) == pytest.approx(reference, rel=1e-5)


def test_fft_l1_of_a_constant_offset_is_independent_of_size() -> None:
    # An offset c is one DC coefficient c*sqrt(HW) among HW: mean |.| = c / sqrt(HW).
    for size in (8, 16):
        x = torch.zeros(1, 1, size, size)
        assert float(fft_l1(x + 0.5, x)) == pytest.approx(0.5 / size, rel=1e-6)


def outputs_for(target: torch.Tensor, noise: float) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [F.avg_pool2d(target, f) + noise * torch.randn(F.avg_pool2d(target, f).shape, generator=gen)
            for f in (4, 2, 1)]


def test_loss_is_zero_for_pooled_targets_and_matches_a_hand_sum() -> None:
    target = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    exact = MultiScaleLoss(mse=1.0, lpips=0.0, fft=0.2)(outputs_for(target, 0.0), target)
    assert float(exact.total) == pytest.approx(0.0, abs=1e-12)
    outs = outputs_for(target, 0.1)
    terms = MultiScaleLoss(mse=1.0, lpips=0.0, fft=0.2, scale_weights=(1.0, 0.2, 0.1))(outs, target)
    by_hand = 0.0
    for weight, out, factor in zip((0.1, 0.2, 1.0), outs, (4, 2, 1)):
        ref = F.avg_pool2d(target, factor)
        by_hand += weight * (float(((out - ref) ** 2).mean()) + 0.2 * float(fft_l1(out, ref)))
    assert float(terms.total) == pytest.approx(by_hand, rel=1e-5)
    assert terms.mse > 0 and terms.fft > 0 and terms.lpips == 0


class ConstantLpips(nn.Module):
    """Stands in for LPIPS: distance 1 per image; records the sizes it was asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        self.sizes.append(pred.shape[-1])
        return pred.new_ones(pred.shape[0]) + 0 * pred.mean()


def test_lpips_term_is_weighted_and_skipped_below_its_minimum_size() -> None:
    target = torch.rand(1, 3, 64, 64)
    lpips = ConstantLpips()
    terms = MultiScaleLoss(mse=0.0, lpips=0.2, fft=0.0, lpips_module=lpips, lpips_min_size=32)(
        outputs_for(target, 0.0), target
    )
    assert lpips.sizes == [64, 32]  # full and half; the 16 px quarter is too small for AlexNet
    assert float(terms.total) == pytest.approx(0.2 * (1.0 + 0.2))


def test_zero_weights_switch_terms_off_entirely() -> None:
    class Exploding(nn.Module):
        def forward(self, *_: torch.Tensor) -> torch.Tensor:
            raise AssertionError("a term with weight 0 must not be computed")

    target = torch.rand(1, 3, 32, 32)
    terms = MultiScaleLoss(mse=1.0, lpips=0.0, fft=0.0, lpips_module=Exploding())(outputs_for(target, 0.1), target)
    assert terms.fft == 0 and terms.lpips == 0 and terms.mse > 0
    with pytest.raises(ValueError, match="LPIPS module"):
        MultiScaleLoss(lpips=0.2, lpips_module=None)


def test_gradients_reach_every_output_scale() -> None:
    target = torch.rand(1, 3, 32, 32)
    outs = [o.requires_grad_() for o in outputs_for(target, 0.1)]
    MultiScaleLoss(lpips=0.0)(outs, target).total.backward()
    assert all(o.grad is not None and o.grad.abs().sum() > 0 for o in outs)
