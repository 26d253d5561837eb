"""Terminal output (issue 24, item 10): result tables at 80 columns keep file names whole, a pipe
gets each result once, nothing scored prints no empty table, the batch ETA shows a time after
the first file, and the CLI finds the LPIPS weights that `make test` finds, or says in one line
where it looked and how to provide them."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from rich.progress import TimeRemainingColumn
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.cli.deblur import _ConsoleReporter, _summary_table
from fdikp_cli.evaluation.report import EvaluationReport, ImageResult, Scores, image_table
from fdikp_cli.inference.batch import DONE, FAILED, FileResult
from fdikp_cli.metrics import lpips_weights as lw
from fdikp_cli.metrics.lpips_weights import checkout_lpips_dir as real_checkout_lpips_dir
from tests.conftest import REPO_ROOT, SHARED_DIR, write_tiny_fdikp_weights

TINY_TRAIN = '{"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}'
LONG_NAMES = ("living_room_window_afternoon_light_0001", "garden_bench_portrait_shallow_depth_0002")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_fdikp_weights(tmp_path_factory.mktemp("weights"))


def _photo(path: Path, h: int = 40, w: int = 48, seed: int = 0) -> np.ndarray:
    array = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def _parts_whole(name: str, text: str) -> bool:
    """Every part of `name` between separators (where a table may break it) appears in `text`."""
    return all(part in text for part in re.split(r"[/\\_. -]", name) if part)


def _render(renderable: object, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


# --- tables at 80 columns -------------------------------------------------------------------


def _report(names: tuple[str, ...], baseline: bool = True) -> EvaluationReport:
    scores, blurry = Scores(32.9, 0.997, 0.020, 0.001), Scores(23.61, 0.973, 0.057, 0.007)
    images = [ImageResult(name, scores, blurry if baseline else None) for name in names]
    return EvaluationReport("dpdd", "DPDD protocol", 8, images)


def test_evaluate_table_at_80_columns_breaks_no_name_inside_a_word() -> None:
    """Was: "living_room_w" / "indow_afterno" / "on_light_0001" (rich folded the names)."""
    text = _render(image_table(_report(LONG_NAMES), width=80))
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "…" not in text
    for name in LONG_NAMES:
        assert _parts_whole(name, text), text
    assert "(23.61)" in text and "32.90" in text  # the numbers wrap at their space instead


def test_evaluate_table_wraps_the_numbers_before_a_name() -> None:
    name = "kitchen_table_window_0001.png"  # 29 characters: fits once the numbers take two lines
    text = _render(image_table(_report(("1P0A0972", name)), width=80))
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert any("1P0A0972" in line for line in text.splitlines())
    assert any(name in line for line in text.splitlines()), text


def test_evaluate_command_at_80_columns_prints_whole_names(tmp_path: Path) -> None:
    for sub in ("pred", "target", "source"):
        for seed, name in enumerate(LONG_NAMES):
            _photo(tmp_path / sub / f"{name}.png", seed=2 * seed + int(sub == "pred"))
    args = ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--source",
            str(tmp_path / "source"), "--no-lpips", "--device", "cpu"]
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    for name in LONG_NAMES:  # not a terminal: the table takes its natural width, one line per name
        assert any(name in line for line in result.stdout.splitlines()), result.stdout


def test_deblur_table_at_80_columns_breaks_paths_only_after_separators(tmp_path: Path) -> None:
    """Was: "/tmp/t10/photos/holida" / "y_snapshot_number_0_be" / "ach.jpg"."""
    folder = tmp_path / "holiday_photographs_2024"
    rows = [FileResult(folder / f"{name}.jpg", folder / "out" / f"{name}_deblurred.jpg", DONE, seconds=12.5,
                       megapixels=12.2, tiles=4) for name in LONG_NAMES]
    rows.append(FileResult(folder / "broken_file_name.png", None, FAILED, "not an image (cannot identify the file)"))
    text = _render(_summary_table(rows, "", 80))
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "…" not in text
    for row in rows:
        assert _parts_whole(str(row.source), text), text
        if row.output is not None:
            assert _parts_whole(str(row.output), text), text
    assert "12.2" in text and "12.5" in text


# --- a pipe gets each result once --------------------------------------------------------------


def test_piped_deblur_gives_each_file_once_and_a_clean_stdout(tmp_path: Path, tiny_weights: Path) -> None:
    """Was: a line per file on stderr, then the same files again in a table on stdout."""
    sources = [tmp_path / "in" / f"{name}.png" for name in LONG_NAMES]
    for seed, source in enumerate(sources):
        _photo(source, seed=seed)
    result = CliRunner(env={"COLUMNS": "300"}).invoke(
        app, ["deblur", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
              "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for source in sources:
        assert result.output.count(str(source)) == 1, result.output
    stdout = result.stdout.splitlines()
    assert len(stdout) == 1 and stdout[0].startswith("2 done, 0 skipped, 0 failed"), result.stdout
    assert "" not in result.stderr.splitlines(), repr(result.stderr)  # no blank line left by the bars


def _in_terminal(args: list[str], cwd: Path, columns: int = 80, timeout: float = 180.0) -> tuple[int, str]:
    """Run `python -m fdikp_cli ARGS` with stdout and stderr on a pseudo-terminal of `columns`
    columns; its exit status and everything it wrote, without the terminal's control codes."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTY_", "FORCE_COLOR", "NO_COLOR"))}
    env.update(COLUMNS=str(columns), TERM="xterm", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO_ROOT))
    process = subprocess.Popen([sys.executable, "-m", "fdikp_cli", *args], stdin=subprocess.DEVNULL, stdout=slave,
                               stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    data = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                process.kill()
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            data += chunk
    finally:
        os.close(master)
    status = process.wait(timeout=30)
    return status, ANSI.sub("", data.decode("utf-8", "replace")).replace("\r", "")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_deblur_on_a_terminal_shows_the_table_fitted_to_80_columns(tmp_path: Path, tiny_weights: Path) -> None:
    folder = tmp_path / "holiday_photographs_2024"
    for seed, name in enumerate(LONG_NAMES):
        _photo(folder / f"{name}.png", seed=seed)
    status, text = _in_terminal(["deblur", str(folder), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                                 "--device", "cpu"], tmp_path)
    assert status == 0, text
    table = text[text.index("fdikp deblur"):]
    assert "output / reason" in table and "2 done, 0 skipped, 0 failed" in table
    rows = [line for line in table.splitlines() if line.startswith("│")]
    assert rows and all(len(line) <= 80 for line in rows), table
    for name in LONG_NAMES:
        assert _parts_whole(str(folder / f"{name}.png"), table), table


# --- nothing scored -----------------------------------------------------------------------------


def test_evaluate_with_nothing_scored_prints_one_line_and_no_empty_table(tmp_path: Path) -> None:
    _photo(tmp_path / "pred" / "a.png", 40, 48)
    _photo(tmp_path / "target" / "a.png", 40, 47)  # sizes differ: not scored
    result = CliRunner(env={"COLUMNS": "80"}).invoke(
        app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--no-lpips",
              "--device", "cpu"])
    assert result.exit_code == 1, result.output
    assert result.stdout.strip() == "no images scored", result.stdout
    assert "┏" not in result.output and "│" not in result.output
    assert "not scored: 1 of 1 pairs" in result.output and "sizes differ" in result.output


# --- the batch's time remaining -----------------------------------------------------------------


@pytest.mark.parametrize("files", [2, 4])
def test_batch_eta_shows_a_time_once_the_first_file_is_done(tmp_path: Path, files: int) -> None:
    """Was: `-:--:--` until the second file was done (rich needs two samples for a speed), so a
    batch of two never showed one; and the first file's time counted the model's loading."""
    now = [100.0]
    console = Console(file=io.StringIO(), force_terminal=True, width=120, get_time=lambda: now[0])
    with _ConsoleReporter(console, quiet=False, prefix="") as reporter:
        now[0] = 130.0  # 30 s of loading the model: not a file's time
        reporter.file_started(0, files, tmp_path / "a.jpg")
        now[0] = 190.0  # the first file took 60 s
        reporter.file_started(1, files, tmp_path / "b.jpg")
        batch = reporter.progress.tasks[0]
        remaining = next(c for c in reporter.progress.columns if isinstance(c, TimeRemainingColumn))
        minutes = files - 1
        assert remaining.render(batch).plain == f"0:{minutes:02d}:00"
        now[0] = 220.0  # half-way through the second file: the estimate holds until it ends
        assert remaining.render(batch).plain == f"0:{minutes:02d}:00"


def test_no_progress_bar_output_when_stderr_is_not_a_terminal() -> None:
    stream = io.StringIO()
    with _ConsoleReporter(Console(file=stream, force_terminal=False), quiet=False, prefix="") as reporter:
        reporter.file_started(0, 1, Path("a.jpg"))
        reporter.file_finished(FileResult(Path("a.jpg"), Path("a_deblurred.jpg"), DONE, seconds=1.0))
    assert stream.getvalue() == "done a.jpg -> a_deblurred.jpg (1.0 s)\n"


# --- LPIPS weights: found where `make test` finds them, or one line saying where to put them -----


def _weights_in(folder: Path) -> bool:
    return (folder / lw.FEATURES_FILE).is_file() and (folder / lw.HEADS_FILE).is_file()


@pytest.fixture
def checkout_weights(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The CLI's checkout fallback switched on (conftest switches it off), no other source."""
    folder = SHARED_DIR / "weights" / "lpips"
    if not _weights_in(folder):
        pytest.skip(f"needs the LPIPS weights in {folder} (the shared folder beside the checkout)")
    monkeypatch.setattr(lw, "checkout_lpips_dir", real_checkout_lpips_dir)
    monkeypatch.delenv(lw.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv(lw.SHARED_ENV_VAR, str(SHARED_DIR))

    def offline(*_: object, **__: object) -> None:
        raise AssertionError("must not download: the weights are beside the checkout")

    monkeypatch.setattr(lw, "download_lpips_weights", offline)
    return folder


def test_the_checkout_shared_folder_is_searched_after_the_cache(checkout_weights: Path) -> None:
    searched = lw.candidate_dirs()
    assert [origin for origin, _ in searched] == ["cache", "checkout"]
    found = lw.find_lpips_weights()
    assert (found.origin, found.directory) == ("checkout", checkout_weights)


def test_the_checkout_folder_is_beside_the_repository_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lw.SHARED_ENV_VAR, raising=False)
    beside = REPO_ROOT.parent / "shared" / "weights" / "lpips"
    assert real_checkout_lpips_dir() == (beside if beside.is_dir() else None)
    monkeypatch.setenv(lw.SHARED_ENV_VAR, "/nonexistent/shared")
    assert real_checkout_lpips_dir() is None


def test_evaluate_as_in_the_readme_finds_the_checkout_weights(checkout_weights: Path, tmp_path: Path) -> None:
    """Was: `make test` found them through FDIKP_LPIPS_DIR, the CLI did not and dropped LPIPS."""
    for sub in ("pred", "target"):
        _photo(tmp_path / sub / "a.png", 64, 64, seed=int(sub == "pred"))
    result = CliRunner(env={"COLUMNS": "120"}).invoke(
        app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "LPIPS not computed" not in result.output
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ a "))
    assert "–" not in row, result.stdout  # an LPIPS value, not a dash


def test_train_as_in_the_readme_finds_the_checkout_weights(checkout_weights: Path, tmp_path: Path) -> None:
    """Was: the README's `fdikp train` stopped offline: no LPIPS weights for its loss."""
    root = tmp_path / "pairs"
    for seed in range(2):
        for side in ("target", "source"):
            _photo(root / side / f"{seed}.png", 72, 72, seed=seed)
    result = CliRunner().invoke(app, ["train", "--dataset", "pairs", "--data-root", str(root), "-o",
                                      str(tmp_path / "run"), "--model-config", TINY_TRAIN, "--workers", "0",
                                      "--batch-size", "1", "--crop", "64", "--max-steps", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "train_log.csv").is_file()


def test_missing_lpips_weights_are_explained_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lw.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for sub in ("pred", "target"):
        _photo(tmp_path / sub / "a.png", seed=int(sub == "pred"))
    result = CliRunner(env={"COLUMNS": "80"}).invoke(
        app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--no-download",
              "--lpips-dir", str(tmp_path / "none"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "LPIPS" in line]
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("LPIPS not computed: no LPIPS weights in")
    assert str(tmp_path / "none") in line and str(tmp_path / "cache" / "fdikp" / "lpips") in line
    assert "--lpips-dir DIR" in line and "FDIKP_LPIPS_DIR=DIR" in line and lw.FEATURES_FILE in line
