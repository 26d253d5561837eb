"""TrainConfig: every value of a training run, from presets, a TOML file and the command line.

Resolution order (later wins): preset -> `--config FILE` (TOML) -> command-line options ->
`--set section.key=value`. The resolved configuration is written to RUN_DIR/config.toml, which
`--config` accepts again. Unknown keys are errors, never silently ignored.

Schedules (our reading of the paper, which gives epochs, crops and batch sizes but not the
MultiStepLR milestones nor the SWA learning rate):
    stage one: Adam lr 1e-4, halved at 50 % and 75 % of the stage (ends at 2.5e-5);
    stage two: larger crops, constant lr 5e-5 while stochastic weight averaging collects one
    model per epoch; the averaged model is the final model.
A stage lasts `epochs` passes over the training data (an epoch = number of training images,
see fdikp_cli.data.datasets), or exactly `steps` optimizer steps when set.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from fdikp_cli.errors import ConfigError

PRESETS = ("paper-dpdd", "paper-lfdof")
# Tables whose keys are checked by their own config class (FDIKPConfig, SynthConfig), not here.
FREE_TABLES = ("model", "synth")
AMP_MODES = ("auto", "bf16", "fp16", "off")
SELECT_METRICS = ("psnr", "detail_psnr")


@dataclass
class DataConfig:
    # Components KIND[@ROOT][:WEIGHT], comma separated; see fdikp_cli.data.datasets.
    dataset: str = "dpdd"
    data_root: str | None = None
    sharp_dir: str | None = None  # sharp photos for the synthetic and sharp kinds
    # Random scale (low, high <= 1) at which synthetic crops see the sharp photos: downscaling
    # averages away the photos' own grain; see SyntheticCropSource.
    sharp_scale: tuple[float, float] = (0.6, 1.0)
    # Real pairs: move each blurred capture onto its sharp one (global sub-pixel shift), give
    # each sharp target its blurred capture's exposure and colour, and see both at a random
    # common scale (low, high <= 1). See fdikp_cli.data.registration for why.
    pair_align: bool = False
    pair_tone: bool = False
    pair_scale: tuple[float, float] = (1.0, 1.0)
    # Real pairs: re-register every training crop on its own after the global shift (the local
    # shifts a slight turn of the camera leaves; fdikp_cli.data.registration.register_window).
    pair_align_crops: bool = False
    val_root: str | None = None  # default: the dataset's own validation split (dpdd, lfdof)
    val_crop: int | None = None  # centre crop of validation images (None: whole images)
    val_max_images: int | None = None
    workers: int = 2
    cache_mb: int = 1024  # decoded-image cache per source and worker process


@dataclass
class LossConfig:
    # Per-scale loss: mse * MSE + lpips * LPIPS + fft * mean|FFT(y) - FFT(y_hat)| (ortho FFT).
    mse: float = 1.0
    lpips: float = 0.2
    fft: float = 0.2
    # Not in the paper: + charbonnier * mean(sqrt(d^2 + eps^2) - eps), a smooth L1 (losses.py says why).
    charbonnier: float = 0.0
    charbonnier_eps: float = 1e-3
    # Weights of the full, half and quarter scale outputs (the paper's lambda_1..3).
    scale_weights: tuple[float, float, float] = (1.0, 0.2, 0.1)
    lpips_dir: str | None = None  # LPIPS weights folder (default: $FDIKP_LPIPS_DIR)
    # AlexNet cannot look at tiny images: LPIPS is skipped at output scales smaller than this.
    lpips_min_size: int = 32


@dataclass
class AdversarialConfig:
    """The perceptual variant's defocus-weighted critic (fdikp_cli.training.adversarial).
    weight 0 (default) turns it off; the run is then exactly the plain recipe."""

    weight: float = 0.0  # lambda_adv of -mean D(restored) in the generator's loss
    warmup_steps: int = 100  # critic-only steps before the generator gets the adversarial term
    critic_steps: int = 2  # critic updates per generator step (DefocusGAN: 2)
    critic_lr: float = 1e-4
    # WGAN-GP's usual (0.5, 0.9) rather than the reference's (0.9, 0.999) (spec gap 18): less
    # momentum lets the critic follow a generator that moves every step.
    critic_betas: tuple[float, float] = (0.5, 0.9)
    critic_channels: int = 64  # the spec's PatchGAN; smaller for tests
    gp_weight: float = 10.0
    map_alpha: float = 0.1  # critic loss = mean D + map_alpha * mean(D * m); m in blur units (>= 0)
    # dilation (FDIKP's PAC map - 1, tap-spacing units) | estimator (the calibrated defocus-map
    # estimator, px; use map_alpha 0.1 as the spec) | none
    weight_map: str = "dilation"
    estimator_weights: str | None = None  # weight_map = estimator: its file (default: the shipped one)
    collapse_patience: int = 20  # log rows; 0 disables the collapse check
    collapse_eps: float = 0.001


@dataclass
class InFocusConfig:
    """The in-focus fidelity term (fdikp_cli.training.infocus_fidelity): extra MSE against the
    target where the calibrated defocus-map estimator reads the input as in focus, so that a
    perceptual fine-tune leaves sharp areas alone. weight 0 (default) turns it off."""

    weight: float = 0.0  # of mean(in_focus * (y - y_hat)^2) over all pixels, beside loss.mse
    radius: float = 1.0  # px: in focus where the estimator's blur radius <= this (issue 13's r <= 1)
    estimator_weights: str | None = None  # defocus-map weights (default: the shipped ones)


@dataclass
class OptimConfig:
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max gradient norm; 0 disables clipping
    # lr multiplier of the extension's scalar gates and guidance slope/offset: Adam moves a
    # parameter by ~lr per step whatever its gradient, and a gate has to travel ~0.1-1.
    gate_lr_scale: float = 1.0
    # Parameter-name prefixes to train, all others frozen (fdikp_cli.training.frozen_parts);
    # () trains the whole model.
    train_only: tuple[str, ...] = ()


@dataclass
class StageConfig:
    epochs: float = 1.0
    steps: int | None = None  # exact stage length in optimizer steps (overrides epochs)
    crop: int = 256
    batch_size: int = 4
    lr: float = 1e-4
    milestones: tuple[float, ...] = (0.5, 0.75)  # fractions of the stage where lr *= gamma
    gamma: float = 0.5
    swa: bool = False
    swa_every: int | None = None  # steps between SWA updates (None: once per epoch)
    # "step": lr *= gamma at the milestones; "cosine": linear warm-up over warmup_steps, then a
    # half cosine from lr down to min_lr at the stage's end (milestones and gamma unused).
    schedule: str = "step"
    warmup_steps: int = 0
    min_lr: float = 1e-6
    # Micro-batches of batch_size whose gradients are summed into one optimizer step.
    accumulate: int = 1


@dataclass
class RunConfig:
    out: str = "runs/fdikp"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: str = "auto"  # auto (bf16 on CUDA and on CPUs with native bf16, else off) | bf16 | fp16 | off
    deterministic: bool = False
    total_steps: int | None = None  # squeeze the whole schedule into this many steps
    max_steps: int | None = None  # stop (resumably) after this many steps; not saved in config.toml
    val_every: int = 1000
    checkpoint_every: int = 500
    log_every: int = 50
    init_weights: str | None = None  # start from this weights file
    # Exponential moving average of the weights, updated every optimizer step and written as
    # ema.safetensors at every checkpoint (0: off). 0.999 averages over ~1,000 steps.
    ema_decay: float = 0.0
    # Validation metric that picks best.safetensors: psnr, or detail_psnr (PSNR with the output's
    # low-pass locked to the input's: counts restored detail, not tone changes).
    select_on: str = "psnr"


@dataclass
class TrainConfig:
    preset: str = "paper-dpdd"
    model: dict[str, Any] = field(default_factory=dict)  # FDIKPConfig fields to override
    # SynthConfig fields to override (synthetic data). A run that uses synthetic data saves the
    # whole resolved SynthConfig here, so it resumes with the same simulator whatever the
    # defaults of a later version.
    synth: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    infocus: InFocusConfig = field(default_factory=InFocusConfig)
    stages: list[StageConfig] = field(default_factory=list)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        config = _build(cls, values, "")
        validate(config)
        return config


def preset(name: str) -> TrainConfig:
    """The paper's schedules (Appendix A3)."""
    if name == "paper-dpdd":
        stages = [
            StageConfig(epochs=1400, crop=384, batch_size=4, lr=1e-4, milestones=(0.5, 0.75)),
            StageConfig(epochs=100, crop=512, batch_size=2, lr=5e-5, milestones=(), swa=True),
        ]
        dataset = "dpdd"
    elif name == "paper-lfdof":
        stages = [
            StageConfig(epochs=270, crop=256, batch_size=4, lr=1e-4, milestones=(0.5, 0.75)),
            StageConfig(epochs=30, crop=512, batch_size=2, lr=5e-5, milestones=(), swa=True),
        ]
        dataset = "lfdof"
    else:
        raise ConfigError(f"unknown preset {name!r} (expected one of {', '.join(PRESETS)})")
    return TrainConfig(preset=name, data=DataConfig(dataset=dataset), stages=stages)


# ----------------------------------------------------------------------------- building


def _resolve_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, vars(sys.modules[cls.__module__]))


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], where)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return _build(hint, value, where)
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return [_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], where) for v in value)
        if len(value) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(_convert(v, a, where) for v, a in zip(value, args))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    hints = _resolve_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(f"unknown configuration keys: {', '.join(prefix + k for k in unknown)}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}" if where else k) for k, v in values.items()}
    return cls(**kwargs)


def validate(config: TrainConfig) -> None:
    """Reject values that cannot work, with the key that is wrong."""
    from fdikp_cli.model import FDIKPConfig
    from fdikp_cli.synth import SynthConfig

    model = FDIKPConfig.from_dict(config.model)  # raises ConfigError on unknown/invalid keys
    SynthConfig.from_dict(config.synth)  # likewise
    if not config.stages:
        raise ConfigError("the schedule has no stages")
    multiple = model.size_multiple
    for i, stage in enumerate(config.stages):
        where = f"stages.{i}"
        if stage.crop <= 0 or stage.crop % multiple:
            raise ConfigError(f"{where}.crop must be a positive multiple of {multiple}, got {stage.crop}")
        if stage.batch_size < 1:
            raise ConfigError(f"{where}.batch_size must be at least 1")
        if stage.steps is None and not stage.epochs > 0:
            raise ConfigError(f"{where}: epochs must be positive (or set steps)")
        if stage.steps is not None and stage.steps < 1:
            raise ConfigError(f"{where}.steps must be at least 1")
        if not stage.lr > 0:
            raise ConfigError(f"{where}.lr must be positive")
        if stage.schedule not in ("step", "cosine"):
            raise ConfigError(f"{where}.schedule must be step or cosine, got {stage.schedule!r}")
        if stage.warmup_steps < 0 or stage.accumulate < 1:
            raise ConfigError(f"{where}: warmup_steps must be >= 0 and accumulate >= 1")
        if not 0 <= stage.min_lr <= stage.lr:
            raise ConfigError(f"{where}.min_lr must be between 0 and lr")
        if any(not 0 < m < 1 for m in stage.milestones):
            raise ConfigError(f"{where}.milestones are fractions of the stage, strictly between 0 and 1")
    if not config.optim.gate_lr_scale > 0:
        raise ConfigError("optim.gate_lr_scale must be positive")
    if not 0 <= config.run.ema_decay < 1:
        raise ConfigError("run.ema_decay must be in [0, 1) (0: no weight EMA)")
    if (config.adversarial.weight > 0 or config.infocus.weight > 0) and any(s.accumulate > 1 for s in config.stages):
        raise ConfigError("accumulate > 1 is not supported with the adversarial or in-focus terms "
                          "(their extra updates run once per micro-batch)")
    if config.run.select_on not in SELECT_METRICS:
        raise ConfigError(f"run.select_on must be one of {', '.join(SELECT_METRICS)}, got {config.run.select_on!r}")
    if config.run.amp not in AMP_MODES:
        raise ConfigError(f"run.amp must be one of {', '.join(AMP_MODES)}, got {config.run.amp!r}")
    for name in ("val_every", "checkpoint_every", "log_every"):
        if getattr(config.run, name) < 1:
            raise ConfigError(f"run.{name} must be at least 1")
    if config.data.workers < 0:
        raise ConfigError("data.workers must be >= 0")
    if config.data.val_crop is not None and config.data.val_crop < 1:
        raise ConfigError("data.val_crop must be positive (the model pads any size)")
    if min(config.loss.mse, config.loss.lpips, config.loss.fft, config.loss.charbonnier) < 0:
        raise ConfigError("loss weights must be >= 0")
    if config.loss.charbonnier_eps <= 0:
        raise ConfigError("loss.charbonnier_eps must be > 0")
    if config.loss.mse + config.loss.lpips + config.loss.fft + config.loss.charbonnier <= 0:
        raise ConfigError("at least one loss term needs a positive weight")
    adv = config.adversarial
    if adv.weight < 0 or adv.gp_weight < 0 or adv.map_alpha < 0:
        raise ConfigError("adversarial.weight, gp_weight and map_alpha must be >= 0")
    if adv.warmup_steps < 0 or adv.critic_steps < 1 or adv.critic_channels < 1 or adv.collapse_patience < 0:
        raise ConfigError("adversarial: warmup_steps and collapse_patience >= 0, critic_steps and "
                          "critic_channels >= 1")
    if not adv.critic_lr > 0:
        raise ConfigError("adversarial.critic_lr must be positive")
    if adv.weight_map not in ("dilation", "estimator", "none"):
        raise ConfigError(f"adversarial.weight_map must be dilation, estimator or none, got {adv.weight_map!r}")
    if config.infocus.weight < 0 or config.infocus.radius < 0:
        raise ConfigError("infocus.weight and infocus.radius must be >= 0")


# ----------------------------------------------------------------------------- overrides


def parse_value(text: str) -> Any:
    """A command-line value as TOML (numbers, true/false, [lists], "strings"); bare words stay strings."""
    import tomllib

    if text.strip().lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def set_key(values: dict[str, Any], dotted: str, value: Any) -> None:
    """values[a][b][c] = value for "a.b.c"; list items by number ("stages.1.crop")."""
    parts = dotted.split(".")
    node: Any = values
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{dotted}: no item {part} in {'.'.join(parts[:i])} (it has {len(node)})")
            node = node[int(part)]
        elif isinstance(node, dict) and part in node and isinstance(node[part], (dict, list)):
            node = node[part]
        else:
            raise ConfigError(f"unknown configuration key {dotted!r}")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"{dotted}: no such item")
        node[int(last)] = value
    elif isinstance(node, dict) and (last in node or parts[0] in FREE_TABLES):
        node[last] = value
    else:
        raise ConfigError(f"unknown configuration key {dotted!r}")


def apply_assignments(values: dict[str, Any], assignments: list[str]) -> None:
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        set_key(values, key.strip(), parse_value(text.strip()))


def merge(base: dict[str, Any], update: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Deep-merge a TOML table into config values; lists (stages) replace item by item."""
    for key, value in update.items():
        path = f"{where}.{key}" if where else key
        if key not in base and where not in FREE_TABLES:
            raise ConfigError(f"unknown configuration key {path!r}")
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, dict) and key not in FREE_TABLES:
            merge(current, value, path)
        elif key in FREE_TABLES and isinstance(value, dict):
            base[key] = {**(current or {}), **value}
        elif key == "stages" and isinstance(value, list):
            merged = []
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise ConfigError(f"{path}[{i}] must be a table")
                template = dict(current[i]) if current and i < len(current) else dataclasses.asdict(StageConfig())
                merged.append(merge(template, item, f"{path}.{i}"))
            base[key] = merged
        else:
            base[key] = value
    return base


def load_toml(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_model_overrides(text: str) -> dict[str, Any]:
    """--model-config: inline JSON, or a .json / .toml file of FDIKPConfig fields."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            values = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--model-config: invalid JSON: {exc}") from None
    else:
        path = Path(stripped).expanduser()
        if path.suffix.lower() == ".toml":
            values = load_toml(path)
            values = values.get("model", values)
        else:
            try:
                values = json.loads(path.read_text())
            except FileNotFoundError:
                raise ConfigError(f"model config file not found: {path}") from None
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError("--model-config must be a JSON object / TOML table")
    return values


@dataclass
class StageOptions:
    """Command-line shortcuts for the stages. crop and batch_size: one value for every stage or
    one per stage ("384,512"); lr: the first stage's learning rate, later stages keep their
    preset ratio to it (paper-dpdd: 1e-4 then 5e-5)."""

    crop: str | None = None
    batch_size: str | None = None
    lr: float | None = None
    steps: str | None = None  # exact steps per stage ("5000" or "5000,500")


def _per_stage(text: str, count: int, name: str, kind: type = int) -> list[Any]:
    try:
        items = [kind(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--{name} expects a number or one number per stage, got {text!r}") from None
    if len(items) == 1:
        return items * count
    if len(items) != count:
        raise ConfigError(f"--{name} {text!r}: {len(items)} values for {count} stages")
    return items


def apply_stage_options(values: dict[str, Any], options: StageOptions) -> None:
    stages = values["stages"]
    for key, text in (("crop", options.crop), ("batch_size", options.batch_size), ("steps", options.steps)):
        if text is not None:
            for stage, value in zip(stages, _per_stage(text, len(stages), key.replace("_", "-"))):
                stage[key] = value
    if options.lr is not None and stages:
        base = stages[0]["lr"]
        for stage in stages:
            stage["lr"] = options.lr * stage["lr"] / base


def resolve(preset_name: str | None, config_file: Path | None, overrides: dict[str, Any],
            assignments: list[str], stage_options: StageOptions | None = None) -> TrainConfig:
    """Preset -> TOML file -> option overrides (a nested dict) -> stage options -> --set."""
    file_values = load_toml(config_file) if config_file else {}
    name = preset_name or file_values.get("preset") or _default_preset(overrides, file_values)
    values = preset(name).to_dict()
    merge(values, file_values)
    values["preset"] = name
    merge(values, overrides)
    if stage_options is not None:
        apply_stage_options(values, stage_options)
    apply_assignments(values, assignments)
    return TrainConfig.from_dict(values)


def _default_preset(overrides: dict[str, Any], file_values: dict[str, Any]) -> str:
    dataset = overrides.get("data", {}).get("dataset") or file_values.get("data", {}).get("dataset") or ""
    return "paper-lfdof" if dataset.strip().startswith("lfdof") and "," not in dataset else "paper-dpdd"


# ----------------------------------------------------------------------------- schedule


def stage_steps(config: TrainConfig, epoch_size: int, world_size: int = 1) -> list[int]:
    """Optimizer steps of each stage: from epochs (or steps), squeezed to run.total_steps if set."""
    natural = []
    for stage in config.stages:
        if stage.steps is not None:
            natural.append(stage.steps)
        else:
            natural.append(max(1, math.ceil(stage.epochs * epoch_size / (stage.batch_size * world_size))))
    total = config.run.total_steps
    if total is None:
        return natural
    if total < len(natural):
        raise ConfigError(f"run.total_steps={total} is fewer than the {len(natural)} stages")
    scale = total / sum(natural)
    squeezed: list[int] = []
    for i, n in enumerate(natural[:-1]):
        room = total - sum(squeezed) - (len(natural) - 1 - i)  # leave >= 1 step per later stage
        squeezed.append(min(max(1, round(n * scale)), room))
    squeezed.append(total - sum(squeezed))
    return squeezed


# ----------------------------------------------------------------------------- writing


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} to TOML")


def _toml_table(values: dict[str, Any]) -> list[str]:
    # TOML has no null: a None is written as a comment, and reads back as the default (None).
    return [f"{k} = {_toml_value(v)}" if v is not None else f"# {k} = (none)" for k, v in values.items()]


def to_toml(config: TrainConfig) -> str:
    """The resolved configuration as TOML (readable back with --config)."""
    values = config.to_dict()
    lines = ["# fdikp training configuration (resolved)", f"preset = {_toml_value(values['preset'])}", ""]
    # --max-steps belongs to one session (stop here, resume later): a resumed run must not inherit it.
    values["run"].pop("max_steps")
    for section in ("model", "synth", "data", "loss", "optim", "adversarial", "infocus", "run"):
        lines += [f"[{section}]", *_toml_table(values[section]), ""]
    for stage in values["stages"]:
        lines += ["[[stages]]", *_toml_table(stage), ""]
    return "\n".join(lines)
