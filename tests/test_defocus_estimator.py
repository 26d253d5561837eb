"""The defocus-map estimator network and its weights file (fdikp_cli.defocus.estimator, .weights, .maps)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig, parameter_count
from fdikp_cli.defocus.kernel_bank import KernelBank, KernelBankConfig
from fdikp_cli.defocus.maps import estimate_radius_map, summarize, work_scale
from fdikp_cli.defocus.weights import DefocusWeights, load_defocus_weights, save_defocus_weights
from fdikp_cli.errors import ConfigError, WeightsError


@pytest.mark.parametrize("size", [(1, 1), (5, 7), (33, 65), (64, 48)])
def test_output_is_one_radius_per_pixel_within_range(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = DefocusMapNet().eval()
    # A random head so the range is exercised beyond the initial constant map.
    torch.nn.init.normal_(model.head.weight, std=3.0)
    with torch.no_grad():
        radius = model(torch.rand(2, 3, *size))
    assert radius.shape == (2, 1, *size)
    assert radius.is_contiguous()
    assert float(radius.min()) >= 0.0 and float(radius.max()) <= 30.0


def test_default_estimator_is_small_and_every_parameter_learns() -> None:
    model = DefocusMapNet()
    assert parameter_count(model) <= 300_000
    model(torch.rand(1, 3, 40, 40)).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing


def test_estimator_refuses_a_non_rgb_batch_and_bad_configs() -> None:
    with pytest.raises(ValueError):
        DefocusMapNet()(torch.rand(1, 1, 16, 16))
    with pytest.raises(ConfigError):
        EstimatorConfig(widths=(8,))
    with pytest.raises(ConfigError):
        EstimatorConfig(max_radius=0)


def test_weights_round_trip_with_half_precision_storage(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model, bank = DefocusMapNet(EstimatorConfig(widths=(4, 8))), KernelBank(KernelBankConfig(max_radius=3))
    path = save_defocus_weights(model, bank, tmp_path / "map.safetensors", {"purpose": "test"},
                                storage_dtype=torch.float16)
    loaded = load_defocus_weights(path)
    assert loaded.model.config == model.config and loaded.bank.config == bank.config
    assert loaded.provenance == {"purpose": "test"}
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], value.half().float())
    for name, value in bank.state_dict().items():  # the bank stays float32
        assert torch.equal(loaded.bank.state_dict()[name], value)
    with pytest.raises(WeightsError):
        load_defocus_weights(tmp_path / "missing.safetensors")


def _constant_estimator(radius: float) -> DefocusWeights:
    """An estimator whose map is `radius` px everywhere (zero head weights, bias set)."""
    model = DefocusMapNet(EstimatorConfig(widths=(4, 8))).eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(float(torch.logit(torch.tensor(radius / 30.0))))
    return DefocusWeights(Path("constant"), model, KernelBank(KernelBankConfig(max_radius=3)))


def test_large_photos_are_estimated_at_the_working_side_and_radii_given_in_photo_pixels() -> None:
    estimator = _constant_estimator(2.0)
    photo = np.random.default_rng(0).random((100, 300, 3), dtype=np.float32)
    radius = estimate_radius_map(estimator, photo, work_side=150)  # scale 0.5
    assert radius.shape == (100, 300)
    np.testing.assert_allclose(radius, 4.0, rtol=1e-4)  # 2 px at half size = 4 px of the photo
    summary = summarize(radius, work_scale(100, 300, 150))
    assert summary.in_focus_px == pytest.approx(2.0) and summary.in_focus_share == 0.0
    assert summary.median_px == pytest.approx(4.0, rel=1e-4)
    small = estimate_radius_map(estimator, photo[:50, :100], work_side=150)  # no scaling below the side
    np.testing.assert_allclose(small, 2.0, rtol=1e-4)
