"""The training loop: stages, validation, checkpoints, resume, SWA, one or many processes.

Step numbering: `step` counts completed optimizer steps over the whole schedule; stage s
covers steps [first_step, first_step + steps). The data of every step is a function of
(seed, stage, step) (fdikp_cli.data), so a resumed run repeats exactly what an uninterrupted
run would have done: 6 steps in one go and 3 + resume + 3 give the same weights on CPU.

Stochastic weight averaging (stage two of the paper's recipe) keeps an
torch.optim.swa_utils.AveragedModel of the weights, updated once per epoch (or every
`swa_every` steps) and at the stage's last step. FDIKP has no BatchNorm (no running
statistics at all), so swa_utils.update_bn is not needed: the averaged weights are the model.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from fdikp_cli.errors import ConfigError, TrainingDiverged
from fdikp_cli.inference.device import use_fast_memory_format
from fdikp_cli.training.checkpoint import (
    RunPaths,
    find_resume_checkpoint,
    latest_checkpoint,
    load_state,
    read_json,
    save_checkpoint,
    write_json_atomic,
)
from fdikp_cli.training.config import TrainConfig, stage_steps, to_toml
from fdikp_cli.training.distributed import barrier, init_distributed, shutdown
from fdikp_cli.training.hooks import StepContext, build_step_hooks
from fdikp_cli.training.model_extension import parameter_groups
from fdikp_cli.training.progress import ProgressReporter, format_duration
from fdikp_cli.training.resume_check import change_record, check_resume_config
from fdikp_cli.training.runlog import TRAIN_COLUMNS, VAL_COLUMNS, CsvLog, StepWindow, hardware_description
from fdikp_cli.training.schedule import StagePlan, build_stage_plans, describe_plan, plan_at
from fdikp_cli.training.tensorboard_log import TensorBoardLog
from fdikp_cli.training.validation import evaluate_model
from fdikp_cli.training.weight_average import ema_or_none


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    total_steps: int
    finished: bool
    best_psnr: float | None
    final_weights: Path | None


def set_determinism(seed: int, deterministic: bool, device: torch.device) -> None:
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """None: float32. auto = bf16 on CUDA (no loss scaling needed) and on CPUs that compute bf16
    in hardware (training steps 1.59x faster there with channels-last weights, `benchmarks.bench_train
    --precision-ratio`), float32 elsewhere.
    Master weights, FFTs and losses stay float32 in every mode."""
    from fdikp_cli.inference.device import cpu_has_native_bf16

    if mode == "off" or (mode == "auto" and device.type == "cpu" and not cpu_has_native_bf16()):
        return None
    if mode in ("auto", "bf16"):
        return torch.bfloat16
    if device.type != "cuda":
        raise ConfigError("--precision fp16 needs a CUDA device (use bf16 or fp32 on CPU)")
    return torch.float16


class Trainer:
    """One training run (one process of it under torchrun)."""

    def __init__(self, config: TrainConfig, resume: str | None = None, console: Console | None = None,
                 allow_config_change: bool = False) -> None:
        self.config = config
        self.console = console or Console(stderr=True)
        self._deterministic_before = torch.are_deterministic_algorithms_enabled()
        self.dist = init_distributed(config.run.device)
        self.device = self.dist.device
        self.paths = RunPaths(Path(config.run.out).expanduser())
        self.resume_from = self._find_checkpoint(resume)
        # Before anything is built or written: a resume with other settings is refused unless allowed.
        self.config_changes = (check_resume_config(self.resume_from[0].parent.parent, config, allow_config_change)
                               if self.resume_from is not None else [])
        set_determinism(config.run.seed, config.run.deterministic, self.device)
        self.amp = amp_dtype(config.run.amp, self.device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp is torch.float16)
        self._build_model()
        self._build_data()
        self._build_loss()
        # Extra training parts (the adversarial critic): built before a checkpoint is loaded.
        self.hooks = build_step_hooks(config, self.model, self.device, self.dist.world_size)
        self.optimizer = torch.optim.Adam(parameter_groups(self.model, config.optim.gate_lr_scale),
                                          lr=config.stages[0].lr, betas=config.optim.betas,
                                          weight_decay=config.optim.weight_decay)
        self.scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
        self.ema = ema_or_none(self.model, config.run.ema_decay)
        self.swa: torch.optim.swa_utils.AveragedModel | None = None
        self.step = 0
        self.scheduler_stage = -1
        self.best: dict[str, float] = {}
        self.wall_before = 0.0  # wall time of earlier sessions of this run
        self.session_start = time.perf_counter()
        self.tensorboard = TensorBoardLog(self.paths.root, enabled=False)  # opened by run()
        if self.resume_from is not None:
            self._load_checkpoint(*self.resume_from)
        self.ddp_model = self._wrap_ddp()

    # ------------------------------------------------------------------ setup

    def say(self, text: str) -> None:
        if self.dist.is_main:
            self.console.print(text, highlight=False, soft_wrap=True)

    def _find_checkpoint(self, resume: str | None) -> tuple[Path, Path] | None:
        if resume is not None:
            found = find_resume_checkpoint(resume, self.paths.root)
            if found is None:
                self.say(f"no checkpoint in {self.paths.root}: starting a new run")
            return found
        if latest_checkpoint(self.paths) is not None:
            raise ConfigError(f"{self.paths.root} already holds a training run: continue it with --resume auto, "
                              "or choose another --output")
        return None

    def _build_model(self) -> None:
        from fdikp_cli.model import FDIKP, FDIKPConfig
        from fdikp_cli.training.model_extension import extended_config, load_guidance_estimator
        from fdikp_cli.weights import load_state_extending, read_weights

        self.init_info: dict[str, Any] = {}
        source = self.resume_from[0] if self.resume_from else self.config.run.init_weights
        if source:
            weights = read_weights(source)
            model_config = weights.config
            if self.config.model and not self.resume_from:
                model_config = extended_config(model_config, self.config.model, str(source))
            model = FDIKP(model_config)
            kept = load_state_extending(model, weights.state_dict, source=str(source))
            if any(k.startswith("blur_guidance.estimator.") for k in kept):
                load_guidance_estimator(model)
            if not self.resume_from:
                self.init_info = {"init_weights": str(Path(source).resolve()), "init_sha256": weights.sha256}
        else:
            model_config = FDIKPConfig.from_dict(self.config.model)
            model = FDIKP(model_config)  # initialised from torch's RNG, seeded above
        self.model_config = model_config
        # bf16 on CPU: channels-last weights, as inference runs them (oneDNN's bf16 convolutions work on NHWC).
        self.model = use_fast_memory_format(model.to(self.device), self.device, self.amp).train()

    def _build_data(self) -> None:
        from fdikp_cli.data import build_sources, build_validation, parse_dataset_spec
        from fdikp_cli.data.datasets import SHARP_PHOTO_KINDS

        data = self.config.data
        self.specs = parse_dataset_spec(data.dataset)
        root = Path(data.data_root).expanduser() if data.data_root else None
        sharp = Path(data.sharp_dir).expanduser() if data.sharp_dir else None
        cache = data.cache_mb * (1 << 20)
        synth_config = None
        if any(spec.kind == "synthetic" for spec in self.specs):
            from fdikp_cli.synth import SynthConfig

            synth_config = SynthConfig.from_dict(self.config.synth)
            self.config.synth = synth_config.to_dict()  # pinned in config.toml: resumes use the same simulator
        self.stage_sources = [build_sources(self.specs, root, sharp, st.crop, cache, synth_config,
                                            sharp_scale=data.sharp_scale, pair_align=data.pair_align,
                                            pair_tone=data.pair_tone, pair_scale=data.pair_scale,
                                            pair_align_crops=data.pair_align_crops)
                              for st in self.config.stages]
        self.epoch_size = sum(len(s) for s in self.stage_sources[0])
        world = self.dist.world_size
        self.plans = build_stage_plans(self.config.stages, stage_steps(self.config, self.epoch_size, world),
                                       self.epoch_size, world)
        self.total_steps = self.plans[-1].end_step
        real_kind = next((s.kind for s in self.specs if s.kind not in SHARP_PHOTO_KINDS), "pairs")
        val_root = Path(data.val_root).expanduser() if data.val_root else None
        self.val_set = build_validation(real_kind, val_root, root, data.val_crop, data.val_max_images)

    def _build_loss(self) -> None:
        from fdikp_cli.training.losses import MultiScaleLoss

        loss = self.config.loss
        self.lpips: nn.Module | None = None
        if loss.lpips > 0:
            from fdikp_cli.metrics.lpips import load_lpips

            self.lpips = load_lpips(weights_dir=loss.lpips_dir, device=self.device)
        self.loss_fn = MultiScaleLoss(loss.mse, loss.lpips, loss.fft, loss.scale_weights, self.lpips,
                                      loss.lpips_min_size, loss.charbonnier, loss.charbonnier_eps)

    def _wrap_ddp(self) -> nn.Module:
        if not self.dist.distributed:
            return self.model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(self.model, device_ids=ids)

    # ------------------------------------------------------------------ state

    def plan_of(self, step: int) -> StagePlan:
        return plan_at(self.plans, step)

    def _enter_stage(self, plan: StagePlan) -> None:
        """Fresh learning-rate schedule (and SWA model) at the start of a stage."""
        for group in self.optimizer.param_groups:
            group["lr"] = plan.config.lr * group["lr_scale"]
            group["initial_lr"] = group["lr"]
        self._make_scheduler(plan)
        self.scheduler_stage = plan.index
        self.swa = self._make_swa() if plan.config.swa else None

    def _make_scheduler(self, plan: StagePlan) -> None:
        if plan.config.schedule == "cosine":
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, plan.lr_factor)
        else:
            self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, plan.lr_milestones(),
                                                                  gamma=plan.config.gamma)

    def _make_swa(self) -> torch.optim.swa_utils.AveragedModel:
        return torch.optim.swa_utils.AveragedModel(self.model)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "step": self.step,
            "scheduler_stage": self.scheduler_stage,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else {},
            "swa": self.swa.state_dict() if self.swa is not None else {},
            "ema": self.ema.state_dict() if self.ema is not None else {},
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "rng_cpu": torch.get_rng_state(),
            "best": dict(self.best),
            "wall_s": self.wall_time(),
            "world_size": self.dist.world_size,
            "hooks": {hook.name: hook.state_dict() for hook in self.hooks},
        }
        if torch.cuda.is_available():
            state["rng_cuda"] = torch.cuda.get_rng_state_all()
        return state

    def _load_checkpoint(self, weights_path: Path, state_path: Path) -> None:
        state = load_state(state_path)
        self.step = int(state["step"])
        if self.step > self.total_steps:
            raise ConfigError(f"checkpoint is at step {self.step} but the schedule has {self.total_steps} steps")
        if int(state.get("world_size", 1)) != self.dist.world_size:
            self.say(f"note: resuming a {state.get('world_size')}-process run with {self.dist.world_size} "
                     "processes: data order changes from here on")
        self.optimizer.load_state_dict(state["optimizer"])
        plan = self.plan_of(self.step)
        if int(state["scheduler_stage"]) == plan.index:  # else the checkpoint ends a stage: enter the next
            self._make_scheduler(plan)
            if state["scheduler"]:
                self.scheduler.load_state_dict(state["scheduler"])  # type: ignore[union-attr]
                # The state dict carries the milestones of the run that saved it; the plan's win,
                # so a resume that changed the stage length (--allow-config-change) moves them.
                if isinstance(self.scheduler, torch.optim.lr_scheduler.MultiStepLR):
                    self.scheduler.milestones = Counter(plan.lr_milestones())
            self.scheduler_stage = int(state["scheduler_stage"])
            if plan.config.swa and state["swa"]:
                self.swa = self._make_swa()
                self.swa.load_state_dict(state["swa"])
        if self.ema is not None and state.get("ema"):
            self.ema.load_state_dict(state["ema"])
        saved_hooks = state.get("hooks", {})
        for hook in self.hooks:
            if hook.name in saved_hooks:
                hook.load_state_dict(saved_hooks[hook.name])
            else:  # turned on at this resume (--allow-config-change): it starts fresh, warm-up included
                self.say(f"note: the checkpoint has no {hook.name} state: it starts now")
        if state.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_cpu"])
        if "rng_cuda" in state and torch.cuda.is_available() and len(state["rng_cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.best = dict(state.get("best", {}))
        self.wall_before = float(state.get("wall_s", 0.0))
        self.say(f"resuming {self.paths.root} at step {self.step}/{self.total_steps} (from {weights_path.name})")

    def wall_time(self) -> float:
        return self.wall_before + time.perf_counter() - self.session_start

    def _record_config_changes(self) -> None:
        """Append this resume's allowed changes to run.json's `config_changes` (kept across sessions)."""
        info = self.run_info()
        info.setdefault("config_changes", []).append(change_record(self.step, self.config_changes))
        write_json_atomic(self.paths.info, info)
        self.say("note: resuming with changed settings (--allow-config-change), recorded in run.json: "
                 + "; ".join(change.describe() for change in self.config_changes))

    # ------------------------------------------------------------------ provenance

    def run_info(self) -> dict[str, Any]:
        info = read_json(self.paths.info)
        info.setdefault("created", datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        from fdikp_cli import __version__

        info.update({
            "fdikp_version": __version__,
            "torch_version": torch.__version__,
            "hardware": hardware_description(self.dist),
            "world_size": self.dist.world_size,
            "amp": str(self.amp).replace("torch.", "") if self.amp else "float32",
            "data": {
                "dataset": self.config.data.dataset,
                "data_root": self.config.data.data_root,
                "sharp_dir": self.config.data.sharp_dir,
                "val_root": self.config.data.val_root,
                "sources": [s.describe() for s in self.stage_sources[0]],
                "epoch_size": self.epoch_size,
                "validation_images": len(self.val_set) if self.val_set else 0,
                "val_crop": self.config.data.val_crop,
            },
            "preset": self.config.preset,
            "loss": {"mse": self.config.loss.mse, "lpips": self.config.loss.lpips, "fft": self.config.loss.fft,
                     "charbonnier": self.config.loss.charbonnier,
                     "scale_weights": list(self.config.loss.scale_weights)},
            "stages": [{"crop": p.config.crop, "batch_size": p.config.batch_size, "steps": p.steps,
                        "lr": p.config.lr, "swa": p.config.swa} for p in self.plans],
            "total_steps": self.total_steps,
            "step": self.step,
            **({"hooks": {hook.name: hook.settings() for hook in self.hooks}} if self.hooks else {}),
            "seed": self.config.run.seed,
            "wall_time_s": round(self.wall_time(), 1),
            "best": self.best,
            **self.init_info,
        })
        return info

    def provenance(self, kind: str, metrics: dict[str, float] | None = None) -> dict[str, Any]:
        info = self.run_info()
        keys = ("fdikp_version", "hardware", "world_size", "amp", "data", "preset", "loss", "stages", "total_steps",
                "seed", "wall_time_s", "init_weights", "init_sha256", "created", "config_changes", "hooks")
        prov = {k: info[k] for k in keys if k in info}
        prov.update({"model": kind, "step": self.step, "run_dir": str(self.paths.root.resolve()),
                     "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})
        if metrics:
            prov["validation"] = metrics
        return prov

    # ------------------------------------------------------------------ actions

    def save(self) -> None:
        if self.dist.is_main:
            save_checkpoint(self.paths, self.step, self.model, self.state_dict(), self.provenance("last"))
            if self.ema is not None:
                self.ema.save(self.paths.ema, self.model_config, self.provenance("ema"))
            write_json_atomic(self.paths.info, self.run_info())
        barrier(self.dist)

    def validate(self, plan: StagePlan) -> dict[str, float] | None:
        """Rank 0 validates; a better value of run.select_on than before writes best.safetensors."""
        if self.val_set is None:
            return None
        metrics = None
        if self.dist.is_main:
            from fdikp_cli.weights import save_weights

            started = time.perf_counter()
            metrics = evaluate_model(self.model, self.val_set, self.device, self.lpips)
            seconds = time.perf_counter() - started
            self.val_log.write({"step": self.step, "stage": plan.index + 1, "model": "train", "seconds": seconds,
                                **metrics})
            self.tensorboard.validation(self.step, metrics)
            self.tensorboard.preview_images(self.model, self.device, self.step)
            if self.ema is not None:
                ema_metrics = evaluate_model(self.ema.module, self.val_set, self.device, self.lpips)
                self.val_log.write({"step": self.step, "stage": plan.index + 1, "model": "ema", **ema_metrics})
                self.reporter.message(f"validation step {self.step}, EMA: PSNR {ema_metrics['psnr']:.3f} dB "
                                      f"SSIM {ema_metrics['ssim']:.4f}")
            key = self.config.run.select_on
            improved = metrics[key] > self.best.get(key, -math.inf)
            if improved:
                self.best = {"step": float(self.step), **metrics}
                save_weights(self.model, self.paths.best, provenance=self.provenance("best", metrics))
            self.reporter.message(
                f"validation step {self.step}: PSNR {metrics['psnr']:.3f} dB (input {metrics['input_psnr']:.3f})"
                f" detail PSNR {metrics['detail_psnr']:.3f} SSIM {metrics['ssim']:.4f} (input {metrics['input_ssim']:.4f})"
                + (f" LPIPS {metrics['lpips']:.4f} (input {metrics['input_lpips']:.4f})" if "lpips" in metrics else "")
                + (" (best)" if improved else f" (best {key} {self.best[key]:.3f} at step {int(self.best['step'])})")
                + f" [{seconds:.0f}s]"
            )
        barrier(self.dist)
        return metrics

    def finish_swa(self) -> Path | None:
        """Write (and validate) the averaged model at the end of the schedule."""
        if self.swa is None:
            return None
        metrics = None
        if self.dist.is_main:
            from fdikp_cli.weights import save_weights

            averaged = self.swa.module
            if self.val_set is not None:
                metrics = evaluate_model(averaged, self.val_set, self.device, self.lpips)
                self.val_log.write({"step": self.step, "stage": len(self.plans), "model": "swa", **metrics})
                self.tensorboard.validation(self.step, metrics, prefix="swa")
                self.reporter.message(f"SWA model: PSNR {metrics['psnr']:.3f} dB SSIM {metrics['ssim']:.4f} "
                                      f"({int(self.swa.n_averaged)} models averaged)")
            provenance = self.provenance("swa", metrics)
            provenance["swa_models_averaged"] = int(self.swa.n_averaged)
            save_weights(averaged, self.paths.swa, config=self.model_config, provenance=provenance)
            info = self.run_info()
            info["swa"] = {"models_averaged": int(self.swa.n_averaged), **(metrics or {})}
            write_json_atomic(self.paths.info, info)
        barrier(self.dist)
        return self.paths.swa

    def _backward(self, batch: tuple[torch.Tensor, torch.Tensor], share: float) -> dict[str, float]:
        """Forward and backward of one micro-batch, its loss scaled by `share` of the step."""
        blurred, sharp = (t.to(self.device, non_blocking=True) for t in batch)
        autocast = (torch.autocast(self.device.type, dtype=self.amp) if self.amp is not None
                    else contextlib.nullcontext())
        with autocast:
            outputs = self.ddp_model(blurred)  # [y_1/4, y_1/2, y]
        outputs = [o.float() for o in outputs]
        terms = self.loss_fn(outputs, sharp)
        total, extra = terms.total, {}
        context = StepContext(self.step, blurred, sharp, outputs)
        for hook in self.hooks:
            term, stats = hook.extra_loss(context)
            if term is not None:
                total = total + term
            extra.update(stats)
        self.scaler.scale(total * share).backward()
        return {"loss": float(total.detach()), "mse": terms.mse, "lpips": terms.lpips, "fft": terms.fft,
                "charbonnier": terms.charbonnier, **extra}

    def train_step(self, batches: list[tuple[torch.Tensor, torch.Tensor]], plan: StagePlan) -> dict[str, float]:
        """One optimizer step over one or more micro-batches (gradient accumulation)."""
        self.optimizer.zero_grad(set_to_none=True)
        parts = [self._backward(batch, 1.0 / len(batches)) for batch in batches]
        stats = {key: sum(p[key] for p in parts) / len(parts) for key in parts[0]}
        self.scaler.unscale_(self.optimizer)
        clip = self.config.optim.grad_clip if self.config.optim.grad_clip > 0 else math.inf
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip))
        loss = stats["loss"]
        # Gradients are all-reduced, so a non-finite norm is seen by every rank alike.
        if not math.isfinite(loss) or (not math.isfinite(grad_norm) and not self.scaler.is_enabled()):
            last = latest_checkpoint(self.paths)
            where = f"the last good checkpoint is {last[1]}" if last else "no checkpoint was written yet"
            raise TrainingDiverged(
                f"training diverged at step {self.step + 1}: loss {loss}, gradient norm {grad_norm}; {where}. "
                "Resume from it with a lower learning rate (e.g. --lr) or stronger --set optim.grad_clip."
            )
        self.scaler.step(self.optimizer)
        self.scaler.update()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()  # type: ignore[union-attr]
        self.step += 1
        local = self.step - plan.first_step
        if self.swa is not None and (local % plan.swa_every == 0 or self.step == plan.end_step):
            self.swa.update_parameters(self.model)
        if self.ema is not None:
            self.ema.update(self.model)
        return {**stats, "grad_norm": grad_norm, "lr": lr}

    def run(self) -> TrainResult:
        from fdikp_cli.data import TrainCrops, build_train_loader, checked
        from fdikp_cli.data.loader import grouped

        run = self.config.run
        resumed = self.resume_from is not None
        if self.dist.is_main:
            self.paths.root.mkdir(parents=True, exist_ok=True)
            self.paths.config.write_text(to_toml(self.config))
            write_json_atomic(self.paths.info, self.run_info())
            if self.config_changes:
                self._record_config_changes()
            columns = TRAIN_COLUMNS + [c for hook in self.hooks for c in hook.log_columns]
            self.train_log = CsvLog(self.paths.train_log, columns, self.step if resumed else None)
            self.val_log = CsvLog(self.paths.val_log, VAL_COLUMNS, self.step if resumed else None)
        barrier(self.dist)
        if resumed and self.step >= self.total_steps:
            self.say(f"{self.paths.root} has finished its {self.total_steps} steps; nothing to do")
            return TrainResult(self.paths.root, self.step, self.total_steps, True, self.best.get("psnr"),
                               self.paths.swa if self.paths.swa.is_file() else None)
        stop_at = min(self.total_steps, run.max_steps) if run.max_steps is not None else self.total_steps
        self.reporter = ProgressReporter(stop_at, self.step, enabled=self.dist.is_main, console=self.console)
        self._describe(stop_at)
        self.tensorboard = TensorBoardLog(self.paths.root, enabled=self.dist.is_main,
                                          purge_step=self.step if resumed else None, say=self.say)
        self.tensorboard.keep_previews(self.val_set)
        window = StepWindow()
        last_saved = self.step
        try:
            while self.step < stop_at:
                plan = self.plan_of(self.step)
                if self.scheduler_stage != plan.index:
                    self._enter_stage(plan)
                if self.step == plan.first_step and plan.index > 0:
                    self.reporter.message(f"stage {plan.index + 1}: crop {plan.config.crop}, batch "
                                          f"{plan.config.batch_size}, {plan.steps} steps"
                                          + (", stochastic weight averaging" if plan.config.swa else ""))
                dataset = TrainCrops(self.stage_sources[plan.index], [s.weight for s in self.specs],
                                     plan.config.crop, run.seed, plan.index)
                end = min(plan.end_step, stop_at)
                micro = plan.config.accumulate  # micro-batches per optimizer step
                loader = build_train_loader(dataset, plan.config.batch_size, (self.step - plan.first_step) * micro,
                                            (end - plan.first_step) * micro, self.config.data.workers, self.dist.rank,
                                            self.dist.world_size, pin_memory=self.device.type == "cuda")
                images_per_step = plan.config.batch_size * micro * self.dist.world_size
                for batches in grouped(loader, micro):
                    stats = self.train_step([checked(batch) for batch in batches], plan)
                    window.add(stats)
                    logged = None  # (mean loss, steps) of the row written now: what plain log lines show
                    if self.step % run.log_every == 0 or self.step == end:
                        row = window.flush(images_per_step)
                        logged = (row["loss"], int(row["steps"]))
                        if self.dist.is_main:
                            row.update({"step": self.step, "stage": plan.index + 1,
                                        "epoch": self.step_epoch(plan), "wall_s": self.wall_time()})
                            self.train_log.write(row)
                            self.tensorboard.train_row(row)
                            for hook in self.hooks:
                                hook.check_log_row(row, self.step)
                    self.reporter.update(self.step, plan.index, len(self.plans), stats["loss"], stats["lr"],
                                         images_per_step, logged)
                    paused = time.perf_counter()
                    if self.step % run.val_every == 0:
                        self.validate(plan)
                    if self.step % run.checkpoint_every == 0 or self.step == end:
                        self.save()
                        last_saved = self.step
                    paused = time.perf_counter() - paused
                    self.reporter.exclude(paused)  # it/s and ETA count training steps only
                    window.exclude(paused)
        except KeyboardInterrupt:
            if self.step > last_saved:
                self.reporter.message(f"interrupted: saving step {self.step}")
                self.save()
            raise
        finally:
            self.reporter.close()
        finished = self.step >= self.total_steps
        final = None
        if finished:
            if self.val_set is not None and self.step % run.val_every != 0:
                self.validate(self.plan_of(self.step - 1))
            final = self.finish_swa()
            self.save()
        result = TrainResult(self.paths.root, self.step, self.total_steps, finished, self.best.get("psnr"),
                             final or (self.paths.best if self.paths.best.is_file() else None))
        self.say(self._summary(result))
        return result

    def step_epoch(self, plan: StagePlan) -> float:
        images = plan.config.batch_size * plan.config.accumulate * self.dist.world_size * (self.step - plan.first_step)
        return images / max(self.epoch_size, 1)

    def _describe(self, stop_at: int) -> None:
        data = "; ".join(s.describe() for s in self.stage_sources[0])
        weights = [s.weight for s in self.specs]
        if len(weights) > 1:
            data += " (weights " + ", ".join(f"{w / sum(weights):.2f}" for w in weights) + ")"
        val = f"{len(self.val_set)} images" + (f", centre {self.config.data.val_crop}px" if self.config.data.val_crop
                                               else ", whole") if self.val_set else "none"
        stages = ", ".join(describe_plan(p) for p in self.plans)
        self.say(f"data: {data}; epoch = {self.epoch_size} images; validation: {val}")
        self.say(f"schedule: {stages} (total {self.total_steps}); device {hardware_description(self.dist)}"
                 + (f", {str(self.amp).replace('torch.', '')}" if self.amp else "") + f"; run folder {self.paths.root}")
        for hook in self.hooks:
            self.say(hook.describe())
        if stop_at < self.total_steps:
            self.say(f"stopping at step {stop_at} (--max-steps); continue later with --resume auto")

    def _summary(self, result: TrainResult) -> str:
        state = "finished" if result.finished else f"stopped at step {result.step}/{result.total_steps}"
        best = f", best validation PSNR {result.best_psnr:.3f} dB" if result.best_psnr is not None else ""
        return f"training {state} in {format_duration(self.wall_time())} (run total){best}; run folder {result.run_dir}"

    def close(self) -> None:
        """Leave the process as it was: event file closed, process group closed, global determinism
        flag restored."""
        self.tensorboard.close()
        shutdown(self.dist)
        torch.use_deterministic_algorithms(self._deterministic_before)


def train(config: TrainConfig, resume: str | None = None, console: Console | None = None,
          allow_config_change: bool = False) -> TrainResult:
    """Train (or continue) a run; the library entry point behind `fdikp train`. A resume whose
    settings differ from the run's config.toml is refused unless `allow_config_change`
    (fdikp_cli.training.resume_check)."""
    trainer = Trainer(config, resume=resume, console=console, allow_config_change=allow_config_change)
    try:
        return trainer.run()
    finally:
        trainer.close()


def resumed_config_file(out: Path, resume: str | None) -> Path | None:
    """The saved config.toml of the run being resumed, if any (it becomes the base config)."""
    if resume is None:
        return None
    root = out if resume == "auto" else Path(resume).expanduser()
    if root.is_file():
        root = root.parent.parent  # RUN/checkpoints/step_N.pt -> RUN
    path = RunPaths(root).config
    if path.is_file() and (resume != "auto" or latest_checkpoint(RunPaths(root)) is not None):
        return path
    return None


__all__ = ["TrainResult", "Trainer", "evaluate_model", "resumed_config_file", "train"]
