"""`fdikp defocus-map` and `fdikp deblur --save-maps` radius maps: files, units, failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from fdikp_cli.cli.app import app
from fdikp_cli.defocus.maps import MIN_LEGEND_WIDTH, estimate_radius_map, read_radius_png
from fdikp_cli.defocus.weights import load_defocus_weights
from tests.conftest import write_small_defocus_weights

RNG = np.random.default_rng(5)


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_defocus_weights(tmp_path_factory.mktemp("weights"))


def _photo(path: Path, h: int = 40, w: int = 56) -> np.ndarray:
    array = RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return array


def _run(*args: str) -> "object":
    return CliRunner().invoke(app, ["defocus-map", *args])


def test_cli_defaults_match_the_library() -> None:
    from fdikp_cli.cli import defocus_map, train_defocus_map
    from fdikp_cli.defocus.maps import DEFAULT_WORK_SIDE
    from fdikp_cli.defocus.training import DefocusTrainConfig

    assert defocus_map._WORK_SIDE == DEFAULT_WORK_SIDE
    config = DefocusTrainConfig(sharp_dir="x", real_root="y")
    assert (train_defocus_map._STEPS, train_defocus_map._LR, train_defocus_map._SYNTHETIC_BATCH,
            train_defocus_map._REAL_BATCH, (train_defocus_map._HOLDOUT,), train_defocus_map._SEED,
            train_defocus_map._REBLUR_WEIGHT, train_defocus_map._SYNTHETIC_CROP, train_defocus_map._REAL_CROP,
            tuple(int(w) for w in train_defocus_map._ESTIMATOR_WIDTHS.split(","))) == (
        config.steps, config.lr, config.synthetic_batch, config.real_batch, config.holdout, config.seed,
        config.reblur_weight, config.synthetic_crop, config.crop, config.estimator.widths)


def test_writes_a_16_bit_map_in_the_documented_unit_and_a_bad_file_does_not_stop_the_batch(
        weights: Path, tmp_path: Path) -> None:
    photo = _photo(tmp_path / "in" / "a.png")
    (tmp_path / "in" / "broken.jpg").write_bytes(b"not a jpeg")
    result = _run(str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(weights), "--overlay", "--json")
    assert result.exit_code == 1, result.output  # one photo failed
    document = json.loads(result.stdout)
    by_name = {Path(p["source"]).name: p for p in document["photos"]}
    assert by_name["broken.jpg"]["status"] == "failed" and by_name["broken.jpg"]["reason"]
    done = by_name["a.png"]
    assert done["status"] == "done" and len(done["outputs"]) == 3
    for key in ("in_focus_share", "median_px", "p90_px"):
        assert key in done

    stored, text = read_radius_png(tmp_path / "out" / "a_radius.png")
    assert text["fdikp:scale"] == "100" and "radius_px" in text["fdikp:unit"]
    raw = np.asarray(Image.open(tmp_path / "out" / "a_radius.png"))
    assert raw.dtype == np.uint16 and raw.shape == photo.shape[:2]
    expected = estimate_radius_map(load_defocus_weights(weights), photo.astype(np.float32) / 255.0)
    assert np.abs(stored - expected).max() <= 0.005 + 1e-6  # 0.01 px steps, rounded
    assert float(expected.std()) > 0.01  # the comparison is not trivially about a constant
    assert done["median_px"] == pytest.approx(float(np.median(expected)), abs=1e-3)
    colour = np.asarray(Image.open(tmp_path / "out" / "a_radius_colour.png"))
    # the scale bar below; a photo narrower than its labels is padded on the right
    assert colour.shape[1] == max(photo.shape[1], MIN_LEGEND_WIDTH) and colour.shape[0] > photo.shape[0]

    again = _run(str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "out"), "--weights", str(weights))
    assert again.exit_code == 1 and "--overwrite" in again.output  # refused before any work
    assert _run(str(tmp_path / "in" / "a.png"), "-o", str(tmp_path / "out"), "--weights", str(weights),
                "--overwrite").exit_code == 0


def test_summary_line_per_photo_and_outputs_beside_inputs_are_not_taken_as_inputs(weights: Path, tmp_path: Path) -> None:
    _photo(tmp_path / "b.png")
    first = _run(str(tmp_path), "--weights", str(weights))
    assert first.exit_code == 0, first.output
    assert "b.png: in focus" in first.stdout and "median" in first.stdout and "p90" in first.stdout
    second = _run(str(tmp_path), "--weights", str(weights), "--skip-existing")
    assert second.exit_code == 0 and "b_radius" not in second.stdout  # its own maps are not photos


def test_missing_weights_is_one_error_line(tmp_path: Path) -> None:
    _photo(tmp_path / "c.png")
    result = _run(str(tmp_path / "c.png"), "--weights", str(tmp_path / "none.safetensors"))
    assert result.exit_code == 1 and "not found" in result.output


def test_deblur_save_maps_writes_the_radius_map_when_the_estimator_is_there(
        weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fdikp_cli.model import FDIKP, FDIKPConfig
    from fdikp_cli.weights import save_weights

    torch.manual_seed(0)
    fdikp = save_weights(FDIKP(FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1,
                                           predictor_channels=8)), tmp_path / "tiny.safetensors")
    photo = _photo(tmp_path / "in" / "p.png", 64, 64)
    monkeypatch.setenv("FDIKP_DEFOCUS_WEIGHTS", str(weights))
    result = CliRunner().invoke(app, ["deblur", str(tmp_path / "in" / "p.png"), "-o", str(tmp_path / "out"),
                                      "--weights", str(fdikp), "--save-maps", "--precision", "fp32"])
    assert result.exit_code == 0, result.output
    stored, _ = read_radius_png(tmp_path / "out" / "p_deblurred_radius.png")
    expected = estimate_radius_map(load_defocus_weights(weights), photo.astype(np.float32) / 255.0)
    assert np.abs(stored - expected).max() <= 0.005 + 1e-6  # the input photo's map
    assert (tmp_path / "out" / "p_deblurred_radius_colour.png").is_file()
    assert (tmp_path / "out" / "p_deblurred_dilation.png").is_file()

    monkeypatch.setenv("FDIKP_DEFOCUS_WEIGHTS", str(tmp_path / "absent.safetensors"))
    result = CliRunner().invoke(app, ["deblur", str(tmp_path / "in" / "p.png"), "-o", str(tmp_path / "out2"),
                                      "--weights", str(fdikp), "--save-maps", "--precision", "fp32"])
    assert result.exit_code == 0 and "no radius map" in result.output
    assert not (tmp_path / "out2" / "p_deblurred_radius.png").exists()


def test_train_defocus_map_grows_a_wider_estimator_from_a_narrower_file(tmp_path: Path) -> None:
    for i in range(2):
        _photo(tmp_path / "sharp" / f"{i}.png", 72, 72)
    common = ["train-defocus-map", "--sharp-dir", str(tmp_path / "sharp"), "--steps", "1", "--synthetic-batch", "1",
              "--synthetic-crop", "32"]
    narrow = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "narrow"), "--estimator-widths", "4,8,8"])
    assert narrow.exit_code == 0, narrow.output
    start = tmp_path / "narrow" / "defocus_map.safetensors"
    wide = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "wide"), "--estimator-widths", "4,8,16",
                                    "--init-weights", str(start)])
    assert wide.exit_code == 0, wide.output
    assert load_defocus_weights(tmp_path / "wide" / "defocus_map.safetensors").model.config.widths == (4, 8, 16)
    refused = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "fewer"), "--estimator-widths", "4,8",
                                       "--init-weights", str(start)])
    assert refused.exit_code != 0 and "levels" in refused.output
    bad = CliRunner().invoke(app, [*common, "--out", str(tmp_path / "bad"), "--estimator-widths", "4,x"])
    assert bad.exit_code == 2 and "comma-separated integers" in bad.output
