"""`evaluate` and `synth` open photos as carefully as `deblur` (issue 24, items 1, 3 and 4).

- A decompression bomb (a valid 30000x30000 PNG of ~100 KB) is refused from its header, in one
  line, by every command that opens photos. The commands run in a subprocess under a 3 GB
  address-space limit, so that a regression fails here instead of taking the machine's memory.
- `evaluate` turns photos upright by their EXIF orientation, as `deblur` does.
- `evaluate` checks where its report and outputs go before scoring anything, and Ctrl-C keeps
  the scores so far (a partial report) and exits 130.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.imageio import read_image

BOMB_SIDE = 30_000  # 900 MP: 2.7 GB as 8-bit RGB, 21.6 GB as float64
MEMORY_LIMIT = 3 << 30  # address space of the command under test: far below what decoding needs
REPO = Path(__file__).resolve().parents[1]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def write_bomb_png(path: Path, side: int = BOMB_SIDE) -> Path:
    """A valid all-black 1-bit greyscale PNG of side x side pixels (~110 KB on disk)."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte "none", then the packed bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1 bit, greyscale, no interlace
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data)
                     + _png_chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_bomb_png(tmp_path_factory.mktemp("bomb") / "bomb.png").read_bytes()


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m fdikp_cli ARGS` under the memory limit, one thread, wide lines."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "fdikp_cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, preexec_fn=_limit_memory)


def _photo(path: Path, seed: int = 0, size: tuple[int, int] = (40, 48)) -> np.ndarray:
    """A small random RGB photo written as PNG; returns its pixels (H, W, 3) RGB."""
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), pixels[:, :, ::-1])
    return pixels


def _refusal(text: str) -> bool:
    return "refused" in text and "decompression bomb" in text


# --- 1. decompression bombs --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["folder", "dataset"])
def test_evaluate_refuses_a_decompression_bomb_in_one_line(tmp_path: Path, bomb: bytes, mode: str) -> None:
    """Was: the process grew to 24 GB and was killed (here: failed under the memory limit)."""
    first, target = tmp_path / "pairs" / "source", tmp_path / "pairs" / "target"
    for folder in (first, target):
        folder.mkdir(parents=True)
        (folder / "x.png").write_bytes(bomb)
    _photo(first / "ok.png", seed=1)
    _photo(target / "ok.png", seed=2)
    report = tmp_path / "r.json"
    where = [str(first), "--target", str(target)] if mode == "folder" else ["--dataset", "pairs", "--data-root",
                                                                              str(tmp_path / "pairs")]
    result = run_limited("evaluate", *where, "--no-lpips", "--device", "cpu", "--json", str(report))
    assert result.returncode == 1, result.stderr[-3000:]  # README: 1 when a pair is not scored
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip().startswith("x:")]
    assert len(lines) == 1 and _refusal(lines[0]), result.stderr[-3000:]
    data = json.loads(report.read_text())
    assert [image["name"] for image in data["images"]] == ["ok"]  # the other pair is still scored
    assert [u["name"] for u in data["unscored"]] == ["x"] and _refusal(data["unscored"][0]["reason"])


def test_synth_skips_a_decompression_bomb_and_exits_1(tmp_path: Path, bomb: bytes) -> None:
    """Was: a MemoryError traceback. A skipped photo is a failure the exit status must show."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    _photo(photos / "a_good.png", size=(24, 24))
    (photos / "b_bomb.png").write_bytes(bomb)
    result = run_limited("synth", str(photos), str(out), "--count", "2", "--max-radius", "3")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    skipped = [line for line in result.stderr.splitlines() if "skipped" in line and "b_bomb.png" in line]
    assert len(skipped) == 1 and _refusal(skipped[0]), result.stderr[-3000:]
    assert len(list((out / "source").iterdir())) == 2  # both pairs made from the good photo


def test_synth_with_nothing_readable_leaves_no_folders(tmp_path: Path, bomb: bytes) -> None:
    """Was: a traceback, and empty source/, target/ and radius/ folders left behind."""
    photos, out = tmp_path / "photos", tmp_path / "out"
    photos.mkdir()
    (photos / "bomb.png").write_bytes(bomb)
    result = run_limited("synth", str(photos), str(out), "--count", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert _refusal(result.stderr) and "error:" in result.stderr
    assert not out.exists()


def test_evaluate_and_synth_read_through_the_deblur_reader(tmp_path: Path) -> None:
    """One opening path, one limit: a smaller limit passed to imageio's reader refuses the same
    way in evaluation and in synth (and a file of an unknown format is refused by both)."""
    from fdikp_cli.evaluation.protocol_io import read_image as read_for_evaluation
    from fdikp_cli.errors import ImageReadError
    from fdikp_cli.synth.writer import read_rgb

    _photo(tmp_path / "a.png")
    for read in (read_for_evaluation, read_rgb):
        with pytest.raises(ImageReadError, match="exceeds the limit"):
            read(tmp_path / "a.png", max_pixels=100)


# --- 3. EXIF orientation -----------------------------------------------------------------------


def test_evaluate_applies_exif_orientation_like_deblur(tmp_path: Path) -> None:
    """Was: "sizes differ 64x40 vs 40x64" for an EXIF-6 JPEG against its own upright copy."""
    stored = np.random.default_rng(3).integers(0, 256, (40, 64, 3), dtype=np.uint8)  # landscape on disk
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: portrait 40x64
    (tmp_path / "target").mkdir()
    Image.fromarray(stored).save(tmp_path / "target" / "a.jpg", quality=95, exif=exif.tobytes())
    upright = read_image(tmp_path / "target" / "a.jpg").pixels  # what deblur reads (and writes back upright)
    assert upright.shape == (64, 40, 3)
    _photo(tmp_path / "pred" / "a.png")  # replaced just below by the upright pixels
    cv2.imwrite(str(tmp_path / "pred" / "a.png"), upright[:, :, ::-1])
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"),
                                      "--no-lpips", "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["unscored"] == [] and data["images"][0]["mae"] == 0.0


# --- 4. outputs checked first; Ctrl-C keeps a partial report -------------------------------------


def _pairs(root: Path, names: tuple[str, ...] = ("one", "two", "three")) -> None:
    for sub in ("pred", "source"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        target = _photo(root / "target" / f"{name}.png", seed=index)
        noisy = np.clip(target.astype(int) + 9, 0, 255).astype(np.uint8)
        cv2.imwrite(str(root / "pred" / f"{name}.png"), noisy[:, :, ::-1])
        cv2.imwrite(str(root / "source" / f"{name}.png"), cv2.GaussianBlur(target, (5, 5), 2)[:, :, ::-1])


@pytest.mark.parametrize("option", ["--json", "--csv", "--save-outputs"])
def test_evaluate_checks_its_outputs_before_scoring(tmp_path: Path, option: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: `--json` into an unwritable place failed after all the scoring; `--save-outputs`
    marked every pair "not scored". (A file where a folder must be: unwritable even for root.)"""
    import fdikp_cli.evaluation.runner as runner

    _pairs(tmp_path)
    (tmp_path / "blocker").write_text("a file, not a folder")
    scored: list[str] = []
    real_call = runner.Scorer.__call__
    monkeypatch.setattr(runner.Scorer, "__call__", lambda self, name, *a: scored.append(name) or real_call(self, name, *a))
    destination = str(tmp_path / "blocker" / ("out" if option == "--save-outputs" else "report"))
    if option == "--save-outputs":
        where = ["--dataset", "pairs", "--data-root", str(tmp_path / "set")]
        (tmp_path / "set").mkdir()
        (tmp_path / "source").rename(tmp_path / "set" / "source")
        (tmp_path / "target").rename(tmp_path / "set" / "target")
    else:
        where = [str(tmp_path / "pred"), "--target", str(tmp_path / "target")]
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        app, ["evaluate", *where, "--no-lpips", "--device", "cpu", option, destination])
    assert result.exit_code == 1, result.output  # README: 1 when a file cannot be written
    assert "Traceback" not in result.output and scored == []
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "blocker" in errors[0] and "not a folder" in errors[0], result.output


def test_evaluate_json_that_names_a_folder_is_refused_first(tmp_path: Path) -> None:
    _pairs(tmp_path)
    (tmp_path / "folder.json").mkdir()
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--no-lpips",
              "--device", "cpu", "--json", str(tmp_path / "folder.json")])
    assert result.exit_code == 1 and "is a folder" in result.output and "protocol dpdd" not in result.output


def test_evaluate_interrupted_writes_a_partial_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Was: Ctrl-C threw away the scores so far. Now the report of the pairs scored before it
    is printed and written (marked partial), and the exit status is 130 as for deblur."""
    import fdikp_cli.evaluation.runner as runner

    _pairs(tmp_path)
    real_call = runner.Scorer.__call__

    def interrupt_at_second(self: runner.Scorer, name: str, *args: object) -> object:
        if name.startswith("three"):  # pairs run in sorted order: one, three, two
            raise KeyboardInterrupt
        return real_call(self, name, *args)

    monkeypatch.setattr(runner.Scorer, "__call__", interrupt_at_second)
    out, table = tmp_path / "r.json", tmp_path / "r.csv"
    result = CliRunner(env={"COLUMNS": "400"}).invoke(
        app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--source",
              str(tmp_path / "source"), "--no-lpips", "--device", "cpu", "--json", str(out), "--csv", str(table)])
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output and "interrupted" in result.output and "partial" in result.output
    data = json.loads(out.read_text())
    assert data["partial"] is True and [image["name"] for image in data["images"]] == ["one"]
    assert [row.split(",")[0] for row in table.read_text().splitlines()][:2] == ["name", "one"]


def test_a_complete_report_is_not_partial(tmp_path: Path) -> None:
    _pairs(tmp_path, ("one",))
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"),
                                      "--no-lpips", "--device", "cpu", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["partial"] is False
