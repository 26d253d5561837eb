"""The procedural demo scene and the synth folder's image reader."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fdikp_cli.errors import ImageReadError
from fdikp_cli.synth import SynthConfig, make_demo_scene, synthesize_pair
from fdikp_cli.synth.writer import read_rgb


def test_demo_scene_is_deterministic_and_has_what_defocus_destroys() -> None:
    scene = make_demo_scene((96, 128), seed=3)
    assert scene.shape == (96, 128, 3) and scene.dtype == np.float32
    assert 0.0 <= scene.min() and scene.max() <= 1.0
    np.testing.assert_array_equal(scene, make_demo_scene((96, 128), seed=3))
    assert not np.array_equal(scene, make_demo_scene((96, 128), seed=4))
    grey = scene.mean(axis=2)
    assert np.abs(np.diff(grey, axis=1)).max() > 0.5  # hard edges
    assert (scene.min(axis=2) > 0.9).sum() >= 4  # small bright lights (bokeh sources)
    # Blurring it visibly costs detail: deblurring gains have room to show.
    pair = synthesize_pair(scene, 0, SynthConfig(max_radius=6.0, min_radius_fraction=1.0))
    assert np.abs(pair.blurred - pair.sharp).mean() > 0.01


def test_demo_scene_refuses_tiny_sizes() -> None:
    with pytest.raises(ValueError):
        make_demo_scene((8, 8))


def test_read_rgb_reads_8_and_16_bit_and_refuses_garbage(tmp_path: Path) -> None:
    pixels16 = np.zeros((4, 5, 3), dtype=np.uint16)
    pixels16[0, 0] = (65535, 32768, 0)  # BGR on disk
    cv2.imwrite(str(tmp_path / "deep.png"), pixels16)
    deep = read_rgb(tmp_path / "deep.png")
    assert deep.shape == (4, 5, 3) and deep.dtype == np.float32
    np.testing.assert_allclose(deep[0, 0], (0.0, 32768 / 65535, 1.0), atol=1e-6)
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((3, 3), 255, dtype=np.uint8))
    np.testing.assert_allclose(read_rgb(tmp_path / "grey.png"), 1.0)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG but not really")
    with pytest.raises(ImageReadError):
        read_rgb(tmp_path / "bad.png")
