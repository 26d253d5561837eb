"""Progress bars of long work show the time remaining (deblur per image and per tile, train)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from rich.progress import TimeRemainingColumn

from fdikp_cli.cli.deblur import _ConsoleReporter
from fdikp_cli.training.progress import ProgressReporter


def _terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=120)


def test_deblur_shows_time_remaining_for_the_batch_and_the_tiles_of_each_image(tmp_path: Path) -> None:
    with _ConsoleReporter(_terminal(), quiet=False, prefix="") as reporter:
        assert any(isinstance(column, TimeRemainingColumn) for column in reporter.progress.columns)
        reporter.file_started(1, 3, tmp_path / "b.jpg")
        reporter.tile_progress(2, 6)
        batch, image = (reporter.progress.tasks[i] for i in (0, 1))
        assert (batch.visible, batch.completed, batch.total) == (True, 1, 3)
        assert (image.visible, image.completed, image.total) == (True, 2, 6)
        assert image.fields["detail"] == "tile 2/6" and batch.fields["detail"] == "1/3 files"


def test_training_bar_shows_time_remaining_and_labels_the_step_loss() -> None:
    console = _terminal()
    reporter = ProgressReporter(10, 0, console=console)
    try:
        assert any(isinstance(column, TimeRemainingColumn) for column in reporter._progress.columns)
        reporter.update(1, 0, 2, 0.5, 1e-4, 4)
        assert "step loss 0.50000" in reporter._progress.tasks[0].fields["stats"]
    finally:
        reporter.close()


def test_plain_training_lines_show_the_logged_mean_and_the_eta() -> None:
    stream = io.StringIO()
    reporter = ProgressReporter(10, 0, console=Console(file=stream, width=200))
    reporter.update(1, 0, 2, 0.5, 1e-4, 4)  # no CSV row at this step: no line
    reporter.update(2, 0, 2, 0.3, 1e-4, 4, logged=(0.4, 2))
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("step 2/10 stage 1/2 mean loss 0.40000 (2 steps)") and " eta " in lines[0]
