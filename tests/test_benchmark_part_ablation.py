"""The part-ablation benchmark's stand-ins do what they claim, and leave the model as it was."""

import math

import pytest
import torch

from benchmarks.part_ablation import flat_dilation, identity_kernels, share_lost, variants, zeroed
from fdikp_cli.model import FDIKP, FDIKPConfig

SMALL = {"widths": (8, 8), "level_blocks": (1, 1), "attention_heads": 2, "predictor_channels": 8}


def _trained_looking(config: FDIKPConfig) -> FDIKP:
    torch.manual_seed(0)
    model = FDIKP(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


def test_identity_kernels_make_the_deconvolution_features_copies_of_the_input() -> None:
    model = FDIKP(FDIKPConfig(**SMALL)).eval()  # fresh: the refinement conv is zero
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad(), identity_kernels(model):
        features = model.fikp(x).features  # (1, 3N, H, W), kernel-major
    n = model.config.kernels
    torch.testing.assert_close(features, x.repeat(1, n, 1, 1))


def test_flat_dilation_is_each_maps_mean_and_stand_ins_restore_the_model() -> None:
    model = _trained_looking(FDIKPConfig(**SMALL))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        before = model(x)[-1]
        plain = model.fikp.dilation(x)
        with flat_dilation(model):
            flat = model.fikp.dilation(x)
            changed = model(x)[-1]
        after = model(x)[-1]
    torch.testing.assert_close(flat, plain.mean(dim=(-2, -1), keepdim=True).expand_as(plain))
    assert float(plain.std()) > 1e-3 and float(flat[0].std()) < 1e-5
    assert float((changed - before).abs().max()) > 1e-6  # the map mattered a little, at least
    torch.testing.assert_close(after, before)


def test_zeroed_gates_restore_their_values_and_variants_follow_the_model_s_parts() -> None:
    model = _trained_looking(FDIKPConfig(**SMALL, stage_carry=True, deconvolution_skip=True))
    with torch.no_grad():
        model.carry_gate.fill_(0.3)
    with zeroed(model, ("carry_gate", "deconvolution_gate", "no_such_parameter")) as count:
        assert count == 2 and float(model.carry_gate.detach()) == 0.0
    assert float(model.carry_gate.detach()) == pytest.approx(0.3)
    assert set(variants(model)) == {"full", "kernels", "dilation", "gates"}
    assert set(variants(FDIKP(FDIKPConfig(**SMALL, pac=False)))) == {"full", "kernels"}


def test_share_lost() -> None:
    assert share_lost(25.0, 26.0, 25.5) == pytest.approx(0.5)
    assert share_lost(25.0, 26.0, 26.1) == pytest.approx(-0.1)  # the variant is better
    assert math.isnan(share_lost(25.0, 25.0, 24.0))
