"""The inverse-disc bank (issue 23): wide deconvolutions of each stage input, a zero-initialised head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fdikp_cli.defocus.fft_conv import SharedSpectrum
from fdikp_cli.errors import ConfigError
from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.model.inverse_bank import InverseDiscBank, wiener_inverse_disc
from fdikp_cli.synth.psf import psf_kernel
from fdikp_cli.training.model_extension import extended_config, parameter_groups
from fdikp_cli.weights import load_state_extending

SMALL = {"widths": (8, 8), "level_blocks": (1, 1), "attention_heads": 2, "predictor_channels": 8}
BANK = {"inverse_bank_radii": (2.0, 5.0), "inverse_bank_size": 15}


def _direct_convolution(image: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """True convolution (flipped kernel), mirrored borders without the edge pixel, by conv2d."""
    half = kernel.shape[-1] // 2
    padded = torch.from_numpy(np.pad(image.numpy(), ((0, 0), (0, 0), (half, half), (half, half)), mode="reflect"))
    weight = kernel.flip(-1, -2).expand(image.shape[1], 1, *kernel.shape)
    return F.conv2d(padded, weight, groups=image.shape[1])


def test_blur_stack_equals_direct_convolution_per_kernel() -> None:
    torch.manual_seed(0)
    image = torch.rand(2, 3, 23, 31, dtype=torch.float64)
    kernels = torch.rand(3, 7, 7, dtype=torch.float64)  # asymmetric: orientation and centring
    stacked = SharedSpectrum(image, reach=5).blur_stack(kernels)
    assert stacked.shape == (2, 3, 3, 23, 31)
    for m in range(3):
        torch.testing.assert_close(stacked[:, m], _direct_convolution(image, kernels[m]), rtol=0, atol=1e-12)


def test_initial_kernel_undoes_much_of_its_disc_and_keeps_flat_areas() -> None:
    rng = np.random.default_rng(1)
    # A piecewise-constant test card (sharp edges, like text): 8x8 px squares of random grey.
    sharp = torch.from_numpy(np.kron(rng.random((20, 20)), np.ones((8, 8))))[None, None]  # (1, 1, 160, 160)
    disc = torch.from_numpy(psf_kernel(5.0).astype(np.float64))
    blurred = _direct_convolution(sharp, disc)
    inverse = torch.from_numpy(wiener_inverse_disc(5.0, 47).astype(np.float64))
    restored = _direct_convolution(blurred, inverse)
    inner = (slice(None), slice(None), slice(40, -40), slice(40, -40))  # away from the mirrored borders
    mse_blurred = float((blurred - sharp)[inner].square().mean())
    mse_restored = float((restored - sharp)[inner].square().mean())
    assert mse_restored < 0.6 * mse_blurred
    assert abs(float(inverse.sum()) - 1.0) < 1e-6  # DC gain 1: a flat area passes unchanged
    torch.testing.assert_close(inverse, inverse.flip(-1, -2))  # zero phase: no shift
    with pytest.raises(ValueError, match="odd"):
        wiener_inverse_disc(5.0, 30)


def test_bank_runs_in_float32_under_bf16_autocast_and_needs_its_radius() -> None:
    torch.manual_seed(2)
    bank = InverseDiscBank((3.0,), 15, guided=True)
    x = torch.rand(1, 3, 40, 40)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        deconvolved = bank.deconvolve(x.bfloat16())
    assert deconvolved.dtype == torch.float32
    reference = _direct_convolution(x.bfloat16().double(), bank.kernels[0].detach().double())
    torch.testing.assert_close(deconvolved[:, 0].double(), reference, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="radius"):
        bank(x)


def test_bank_starts_silent_over_older_weights_then_changes_the_output() -> None:
    torch.manual_seed(3)
    plain = FDIKP(FDIKPConfig(**SMALL)).eval()
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model = FDIKP(extended_config(plain.config, BANK, "plain")).eval()
    kept = load_state_extending(model, plain.state_dict())
    assert set(kept) == {f"inverse_bank.{k}" for k in model.inverse_bank.state_dict()}
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[-1], plain(x)[-1])
        model.inverse_bank.to_image.bias.fill_(0.1)  # the head open: a constant 0.1 added at every stage
        ours, theirs = model(x), plain(x)
        torch.testing.assert_close(ours[0] - theirs[0], torch.full_like(ours[0], 0.1))  # stage 1: just that
        for later, before in zip(ours[1:], theirs[1:]):  # later stages: that, and what the change fed on
            assert float((later - before).mean()) > 0.05


def test_bank_head_learns_from_zero_and_its_last_layer_is_a_gate() -> None:
    torch.manual_seed(4)
    model = FDIKP(FDIKPConfig(**SMALL, **BANK))
    model(torch.rand(1, 3, 64, 64))[-1].square().mean().backward()
    assert float(model.inverse_bank.to_image.weight.grad.abs().sum()) > 0
    gates = {id(p) for p in parameter_groups(model, 20.0)[1]["params"]}
    assert gates == {id(model.inverse_bank.to_image.weight), id(model.inverse_bank.to_image.bias)}
    assert id(model.inverse_bank.kernels) not in gates  # the kernels learn at the base rate


def test_bank_configuration_is_checked() -> None:
    with pytest.raises(ConfigError, match="inverse_bank_radii"):
        FDIKPConfig(inverse_bank_radii=(0.0,))
    with pytest.raises(ConfigError, match="inverse_bank_size"):
        FDIKPConfig(inverse_bank_radii=(3.0,), inverse_bank_size=32)
    config = FDIKPConfig.from_json('{"inverse_bank_radii": [1.5, 3]}')
    assert config.inverse_bank_radii == (1.5, 3.0) and FDIKPConfig.from_json(config.to_json()) == config
