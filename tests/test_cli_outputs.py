"""Issue 24, items 2 and 6-8: outputs checked before the work as `deblur` checks them, one-line
errors and no temporary file left when a write fails, output names that say what they hold,
exit codes as the README states them, and a note whenever an option is not used as given.

Write failures are made without chmod (the tests may run as root, for whom a read-only folder
is writable): a path under a regular file, or a folder where a file is expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.errors import OutputWriteError
from fdikp_cli.inference.batch import DeblurOptions, plan_batch
from fdikp_cli.inference.restore import tiling_notes
from fdikp_cli.training.checkpoint import write_json_atomic
from fdikp_cli.weights import write_safetensors_atomic
from tests.conftest import write_blocky_pairs

TINY_MODEL = '{"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}'


def invoke(args: list[str]) -> "object":
    """Run fdikp in-process; an exception escaping the command (a traceback for a user) fails
    the test, whatever the exit status."""
    result = CliRunner(env={"COLUMNS": "400"}).invoke(app, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def train_args(root: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--dataset", "pairs", "--data-root", root, "--out", out, "--model-config", TINY_MODEL,
            "--crop", "32", "--batch-size", "2", "--stage-steps", "1,1", "--workers", "0", "--no-lpips",
            "--checkpoint-every", "1000", *extra]


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_blocky_pairs(tmp_path_factory.mktemp("pairs"), 3)


@pytest.fixture(scope="module")
def run(pairs: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A two-step run of a tiny model (validated: --val-root) and what training printed."""
    out = tmp_path_factory.mktemp("run") / "t1"
    result = invoke(train_args(pairs, out, "--val-root", str(pairs), "--val-every", "2"))
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="module")
def weights(run: tuple[Path, str]) -> Path:
    return run[0] / "swa.safetensors"


def photo(path: Path, width: int = 200, height: int = 150) -> Path:
    pixels = np.random.default_rng(1).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def no_temporary_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


# ---------------------------------------------------------------- item 2: failed writes


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_export_and_interpolate_into_a_folder_say_so_and_leave_no_temporary_file(
    run: tuple[Path, str], weights: Path, tmp_path: Path, overwrite: list[str]
) -> None:
    """`export RUN -o d --overwrite` was an IsADirectoryError traceback leaving a 23 MB d.tmp;
    without --overwrite it said "d exists", which no --overwrite could fix."""
    folder = tmp_path / "d"
    folder.mkdir()
    for args in (["export", run[0]], ["interpolate", weights, weights, "--alpha", "0.5"]):
        result = invoke([*args, "-o", folder, *overwrite])
        assert result.exit_code == 1, result.output
        assert "is a folder" in result.output and "exists" not in result.output
        assert len(result.output.strip().splitlines()) == 1
        assert not list(folder.iterdir()) and no_temporary_files(tmp_path)


def test_weights_outputs_under_a_file_fail_before_the_model_is_read(run: tuple[Path, str], weights: Path,
                                                                    tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    for args in (["export", run[0]], ["interpolate", weights, weights, "--alpha", "0.5"]):
        result = invoke([*args, "-o", blocker / "x.safetensors"])
        assert result.exit_code == 1 and "is not a folder" in result.output, result.output
        assert no_temporary_files(tmp_path)


def test_a_failed_atomic_write_removes_its_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one helper behind weights and checkpoint files cleans up on any failure: a folder
    in the way, and Ctrl-C in the middle of a write."""
    in_the_way = tmp_path / "model.safetensors"
    in_the_way.mkdir()
    with pytest.raises(OutputWriteError, match="model.safetensors"):
        write_safetensors_atomic(in_the_way, {"w": torch.zeros(2)}, {})
    with pytest.raises(OSError):
        write_json_atomic(in_the_way, {"step": 1})
    import safetensors.torch

    real_save = safetensors.torch.save_file

    def interrupted(tensors: dict, filename: str, metadata: dict | None = None) -> None:
        real_save(tensors, filename, metadata=metadata)  # the temporary file exists...
        raise KeyboardInterrupt  # ...when Ctrl-C comes

    monkeypatch.setattr(safetensors.torch, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_safetensors_atomic(tmp_path / "other.safetensors", {"w": torch.zeros(2)}, {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_train_and_synth_into_a_path_under_a_file_are_one_line_errors(pairs: Path, tmp_path: Path) -> None:
    """Both ended in NotADirectoryError tracebacks (train after building the data)."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    trained = invoke(train_args(pairs, blocker / "run"))
    assert trained.exit_code == 1 and "is not a folder" in trained.output, trained.output
    assert "data:" not in trained.output  # refused before the data was read
    made = invoke(["synth", pairs / "target", blocker / "out", "--count", "1"])
    assert made.exit_code == 1 and "is not a folder" in made.output, made.output


# ---------------------------------------------------------------- item 6: names that say what they hold


def test_deblur_refuses_an_output_name_that_is_no_image_format(tmp_path: Path) -> None:
    """`-o out.heic` used to make a folder out.heic/ holding a_deblurred.png."""
    source = photo(tmp_path / "a.png")
    result = invoke(["deblur", source, "-o", tmp_path / "out.heic"])
    assert result.exit_code == 2, result.output
    assert "'.heic' is not an image format" in result.output and ".png" in result.output
    assert not (tmp_path / "out.heic").exists()
    # An existing folder stays a folder whatever its name; a name without extension is one to make.
    (tmp_path / "shots.v2").mkdir()
    for folder in (tmp_path / "shots.v2", tmp_path / "new"):
        plan = plan_batch([source], DeblurOptions(output=folder))
        assert [p.output for p in plan.work] == [folder / "a_deblurred.png"] and not plan.problems


def test_weights_outputs_must_be_named_safetensors(run: tuple[Path, str], weights: Path, tmp_path: Path) -> None:
    """`export RUN -o y.pt` wrote a safetensors file under a .pt name."""
    for args in (["export", run[0]], ["interpolate", weights, weights, "--alpha", "0.5"]):
        result = invoke([*args, "-o", tmp_path / "y.pt"])
        assert result.exit_code == 2 and ".safetensors" in result.output, result.output
        assert not (tmp_path / "y.pt").exists()


# ---------------------------------------------------------------- item 7: exit codes as the README says


def test_a_device_this_machine_lacks_fails_like_an_unreadable_weights_file(tmp_path: Path, pairs: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """README: what the machine or its files cannot serve exits 1. --device cuda without CUDA
    exited 2 while a bad --weights file exited 1; a spec no machine has stays a usage error."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    source = photo(tmp_path / "a.png")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    for args in (["--device", "cuda"], ["--weights", bad]):
        result = invoke(["deblur", source, "-o", tmp_path / "out", *args])
        assert result.exit_code == 1, result.output
    trained = invoke(train_args(pairs, tmp_path / "run", "--device", "cuda"))
    assert trained.exit_code == 1 and "CUDA is not available" in trained.output, trained.output
    assert invoke(["deblur", source, "--device", "tpu"]).exit_code == 2
    assert invoke(train_args(pairs, tmp_path / "run", "--device", "tpu")).exit_code == 2  # was a traceback
    assert "--device cuda" in (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_format_against_the_output_name_is_a_usage_error(tmp_path: Path) -> None:
    """`--format jpg -o out.png` exited 1 (reported as a failed file) while `--format xyz` exited 2."""
    source = photo(tmp_path / "a.png")
    contradicting = invoke(["deblur", source, "--format", "jpg", "-o", tmp_path / "out.png"])
    assert contradicting.exit_code == 2 and "contradicts --output out.png" in contradicting.output
    assert invoke(["deblur", source, "--format", "xyz"]).exit_code == 2


# ---------------------------------------------------------------- item 8: notes, never silent changes


def test_tiling_notes_name_what_changed() -> None:
    assert tiling_notes(128, 64, 128, 8) == []
    assert tiling_notes(None, 10_000, None, 8) == []  # whole images: no tiles, no overlap
    assert tiling_notes(128, 10_000, 128, 8) == ["--tile-overlap 10000 is more than half the 128 px tile: using 64 px"]
    assert tiling_notes(100, 16, 96, 32) == ["--tile 100 rounded down to 96 px (tiles are multiples of 32 px)"]


def test_deblur_notes_a_cut_tile_overlap(tmp_path: Path, weights: Path) -> None:
    """`--tile 128 --tile-overlap 10000` ran with 64 px of overlap and said nothing."""
    source = photo(tmp_path / "a.png")
    result = invoke(["deblur", source, "--weights", weights, "--tile", "128", "--tile-overlap", "10000", "-q"])
    assert result.exit_code == 0, result.output
    assert "--tile-overlap 10000 is more than half the 128 px tile: using 64 px" in result.output


def test_evaluate_notes_the_tile_it_used(pairs: Path, weights: Path) -> None:
    """`evaluate --tile 7` ran 16 px tiles (two of this model's 8 px steps) without a note."""
    result = invoke(["evaluate", "--dataset", "pairs", "--data-root", pairs, "--weights", weights, "--tile", "7",
                     "--no-lpips"])
    assert result.exit_code == 0, result.output
    assert "note: --tile 7 is below the model's smallest tile: using 16 px tiles" in result.output


def test_train_notes_validation_options_without_a_validation_set(pairs: Path, run: tuple[Path, str],
                                                                 tmp_path: Path) -> None:
    """`--val-every 10` without a validation set was accepted and showed only "validation: none".
    A note, not a refusal: a huge --val-every is how scripts ask for no validation."""
    result = invoke(train_args(pairs, tmp_path / "run", "--val-every", "10"))
    assert result.exit_code == 0, result.output
    assert "note: --val-every ignored: this run has no validation set" in result.output
    assert "ignored" not in run[1]  # with --val-root: validated, no note
