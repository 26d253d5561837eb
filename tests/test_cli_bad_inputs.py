"""Issue 24's target: 30 kinds of bad input across the commands end in a one-line error with the
README's exit status (1: a file could not be read or written; 2: an option value or combination
the command cannot use), no traceback, no input modified, no temporary file left."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from tests.conftest import write_small_defocus_weights, write_tiny_fdikp_weights

TINY_TRAIN = '{"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}'

# (arguments with {W} = tiny FDIKP weights, {M} = small defocus-map weights, expected exit status)
CASES: list[tuple[str, int]] = [
    ("deblur empty.png -o out", 1),
    ("deblur text.png -o out", 1),
    ("deblur trunc.png -o out", 1),
    ("deblur missing.png -o out", 1),
    ("deblur ok.png -w {W} -o out.heic", 2),
    ("deblur ok.png -w {W} -o afile/x", 1),
    ("deblur ok.png -w text.png -o out", 1),
    ("deblur ok.png -w {W} --tile -5 -o out", 2),
    ("deblur ok.png -w {W} --format xyz -o out", 2),
    ("deblur ok.png -w {W} --format jpg -o out.png", 2),
    ("deblur ok.png -w {W} --precision fp8 -o out", 2),
    ("defocus-map empty.png -w {M} -o maps", 1),
    ("defocus-map ok.png -w text.png -o maps", 1),
    ("defocus-map ok.png -w {M} -o afile/maps", 1),
    ("evaluate P --target missing_dir", 1),
    ("evaluate P --target T --json-file afile/r.json", 1),
    ("evaluate P --target T --csv-file folder", 1),
    ("evaluate --dataset pairs --data-root missing_dir -w {W}", 1),
    ("evaluate --dataset nosuch --data-root P", 2),
    ("synth missing_dir synth_out --count 1", 1),
    ("synth P afile/synth_out --count 1", 1),
    ("synth P synth_out --count -1", 2),
    ("train --dataset pairs --data-root missing_dir -o run --max-steps 1", 1),
    ("train --dataset pairs --data-root P -o afile/run --max-steps 1", 1),
    ("train --dataset pairs --data-root P -o run --crop 7 --max-steps 1", 2),
    ("train --dataset pairs --data-root P -o run --set nosuch.key=1 --max-steps 1", 2),
    ("export missing_run -o e.safetensors", 1),
    ("export P -o e.pt", 2),
    ("interpolate text.png text.png --alpha 0.5 -o i.safetensors", 1),
    ("interpolate {W} {W} --alpha 0.5 -o folder", 1),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad")
    ok = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    assert cv2.imwrite(str(root / "ok.png"), ok)
    (root / "empty.png").write_bytes(b"")
    (root / "text.png").write_text("not an image")
    (root / "trunc.png").write_bytes((root / "ok.png").read_bytes()[:200])
    for folder in ("P", "T", "folder"):
        (root / folder).mkdir()
    for folder in ("P", "T"):
        assert cv2.imwrite(str(root / folder / "ok.png"), ok)
    (root / "afile").write_text("a file where a folder is expected")
    write_tiny_fdikp_weights(root)
    write_small_defocus_weights(root)
    return root


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c[0].split()[0] + ":" + c[0][-40:] for c in CASES])
def test_bad_input_is_one_clean_error(workdir: Path, case: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    command, expected = case
    monkeypatch.chdir(workdir)
    args = command.format(W=workdir / "tiny.safetensors", M=workdir / "map.safetensors").split()
    if args[0] == "train":
        args += ["--model-config", TINY_TRAIN, "--workers", "0", "--no-lpips"]
    before = digests(workdir)
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, args)
    # A traceback would show as an exception other than the SystemExit of a clean error.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code == expected, result.output
    assert "Traceback" not in result.output
    after = digests(workdir)
    assert {k: v for k, v in after.items() if k in before} == before  # no input modified
    assert not [k for k in after if k.endswith(".tmp")]  # no temporary file left
