"""The `sharp` dataset kind: sharp photos as their own targets, mixed in beside real pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fdikp_cli.data import TrainCrops, build_sources, parse_dataset_spec
from fdikp_cli.data.datasets import LruImageCache
from fdikp_cli.data.identity import InFocusCropSource
from fdikp_cli.errors import DatasetError
from fdikp_cli.training.config import StageOptions, resolve
from fdikp_cli.training.trainer import Trainer
from tests.test_data_datasets import make_pairs, write_rgb


def coded_photo(path: Path, size: tuple[int, int] = (48, 56)) -> np.ndarray:
    """Every pixel unique (row in red, column in green): a crop says where it was taken."""
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    image = np.stack([yy * 4, xx * 4, np.full_like(yy, 128)], axis=2).astype(np.uint8)
    write_rgb(path, image)
    return image


def test_a_sharp_crop_is_its_own_target_and_a_window_of_the_photo(tmp_path: Path) -> None:
    photo = coded_photo(tmp_path / "sharp" / "a.png")
    source = InFocusCropSource([tmp_path / "sharp" / "a.png"], LruImageCache(1 << 24))
    x, y = source.crop_pair(0, 16, np.random.default_rng(5))
    assert x.shape == y.shape == (16, 16, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x, y)
    assert x is not y  # the two may be augmented or edited apart without touching each other
    top, left = int(round(x[0, 0, 0] * 255)) // 4, int(round(x[0, 0, 1] * 255)) // 4
    np.testing.assert_allclose(x * 255, photo[top : top + 16, left : left + 16], atol=1e-3)


def test_sharp_kind_reads_the_sharp_dir_or_its_own_root_and_skips_small_photos(tmp_path: Path) -> None:
    coded_photo(tmp_path / "sharp" / "a.png")
    coded_photo(tmp_path / "sharp" / "tiny.png", size=(8, 8))
    coded_photo(tmp_path / "other" / "b.png")
    (source,) = build_sources(parse_dataset_spec("sharp"), None, tmp_path / "sharp", 16, 1 << 24)
    assert len(source) == 1 and "1 smaller than the crop skipped" in source.describe()
    (inline,) = build_sources(parse_dataset_spec(f"sharp@{tmp_path / 'other'}"), None, tmp_path / "sharp", 16, 1 << 24)
    assert [p.name for p in inline.images] == ["b.png"]
    with pytest.raises(DatasetError, match="needs --sharp-dir"):
        build_sources(parse_dataset_spec("sharp"), None, None, 16, 1 << 24)


def test_mixture_gives_identity_pairs_in_proportion_beside_real_ones(tmp_path: Path) -> None:
    coded_photo(tmp_path / "sharp" / "a.png")
    sources = build_sources(parse_dataset_spec("pairs:3,sharp:1"), make_pairs(tmp_path / "p", 2), tmp_path / "sharp",
                            16, 1 << 24)
    crops = TrainCrops(sources, [3.0, 1.0], 16, seed=0)
    identical = sum(bool((x == y).all()) for x, y in (crops[i] for i in range(400)))
    # make_pairs targets are their sources + 7, so only the sharp component gives x == y:
    # Binomial(400, 0.25) has a standard deviation of 8.7; 5 sigma is ~43.
    assert abs(identical - 100) < 43


def test_trainer_validates_on_the_real_kind_when_sharp_is_listed_first(tmp_path: Path) -> None:
    # A dpdd root holds its own validation split (val_c); only the dpdd kind knows to look there.
    coded_photo(tmp_path / "sharp" / "a.png")
    root = tmp_path / "dpdd"
    make_pairs(root / "train_c", 2)
    make_pairs(root / "val_c", 3)
    config = resolve(
        None, None,
        {"data": {"dataset": "sharp:1,dpdd:1", "data_root": str(root), "sharp_dir": str(tmp_path / "sharp"),
                  "workers": 0},
         "run": {"out": str(tmp_path / "run"), "amp": "off"},
         "loss": {"lpips": 0.0},
         "model": {"widths": [8, 8], "level_blocks": [1, 1], "attention_heads": 2, "predictor_channels": 8}},
        [], StageOptions(crop="16", batch_size="1", steps="1"),
    )
    trainer = Trainer(config)
    try:
        assert trainer.data.val_set is not None and len(trainer.data.val_set) == 3
        assert [s.name for s in trainer.data.stage_sources[0]] == ["sharp", "dpdd"]
    finally:
        trainer.close()
