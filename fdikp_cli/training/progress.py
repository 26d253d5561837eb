"""Progress of a training run: a rich bar on a terminal, plain lines elsewhere (nohup logs).

The bar shows the last step's loss ("step loss"); plain lines appear with each row of
train_log.csv and show that row's loss, the mean over the steps since the previous row:
    step 1200/15200 stage 1/2 mean loss 0.01234 (50 steps) lr 1.00e-04 1.85 it/s 7.4 img/s eta 2h05m
"""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console


def format_duration(seconds: float) -> str:
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class ProgressReporter:
    """Reports steps of one process (rank 0); silent on other ranks."""

    def __init__(self, total_steps: int, start_step: int, enabled: bool = True, console: Console | None = None
                 ) -> None:
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.total = total_steps
        self.interactive = enabled and self.console.is_terminal
        self._start_time = time.perf_counter()
        self._start_step = start_step
        self._progress: Any = None
        self._task: Any = None
        if self.interactive:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(), console=self.console, transient=False,
                speed_estimate_period=600.0,  # large crops on a CPU take many seconds a step: keep more samples
            )
            self._task = self._progress.add_task("train", total=total_steps, completed=start_step, stats="")
            self._progress.start()

    def exclude(self, seconds: float) -> None:
        """Leave time spent elsewhere (validation, checkpoints) out of it/s and the ETA."""
        self._start_time += seconds

    def rate(self, step: int) -> float:
        elapsed = time.perf_counter() - self._start_time
        done = step - self._start_step
        return done / elapsed if elapsed > 0 and done > 0 else float("nan")

    def update(self, step: int, stage: int, stages: int, loss: float, lr: float, images_per_step: int,
               logged: tuple[float, int] | None = None) -> None:
        """`loss`: this step's; `logged`: (mean loss, steps) of the CSV row written at this step, if any."""
        if not self.enabled:
            return
        rate = self.rate(step)
        eta = (self.total - step) / rate if rate == rate and rate > 0 else float("nan")
        speed = f"lr {lr:.2e} {rate:.2f} it/s {rate * images_per_step:.1f} img/s"
        if self.interactive:
            stats = f"stage {stage + 1}/{stages} step loss {loss:.5f} {speed}"
            self._progress.update(self._task, completed=step, stats=stats)
        elif logged is not None:
            mean, steps = logged
            self.console.print(f"step {step}/{self.total} stage {stage + 1}/{stages} mean loss {mean:.5f} ({steps} steps) "
                               f"{speed} eta {format_duration(eta)}", highlight=False, soft_wrap=True)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.interactive:
            self._progress.console.print(text, highlight=False, soft_wrap=True)
        else:
            self.console.print(text, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
