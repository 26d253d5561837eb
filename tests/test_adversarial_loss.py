"""The perceptual variant's parts: critic shape, defocus-weighted critic loss, gradient penalty,
collapse check (fdikp_cli.model.critic, fdikp_cli.training.adversarial_loss / adversarial)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fdikp_cli.model.critic import CriticConfig, PatchCritic, score_map_side
from fdikp_cli.training.adversarial import AdversarialHook, CriticCollapsed
from fdikp_cli.training.defocus_weight_maps import dilation_weight_map
from fdikp_cli.training.adversarial_loss import (
    critic_accuracy,
    defocus_critic_loss,
    generator_adversarial_loss,
    gradient_penalty,
)
from fdikp_cli.training.config import AdversarialConfig
from fdikp_cli.training.hooks import StepContext


def test_critic_is_the_specs_patchgan() -> None:
    critic = PatchCritic()
    assert sum(p.numel() for p in critic.parameters()) == 2_764_737  # spec §2.6, verified there by instantiation
    assert score_map_side(512) == 67  # spec §7.4 check 5
    tiny = PatchCritic(CriticConfig(base_channels=2))
    assert tiny(torch.rand(2, 3, 512, 96)).shape == (2, 1, 67, score_map_side(96))


def test_every_critic_parameter_gets_a_gradient() -> None:
    torch.manual_seed(0)
    critic = PatchCritic(CriticConfig(base_channels=4))
    critic(torch.rand(2, 3, 40, 40)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())


def test_critic_loss_by_hand() -> None:
    # Δ = fake - real = [[1, 2], [3, 4]]; the 4x4 map resized by nearest neighbour to 2x2 reads
    # m[0,0], m[0,2], m[2,0], m[2,2] = 0, 1, 2, 0:  mean Δ = 2.5, mean Δ·m = (0 + 2 + 6 + 0) / 4 = 2.
    fake = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    real = torch.zeros_like(fake)
    weight_map = torch.zeros(1, 1, 4, 4)
    weight_map[0, 0, 0, 2], weight_map[0, 0, 2, 0] = 1.0, 2.0
    weight_map[0, 0, 1, 1] = 50.0  # not read by the nearest-neighbour resize
    loss = defocus_critic_loss(fake, real, weight_map, alpha=0.1)
    assert loss.item() == pytest.approx(2.5 + 0.1 * 2.0, abs=1e-6)
    assert defocus_critic_loss(fake, real, None, alpha=0.1).item() == pytest.approx(2.5)
    assert generator_adversarial_loss(fake).item() == pytest.approx(-2.5)
    assert critic_accuracy(fake, real) == 0.0 and critic_accuracy(real, fake) == 1.0


def test_map_weighting_acts_where_the_map_is_large_and_not_where_it_is_zero() -> None:
    torch.manual_seed(1)
    fake = torch.randn(2, 1, 6, 6, requires_grad=True)
    real = torch.randn(2, 1, 6, 6)
    weight_map = torch.zeros(2, 1, 6, 6)
    weight_map[:, :, :3] = 20.0  # blurred top half, sharp bottom half
    loss = defocus_critic_loss(fake, real, weight_map, alpha=0.1)
    (grad,) = torch.autograd.grad(loss, fake)
    n = fake.numel()
    # Each patch's weight in the loss: 1/n where the map is 0 (as without a map), (1 + 0.1·20)/n where blurred.
    torch.testing.assert_close(grad[:, :, 3:], torch.full_like(grad[:, :, 3:], 1 / n))
    torch.testing.assert_close(grad[:, :, :3], torch.full_like(grad[:, :, :3], 3 / n))
    # Changing the scores in the sharp half moves the loss exactly as the unweighted loss moves.
    shifted = fake.detach().clone()
    shifted[:, :, 3:] += 1.0
    change = defocus_critic_loss(shifted, real, weight_map, 0.1) - loss
    plain = defocus_critic_loss(shifted, real, None, 0.1) - defocus_critic_loss(fake.detach(), real, None, 0.1)
    assert change.item() == pytest.approx(plain.item(), abs=1e-6)


def test_gradient_penalty_of_a_linear_critic_by_hand() -> None:
    # D(x) = 3·R + 4·G per pixel: its gradient has norm 5 everywhere, so GP = (5 - 1)² = 16.
    critic = nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([3.0, 4.0, 0.0]).view(1, 3, 1, 1))
    real, fake = torch.rand(2, 3, 5, 5), torch.rand(2, 3, 5, 5)
    penalty = gradient_penalty(critic, real, fake, torch.tensor([0.3, 0.8]))
    assert penalty.item() == pytest.approx(16.0, rel=1e-6)
    penalty.backward()  # differentiable w.r.t. the critic (create_graph)
    assert critic.weight.grad is not None and critic.weight.grad.abs().sum() > 0


class _PacModel(nn.Module):
    """Stands in for FDIKP: a `fikp.dilation` module returning 1 + something >= 0."""

    def __init__(self) -> None:
        super().__init__()
        self.fikp = nn.Module()
        self.fikp.dilation = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1), nn.Sigmoid())


def _hook(**overrides: object) -> AdversarialHook:
    config = AdversarialConfig(weight=0.01, warmup_steps=2, critic_channels=4, collapse_patience=3, **overrides)
    return AdversarialHook.from_config(config, _PacModel(), torch.device("cpu"))


def test_hook_trains_the_critic_first_and_then_adds_the_term() -> None:
    torch.manual_seed(2)
    hook = _hook()
    before = [p.detach().clone() for p in hook.critic.parameters()]
    outputs = [torch.rand(2, 3, 32, 32, requires_grad=True)]
    context = StepContext(0, torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32), outputs)
    terms = [hook.extra_loss(context)[0] for _ in range(3)]
    assert terms[0] is None and terms[1] is None and terms[2] is not None  # 2 warm-up steps
    assert any(not torch.equal(a, b) for a, b in zip(before, hook.critic.parameters()))
    hook.optimizer.zero_grad(set_to_none=True)
    terms[2].backward()
    assert outputs[0].grad is not None  # the term reaches the generator's output...
    assert all(p.grad is None for p in hook.critic.parameters())  # ...and leaves the critic alone
    state = hook.state_dict()
    assert state["steps"] == 3


def test_dilation_map_source_reads_the_models_map() -> None:
    model = _PacModel()
    source = dilation_weight_map(model)
    weights = source(torch.rand(1, 3, 8, 8))
    assert weights.shape == (1, 1, 8, 8) and not weights.requires_grad


def test_collapse_check_stops_a_pinned_critic_after_the_warm_up_only() -> None:
    hook = _hook()
    pinned = {"critic_acc": 1.0, "w_dist": 3.0}
    for step in range(5):
        hook.check_log_row(pinned, step)  # warm-up (hook.steps == 0): never stops
    hook.steps = 2
    hook.check_log_row(pinned, 10)
    hook.check_log_row({"critic_acc": 0.8, "w_dist": 0.5}, 11)  # a healthy row resets the streak
    hook.check_log_row(pinned, 12)
    hook.check_log_row({"critic_acc": 0.7, "w_dist": 0.0}, 13)  # dead critic counts too
    with pytest.raises(CriticCollapsed, match="collapsed at step 14.*3 consecutive log rows"):
        hook.check_log_row({"critic_acc": 0.0, "w_dist": -1.0}, 14)


def test_estimator_map_source_reads_the_calibrated_estimator(tmp_path) -> None:
    from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig
    from fdikp_cli.defocus.kernel_bank import KernelBank, KernelBankConfig
    from fdikp_cli.defocus.weights import save_defocus_weights
    from fdikp_cli.errors import WeightsError
    from fdikp_cli.training.defocus_weight_maps import estimator_weight_map

    torch.manual_seed(3)
    estimator = DefocusMapNet(EstimatorConfig())
    path = save_defocus_weights(estimator, KernelBank(KernelBankConfig(max_radius=4)), tmp_path / "map.safetensors")
    source = estimator_weight_map(str(path), torch.device("cpu"))
    blurred = torch.rand(2, 3, 64, 64)
    weights = source(blurred)
    assert weights.shape == (2, 1, 64, 64) and not weights.requires_grad and (weights >= 0).all()
    with torch.no_grad():
        torch.testing.assert_close(weights, estimator.eval()(blurred))
    with pytest.raises(WeightsError):
        estimator_weight_map(str(tmp_path / "absent.safetensors"), torch.device("cpu"))
