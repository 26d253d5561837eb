"""`fdikp deblur` end to end: the command line, exit status, messages, torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fdikp_cli.cli import deblur as deblur_cli
from fdikp_cli.cli.app import app
from fdikp_cli.model import FDIKPConfig
from fdikp_cli.weights import default_weights_path
from tests.conftest import write_tiny_fdikp_weights

REPO_ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(3)
TINY = FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1, predictor_channels=8)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_fdikp_weights(tmp_path_factory.mktemp("weights"))


def _photo(path: Path, h: int = 48, w: int = 64) -> np.ndarray:
    array = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def _run(*args: str) -> "object":
    return CliRunner().invoke(app, ["deblur", *args])


def test_cli_defaults_match_the_library() -> None:
    from fdikp_cli.imageio import DEFAULT_QUALITY
    from fdikp_cli.inference.batch import DEFAULT_SUFFIX
    from fdikp_cli.inference.restore import DEFAULT_OVERLAP
    from fdikp_cli.inference.tone_lock import DEFAULT_TONE_LOCK_SIGMA

    cli_defaults = (deblur_cli._SUFFIX, deblur_cli._QUALITY, deblur_cli._OVERLAP, deblur_cli._TONE_LOCK)
    assert cli_defaults == (DEFAULT_SUFFIX, DEFAULT_QUALITY, DEFAULT_OVERLAP, DEFAULT_TONE_LOCK_SIGMA)


def test_default_model_on_a_small_photo(tmp_path: Path) -> None:
    """The real default model (shipped weights if present, else random with a warning)."""
    exif = Image.Exif()
    exif[0x010F] = "Fujifilm"
    Image.fromarray(RNG.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "photo.jpg", exif=exif.tobytes())
    result = _run(str(tmp_path / "photo.jpg"), "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = Image.open(tmp_path / "photo_deblurred.jpg")
    assert out.size == (64, 48) and out.mode == "RGB" and out.getexif()[0x010F] == "Fujifilm"
    assert "1 done, 0 skipped, 0 failed" in result.output
    if not default_weights_path().is_file():
        assert "randomly initialised" in result.output


def test_batch_with_corrupt_and_empty_files_exits_non_zero(tmp_path: Path, tiny_weights: Path) -> None:
    _photo(tmp_path / "a.png")
    _photo(tmp_path / "b.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    result = _run(str(tmp_path), "--weights", str(tiny_weights))
    assert result.exit_code == 1
    assert (tmp_path / "a_deblurred.png").is_file() and (tmp_path / "b_deblurred.jpg").is_file()
    assert "empty.jpg: empty file (0 bytes)" in result.output
    assert "corrupt.png:" in result.output
    assert "2 done, 0 skipped, 2 failed" in result.output


def test_refuses_to_overwrite_then_skips_then_overwrites(tmp_path: Path, tiny_weights: Path) -> None:
    _photo(tmp_path / "p.png")
    assert _run(str(tmp_path / "p.png"), "--weights", str(tiny_weights)).exit_code == 0
    output = tmp_path / "p_deblurred.png"
    output.write_bytes(b"keep me")
    refused = _run(str(tmp_path / "p.png"), "--weights", str(tiny_weights))
    assert refused.exit_code == 1 and "exists" in refused.output and output.read_bytes() == b"keep me"
    skipped = _run(str(tmp_path / "p.png"), "--weights", str(tiny_weights), "--skip-existing")
    assert skipped.exit_code == 0 and "0 done, 1 skipped, 0 failed" in skipped.output
    assert output.read_bytes() == b"keep me"
    replaced = _run(str(tmp_path / "p.png"), "--weights", str(tiny_weights), "--overwrite")
    assert replaced.exit_code == 0 and Image.open(output).size == (64, 48)
    never_input = _run(str(tmp_path / "p.png"), "--weights", str(tiny_weights), "--suffix", "", "--overwrite")
    assert never_input.exit_code == 1 and "overwrite an input" in never_input.output


def test_output_folder_format_compare_maps_and_non_ascii(tmp_path: Path, tiny_weights: Path) -> None:
    source = tmp_path / "Fotos ä" / "Reise 旅行"
    _photo(source / "bild ü.png", 32, 48)
    out = tmp_path / "Ergebnis ö"
    result = _run(
        str(tmp_path / "Fotos ä"), "-r", "-o", str(out), "--format", "jpg", "--quality", "90",
        "--compare", "--save-maps", "--weights", str(tiny_weights), "--tile", "32", "--tile-overlap", "16",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = out / "Reise 旅行"
    assert Image.open(folder / "bild ü_deblurred.jpg").size == (48, 32)
    assert Image.open(folder / "bild ü_deblurred_compare.jpg").size == (96, 32)
    assert Image.open(folder / "bild ü_deblurred_dilation.png").size == (48, 32)


def test_output_file_for_one_input_and_error_for_several(tmp_path: Path, tiny_weights: Path) -> None:
    _photo(tmp_path / "a.png")
    _photo(tmp_path / "b.png")
    single = _run(str(tmp_path / "a.png"), "-o", str(tmp_path / "sharp.tif"), "--weights", str(tiny_weights))
    assert single.exit_code == 0 and Image.open(tmp_path / "sharp.tif").size == (64, 48)
    both = [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    several = _run(*both, "-o", str(tmp_path / "x.tif"), "--weights", str(tiny_weights))
    assert several.exit_code == 2 and "give a folder" in several.output  # a usage error


def test_quiet_prints_nothing_on_success(tmp_path: Path, tiny_weights: Path) -> None:
    _photo(tmp_path / "q.png")
    result = _run(str(tmp_path / "q.png"), "--weights", str(tiny_weights), "-q")
    assert result.exit_code == 0 and result.output.strip() == ""
    assert (tmp_path / "q_deblurred.png").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tile", "big"], "--tile"),
        (["--device", "tpu"], "--device"),
        (["--precision", "fp8"], "--precision"),
        (["--format", "gif"], "unknown image format"),
        (["--overwrite", "--skip-existing"], "exclude each other"),
        (["--tile-overlap", "-1"], "--tile-overlap"),  # rejected by Click's parser: the same code
        (["--quality", "0"], "--quality"),
    ],
)
def test_bad_options_are_one_line_usage_errors(tmp_path: Path, tiny_weights: Path, args: list[str], message: str) -> None:
    _photo(tmp_path / "o.png")
    result = _run(str(tmp_path / "o.png"), "--weights", str(tiny_weights), *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o_deblurred.png").exists()


def test_adjusted_tile_tiny_image_and_unsupported_file_are_said_once(tmp_path: Path, tiny_weights: Path) -> None:
    Image.new("RGB", (1, 1), (9, 9, 9)).save(tmp_path / "one.png")
    frames = [Image.new("RGB", (8, 6), (i * 80, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    result = _run(str(tmp_path / "one.png"), str(tmp_path / "anim.gif"), "--weights", str(tiny_weights), "--tile", "7")
    assert result.exit_code == 1, result.output  # the GIF failed
    multiple = TINY.size_multiple
    assert f"--tile 7 is below the model's smallest tile: using {2 * multiple} px tiles" in result.output
    assert "1x1 px is too small for the model" in result.output
    assert Image.open(tmp_path / "one_deblurred.png").size == (1, 1)
    failed_line = next(line for line in result.output.splitlines() if line.startswith("failed"))
    assert failed_line.count("anim.gif") == 1 and "unknown image extension" in failed_line


def test_ctrl_c_says_how_to_continue(tmp_path: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fdikp_cli.inference import batch

    for name in ("a", "b", "c"):
        _photo(tmp_path / f"{name}.png", 16, 16)
    real = batch.deblur_file

    def interrupted_at_b(engine, plan, options, reporter=None):  # noqa: ANN001, ANN202
        if plan.source.path.name == "b.png":
            raise KeyboardInterrupt
        return real(engine, plan, options, reporter)

    monkeypatch.setattr(batch, "deblur_file", interrupted_at_b)
    result = _run(str(tmp_path), "--weights", str(tiny_weights), "--overwrite")
    assert result.exit_code == 130
    assert "1 of 3 files finished" in result.output
    assert "run the same command with --skip-existing instead of --overwrite" in result.output
    assert (tmp_path / "a_deblurred.png").is_file() and not (tmp_path / "b_deblurred.png").exists()


def test_summary_at_80_columns_keeps_whole_file_names(tmp_path: Path, tiny_weights: Path) -> None:
    """Long paths used to be cut from the right with "…", hiding the file names, then folded
    inside words. Without a terminal each file is one whole line (the table is for terminals:
    tests/test_cli_terminal.py checks it at 80 columns)."""
    source = tmp_path / "a_rather_long_folder_name_without_spaces" / "photo_with_a_long_name.png"
    _photo(source, 16, 16)
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["deblur", str(source), "--weights", str(tiny_weights)])
    assert result.exit_code == 0, result.output
    assert "…" not in result.output and "fdikp deblur" not in result.output
    assert any(line.startswith(f"done {source} -> ") for line in result.output.splitlines()), result.output


def test_missing_weights_file_is_an_error(tmp_path: Path) -> None:
    _photo(tmp_path / "w.png")
    result = _run(str(tmp_path / "w.png"), "--weights", str(tmp_path / "none.safetensors"))
    assert result.exit_code == 1 and "weights file not found" in result.output


def test_rank_prefix_is_printed_literally(tmp_path: Path) -> None:
    """The "[rank r/n] " prefix was escaped twice in progress and done lines: "\\[rank 0/2] done"."""
    import io

    from rich.console import Console

    from fdikp_cli.inference.batch import FileResult

    stream = io.StringIO()
    console = Console(file=stream, width=200, color_system=None)
    with deblur_cli._ConsoleReporter(console, quiet=False, prefix="[rank 0/2] ") as reporter:
        reporter.file_finished(FileResult(tmp_path / "a.png", tmp_path / "a_out.png", "done", seconds=0.1))
        reporter.file_finished(FileResult(tmp_path / "b.png", None, "failed", reason="corrupt [x]"))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[rank 0/2] done ") and lines[1].startswith("[rank 0/2] failed ")
    assert lines[1].endswith("corrupt [x]") and "\\" not in stream.getvalue()


@pytest.mark.slow
def test_torchrun_splits_files_across_two_processes(tmp_path: Path, tiny_weights: Path) -> None:
    for i in range(4):
        _photo(tmp_path / f"{i}.png", 24, 32)
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip(f"needs {torchrun}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(
        [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "fdikp_cli", "deblur", str(tmp_path),
         "--weights", str(tiny_weights), "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    log = completed.stdout + completed.stderr
    assert completed.returncode == 0, log
    assert sorted(p.name for p in tmp_path.glob("*_deblurred.png")) == [f"{i}_deblurred.png" for i in range(4)]
    # Each rank did its own half: files[rank::2].
    assert "[rank 0/2] 2 done, 0 skipped, 0 failed" in log and "[rank 1/2] 2 done, 0 skipped, 0 failed" in log
    assert "[rank 0/2] done" in log and "0.png" in log


@pytest.mark.slow
def test_torchrun_a_failing_process_does_not_cut_the_others_short(tmp_path: Path, tiny_weights: Path) -> None:
    """torchrun stops every worker once one exits non-zero: rank 0 (only corrupt files, done at
    once) used to exit 1 while rank 1 was still deblurring, and rank 1's last files were lost."""
    for i in range(12):  # files[0::2] (rank 0) corrupt, files[1::2] (rank 1) real photos
        path = tmp_path / "in" / f"{i:02d}.png"
        if i % 2:
            _photo(path, 96, 128)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"not a png")
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip(f"needs {torchrun}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(
        [str(torchrun), "--standalone", "--nproc-per-node", "2", "-m", "fdikp_cli", "deblur", str(tmp_path / "in"),
         "-o", str(tmp_path / "out"), "--weights", str(tiny_weights), "--device", "cpu", "-q"],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    log = completed.stdout + completed.stderr
    assert completed.returncode != 0, log  # the corrupt files still fail the launch...
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{i:02d}_deblurred.png" for i in range(1, 12, 2)], log
