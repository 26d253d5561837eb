"""`fdikp defocus-map` at the edges: photos too small for the estimator, `-q`, Ctrl-C, and a
colour picture whose scale follows the map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from tests.conftest import write_small_defocus_weights

RNG = np.random.default_rng(11)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_defocus_weights(tmp_path_factory.mktemp("weights"))


def _photo(path: Path, h: int, w: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def _run(*args: str) -> "object":
    return CliRunner().invoke(app, ["defocus-map", *args])


def test_photos_too_small_for_the_estimator_get_a_note_and_a_legend_of_sensible_size(
        weights: Path, tmp_path: Path) -> None:
    _photo(tmp_path / "in" / "dot.png", 1, 1)
    _photo(tmp_path / "in" / "strip.png", 40, 2000)  # the estimator sees it at 1024 x 20 px
    _photo(tmp_path / "in" / "fine.png", 40, 56)
    result = _run(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(weights), "--json")
    assert result.exit_code == 0, result.output
    photos = {Path(p["source"]).name: p for p in json.loads(result.stdout)["photos"]}
    assert "1x1" in photos["dot.png"]["note"] and "32 px" in photos["dot.png"]["note"]
    assert "1024x20" in photos["strip.png"]["note"]
    assert "--work-side 1600" in photos["strip.png"]["note"]  # what would give it its 32 px
    assert photos["fine.png"]["note"] is None

    lines = _run(str(tmp_path / "in"), "-o", str(tmp_path / "out2"), "--weights", str(weights))
    by_photo = {line.split(":")[0]: line for line in lines.stdout.splitlines() if ": in focus" in line}
    assert "note:" in by_photo[str(tmp_path / "in" / "strip.png")]
    assert "note:" not in by_photo[str(tmp_path / "in" / "fine.png")]

    strip = Image.open(tmp_path / "out" / "strip_radius_colour.png")
    assert strip.width == 2000 and strip.height - 40 <= 40  # a legend of a few text lines, not 112 rows
    dot = Image.open(tmp_path / "out" / "dot_radius_colour.png")
    assert dot.width >= 160 and dot.height <= 1 + 40  # wide enough for its labels


def test_quiet_prints_only_failures(weights: Path, tmp_path: Path) -> None:
    _photo(tmp_path / "a.png", 40, 56)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    result = _run(str(tmp_path / "a.png"), str(tmp_path / "broken.png"), "--weights", str(weights), "-q")
    assert result.exit_code == 1
    assert "in focus" not in result.output and "broken.png" in result.output


def test_ctrl_c_says_how_to_continue_and_skip_existing_finishes_an_interrupted_photo(
        weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fdikp_cli.defocus.maps as maps

    _photo(tmp_path / "a.png", 40, 56)
    write_image = maps.write_image

    def interrupted_at_the_overlay(path: Path, *args: object, **kwargs: object) -> list[str]:
        if Path(path).name.endswith("_overlay.png"):
            raise KeyboardInterrupt
        return write_image(path, *args, **kwargs)

    monkeypatch.setattr(maps, "write_image", interrupted_at_the_overlay)
    result = _run(str(tmp_path / "a.png"), "--weights", str(weights), "--overlay")
    assert result.exit_code == 130
    assert "0 of 1 files finished" in result.output and "--skip-existing" in result.output
    # The map is written last: its absence says the photo is unfinished, and --skip-existing redoes it.
    assert not (tmp_path / "a_radius.png").exists()
    monkeypatch.undo()
    again = _run(str(tmp_path / "a.png"), "--weights", str(weights), "--overlay", "--skip-existing")
    assert again.exit_code == 0, again.output
    assert all((tmp_path / f"a_radius{tag}.png").is_file() for tag in ("", "_colour", "_overlay"))


def test_the_colour_scale_spans_the_map_and_the_bar_says_its_range(tmp_path: Path) -> None:
    from fdikp_cli.defocus.maps import colour_map, colour_scale_max, scale_bar_labels, write_map_pictures

    radius = np.tile(np.linspace(0.0, 3.7, 64, dtype=np.float32), (48, 1))  # (48, 64): 0 .. 3.7 px
    vmax = colour_scale_max(radius, scale=1.0)
    assert vmax == 4.0  # a round top just above the largest radius
    assert scale_bar_labels(vmax)[-1] == (4.0, "4 px")
    write_map_pictures(radius, 1.0, tmp_path / "r.png", tmp_path / "c.png")
    picture = np.asarray(Image.open(tmp_path / "c.png").convert("RGB"))[:48, :64].astype(int)
    left, right = picture[:, 0].mean(0), picture[:, -1].mean(0)
    assert left[2] > left[0] and right[0] > 150 > 100 > right[2]  # blue to red, not one colour
    np.testing.assert_array_equal(picture[0, -1], colour_map(np.array([[3.7]]), vmax)[0, 0])
    # A sharp photo stays blue: the scale reaches at least the in-focus threshold.
    assert colour_scale_max(np.zeros((4, 4), np.float32), scale=0.5) == 2.0
