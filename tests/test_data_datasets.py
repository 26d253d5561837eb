"""Crop datasets: augmentation, determinism, mixtures, bad images, the step sampler."""

from __future__ import annotations

import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from fdikp_cli.data import (
    PairCropSource,
    SampleError,
    StepBatchSampler,
    SyntheticCropSource,
    TrainCrops,
    build_train_loader,
    checked,
    find_pairs,
    parse_dataset_spec,
)
from fdikp_cli.data.augment import apply_flip_rot, random_flip_rot_code
from fdikp_cli.errors import DatasetError


def write_rgb(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(image[:, :, ::-1]))
    return path


def make_pairs(root: Path, count: int, size: tuple[int, int] = (40, 48), offset: int = 7) -> Path:
    """Pairs whose target = source + offset (mod 256): any misaligned crop breaks the relation."""
    rng = np.random.default_rng(0)
    for i in range(count):
        source = rng.integers(0, 249, size=(*size, 3)).astype(np.uint8)
        write_rgb(root / "source" / f"{i:02d}.png", source)
        write_rgb(root / "target" / f"{i:02d}.png", source + offset)
    return root


def pair_source(root: Path, crop: int = 16) -> PairCropSource:
    return PairCropSource("pairs", find_pairs("pairs", root), crop, cache_bytes=1 << 24)


def test_flip_rot_codes_are_the_eight_square_symmetries() -> None:
    square = np.arange(9).reshape(3, 3, 1)
    results = {apply_flip_rot(square, (h, v, t)).tobytes() for h, v, t in itertools.product([0, 1], [0, 1], range(4))}
    assert len(results) == 8
    rng = np.random.default_rng(0)
    seen = {apply_flip_rot(square, random_flip_rot_code(rng)).tobytes() for _ in range(200)}
    assert seen == results


def test_crops_of_source_and_target_stay_aligned_through_augmentation(tmp_path: Path) -> None:
    dataset = TrainCrops([pair_source(make_pairs(tmp_path, 3))], [1.0], crop_size=16, seed=3)
    for index in range(12):
        blurred, sharp = dataset[index]
        assert blurred.shape == sharp.shape == (3, 16, 16) and blurred.dtype == torch.float32
        torch.testing.assert_close(sharp - blurred, torch.full_like(blurred, 7 / 255), rtol=0, atol=1e-6)


def test_samples_are_a_function_of_seed_stage_and_index(tmp_path: Path) -> None:
    sources = [pair_source(make_pairs(tmp_path, 4))]
    a = TrainCrops(sources, [1.0], 16, seed=1)
    b = TrainCrops(sources, [1.0], 16, seed=1)
    for index in (5, 0, 9):  # any order: no hidden state
        torch.testing.assert_close(a[index][0], b[index][0], rtol=0, atol=0)
    assert not torch.equal(a[1][0], TrainCrops(sources, [1.0], 16, seed=2)[1][0])
    assert not torch.equal(a[1][0], TrainCrops(sources, [1.0], 16, seed=1, stage=1)[1][0])


def test_single_source_visits_every_image_once_per_epoch(tmp_path: Path) -> None:
    dataset = TrainCrops([pair_source(make_pairs(tmp_path, 5))], [1.0], 16, seed=0)
    rng = np.random.default_rng(0)
    for epoch in range(3):
        picked = [dataset.pick(epoch * 5 + i, rng)[1] for i in range(5)]
        assert sorted(picked) == [0, 1, 2, 3, 4]


def test_mixture_draws_components_in_proportion_to_weights(tmp_path: Path) -> None:
    first = pair_source(make_pairs(tmp_path / "a", 2))
    second = pair_source(make_pairs(tmp_path / "b", 2))
    dataset = TrainCrops([first, second], [3.0, 1.0], 16, seed=0)
    counts = np.zeros(2)
    for index in range(2000):
        counts[dataset.pick(index, np.random.default_rng([0, 0, 0, index]))[0]] += 1
    # Binomial(2000, 0.75): standard deviation 19; 5 sigma is ~0.05 in proportion.
    assert abs(counts[0] / 2000 - 0.75) < 0.05
    assert dataset.epoch_size == 4


def test_dataset_spec_syntax() -> None:
    specs = parse_dataset_spec("pairs:0.5, synthetic:1.5 ,dpdd@/data/dpdd:2")
    assert [(s.kind, s.weight, s.root) for s in specs] == [
        ("pairs", 0.5, None), ("synthetic", 1.5, None), ("dpdd", 2.0, Path("/data/dpdd"))
    ]
    assert parse_dataset_spec("lfdof")[0].weight == 1.0
    for bad, message in (("imagenet", "unknown dataset kind"), ("pairs:x", "not a number"), ("pairs:0", "positive"),
                         ("", "empty")):
        with pytest.raises(DatasetError, match=message):
            parse_dataset_spec(bad)


def test_images_smaller_than_the_crop_are_skipped_or_refused(tmp_path: Path) -> None:
    root = make_pairs(tmp_path, 2, size=(40, 48))
    make_pairs(tmp_path / "tiny", 1, size=(10, 10))
    (tmp_path / "tiny" / "source" / "00.png").rename(root / "source" / "zz.png")
    (tmp_path / "tiny" / "target" / "00.png").rename(root / "target" / "zz.png")
    source = pair_source(root, crop=32)
    assert len(source) == 2 and source.skipped == 1 and "skipped" in source.describe()
    with pytest.raises(DatasetError, match="smaller than the 64px crop"):
        pair_source(root, crop=64)


def test_a_corrupt_image_is_reported_by_path_through_worker_processes(tmp_path: Path) -> None:
    root = make_pairs(tmp_path, 2)
    # Header intact (indexing passes), pixel data cut off: decoding fails only in the worker.
    good = (root / "source" / "01.png").read_bytes()
    (root / "source" / "01.png").write_bytes(good[: len(good) // 2])
    dataset = TrainCrops([pair_source(root)], [1.0], 16, seed=0)
    loader = build_train_loader(dataset, batch_size=2, start_step=0, end_step=1, workers=1)
    batch = next(iter(loader))
    assert isinstance(batch, SampleError)
    with pytest.raises(DatasetError, match="01.png"):
        checked(batch)


def test_step_sampler_splits_each_global_batch_between_ranks() -> None:
    single = list(StepBatchSampler(4, 3, 6))
    ranks = [list(StepBatchSampler(2, 3, 6, rank=r, world_size=2)) for r in range(2)]
    for step in range(3):
        assert sorted(ranks[0][step] + ranks[1][step]) == single[step]
    assert single[0] == [12, 13, 14, 15]  # step 3 with batch 4 starts at sample 12


def test_loader_resumed_mid_stage_yields_the_same_batches(tmp_path: Path) -> None:
    dataset = TrainCrops([pair_source(make_pairs(tmp_path, 3))], [1.0], 16, seed=0)
    whole = [b[0] for b in build_train_loader(dataset, 2, 0, 4, workers=0)]
    tail = [b[0] for b in build_train_loader(dataset, 2, 2, 4, workers=0)]
    for a, b in zip(whole[2:], tail):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_synthetic_source_makes_blurred_crops_of_sharp_photos(tmp_path: Path) -> None:
    pytest.importorskip("fdikp_cli.synth")
    yy, xx = np.mgrid[0:96, 0:96]
    checker = (((yy // 6) + (xx // 6)) % 2 * 200 + 20).astype(np.uint8)
    write_rgb(tmp_path / "sharp" / "c.png", np.repeat(checker[:, :, None], 3, axis=2))
    source = SyntheticCropSource([tmp_path / "sharp" / "c.png"], 32, cache_bytes=1 << 24)
    blurred, sharp = source.crop_pair(0, 32, np.random.default_rng(1))
    assert blurred.shape == sharp.shape == (32, 32, 3)
    assert set(np.unique(np.round(sharp * 255))) <= {20.0, 220.0}  # the target is the photo itself
    again, _ = source.crop_pair(0, 32, np.random.default_rng(1))
    np.testing.assert_array_equal(blurred, again)


def test_synthetic_source_scales_the_sharp_photo_before_cropping(tmp_path: Path) -> None:
    """A 1-px checkerboard seen at scale 1/2 (area average) is flat grey; at scale 1 it stays a checkerboard."""
    pytest.importorskip("fdikp_cli.synth")
    yy, xx = np.mgrid[0:256, 0:256]
    checker = (((yy + xx) % 2) * 200 + 20).astype(np.uint8)
    photo = write_rgb(tmp_path / "sharp" / "c.png", np.repeat(checker[:, :, None], 3, axis=2))
    rng = np.random.default_rng(3)
    halved = SyntheticCropSource([photo], 32, cache_bytes=1 << 24, scale_range=(0.5, 0.5))
    _, sharp = halved.crop_pair(0, 32, rng)
    np.testing.assert_allclose(sharp, 120 / 255, atol=1 / 255)
    full = SyntheticCropSource([photo], 32, cache_bytes=1 << 24, scale_range=(1.0, 1.0))
    _, sharp = full.crop_pair(0, 32, rng)
    assert set(np.unique(np.round(sharp * 255))) == {20.0, 220.0}
    assert "scaled 0.5-0.5x" in halved.describe()


def test_synthetic_source_scale_is_raised_until_the_window_fits(tmp_path: Path) -> None:
    """On a photo barely larger than crop + margins, no downscale is possible: the target is the photo's pixels."""
    pytest.importorskip("fdikp_cli.synth")
    yy, xx = np.mgrid[0:40, 0:40]
    checker = (((yy + xx) % 2) * 200 + 20).astype(np.uint8)
    photo = write_rgb(tmp_path / "sharp" / "c.png", np.repeat(checker[:, :, None], 3, axis=2))
    source = SyntheticCropSource([photo], 32, cache_bytes=1 << 24, margin=4, scale_range=(0.3, 0.5))
    _, sharp = source.crop_pair(0, 32, np.random.default_rng(0))
    assert sharp.shape == (32, 32, 3)
    assert set(np.unique(np.round(sharp * 255))) == {20.0, 220.0}


@pytest.mark.parametrize("scale_range", [(0.0, 1.0), (0.8, 0.6), (0.5, 1.5)])
def test_synthetic_source_rejects_bad_scale_ranges(tmp_path: Path, scale_range: tuple[float, float]) -> None:
    photo = write_rgb(tmp_path / "sharp" / "c.png", np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(DatasetError, match="scale range"):
        SyntheticCropSource([photo], 32, cache_bytes=1 << 24, scale_range=scale_range)
