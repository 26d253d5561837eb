"""One option vocabulary (README "Option names"): the same name for the same idea in every
command, -h beside --help, and the names before 0.2 still accepted, hidden, for a release.

Read from the Click command objects rather than from the help text: what a command accepts is
its parameters; the help is checked to show only the new names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from fdikp_cli.cli.app import app

GROUP: Any = typer.main.get_command(app)
COMMANDS = sorted(GROUP.commands)

# The README's table: parameter -> its option names, and the commands that must have it.
VOCABULARY: dict[str, tuple[tuple[str, ...], set[str]]] = {
    "output": (("-o", "--output"), {"deblur", "defocus-map", "train", "train-defocus-map", "export", "interpolate"}),
    "weights": (("-w", "--weights"), {"deblur", "defocus-map", "evaluate", "info"}),
    "model": (("--model",), {"deblur", "evaluate", "info"}),
    "init_weights": (("--init-weights",), {"train", "train-defocus-map"}),
    "precision": (("--precision",), {"deblur", "evaluate", "train"}),
    "device": (("--device",), {"deblur", "evaluate", "train"}),
    "as_json": (("--json",), {"defocus-map", "info"}),
    "json_path": (("--json-file",), {"evaluate"}),
    "csv_path": (("--csv-file",), {"evaluate"}),
    "resume": (("--resume",), {"train", "train-defocus-map"}),
    "quiet": (("-q", "--quiet"), {"deblur", "defocus-map"}),
    "recursive": (("-r", "--recursive"), {"deblur", "defocus-map"}),
    "overwrite": (("--overwrite",), {"deblur", "defocus-map", "export", "interpolate"}),
    "skip_existing": (("--skip-existing",), {"deblur", "defocus-map"}),
    "data_root": (("--data-root",), {"evaluate", "train", "train-defocus-map"}),
    "sharp_dir": (("--sharp-dir",), {"train", "train-defocus-map"}),
    "lpips_dir": (("--lpips-dir",), {"evaluate", "train"}),
    "tile": (("--tile",), {"deblur", "evaluate"}),
    "tile_overlap": (("--tile-overlap",), {"deblur", "evaluate"}),
}

# Old name -> new name, per command: each old name is a hidden option of its own.
OLD_NAMES: dict[str, dict[str, str]] = {
    "train": {"--out": "--output", "--amp": "--precision"},
    "train-defocus-map": {"--out": "--output"},
    "evaluate": {"--json": "--json-file", "--csv": "--csv-file", "--overlap": "--tile-overlap",
                 "--lpips-weights": "--lpips-dir"},
}


def _options(name: str, hidden: bool = False) -> list[Any]:
    command = GROUP.commands[name]
    return [p for p in command.params
            if p.param_type_name == "option" and bool(getattr(p, "hidden", False)) == hidden]


def _names(param: Any) -> tuple[str, ...]:
    return tuple(param.opts) + tuple(param.secondary_opts)


def _help(*args: str) -> str:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_each_idea_has_the_one_spelling_of_the_table() -> None:
    for param_name, (names, commands) in VOCABULARY.items():
        having = {c for c in COMMANDS if any(p.name == param_name for p in _options(c))}
        assert having == commands, param_name
        for command in commands:
            (param,) = [p for p in _options(command) if p.name == param_name]
            assert _names(param) == names, f"{command} {param_name}: {_names(param)}"


def test_the_readme_table_is_this_vocabulary() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme.split("### Option names", 1)[1].split("\n\n")[2]
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in table.splitlines()[2:]]
    by_names = {names: commands for names, commands in VOCABULARY.values()}
    assert len(rows) >= 8
    for idea, spellings, commands in rows:
        for spelling in re.findall(r"`([^`]+)`", spellings):
            names = tuple(spelling.split()[0].split("/"))
            assert by_names.get(names) == set(commands.split(", ")), idea


def test_a_name_means_one_thing_in_every_command() -> None:
    """Beyond the table: an option name is one parameter of one kind (flag or value) everywhere,
    and a parameter has the same names everywhere (`--json` FILE beside a `--json` flag was the
    defect)."""
    meaning: dict[str, set[tuple[str, bool]]] = {}
    names: dict[str, set[tuple[str, ...]]] = {}
    for command in COMMANDS:
        for param in _options(command):
            names.setdefault(param.name, set()).add(_names(param))
            for option in _names(param):
                meaning.setdefault(option, set()).add((param.name, bool(param.is_flag)))
    assert {k: v for k, v in meaning.items() if len(v) > 1} == {}
    assert {k: v for k, v in names.items() if len(v) > 1} == {}


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_dash_h_is_help(command: str | None) -> None:
    args = [command] if command else []
    assert _help(*args, "-h") == _help(*args, "--help")
    assert "-h, --help" in _help(*args, "-h")


@pytest.mark.parametrize("command", COMMANDS)
def test_old_names_are_hidden_and_each_has_a_new_one(command: str) -> None:
    old = OLD_NAMES.get(command, {})
    hidden = {name for param in _options(command, hidden=True) for name in _names(param)}
    assert hidden == set(old)
    shown = {name for param in _options(command) for name in _names(param)}
    text = _help(command, "--help")
    for name, new in old.items():
        assert new in shown and new in text
        # not shown (--json is the prefix of --json-file, hence the space or bracket after it)
        assert not any(f"{name}{end}" in text for end in (" ", ",", "\n")), name


# ---------------------------------------------------------------------------- the old names work


@pytest.fixture()
def captured_train(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    import fdikp_cli.training.trainer as trainer

    calls: list[Any] = []
    monkeypatch.setattr(trainer, "train", lambda config, **kw: calls.append((config, kw)))
    return calls


def _train(tmp_path: Path, *extra: str) -> Any:
    args = ["train", "--dataset", "pairs", "--data-root", str(tmp_path), "--workers", "0", *extra]
    return CliRunner().invoke(app, args)


@pytest.mark.parametrize("old, new, amp", [
    (["--amp", "off"], ["--precision", "fp32"], "off"),
    (["--amp", "off"], ["--precision", "off"], "off"),  # off: kept as a value of --precision
    (["--amp", "bf16"], ["--precision", "bf16"], "bf16"),
    (["--amp", "auto"], ["--precision", "auto"], "auto"),
])
def test_train_out_and_amp_still_work(tmp_path: Path, captured_train: list[Any], old: list[str], new: list[str],
                                      amp: str) -> None:
    run = tmp_path / "run"
    before = _train(tmp_path, "--out", str(run), *old)
    after = _train(tmp_path, "-o", str(run), *new)
    assert before.exit_code == 0 and after.exit_code == 0, before.output + after.output
    (first, _), (second, _) = captured_train
    assert first.run.out == second.run.out == str(run) and first.run.amp == second.run.amp == amp
    assert "--out is now --output" in before.output and "--amp is now --precision" in before.output
    assert "is now" not in after.output
    assert _train(tmp_path, "--output", str(run)).exit_code == 0 and captured_train[-1][0].run.out == str(run)


@pytest.mark.parametrize("args, message", [
    (["--out", "A", "-o", "B"], "--out is the old name of --output"),
    (["--amp", "off", "--precision", "fp32"], "--amp is the old name of --precision"),
    (["--precision", "fp64"], "--precision must be auto, bf16, fp16 or fp32"),
])
def test_train_refuses_both_names_or_an_unknown_precision(tmp_path: Path, captured_train: list[Any],
                                                          args: list[str], message: str) -> None:
    result = _train(tmp_path, *[str(tmp_path / a) if a in "AB" else a for a in args])
    assert result.exit_code == 2 and message in result.output and captured_train == []


@pytest.fixture()
def captured_map_training(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import fdikp_cli.defocus.training as training

    calls: list[dict[str, Any]] = []

    def fake(config: Any, out: Path, **kw: Any) -> Any:
        calls.append({"out": out, **kw})
        return SimpleNamespace(step=config.steps)

    monkeypatch.setattr(training, "train_defocus_map", fake)
    return calls


@pytest.mark.parametrize("args, out, resume", [
    (["--out", "R"], "R", True),
    (["-o", "R"], "R", True),
    (["--output", "R", "--resume", "auto"], "R", True),  # train's spelling, the default here
    (["--output", "R", "--fresh"], "R", False),
    ([], "runs/defocus_map", True),
])
def test_train_defocus_map_output_and_resume(tmp_path: Path, captured_map_training: list[dict[str, Any]],
                                             monkeypatch: pytest.MonkeyPatch, args: list[str], out: str,
                                             resume: bool) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train-defocus-map", "--sharp-dir", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    assert captured_map_training == [{"out": Path(out), "resume": resume, "checkpoint_every": 50,
                                      "progress": captured_map_training[0]["progress"], "max_steps": None}]
    assert ("--out is now --output" in result.output) == ("--out" in args)


@pytest.mark.parametrize("args", [["--resume", "runs/other"], ["--resume", "auto", "--fresh"],
                                  ["--out", "A", "--output", "B"]])
def test_train_defocus_map_refuses(tmp_path: Path, captured_map_training: list[dict[str, Any]],
                                   args: list[str]) -> None:
    result = CliRunner().invoke(app, ["train-defocus-map", "--sharp-dir", str(tmp_path), *args])
    assert result.exit_code == 2 and "Traceback" not in result.output and captured_map_training == []


def test_evaluate_json_and_csv_under_both_names(tmp_path: Path) -> None:
    for folder in ("pred", "target"):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((16, 16, 3), 100 if folder == "pred" else 110, np.uint8)).save(tmp_path / folder / "a.png")
    base = ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--no-lpips", "--device", "cpu"]
    reports = {}
    for name, (json_name, csv_name) in {"old": ("--json", "--csv"), "new": ("--json-file", "--csv-file")}.items():
        result = CliRunner().invoke(app, [*base, json_name, str(tmp_path / f"{name}.json"),
                                          csv_name, str(tmp_path / f"{name}.csv")])
        assert result.exit_code == 0, result.output
        assert ("--json is now --json-file" in result.output) == (name == "old")
        report = json.loads((tmp_path / f"{name}.json").read_text())
        reports[name] = ([image["name"] for image in report["images"]], (tmp_path / f"{name}.csv").read_text())
    assert reports["old"] == reports["new"] and reports["new"][0] == ["a"]
    both = CliRunner().invoke(app, [*base, "--json", str(tmp_path / "x.json"), "--json-file", str(tmp_path / "y.json")])
    assert both.exit_code == 2 and "--json is the old name of --json-file" in both.output


@pytest.mark.parametrize("command, args", [
    ("deblur", ["photo.png"]), ("defocus-map", ["photo.png"]), ("evaluate", []), ("info", []),
])
def test_w_is_weights(command: str, args: list[str]) -> None:
    parsed = [GROUP.commands[command].make_context(command, [*args, flag, "w.safetensors"]).params["weights"]
              for flag in ("-w", "--weights")]
    assert parsed == [Path("w.safetensors")] * 2
