"""The in-focus fidelity term: its value against a hand computation, that it acts only where the
map says in focus, and that `fdikp train --set infocus.weight=...` composes it into a run."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.training.config import InFocusConfig
from fdikp_cli.training.hooks import StepContext
from fdikp_cli.training.infocus_fidelity import InFocusFidelityHook, in_focus_mask, infocus_fidelity_loss
from fdikp_cli.weights import read_weights
from tests.conftest import write_blocky_pairs

TINY_MODEL = '{"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}'


def test_mask_is_radius_at_most_the_threshold() -> None:
    radius = torch.tensor([0.0, 0.5, 1.0, 1.01, 30.0]).view(1, 1, 1, 5)
    assert in_focus_mask(radius, 1.0).flatten().tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_loss_against_a_hand_computed_value() -> None:
    restored = torch.zeros(1, 3, 2, 2)
    restored[0, :, 0, 0] = torch.tensor([0.1, 0.2, 0.3])  # in focus: counts
    restored[0, :, 1, 1] = 0.5  # defocused: ignored
    mask = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    # sum of squares in focus 0.01 + 0.04 + 0.09 = 0.14, over 3 channels x 4 pixels
    torch.testing.assert_close(infocus_fidelity_loss(restored, torch.zeros(1, 3, 2, 2), mask), torch.tensor(0.14 / 12))


def test_hook_pulls_only_on_in_focus_pixels() -> None:
    radius = torch.full((1, 1, 8, 8), 10.0)
    radius[..., :, :4] = 0.5  # left half in focus
    hook = InFocusFidelityHook(InFocusConfig(weight=2.0), radius_source=lambda blurred: radius)
    output = torch.rand(1, 3, 8, 8, requires_grad=True)
    sharp = torch.rand(1, 3, 8, 8)
    context = StepContext(0, torch.rand(1, 3, 8, 8), sharp, [output])
    term, stats = hook.extra_loss(context)
    term.backward()
    assert output.grad is not None
    assert output.grad[..., 4:].abs().max() == 0 and output.grad[..., :4].abs().min() > 0
    left = (output.detach() - sharp)[..., :4].square()
    torch.testing.assert_close(term.detach(), 2.0 * left.sum() / output.numel())
    assert stats["infocus_share"] == pytest.approx(0.5)
    assert stats["infocus"] == pytest.approx(float(left.mean()), rel=1e-5)
    assert hook.state_dict() == {}


def _train(root: Path, out: Path, extra: list[str]) -> None:
    args = ["train", "--dataset", "pairs", "--data-root", str(root), "--out", str(out), "--model-config", TINY_MODEL,
            "--crop", "32", "--batch-size", "2", "--stage-steps", "3,1", "--workers", "0", "--no-lpips",
            "--log-every", "1", "--checkpoint-every", "1000", "--seed", "3", "--amp", "off", *extra]
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, args)
    assert result.exit_code == 0, result.output


def test_train_composes_the_term_and_logs_it(tmp_path: Path) -> None:
    from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig
    from fdikp_cli.defocus.kernel_bank import KernelBank, KernelBankConfig
    from fdikp_cli.defocus.weights import save_defocus_weights

    torch.manual_seed(0)
    estimator = save_defocus_weights(DefocusMapNet(EstimatorConfig()), KernelBank(KernelBankConfig()),
                                     tmp_path / "map.safetensors")
    root = write_blocky_pairs(tmp_path / "pairs", 2)
    # A fresh estimator reads ~3 px everywhere: radius 30 makes every pixel count as in focus.
    infocus = ["--set", "infocus.weight=5", "--set", "infocus.radius=30", "--set", f"infocus.estimator_weights={estimator}"]
    _train(root, tmp_path / "plain", [])
    _train(root, tmp_path / "anchored", infocus)

    with (tmp_path / "anchored" / "train_log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert float(rows[0]["infocus_share"]) == 1.0 and float(rows[0]["infocus"]) > 0
    # The term is in the loss: total = mse-based loss + 5 * infocus (all pixels in focus).
    assert float(rows[0]["loss"]) > 5 * float(rows[0]["infocus"])
    plain = read_weights(tmp_path / "plain" / "checkpoints" / "step_00000004.safetensors")
    anchored = read_weights(tmp_path / "anchored" / "checkpoints" / "step_00000004.safetensors")
    assert any(not torch.equal(plain.state_dict[k], anchored.state_dict[k]) for k in plain.state_dict)
    assert anchored.provenance["hooks"]["infocus"]["weight"] == 5.0
    assert "[infocus]" in (tmp_path / "anchored" / "config.toml").read_text()


def test_critic_and_in_focus_term_share_one_estimator_and_its_map_per_batch(tmp_path: Path) -> None:
    from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig
    from fdikp_cli.defocus.kernel_bank import KernelBank, KernelBankConfig
    from fdikp_cli.defocus.weights import save_defocus_weights
    from fdikp_cli.training.config import AdversarialConfig, TrainConfig
    from fdikp_cli.training.hooks import build_step_hooks

    torch.manual_seed(0)
    estimator = DefocusMapNet(EstimatorConfig())
    path = str(save_defocus_weights(estimator, KernelBank(KernelBankConfig()), tmp_path / "map.safetensors"))
    config = TrainConfig(adversarial=AdversarialConfig(weight=1e-3, weight_map="estimator", estimator_weights=path,
                                                       critic_channels=4),
                         infocus=InFocusConfig(weight=1.0, estimator_weights=path))
    adversarial, infocus = build_step_hooks(config, torch.nn.Identity(), torch.device("cpu"))
    assert adversarial.weight_source is infocus.radius_source
    source = infocus.radius_source
    batch = torch.rand(1, 3, 32, 32)
    first = source(batch)
    assert source(batch) is first  # the second reader of the same batch gets the computed map
    with torch.no_grad():
        torch.testing.assert_close(first, estimator.eval()(batch))
    other = torch.rand(1, 3, 32, 32)
    assert source(other) is not first  # a new batch is estimated anew
