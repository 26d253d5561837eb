"""Shared test fixtures. Tests run on CPU, on small images, with one torch thread (CI has 2
cores and several test workers may share them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("FDIKP_SHARED_DIR", REPO_ROOT.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared (or $FDIKP_SHARED_DIR); skips the test, saying why, when absent."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data folder beside the checkout, or set FDIKP_SHARED_DIR)")
    return path


@pytest.fixture
def shared() -> "type[shared_path]":
    return shared_path  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def _no_checkout_lpips_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a checkout the CLI also finds the LPIPS weights in ../shared (a development convenience,
    metrics/lpips_weights.py); a test names its weights (FDIKP_LPIPS_DIR, --lpips-dir) or tests
    their absence, so that fallback stays off here (tests/test_cli_terminal.py tests it)."""
    from fdikp_cli.metrics import lpips_weights

    monkeypatch.setattr(lpips_weights, "checkout_lpips_dir", lambda: None)


def write_blocky_pairs(root: Path, count: int, cells: int = 12, side: int = 48) -> Path:
    """`count` tiny training pairs under root/{target,source}: a blocky random scene (cells x cells
    colours, nearest-upscaled to side x side) and its 5x5 box blur. Same images for the same args."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    for i in range(count):
        small = rng.integers(0, 256, (cells, cells, 3)).astype(np.uint8)
        sharp = cv2.resize(small, (side, side), interpolation=cv2.INTER_NEAREST)
        for folder, image in (("target", sharp), ("source", cv2.blur(sharp, (5, 5)))):
            (root / folder).mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(root / folder / f"{i}.png"), image)
    return root


def write_small_defocus_weights(folder: Path) -> Path:
    """A small random defocus-map estimator (random head: a varied map), as a real weights file."""
    from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig
    from fdikp_cli.defocus.kernel_bank import KernelBank, KernelBankConfig
    from fdikp_cli.defocus.weights import save_defocus_weights

    torch.manual_seed(0)
    model = DefocusMapNet(EstimatorConfig(widths=(4, 8, 8)))
    torch.nn.init.normal_(model.head.weight, std=2.0)
    return save_defocus_weights(model, KernelBank(KernelBankConfig(max_radius=30)), folder / "map.safetensors",
                                {"purpose": "tests"})


def write_tiny_fdikp_weights(folder: Path) -> Path:
    """A small FDIKP (random, but a real weights file) for tests about files, not quality."""
    from fdikp_cli.model import FDIKP, FDIKPConfig
    from fdikp_cli.weights import save_weights

    torch.manual_seed(0)
    tiny = FDIKPConfig(widths=(8, 16, 32), level_blocks=(1, 1, 1), bottleneck_res_blocks=1, predictor_channels=8)
    return save_weights(FDIKP(tiny), folder / "tiny.safetensors", provenance={"purpose": "tests"})
