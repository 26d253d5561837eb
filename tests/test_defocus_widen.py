"""Growing the defocus-map estimator: the wider network computes the old map, then learns."""

from __future__ import annotations

import pytest
import torch

from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig
from fdikp_cli.defocus.widen import widen_estimator
from fdikp_cli.errors import ConfigError


def _trained_like(config: EstimatorConfig, seed: int) -> DefocusMapNet:
    """An estimator whose every weight, the zero-initialised head included, is non-trivial."""
    torch.manual_seed(seed)
    model = DefocusMapNet(config)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
        model.head.weight.normal_(0.0, 1.0)  # mid-range radii where the map's sigmoid is not flat
        model.head.bias.zero_()
    return model.eval()


def test_the_wider_estimator_computes_the_old_map() -> None:
    old = _trained_like(EstimatorConfig(widths=(4, 6, 8), max_radius=10.0), seed=1)
    wide = widen_estimator(old, EstimatorConfig(widths=(4, 12, 20), max_radius=10.0), seed=2).eval()
    image = torch.rand(2, 3, 40, 36)
    with torch.no_grad():
        before, after = old(image), wide(image)
    assert float(before.std()) > 0.2  # a real map, not a constant the copy could match by chance
    torch.testing.assert_close(after, before, atol=1e-5, rtol=0)
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in old.parameters())


def test_the_new_channels_are_live_and_learn() -> None:
    old = _trained_like(EstimatorConfig(widths=(4, 6, 8), max_radius=10.0), seed=3)
    wide = widen_estimator(old, EstimatorConfig(widths=(4, 6, 16), max_radius=10.0), seed=4)
    image, target = torch.rand(1, 3, 32, 32), torch.full((1, 1, 32, 32), 5.0)
    loss = (wide(image) - target).abs().mean()
    loss.backward()
    # The weights from the 8 new bottom-level channels into the old ones start at zero ...
    zero_block = wide.bottleneck[2].weight[:8, 8:]
    assert float(zero_block.detach().abs().max()) == 0.0
    # ... and get a gradient at once, so the first step opens the new path.
    assert float(wide.bottleneck[2].weight.grad[:8, 8:].abs().max()) > 0.0


@pytest.mark.parametrize("widths, radius", [((4, 4, 8), 10.0), ((4, 6), 10.0), ((4, 6, 8), 20.0)])
def test_narrower_levels_other_depths_or_ranges_are_refused(widths: tuple[int, ...], radius: float) -> None:
    old = DefocusMapNet(EstimatorConfig(widths=(4, 6, 8), max_radius=10.0))
    with pytest.raises(ConfigError):
        widen_estimator(old, EstimatorConfig(widths=widths, max_radius=radius))
