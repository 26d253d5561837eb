"""The multi-scale loss: FFT term, Charbonnier term, target pooling, scale and term weights, LPIPS switch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fdikp_cli.training.losses import MultiScaleLoss, charbonnier, fft_l1


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


def test_charbonnier_matches_a_float64_reference_and_is_zero_for_equal_inputs() -> None:
    gen = torch.Generator().manual_seed(2)
    a, b = torch.rand(2, 3, 8, 8, generator=gen), torch.rand(2, 3, 8, 8, generator=gen)
    d = a.numpy().astype(np.float64) - b.numpy().astype(np.float64)
    reference = (np.sqrt(d**2 + 1e-3**2) - 1e-3).mean()
    assert float(charbonnier(a, b, eps=1e-3)) == pytest.approx(reference, rel=1e-5)
    assert float(charbonnier(a, a)) == 0.0


def test_charbonnier_prefers_the_median_of_disagreeing_targets_where_mse_takes_the_mean() -> None:
    # Three captures of one pixel, one of them shifted onto an edge: 0, 0, 1. The squared error's
    # best constant answer is their mean (1/3, a blur of the edge), the smooth L1's their median.
    targets = torch.tensor([0.0, 0.0, 1.0]).view(3, 1, 1, 1)
    candidates = torch.linspace(0, 1, 101)
    smooth_l1 = [float(charbonnier(torch.full_like(targets, c), targets)) for c in candidates]
    squared = [float(((c - targets) ** 2).mean()) for c in candidates]
    assert float(candidates[int(np.argmin(smooth_l1))]) == pytest.approx(0.0, abs=0.011)
    assert float(candidates[int(np.argmin(squared))]) == pytest.approx(1 / 3, abs=0.011)


def test_charbonnier_weight_adds_its_term_at_every_scale() -> None:
    target = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    outs = outputs_for(target, 0.1)
    plain = MultiScaleLoss(mse=1.0, lpips=0.0, fft=0.0)(outs, target)
    assert plain.charbonnier == 0
    terms = MultiScaleLoss(mse=1.0, lpips=0.0, fft=0.0, charbonnier_weight=0.5, charbonnier_eps=1e-2)(outs, target)
    by_hand = sum(w * float(charbonnier(o, F.avg_pool2d(target, f), eps=1e-2))
                  for w, o, f in zip((0.1, 0.2, 1.0), outs, (4, 2, 1)))
    assert terms.charbonnier == pytest.approx(by_hand, rel=1e-5)
    assert float(terms.total) == pytest.approx(float(plain.total) + 0.5 * by_hand, rel=1e-5)
