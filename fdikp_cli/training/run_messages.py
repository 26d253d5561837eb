"""The lines a training run prints: its start-up description, the start of each later stage,
validation results (of the model, its EMA, its SWA average), the note on changed settings, and
the closing summary.

Their wording is what users read in terminals and nohup logs (and what tests match), so it
lives in one place; the trainer decides only when each line is said.
"""

from __future__ import annotations

from pathlib import Path

import torch

from fdikp_cli.training.hook_protocol import StepHook
from fdikp_cli.training.precision import dtype_name
from fdikp_cli.training.progress import format_duration
from fdikp_cli.training.resume_check import Change
from fdikp_cli.training.run_data import RunData
from fdikp_cli.training.schedule import StagePlan, describe_plan
from fdikp_cli.training.train_result import TrainResult


def start_description(data: RunData, val_crop: int | None, hardware: str, amp: torch.dtype | None, run_dir: Path,
                      hooks: list[StepHook], stop_at: int) -> list[str]:
    """Data, validation, schedule, device and precision, then one line per hook (and --max-steps)."""
    sources = "; ".join(s.describe() for s in data.stage_sources[0])
    weights = [s.weight for s in data.specs]
    if len(weights) > 1:
        sources += " (weights " + ", ".join(f"{w / sum(weights):.2f}" for w in weights) + ")"
    val = f"{len(data.val_set)} images" + (f", centre {val_crop}px" if val_crop
                                           else ", whole") if data.val_set else "none"
    stages = ", ".join(describe_plan(p) for p in data.plans)
    lines = [f"data: {sources}; epoch = {data.epoch_size} images; validation: {val}",
             f"schedule: {stages} (total {data.total_steps}); device {hardware}"
             + (f", {dtype_name(amp)}" if amp else "") + f"; run folder {run_dir}"]
    lines += [hook.describe() for hook in hooks]
    if stop_at < data.total_steps:
        lines.append(f"stopping at step {stop_at} (--max-steps); continue later with --resume auto")
    return lines


def stage_start_line(plan: StagePlan) -> str:
    return (f"stage {plan.index + 1}: crop {plan.config.crop}, batch {plan.config.batch_size}, {plan.steps} steps"
            + (", stochastic weight averaging" if plan.config.swa else ""))


def validation_line(step: int, metrics: dict[str, float], improved: bool, select_on: str, best: dict[str, float],
                    seconds: float) -> str:
    """The training model's results beside the inputs', and the best so far on `select_on`."""
    return (
        f"validation step {step}: PSNR {metrics['psnr']:.3f} dB (input {metrics['input_psnr']:.3f})"
        f" detail PSNR {metrics['detail_psnr']:.3f} SSIM {metrics['ssim']:.4f} (input {metrics['input_ssim']:.4f})"
        + (f" LPIPS {metrics['lpips']:.4f} (input {metrics['input_lpips']:.4f})" if "lpips" in metrics else "")
        + (" (best)" if improved else f" (best {select_on} {best[select_on]:.3f} at step {int(best['step'])})")
        + f" [{seconds:.0f}s]"
    )


def ema_validation_line(step: int, metrics: dict[str, float]) -> str:
    return f"validation step {step}, EMA: PSNR {metrics['psnr']:.3f} dB SSIM {metrics['ssim']:.4f}"


def swa_validation_line(metrics: dict[str, float], models_averaged: int) -> str:
    return (f"SWA model: PSNR {metrics['psnr']:.3f} dB SSIM {metrics['ssim']:.4f} "
            f"({models_averaged} models averaged)")


def config_change_note(changes: list[Change]) -> str:
    return ("note: resuming with changed settings (--allow-config-change), recorded in run.json: "
            + "; ".join(change.describe() for change in changes))


def summary_line(result: TrainResult, wall_s: float) -> str:
    state = "finished" if result.finished else f"stopped at step {result.step}/{result.total_steps}"
    best = f", best validation PSNR {result.best_psnr:.3f} dB" if result.best_psnr is not None else ""
    return f"training {state} in {format_duration(wall_s)} (run total){best}; run folder {result.run_dir}"

