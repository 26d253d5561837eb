"""tools/ship_weights.py: the shipped file carries its scores, stores float16, and keeps the outputs."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fdikp_cli.model import FDIKP, FDIKPConfig
from fdikp_cli.weights import load_model, read_weights, save_weights

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"widths": (8, 8), "level_blocks": (1, 1), "attention_heads": 2, "predictor_channels": 8}


def _ship_module():
    spec = importlib.util.spec_from_file_location("ship_weights", ROOT / "tools" / "ship_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(partial: bool = False) -> dict:
    scores = {"psnr": 25.8, "ssim": 0.76, "mae": 0.04, "lpips": 0.30}
    return {"count": 3, "mean": scores, "baseline": {**scores, "psnr": 25.3}, "protocol": "dpdd", "precision": "bf16",
            "model_run": {"tone_lock": 32.0}, "tiling": {"whole_image": True}, "date": "2026-12-05", "partial": partial,
            "unscored": []}


def test_partial_evaluations_are_refused() -> None:
    ship = _ship_module()
    assert ship.evaluation_summary(_report())["blurry_input"]["psnr"] == 25.3
    with pytest.raises(SystemExit, match="partial"):
        ship.evaluation_summary(_report(partial=True))


def test_shipped_file_is_float16_with_scores_and_the_same_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = FDIKP(FDIKPConfig(**SMALL))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    source = save_weights(model, tmp_path / "ema.safetensors", provenance={"step": 7})
    rng = np.random.default_rng(0)
    for kind in ("source", "target"):
        for i in range(2):
            (tmp_path / "val" / kind).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "val" / kind / f"{i}.png")
    (tmp_path / "eval.json").write_text(json.dumps(_report()))
    bands = {"models": [{"bands": [{"band": "r<=2", "gain": 0.25}], "spearman_dilation": 0.1}]}
    (tmp_path / "bands.json").write_text(json.dumps(bands))
    out = tmp_path / "shipped.safetensors"
    command = [sys.executable, str(ROOT / "tools" / "ship_weights.py"), str(source), "--evaluation",
               str(tmp_path / "eval.json"), "--bands", str(tmp_path / "bands.json"), "-o", str(out),
               "--val-root", str(tmp_path / "val")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    shipped = read_weights(out)
    assert {v.dtype for v in shipped.state_dict.values() if v.is_floating_point()} == {torch.float16}
    assert shipped.provenance["step"] == 7  # the training provenance is kept
    assert shipped.provenance["evaluation"]["mean"]["psnr"] == 25.8
    assert shipped.provenance["radius_bands"]["gain"] == {"r<=2": 0.25}
    assert shipped.provenance["source"]["sha256"] == read_weights(source).sha256
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a, b = load_model(source).model.eval()(x)[-1], load_model(out).model.eval()(x)[-1]
    assert float((a - b).abs().max()) < 5e-3
    # A second run over an existing file needs --overwrite, and records what it replaces.
    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert again.returncode != 0 and "exists" in again.stderr
    assert subprocess.run([*command, "--overwrite"], capture_output=True, text=True, check=False).returncode == 0
    assert read_weights(out).provenance["replaces"]["evaluation"]["mean"]["psnr"] == 25.8
