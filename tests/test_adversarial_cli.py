"""The perceptual variant in the CLI: --model default|perceptual in deblur / evaluate / info, and
SqueezeNet LPIPS (evaluate --lpips-net)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import fdikp_cli.weights as weights_module
from fdikp_cli.cli.app import app
from fdikp_cli.errors import ConfigError, LpipsWeightsMissing, WeightsError
from fdikp_cli.metrics.lpips_squeeze import BACKBONE_FILE, HEADS_FILE, SqueezeLPIPS, load_squeeze_lpips
from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.weights import read_weights, resolve_model_weights, save_weights

TINY = FDIKPConfig(widths=(8, 8), level_blocks=(1, 1), attention_heads=2, predictor_channels=8)


@pytest.fixture()
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights/ folder standing in for the shipped one."""
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(weights_module, "shipped_weights_dir", lambda: folder)
    monkeypatch.delenv("FDIKP_WEIGHTS", raising=False)
    return folder


def test_model_names_resolve_to_the_shipped_files(shipped: Path) -> None:
    assert resolve_model_weights(None, None) is None  # the default weights, as before
    assert resolve_model_weights("default", None) is None  # absent: load_model warns and runs a random model
    with pytest.raises(WeightsError, match="perceptual weights are not installed: .*fdikp_perceptual.safetensors"):
        resolve_model_weights("perceptual", None)
    torch.manual_seed(0)
    for name in ("fdikp_default.safetensors", "fdikp_perceptual.safetensors"):
        save_weights(FDIKP(TINY), shipped / name)
    assert resolve_model_weights("perceptual", None) == shipped / "fdikp_perceptual.safetensors"
    assert resolve_model_weights("default", None) == shipped / "fdikp_default.safetensors"
    with pytest.raises(ConfigError, match="not both"):
        resolve_model_weights("perceptual", shipped / "x.safetensors")
    with pytest.raises(ConfigError, match="unknown model 'sharp'"):
        resolve_model_weights("sharp", None)


def test_deblur_model_perceptual(shipped: Path, tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8))
    runner = CliRunner(env={"COLUMNS": "200"})
    missing = runner.invoke(app, ["deblur", str(image), "--model", "perceptual", "-q"])
    assert missing.exit_code == 1 and "perceptual weights are not installed" in missing.output
    assert not (tmp_path / "photo_deblurred.png").exists()
    assert runner.invoke(app, ["deblur", str(image), "--model", "blurry"]).exit_code == 2
    torch.manual_seed(0)
    save_weights(FDIKP(TINY), shipped / "fdikp_perceptual.safetensors", provenance={"model": "perceptual-test"})
    done = runner.invoke(app, ["deblur", str(image), "--model", "perceptual", "-q", "--precision", "fp32"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "photo_deblurred.png").is_file()
    info = runner.invoke(app, ["info", "--model", "perceptual"])
    assert info.exit_code == 0, info.output
    lines = info.output.splitlines()
    assert f"weights: {shipped / 'fdikp_perceptual.safetensors'}" in lines
    assert f"  perceptual: {shipped / 'fdikp_perceptual.safetensors'}" in lines
    assert f"  default: {shipped / 'fdikp_default.safetensors'} (not installed)" in lines
    assert read_weights(shipped / "fdikp_perceptual.safetensors").provenance["model"] == "perceptual-test"


def test_squeeze_lpips_architecture_and_missing_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    metric = SqueezeLPIPS()
    keys = metric.features.state_dict()
    # torchvision's squeezenet1_1.features layout, so the published file loads by name.
    assert tuple(keys["0.weight"].shape) == (64, 3, 3, 3)
    assert tuple(keys["3.squeeze.weight"].shape) == (16, 64, 1, 1)
    assert tuple(keys["12.expand3x3.weight"].shape) == (256, 64, 3, 3)
    assert len(keys) == 2 + 8 * 3 * 2  # conv0 + 8 fire modules of 3 convs (weight + bias)
    for head in metric.heads:
        torch.nn.init.uniform_(head.weight, 0.0, 1.0)
    a, b = torch.rand(2, 3, 48, 40), torch.rand(2, 3, 48, 40)
    assert metric(a, b).shape == (2,) and (metric(a, b) > 0).all()
    torch.testing.assert_close(metric(a, a), torch.zeros(2))
    with pytest.raises(LpipsWeightsMissing, match=f"{BACKBONE_FILE}.*{HEADS_FILE}.*not bundled"):
        load_squeeze_lpips(tmp_path / "empty")
    (tmp_path / BACKBONE_FILE).write_bytes(b"not the file")
    (tmp_path / HEADS_FILE).write_bytes(b"not the file")
    with pytest.raises(LpipsWeightsMissing, match="is not the published"):
        load_squeeze_lpips(tmp_path)


def test_evaluate_lpips_net_squeeze_fails_clearly_without_its_weights(tmp_path: Path) -> None:
    for folder in ("pred", "target"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "a.png"), np.full((40, 40, 3), 128, np.uint8))
    args = ["evaluate", str(tmp_path / "pred"), "--target", str(tmp_path / "target"), "--lpips-dir",
            str(tmp_path / "none"), "--no-download"]
    result = CliRunner(env={"COLUMNS": "400", "FDIKP_LPIPS_DIR": str(tmp_path / "none")}).invoke(
        app, args + ["--lpips-net", "squeeze"])
    assert result.exit_code == 1 and "squeezenet1_1-b8a52dc0.pth" in result.output
    assert CliRunner().invoke(app, args + ["--lpips-net", "vgg"]).exit_code == 2
