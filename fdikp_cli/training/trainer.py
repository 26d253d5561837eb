"""The training loop: stages, validation, checkpoints, resume, SWA, one or many processes.

Step numbering: `step` counts completed optimizer steps over the whole schedule; stage s
covers steps [first_step, first_step + steps). The data of every step is a function of
(seed, stage, step) (fdikp_cli.data), so a resumed run repeats exactly what an uninterrupted
run would have done: 6 steps in one go and 3 + resume + 3 give the same weights on CPU.

The Trainer composes parts that are modules of their own, and decides when each acts:
    initial_model           the model a run starts from (resumed, --init-weights or new)
    run_data                sources per stage, the epoch, stage plans, validation set, step batches
    stage_state             what each stage starts afresh: its lr scheduler and SWA average
    checkpoint_state        a checkpoint's .pt: its keys, and putting them back on resume
    run_record              run.json and the provenance of every weights file
    swa_result              swa.safetensors at the end of a schedule that averages weights
    run_messages            the lines a run prints
    precision, determinism  how the process computes
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from fdikp_cli.errors import ConfigError, TrainingDiverged
from fdikp_cli.training.checkpoint import (
    RunPaths,
    find_resume_checkpoint,
    latest_checkpoint,
    load_state,
    resumed_config_file,
    save_checkpoint,
    write_json_atomic,
)
from fdikp_cli.training.checkpoint_state import CheckpointedParts, resumed_step
from fdikp_cli.training.config import TrainConfig, to_toml
from fdikp_cli.training.determinism import set_determinism
from fdikp_cli.training.distributed import barrier, init_distributed, shutdown, wrap_ddp
from fdikp_cli.training.frozen_parts import freeze_all_but
from fdikp_cli.training.hooks import StepContext, build_step_hooks
from fdikp_cli.training.initial_model import initial_model
from fdikp_cli.training.model_extension import parameter_groups
from fdikp_cli.training.precision import amp_dtype, autocast
from fdikp_cli.training.progress import ProgressReporter
from fdikp_cli.training.resume_check import check_resume_config
from fdikp_cli.training.run_data import build_run_data
from fdikp_cli.training.run_messages import (
    config_change_note,
    ema_validation_line,
    stage_start_line,
    start_description,
    summary_line,
    swa_validation_line,
    validation_line,
)
from fdikp_cli.training.run_record import RunRecord, run_facts, with_config_changes
from fdikp_cli.training.runlog import TRAIN_COLUMNS, VAL_COLUMNS, CsvLog, StepWindow, hardware_description
from fdikp_cli.training.schedule import StagePlan, plan_at
from fdikp_cli.training.stage_state import StageState
from fdikp_cli.training.swa_result import save_swa_weights, swa_run_entry
from fdikp_cli.training.tensorboard_log import TensorBoardLog
from fdikp_cli.training.train_result import TrainResult
from fdikp_cli.training.validation import evaluate_model
from fdikp_cli.training.weight_average import ema_or_none


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
        self.model, self.model_config, self.init_info = initial_model(
            config, self.resume_from[0] if self.resume_from else None, self.device, self.amp)
        freeze_all_but(self.model, config.optim.train_only)
        self.data = build_run_data(config, self.dist.world_size)
        self._build_loss()
        # Extra training parts (the adversarial critic): built before a checkpoint is loaded.
        self.hooks = build_step_hooks(config, self.model, self.device, self.dist.world_size)
        self.optimizer = torch.optim.Adam(parameter_groups(self.model, config.optim.gate_lr_scale),
                                          lr=config.stages[0].lr, betas=config.optim.betas,
                                          weight_decay=config.optim.weight_decay)
        self.ema = ema_or_none(self.model, config.run.ema_decay)
        self.stage = StageState(self.optimizer, self.model)
        self.checkpointed = CheckpointedParts(self.optimizer, self.stage, self.ema, self.scaler, self.hooks)
        self.record = RunRecord(self.paths, self.dist, run_facts(config, self.data, self.amp, self.hooks,
                                                                 self.init_info))
        self.step = 0
        self.best: dict[str, float] = {}
        self.wall_before = 0.0  # wall time of earlier sessions of this run
        self.session_start = time.perf_counter()
        self.tensorboard = TensorBoardLog(self.paths.root, enabled=False)  # opened by run()
        if self.resume_from is not None:
            self._load_checkpoint(*self.resume_from)
        self.ddp_model = wrap_ddp(self.model, self.dist)

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

    def _build_loss(self) -> None:
        from fdikp_cli.training.losses import MultiScaleLoss

        loss = self.config.loss
        self.lpips: nn.Module | None = None
        if loss.lpips > 0:
            from fdikp_cli.metrics.lpips import load_lpips

            self.lpips = load_lpips(weights_dir=loss.lpips_dir, device=self.device)
        self.loss_fn = MultiScaleLoss(loss.mse, loss.lpips, loss.fft, loss.scale_weights, self.lpips,
                                      loss.lpips_min_size, loss.charbonnier, loss.charbonnier_eps)

    # ------------------------------------------------------------------ state

    def plan_of(self, step: int) -> StagePlan:
        return plan_at(self.data.plans, step)

    def state_dict(self) -> dict[str, Any]:
        return self.checkpointed.state_dict(self.step, self.best, self.wall_time(), self.dist.world_size)

    def _load_checkpoint(self, weights_path: Path, state_path: Path) -> None:
        state = load_state(state_path)
        self.step = resumed_step(state, self.data.total_steps, self.dist.world_size, self.say)
        self.checkpointed.load_state_dict(state, self.plan_of(self.step), self.say)
        self.best = dict(state.get("best", {}))
        self.wall_before = float(state.get("wall_s", 0.0))
        self.say(f"resuming {self.paths.root} at step {self.step}/{self.data.total_steps} (from {weights_path.name})")

    def wall_time(self) -> float:
        return self.wall_before + time.perf_counter() - self.session_start

    def run_info(self) -> dict[str, Any]:
        return self.record.info(self.step, self.wall_time(), self.best)

    def provenance(self, kind: str, metrics: dict[str, float] | None = None) -> dict[str, Any]:
        return self.record.provenance(kind, self.step, self.wall_time(), self.best, metrics)

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
        val_set = self.data.val_set
        if val_set is None:
            return None
        metrics = None
        if self.dist.is_main:
            from fdikp_cli.weights import save_weights

            started = time.perf_counter()
            metrics = evaluate_model(self.model, val_set, self.device, self.lpips)
            seconds = time.perf_counter() - started
            self.val_log.write({"step": self.step, "stage": plan.index + 1, "model": "train", "seconds": seconds,
                                **metrics})
            self.tensorboard.validation(self.step, metrics)
            self.tensorboard.preview_images(self.model, self.device, self.step)
            if self.ema is not None:
                ema_metrics = evaluate_model(self.ema.module, val_set, self.device, self.lpips)
                self.val_log.write({"step": self.step, "stage": plan.index + 1, "model": "ema", **ema_metrics})
                self.reporter.message(ema_validation_line(self.step, ema_metrics))
            key = self.config.run.select_on
            improved = metrics[key] > self.best.get(key, -math.inf)
            if improved:
                self.best = {"step": float(self.step), **metrics}
                save_weights(self.model, self.paths.best, provenance=self.provenance("best", metrics))
            self.reporter.message(validation_line(self.step, metrics, improved, key, self.best, seconds))
        barrier(self.dist)
        return metrics

    def finish_swa(self) -> Path | None:
        """Write (and validate) the averaged model at the end of the schedule."""
        swa = self.stage.swa
        if swa is None:
            return None
        metrics = None
        if self.dist.is_main:
            if self.data.val_set is not None:
                metrics = evaluate_model(swa.module, self.data.val_set, self.device, self.lpips)
                self.val_log.write({"step": self.step, "stage": len(self.data.plans), "model": "swa", **metrics})
                self.tensorboard.validation(self.step, metrics, prefix="swa")
                self.reporter.message(swa_validation_line(metrics, int(swa.n_averaged)))
            save_swa_weights(swa, self.paths.swa, self.model_config, self.provenance("swa", metrics))
            write_json_atomic(self.paths.info, {**self.run_info(), "swa": swa_run_entry(swa, metrics)})
        barrier(self.dist)
        return self.paths.swa

    def _backward(self, batch: tuple[torch.Tensor, torch.Tensor], share: float) -> dict[str, float]:
        """Forward and backward of one micro-batch, its loss scaled by `share` of the step."""
        blurred, sharp = (t.to(self.device, non_blocking=True) for t in batch)
        with autocast(self.amp, self.device):
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
        self.step += 1
        self.stage.after_step(self.step, plan)  # the scheduler's step, then the SWA average's
        if self.ema is not None:
            self.ema.update(self.model)
        return {**stats, "grad_norm": grad_norm, "lr": lr}

    def run(self) -> TrainResult:
        run = self.config.run
        total_steps = self.data.total_steps
        resumed = self.resume_from is not None
        if self.dist.is_main:
            self.paths.root.mkdir(parents=True, exist_ok=True)
            self.paths.config.write_text(to_toml(self.config))
            write_json_atomic(self.paths.info, self.run_info())
            if self.config_changes:
                write_json_atomic(self.paths.info, with_config_changes(self.run_info(), self.step,
                                                                       self.config_changes))
                self.say(config_change_note(self.config_changes))
            columns = TRAIN_COLUMNS + [c for hook in self.hooks for c in hook.log_columns]
            self.train_log = CsvLog(self.paths.train_log, columns, self.step if resumed else None)
            self.val_log = CsvLog(self.paths.val_log, VAL_COLUMNS, self.step if resumed else None)
        barrier(self.dist)
        if resumed and self.step >= total_steps:
            self.say(f"{self.paths.root} has finished its {total_steps} steps; nothing to do")
            return TrainResult(self.paths.root, self.step, total_steps, True, self.best.get("psnr"),
                               self.paths.swa if self.paths.swa.is_file() else None)
        stop_at = min(total_steps, run.max_steps) if run.max_steps is not None else total_steps
        self.reporter = ProgressReporter(stop_at, self.step, enabled=self.dist.is_main, console=self.console)
        for line in start_description(self.data, self.config.data.val_crop, hardware_description(self.dist),
                                      self.amp, self.paths.root, self.hooks, stop_at):
            self.say(line)
        self.tensorboard = TensorBoardLog(self.paths.root, enabled=self.dist.is_main,
                                          purge_step=self.step if resumed else None, say=self.say)
        self.tensorboard.keep_previews(self.data.val_set)
        window = StepWindow()
        last_saved = self.step
        try:
            while self.step < stop_at:
                plan = self.plan_of(self.step)
                if self.stage.index != plan.index:
                    self.stage.enter(plan)
                if self.step == plan.first_step and plan.index > 0:
                    self.reporter.message(stage_start_line(plan))
                end = min(plan.end_step, stop_at)
                images_per_step = plan.config.batch_size * plan.config.accumulate * self.dist.world_size
                for batches in self.data.step_batches(plan, self.step, end, run.seed, self.config.data.workers,
                                                      self.dist):
                    stats = self.train_step(batches, plan)
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
                    self.reporter.update(self.step, plan.index, len(self.data.plans), stats["loss"], stats["lr"],
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
        finished = self.step >= total_steps
        final = None
        if finished:
            if self.data.val_set is not None and self.step % run.val_every != 0:
                self.validate(self.plan_of(self.step - 1))
            final = self.finish_swa()
            self.save()
        result = TrainResult(self.paths.root, self.step, total_steps, finished, self.best.get("psnr"),
                             final or (self.paths.best if self.paths.best.is_file() else None))
        self.say(summary_line(result, self.wall_time()))
        return result

    def step_epoch(self, plan: StagePlan) -> float:
        images = plan.config.batch_size * plan.config.accumulate * self.dist.world_size * (self.step - plan.first_step)
        return images / max(self.data.epoch_size, 1)

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


# amp_dtype, set_determinism, evaluate_model and resumed_config_file live in their own modules;
# they are still importable from here, where callers found them before.
__all__ = ["TrainResult", "Trainer", "amp_dtype", "evaluate_model", "resumed_config_file", "set_determinism",
           "train"]
