"""The time remaining of a progress bar, from the first finished step on.

rich's TimeRemainingColumn measures a speed between two finished steps, so a batch of photos
(minutes each on a CPU) showed `-:--:--` until its second photo was done, and a batch of two
never showed a time. Until rich has a speed, this column uses the mean time of the steps
finished so far (the time from the task's start to the last finished step, over the steps),
which is known as soon as the first step finishes; then rich's own estimate.
"""

from __future__ import annotations

from rich.progress import Task, TaskID, TimeRemainingColumn
from rich.text import Text


def clock(seconds: float) -> str:
    """H:MM:SS, as rich writes a time remaining."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:d}:{minutes:02d}:{secs:02d}"


class RemainingColumn(TimeRemainingColumn):
    """TimeRemainingColumn with an estimate after the first finished step (see the module)."""

    def __init__(self) -> None:
        super().__init__()
        # task -> (its start time, steps finished, seconds from its start to when they were seen)
        self._marks: dict[TaskID, tuple[float | None, float, float]] = {}

    def render(self, task: Task) -> Text:
        if task.total is None or task.finished or task.completed <= 0 or task.speed is not None:
            return super().render(task)
        elapsed = task.elapsed
        if elapsed is None:
            return super().render(task)
        mark = self._marks.get(task.id)
        if mark is None or mark[0] != task.start_time or mark[1] != task.completed:
            mark = self._marks[task.id] = (task.start_time, task.completed, elapsed)
        per_step = mark[2] / mark[1]
        return Text(clock(per_step * (task.total - task.completed)), style="progress.remaining")
