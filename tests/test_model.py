"""The FDIKP network: shapes, gradients, ablation variants, padding."""

from __future__ import annotations

import pytest
import torch

from fdikp_cli.errors import ConfigError
from fdikp_cli.model import FDIKP, FDIKPConfig, count_parameters, pad_to_multiple


@pytest.fixture(scope="module")
def model() -> FDIKP:
    torch.manual_seed(0)
    return FDIKP(FDIKPConfig()).eval()


@pytest.mark.parametrize("size", [(1, 1), (37, 53), (97, 131), (16, 16)])
def test_output_shapes_for_any_size(model: FDIKP, size: tuple[int, int]) -> None:
    h, w = size
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        quarter, half, full = model(x)
    assert full.shape == (2, 3, h, w)
    assert half.shape == (2, 3, -(-h // 2), -(-w // 2))
    assert quarter.shape == (2, 3, -(-h // 4), -(-w // 4))
    assert torch.isfinite(full).all()


def test_batch_items_are_independent(model: FDIKP) -> None:
    x = torch.rand(3, 3, 40, 56)
    with torch.no_grad():
        together = model(x)[-1]
        alone = model(x[1:2])[-1]
    torch.testing.assert_close(together[1:2], alone, atol=1e-5, rtol=1e-5)


def test_default_parameter_count_matches_paper_range() -> None:
    params = count_parameters(FDIKP(FDIKPConfig()))
    assert 5.0e6 <= params <= 6.0e6, params


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(1)
    config = FDIKPConfig()
    model = FDIKP(config)
    x = torch.rand(1, 3, 64, 64)
    outputs = model(x)
    loss = sum((y - 0.5).pow(2).mean() for y in outputs)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    zero = [n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() == 0]
    assert not missing, missing
    assert not zero, zero


ABLATIONS = [
    dict(kernel_predictor="spatial"),
    dict(pac=False),
    dict(coefficient_module="sram"),
    dict(ddm="spatial"),
    dict(ddm="frequency"),
    dict(ddm="parallel"),
    *[dict(kernel_size=k) for k in (3, 7, 9, 11, 15)],
]


@pytest.mark.parametrize("overrides", ABLATIONS, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
def test_every_ablation_builds_runs_and_trains(overrides: dict) -> None:
    torch.manual_seed(2)
    config = FDIKPConfig(**overrides)
    model = FDIKP(config)
    x = torch.rand(1, 3, 33, 47)
    outputs = model(x)
    assert outputs[-1].shape == x.shape
    outputs[-1].mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    if "kernel_size" in overrides:
        maps = model.forward_with_maps(x).maps
        k = overrides["kernel_size"]
        assert maps[-1].kernels_input.shape == (1, k, k, k)


def test_pac_ablation_has_no_dilation_map() -> None:
    out = FDIKP(FDIKPConfig(pac=False)).forward_with_maps(torch.rand(1, 3, 32, 32))
    assert all(m.dilation_input is None for m in out.maps)


def test_maps_for_visualisation(model: FDIKP) -> None:
    x = torch.rand(1, 3, 45, 61)
    with torch.no_grad():
        out = model.forward_with_maps(x)
    assert len(out.maps) == 3
    d = out.maps[-1].dilation_input
    assert d is not None and d.shape == (1, 1, 45, 61)
    assert d.min() >= 1.0 and d.max() <= model.config.pac_max_dilation
    kernels = out.maps[-1].kernels_input
    assert kernels.shape == (1, 5, 5, 5)
    # Inverse kernels keep the mean: taps sum to one.
    torch.testing.assert_close(kernels.sum(dim=(-2, -1)), torch.ones(1, 5))


def test_untrained_model_starts_near_identity(model: FDIKP) -> None:
    # Delta kernels and a global residual: a fresh model barely changes the image, which is
    # what makes short fine-tuning runs stable.
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        y = model(x)[-1]
    assert (y - x).abs().mean() < 0.1


def test_pad_to_multiple_reflects_and_reports_size() -> None:
    x = torch.arange(5.0).reshape(1, 1, 1, 5).repeat(1, 1, 6, 1)
    padded, size = pad_to_multiple(x, 8)
    assert size == (6, 5)
    assert padded.shape[-2:] == (8, 8)
    assert padded[0, 0, 0, 5:].tolist() == [3.0, 2.0, 1.0]  # reflect: 0 1 2 3 4 | 3 2 1
    tiny, _ = pad_to_multiple(torch.ones(1, 1, 1, 1), 8)
    assert tiny.shape[-2:] == (8, 8)


def test_invalid_config_is_rejected() -> None:
    with pytest.raises(ConfigError):
        FDIKPConfig(kernel_size=4)
    with pytest.raises(ConfigError):
        FDIKPConfig(ddm="diagonal")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        FDIKPConfig.from_dict({"kernel_size": 5, "colour": "red"})


def test_config_json_round_trip() -> None:
    config = FDIKPConfig(kernel_size=7, pac=False, widths=(16, 32, 64, 96))
    assert FDIKPConfig.from_json(config.to_json()) == config


def test_fft_stays_float32_under_autocast() -> None:
    model = FDIKP(FDIKPConfig()).eval()
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = model(x)[-1]
    assert torch.isfinite(y).all()
