"""Training the defocus-map estimator: exact resume, alternating phases, kept-normalised kernels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fdikp_cli.defocus.estimator import EstimatorConfig
from fdikp_cli.defocus.kernel_bank import KernelBankConfig
from fdikp_cli.defocus.training import (
    DefocusTrainConfig,
    load_checkpoint,
    phase_at,
    train_defocus_map,
)
from fdikp_cli.errors import ConfigError


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    coarse = rng.random((h // 4 + 1, w // 4 + 1, 3))
    image = np.kron(coarse, np.ones((4, 4, 1)))[:h, :w] * 0.7 + 0.3 * rng.random((h, w, 3))
    return (image * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A sharp-photo folder (with a held-out subfolder) and a real-pairs folder, tiny."""
    root = tmp_path_factory.mktemp("defocus_data")
    rng = np.random.default_rng(0)
    for sub, count in (("train_a", 2), ("heldout", 1)):
        (root / "sharp" / sub).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(_texture(rng, 48, 48)).save(root / "sharp" / sub / f"{i}.png")
    for sub in ("source", "target"):
        (root / "pairs" / sub).mkdir(parents=True)
    for i in range(2):
        sharp = _texture(rng, 48, 48)
        blurred = (0.5 * sharp + 0.25 * np.roll(sharp, 1, 0) + 0.25 * np.roll(sharp, -1, 1)).astype(np.uint8)
        Image.fromarray(sharp).save(root / "pairs" / "target" / f"{i}.png")
        Image.fromarray(blurred).save(root / "pairs" / "source" / f"{i}.png")
    return root / "sharp", root / "pairs"


def _config(data: tuple[Path, Path], steps: int = 4) -> DefocusTrainConfig:
    sharp, pairs = data
    return DefocusTrainConfig(
        sharp_dir=str(sharp), holdout=("heldout",), real_root=str(pairs), steps=steps, synthetic_batch=1, real_batch=1,
        crop=16, margin=6, synthetic_crop=16, phases=(0.5, 0.25, 0.25), pair_scale=(1.0, 1.0), sharp_scale=(1.0, 1.0),
        estimator=EstimatorConfig(widths=(4, 8), max_radius=4.0), bank=KernelBankConfig(max_radius=4),
    )


def test_phases_alternate_in_the_given_shares(data: tuple[Path, Path]) -> None:
    config = _config(data, steps=8)
    assert [phase_at(s, config) for s in range(8)] == ["estimator"] * 4 + ["kernels"] * 2 + ["estimator"] * 2


def test_resume_continues_exactly_and_kernels_stay_normalised(data: tuple[Path, Path], tmp_path: Path) -> None:
    config = _config(data)  # steps 0, 1: estimator; 2: kernels; 3: estimator
    straight = train_defocus_map(config, tmp_path / "straight", checkpoint_every=100)
    assert (tmp_path / "straight" / "defocus_map.safetensors").is_file()
    train_defocus_map(config, tmp_path / "split", checkpoint_every=100, max_steps=2)
    assert not (tmp_path / "split" / "defocus_map.safetensors").exists()
    resumed = train_defocus_map(config, tmp_path / "split", checkpoint_every=100)
    assert resumed.step == straight.step == 4
    for name, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name
    for name, value in straight.bank.state_dict().items():
        assert torch.equal(resumed.bank.state_dict()[name], value), name
    assert straight.estimator_optimizer.state_dict()["state"].keys() == resumed.estimator_optimizer.state_dict()["state"].keys()
    # The kernel phase moved the bank, and its kernels are still distributions.
    fresh = load_checkpoint(tmp_path / "split", config).bank  # the state at step 4 again
    moved = any(not torch.equal(a, b) for a, b in zip(fresh.parameters(), type(fresh)(config.bank).parameters()))
    assert moved
    for radius in range(1, 5):
        kernel = straight.bank.kernel(radius).detach()
        assert float(kernel.min()) >= 0 and float(kernel.sum()) == pytest.approx(1.0, abs=1e-6)
    rows = (tmp_path / "split" / "train_log.csv").read_text().splitlines()
    assert [row.split(",")[1] for row in rows[1:]] == ["estimator", "estimator", "kernels", "estimator"]


def test_resume_refuses_other_settings(data: tuple[Path, Path], tmp_path: Path) -> None:
    config = _config(data)
    train_defocus_map(config, tmp_path / "run", checkpoint_every=100, max_steps=1)
    with pytest.raises(ConfigError, match="tv_weight"):
        train_defocus_map(dataclasses.replace(config, tv_weight=1.0), tmp_path / "run", max_steps=1)


def test_held_out_photos_are_never_sampled(data: tuple[Path, Path]) -> None:
    from fdikp_cli.defocus.training import CropSampler

    sampler = CropSampler(_config(data))
    assert sampler.synthetic is not None
    assert all("heldout" not in p.parts for p in sampler.synthetic.images)
    blurred, radius = sampler.synthetic_batch(0)
    assert blurred.shape == (1, 3, 16, 16) and radius.shape == (1, 1, 16, 16)
    assert float(radius.max()) <= 4.0


def test_init_weights_starts_from_a_weights_file_grows_a_wider_one_and_refuses_another_architecture(
        data: tuple[Path, Path], tmp_path: Path) -> None:
    from fdikp_cli.defocus.training import new_state
    from fdikp_cli.defocus.weights import load_defocus_weights

    config = _config(data)
    train_defocus_map(config, tmp_path / "first", checkpoint_every=100)
    trained = load_defocus_weights(tmp_path / "first" / "defocus_map.safetensors")
    warm = new_state(dataclasses.replace(config, init_weights=str(tmp_path / "first" / "defocus_map.safetensors")))
    cold = new_state(config)
    assert warm.step == 0
    for name, value in trained.model.state_dict().items():
        assert torch.equal(warm.model.state_dict()[name], value), name
    assert any(not torch.equal(cold.model.state_dict()[n], v) for n, v in trained.model.state_dict().items())
    for name, value in trained.bank.state_dict().items():
        assert torch.equal(warm.bank.state_dict()[name], value), name
    start = str(tmp_path / "first" / "defocus_map.safetensors")
    wider = new_state(dataclasses.replace(config, init_weights=start, estimator=EstimatorConfig(widths=(4, 12), max_radius=4.0)))
    image = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(wider.model(image), trained.model(image), atol=1e-5, rtol=0)
    for widths in ((4, 6), (4, 8, 8)):  # narrower at a level; another number of levels
        other = dataclasses.replace(config, init_weights=start, estimator=EstimatorConfig(widths=widths, max_radius=4.0))
        with pytest.raises(ConfigError, match="estimator"):
            new_state(other)


def test_a_warm_started_run_resumes_after_its_init_file_is_gone(data: tuple[Path, Path], tmp_path: Path) -> None:
    config = _config(data)
    train_defocus_map(config, tmp_path / "first", checkpoint_every=100)
    start = tmp_path / "start.safetensors"
    (tmp_path / "first" / "defocus_map.safetensors").rename(start)
    warm = dataclasses.replace(config, init_weights=str(start))
    straight = train_defocus_map(warm, tmp_path / "straight", checkpoint_every=100)
    train_defocus_map(warm, tmp_path / "split", checkpoint_every=100, max_steps=2)
    start.unlink()  # the checkpoint, not the file the run started from, carries the state
    resumed = train_defocus_map(warm, tmp_path / "split", checkpoint_every=100)
    for name, value in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], value), name
