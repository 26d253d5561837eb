"""Training the defocus-map estimator (issue 12): synthetic supervision + real reblur consistency.

Every step sees two kinds of crops:

- synthetic: sharp photos defocused on the fly by `fdikp_cli.synth` (the generator behind
  `fdikp synth`), which records the true circle-of-confusion radius per pixel. Loss: mean
  |r_pred - r_true| (px) over the crop. This fixes the map's unit: px of a uniform disc's
  radius, the unit of the moment-calibrated kernel bank.
- real: registered DPDD-style pairs (blurred capture Y, sharp capture S). Loss (spec §2.4, with
  the map a network output): reblur_weight * mean |R(S, r_pred; K) - Y| over the central
  `crop` of a window `crop + 2 margin` wide (the margin holds the content the widest kernel reaches for, so no border
  approximation enters the loss) + tv_weight * TV(r_pred) over the window.

Alternation (spec §2.4): phases of the step budget update either the estimator E (both losses,
bank fixed) or the kernel bank K (the real reblur loss only, the estimator's map fixed). The
spec's epochs 10 / 5 / 5 / 5 / 6 give K a third of the budget; our default 40 / 10 / 20 / 10 / 20 %
gives it a fifth, because here E also learns from synthetic supervision, which K phases skip.

Data are step-indexed: the crops of step s are a pure function of (seed, s), and the learning
rate a pure function of s, so a resumed run continues exactly (the checkpoint holds the
estimator, the bank, both optimizers and the step).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig
from fdikp_cli.defocus.fit import total_variation
from fdikp_cli.defocus.kernel_bank import KernelBank, KernelBankConfig
from fdikp_cli.defocus.reblur import blend, blur_stack, needed_radii, reblur
from fdikp_cli.errors import ConfigError, DatasetError, TrainingDiverged

CHECKPOINT_NAME = "checkpoint.pt"
WEIGHTS_NAME = "defocus_map.safetensors"
LOG_NAME = "train_log.csv"


@dataclass(frozen=True)
class DefocusTrainConfig:
    """Everything that decides what a run computes (compared on resume) plus its folders."""

    sharp_dir: str = ""  # sharp photos for synthetic pairs (searched recursively)
    # Subfolders of sharp_dir never used in training (held out for the synthetic evaluation).
    holdout: tuple[str, ...] = ("kodak24",)
    real_root: str = ""  # real pairs: source/ + target/ ("" = synthetic only)
    steps: int = 1500
    synthetic_batch: int = 4
    real_batch: int = 2
    crop: int = 96  # real pairs: side of the region the reblur loss scores (px)
    margin: int = 32  # real pairs: context around it; >= the widest kernel's reach (31 px at radius 30)
    synthetic_crop: int = 128  # synthetic crops: side (the radius loss scores all of it)
    lr: float = 1e-3  # estimator, Adam; halved at 60 % and again at 85 % of the steps
    kernel_lr: float = 0.01  # bank log-taps, Adam
    # Weight of the real pairs' mean L1 reblur error (intensities in [0, 1]) against the
    # synthetic mean L1 radius error (px): ~1 px of radius error moves a textured pixel's
    # reblur by ~0.01, so 50 makes both terms pull with similar strength there.
    reblur_weight: float = 50.0
    tv_weight: float = 0.05  # mean TV (px per px) of the real maps
    # Fractions of the budget, alternating E, K, E, K, E (spec §2.4's order).
    phases: tuple[float, ...] = (0.4, 0.1, 0.2, 0.1, 0.2)
    sharp_scale: tuple[float, float] = (0.6, 1.0)  # synthetic: scale the photo is seen at
    pair_scale: tuple[float, float] = (0.5, 1.0)  # real: common scale of both captures
    seed: int = 0
    # A defocus-map weights file to start from (estimator and bank) instead of fresh weights; its
    # bank configuration must be this run's, its estimator this run's or a narrower one with the
    # same levels (grown by fdikp_cli.defocus.widen).
    init_weights: str = ""
    estimator: EstimatorConfig = EstimatorConfig()
    bank: KernelBankConfig = KernelBankConfig()

    def __post_init__(self) -> None:
        if self.steps < 1 or self.synthetic_batch < 0 or self.real_batch < 0:
            raise ConfigError("train-defocus-map: steps >= 1 and batches >= 0 required")
        if self.synthetic_batch + self.real_batch == 0:
            raise ConfigError("train-defocus-map: needs synthetic or real crops (both batches are 0)")
        if self.real_batch and not self.real_root:
            raise ConfigError("train-defocus-map: real_batch > 0 needs real_root (pairs with source/ and target/)")
        if self.synthetic_batch and not self.sharp_dir:
            raise ConfigError("train-defocus-map: synthetic_batch > 0 needs sharp_dir")
        if self.crop < 16 or self.margin < 0 or self.synthetic_crop < 16:
            raise ConfigError("train-defocus-map: crop and synthetic_crop >= 16 and margin >= 0 required")
        if not self.phases or any(p < 0 for p in self.phases) or sum(self.phases) <= 0:
            raise ConfigError(f"train-defocus-map: phases must be non-negative fractions, got {self.phases}")
        if self.estimator.max_radius != self.bank.max_radius:
            raise ConfigError("train-defocus-map: the estimator's and the bank's max_radius differ")

    @property
    def window(self) -> int:
        """Side of the real crops (scored centre + margin)."""
        return self.crop + 2 * self.margin

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DefocusTrainConfig":
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown defocus training keys: {', '.join(unknown)}")
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        converted["estimator"] = EstimatorConfig.from_dict(dict(values.get("estimator", {})))
        converted["bank"] = KernelBankConfig(**dict(values.get("bank", {})))
        return cls(**converted)


# Settings a resumed run may change: how long it runs, not what it computes per step.
SESSION_FIELDS = frozenset({"steps"})


def phase_at(step: int, config: DefocusTrainConfig) -> str:
    """'estimator' or 'kernels': which part step `step` (0-based) updates."""
    total = sum(config.phases)
    position = (step + 0.5) / config.steps * total
    edge = 0.0
    for index, share in enumerate(config.phases):
        edge += share
        if position < edge:
            return "estimator" if index % 2 == 0 else "kernels"
    return "estimator" if (len(config.phases) - 1) % 2 == 0 else "kernels"


def lr_at(step: int, config: DefocusTrainConfig) -> float:
    """The estimator's learning rate at `step`: a pure function of it, so resume needs no scheduler."""
    fraction = step / config.steps
    return config.lr * (0.5 if fraction >= 0.6 else 1.0) * (0.5 if fraction >= 0.85 else 1.0)


# ---------------------------------------------------------------- data


class CropSampler:
    """The crops of any step, as a pure function of (seed, step)."""

    def __init__(self, config: DefocusTrainConfig, cache_mb: int = 1200) -> None:
        from fdikp_cli.data.datasets import PairCropSource, SyntheticCropSource
        from fdikp_cli.data.pairs import find_sharp_images, pairs_by_name
        from fdikp_cli.synth import SynthConfig

        self.config = config
        cache = cache_mb * 2**20
        self.synthetic = None
        if config.synthetic_batch:
            root = Path(config.sharp_dir).expanduser()
            held = {name.strip("/") for name in config.holdout}
            images = [p for p in find_sharp_images(root) if p.relative_to(root).parts[0] not in held]
            if not images:
                raise DatasetError(f"no sharp photos left under {root} after holding out {sorted(held)}")
            # The margin of SyntheticCropSource is the renderer's context; the estimator's own
            # margin is part of the window it returns.
            self.synthetic = SyntheticCropSource(images, config.synthetic_crop, cache // 4,
                                                 SynthConfig(max_radius=config.bank.max_radius),
                                                 scale_range=config.sharp_scale)
        self.real = None
        if config.real_batch:
            pairs = pairs_by_name(Path(config.real_root).expanduser())
            self.real = PairCropSource("real", pairs, config.window, cache, align=True, tone=True,
                                       scale_range=config.pair_scale)

    def describe(self) -> str:
        parts = []
        if self.synthetic is not None:
            parts.append(f"{len(self.synthetic)} sharp photos (held out: {', '.join(self.config.holdout) or 'none'})")
        if self.real is not None:
            parts.append(f"{len(self.real)} real pairs")
        return "; ".join(parts)

    @staticmethod
    def _augment(arrays: list[np.ndarray], rng: np.random.Generator) -> list[torch.Tensor]:
        from fdikp_cli.data.augment import apply_flip_rot, random_flip_rot_code

        code = random_flip_rot_code(rng)
        out = []
        for array in arrays:
            array = apply_flip_rot(array if array.ndim == 3 else array[..., None], code)
            out.append(torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))))  # (C, S, S)
        return out

    def synthetic_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(blurred (B, 3, S, S), radius (B, 1, S, S) px) for step `step`."""
        assert self.synthetic is not None
        blurred, radius = [], []
        for k in range(self.config.synthetic_batch):
            rng = np.random.default_rng([self.config.seed, 1, step, k])
            index = int(rng.integers(len(self.synthetic)))
            b, _, r = self.synthetic.crop_with_radius(index, self.config.synthetic_crop, rng)
            b_t, r_t = self._augment([b, r], rng)
            blurred.append(b_t)
            radius.append(r_t)
        return torch.stack(blurred), torch.stack(radius)

    def real_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(blurred, sharp) (B, 3, S, S) registered real crops for step `step`."""
        assert self.real is not None
        blurred, sharp = [], []
        for k in range(self.config.real_batch):
            rng = np.random.default_rng([self.config.seed, 2, step, k])
            index = int(rng.integers(len(self.real)))
            b, s = self.real.crop_pair(index, self.config.window, rng)
            b_t, s_t = self._augment([b, s], rng)
            blurred.append(b_t)
            sharp.append(s_t)
        return torch.stack(blurred), torch.stack(sharp)


# ---------------------------------------------------------------- state and checkpoints


@dataclass
class TrainState:
    model: DefocusMapNet
    bank: KernelBank
    estimator_optimizer: torch.optim.Optimizer
    kernel_optimizer: torch.optim.Optimizer
    step: int = 0  # steps done


def new_state(config: DefocusTrainConfig, warm_start: bool = True) -> TrainState:
    """Fresh estimator, bank and optimizers; with warm_start, the estimator and bank of
    config.init_weights (a resume passes False: its checkpoint replaces them, and the file it
    started from need not exist any more)."""
    torch.manual_seed(config.seed)
    model = DefocusMapNet(config.estimator)
    bank = KernelBank(config.bank)
    if warm_start and config.init_weights:
        _load_initial(model, bank, config)
    return TrainState(model, bank, torch.optim.Adam(model.parameters(), lr=config.lr),
                      torch.optim.Adam(bank.parameters(), lr=config.kernel_lr))


def _load_initial(model: DefocusMapNet, bank: KernelBank, config: DefocusTrainConfig) -> None:
    """Copy config.init_weights' estimator and bank into the fresh ones (a warm start: the
    optimizers and the schedule still start at step 0)."""
    from fdikp_cli.defocus.weights import load_defocus_weights

    initial = load_defocus_weights(config.init_weights)
    if initial.bank.config != config.bank:
        raise ConfigError(f"{config.init_weights}: its kernel bank configuration differs from this run's")
    estimator = initial.model
    if estimator.config != config.estimator:  # a wider estimator grows from a narrower one
        from fdikp_cli.defocus.widen import widen_estimator

        try:
            estimator = widen_estimator(estimator, config.estimator, config.seed)
        except ConfigError as exc:
            raise ConfigError(f"{config.init_weights}: {exc}") from None
    model.load_state_dict(estimator.state_dict())
    bank.load_state_dict(initial.bank.state_dict())


def save_checkpoint(state: TrainState, config: DefocusTrainConfig, folder: Path) -> Path:
    """Write folder/checkpoint.pt atomically (a crash never leaves half a checkpoint)."""
    path = folder / CHECKPOINT_NAME
    tmp = path.with_name(path.name + ".tmp")
    torch.save({
        "step": state.step,
        "config": json.dumps(config.to_dict(), sort_keys=True),
        "model": state.model.state_dict(),
        "bank": state.bank.state_dict(),
        "estimator_optimizer": state.estimator_optimizer.state_dict(),
        "kernel_optimizer": state.kernel_optimizer.state_dict(),
    }, tmp)
    os.replace(tmp, path)
    return path


def config_differences(saved: DefocusTrainConfig, wanted: DefocusTrainConfig) -> list[str]:
    """'name: saved -> wanted' for every field that differs, session fields excepted."""
    a, b = saved.to_dict(), wanted.to_dict()
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if k not in SESSION_FIELDS and a[k] != b[k]]


def load_checkpoint(folder: Path, config: DefocusTrainConfig) -> TrainState:
    """The state saved in folder/checkpoint.pt; ConfigError if it was made with other settings."""
    blob = torch.load(folder / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
    saved = DefocusTrainConfig.from_dict(json.loads(blob["config"]))
    differences = config_differences(saved, config)
    if differences:
        raise ConfigError(f"{folder} was trained with other settings (a resume continues the same run): "
                          + "; ".join(differences))
    state = new_state(config, warm_start=False)
    state.model.load_state_dict(blob["model"])
    state.bank.load_state_dict(blob["bank"])
    state.estimator_optimizer.load_state_dict(blob["estimator_optimizer"])
    state.kernel_optimizer.load_state_dict(blob["kernel_optimizer"])
    state.step = int(blob["step"])
    return state


# ---------------------------------------------------------------- the loop


def real_reblur_loss(model_map: torch.Tensor, blurred: torch.Tensor, sharp: torch.Tensor, bank: KernelBank,
                     margin: int, learn_kernels: bool) -> torch.Tensor:
    """Mean |R(sharp, map; K) - blurred| over the window minus its margin.

    Shape: map (B, 1, S, S), blurred / sharp (B, 3, S, S) -> scalar. Only pixels whose kernel
    stays inside the window are scored (the reblur reflects at the window's border). Without
    `learn_kernels` the blurred stack is built without a graph (the bank is fixed in estimator
    phases; its graph through every kernel's softmax and FFT cost more than the rest of the step).
    """
    if learn_kernels:
        estimate = reblur(sharp, model_map, bank)
    else:
        radii = needed_radii(model_map, bank.max_radius)
        with torch.no_grad():
            stack = blur_stack(sharp, bank, radii)  # (N, B, 3, S, S)
        estimate = blend(stack, radii, model_map, bank.max_radius)
    inner = slice(margin, model_map.shape[-1] - margin)
    return (estimate - blurred)[..., inner, inner].abs().mean()


# progress(step_done, steps, phase, losses) after each step
Progress = Callable[[int, int, str, dict[str, float]], None]


def train_step(state: TrainState, config: DefocusTrainConfig, sampler: CropSampler) -> tuple[str, dict[str, float]]:
    """One optimizer step of the phase `state.step` falls in; returns the phase and its losses."""
    step = state.step
    phase = phase_at(step, config)
    losses: dict[str, float] = {}
    if phase == "estimator":
        for group in state.estimator_optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        state.model.train()
        total = torch.zeros(())
        if sampler.synthetic is not None:
            synthetic_blurred, true_radius = sampler.synthetic_batch(step)
            supervised = (state.model(synthetic_blurred) - true_radius).abs().mean()  # (B, 1, s, s) px
            total = total + supervised
            losses["radius_l1"] = float(supervised.detach())
        if sampler.real is not None:
            real_blurred, real_sharp = sampler.real_batch(step)
            real_maps = state.model(real_blurred)  # (B, 1, S, S)
            rebl = real_reblur_loss(real_maps, real_blurred, real_sharp, state.bank, config.margin, False)
            tv = total_variation(real_maps)
            total = total + config.reblur_weight * rebl + config.tv_weight * tv
            losses["reblur_l1"], losses["tv"] = float(rebl.detach()), float(tv.detach())
        state.estimator_optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(state.model.parameters(), 1.0)
        state.estimator_optimizer.step()
    else:
        if sampler.real is None:  # nothing teaches the kernels: the step is a no-op
            state.step += 1
            return phase, losses
        state.model.eval()
        real_blurred, real_sharp = sampler.real_batch(step)
        with torch.no_grad():
            maps = state.model(real_blurred)
        rebl = real_reblur_loss(maps, real_blurred, real_sharp, state.bank, config.margin, True)
        state.kernel_optimizer.zero_grad(set_to_none=True)
        rebl.backward()
        state.kernel_optimizer.step()
        losses["reblur_l1"] = float(rebl.detach())
        total = rebl
    if not math.isfinite(float(total.detach())):
        raise TrainingDiverged(f"defocus-map training: loss {float(total.detach())} at step {step}")
    state.step += 1
    return phase, losses


def train_defocus_map(config: DefocusTrainConfig, out: Path, resume: bool = True, checkpoint_every: int = 100,
                      progress: Progress | None = None, max_steps: int | None = None) -> TrainState:
    """Train (or continue) a run in `out`; writes checkpoint.pt, train_log.csv and, at the end,
    defocus_map.safetensors. `max_steps`: stop this session after that many steps (the run
    itself still plans `config.steps`: the learning rate and phases do not change)."""
    from fdikp_cli.defocus.weights import save_defocus_weights

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if resume and (out / CHECKPOINT_NAME).is_file():
        state = load_checkpoint(out, config)
    else:
        state = new_state(config)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")
        (out / LOG_NAME).write_text("step,phase,lr,radius_l1,reblur_l1,tv,seconds\n")
    sampler = CropSampler(config)
    stop = config.steps if max_steps is None else min(config.steps, state.step + max_steps)
    with (out / LOG_NAME).open("a") as log:
        while state.step < stop:
            started = time.perf_counter()
            phase, losses = train_step(state, config, sampler)
            seconds = time.perf_counter() - started
            log.write(f"{state.step},{phase},{lr_at(state.step - 1, config):.3g},"
                      + ",".join(f"{losses[k]:.5f}" if k in losses else "" for k in ("radius_l1", "reblur_l1", "tv"))
                      + f",{seconds:.2f}\n")
            log.flush()
            if progress is not None:
                progress(state.step, config.steps, phase, losses)
            if state.step % checkpoint_every == 0 or state.step == stop:
                save_checkpoint(state, config, out)
    if state.step >= config.steps:
        provenance = {"steps": state.step, "config": config.to_dict(), "data": sampler.describe()}
        if config.init_weights:
            provenance["initialised_from"] = config.init_weights
        save_defocus_weights(state.model, state.bank, out / WEIGHTS_NAME, provenance)
    return state
