"""Help and usage errors, the same in every command (fdikp_cli/cli/help_format.py, errors.py).

Help must read at 80 columns without a terminal (CI logs, pipes): every option's whole
description, its default, no Typer type noise (`<bool>`, `<list[str]>`). Values the app
rejects and values Click rejects are both usage errors: exit status 2.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from fdikp_cli.cli import synth as synth_cli
from fdikp_cli.cli import train as train_cli
from fdikp_cli.cli.app import app

COMMANDS = ("deblur", "defocus-map", "evaluate", "train", "train-defocus-map", "export", "interpolate", "synth", "info")


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("name", COMMANDS)
def test_help_at_80_columns_holds_every_description_and_default(name: str) -> None:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, [name, "--help"])
    assert result.exit_code == 0, result.output
    text = _flat(result.output)
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    ctx = command.make_context(name, [], resilient_parsing=True)
    for param in command.params:
        record = param.get_help_record(ctx)
        if record is None:  # hidden: the old names kept as aliases
            continue
        assert _flat(record[1]) in text, f"{name} {param.name}: {record[1]!r}"
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "…" not in result.output
    assert not re.search(r"<(bool|str|int|float|path|list\[\w+\])>", result.output), result.output


def test_named_defaults_are_shown() -> None:
    runner = CliRunner(env={"COLUMNS": "80"})
    train = _flat(runner.invoke(app, ["train", "--help"]).output)
    for option, default in (("--lr LR", "1e-4"), ("--val-every N", "1000"), ("--checkpoint-every N", "500"),
                            ("--log-every N", "50")):
        shown = re.search(re.escape(option) + r" .*?\[default: ([^\]]+)\]", train)
        assert shown and shown.group(1) == default, option
    synth = _flat(runner.invoke(app, ["synth", "--help"]).output)
    assert "[default: 30.0; x>=0.0]" in synth and "SynthConfig" not in synth


def test_cli_defaults_equal_the_library_defaults() -> None:
    from fdikp_cli.synth import SynthConfig
    from fdikp_cli.training.config import DataConfig, RunConfig, preset

    run = RunConfig()
    assert {k: v for k, v in train_cli._RUN.items() if k != "workers"} == {
        key: getattr(run, key) for key in train_cli._RUN if key != "workers"}
    assert train_cli._OUT == run.out and train_cli._RUN["workers"] == DataConfig().workers
    dpdd, lfdof = preset("paper-dpdd"), preset("paper-lfdof")
    assert float(train_cli._LR) == dpdd.stages[0].lr == lfdof.stages[0].lr
    crops = lambda p: ",".join(str(s.crop) for s in p.stages)  # noqa: E731
    assert train_cli._CROP == f"{crops(dpdd)} (paper-dpdd), {crops(lfdof)} (paper-lfdof)"
    assert train_cli._BATCH == ",".join(str(s.batch_size) for s in dpdd.stages)
    assert synth_cli._MAX_RADIUS == SynthConfig().max_radius


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("usage") / "p.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["deblur", "PHOTO", "--format", "xyz"],  # rejected by the app
        ["deblur", "PHOTO", "--tile", "abc"],
        ["deblur", "PHOTO", "--tile-overlap", "-1"],  # rejected by Click
        ["deblur", "PHOTO", "--quality", "0"],
        ["deblur", "PHOTO", "--overwrite", "--skip-existing"],
        ["evaluate", "--dataset", "imagenet", "--data-root", "DIR", "--no-lpips"],
        ["evaluate", "DIR", "--target", "DIR", "--pair-by", "size", "--no-lpips"],
        ["evaluate", "DIR", "--target", "DIR", "--bit-depth", "12", "--no-lpips"],
        ["evaluate", "DIR", "--no-lpips"],
        ["train", "--dataset", "imagenet", "--output", "DIR/run"],
        ["train", "--set", "loss.nope=1", "--output", "DIR/run"],
        ["train", "--crop", "100", "--output", "DIR/run"],
        ["export", "DIR", "-o", "DIR/x.safetensors", "--which", "newest"],
        ["synth", "DIR", "DIR/out", "--count", "0"],
        ["info", "--nope"],
    ],
)
def test_usage_errors_exit_2(args: list[str], photo: Path) -> None:
    folder = str(photo.parent)
    args = [str(photo) if a == "PHOTO" else a.replace("DIR", folder) for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not (photo.parent / "run").exists() and not list(photo.parent.glob("*_deblurred*"))
