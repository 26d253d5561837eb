"""Folder layouts and pairing (pairs, dpdd, lfdof, sharp folders) and image decoding."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fdikp_cli.data.images import read_native, to_float
from fdikp_cli.data.pairs import find_pairs, find_sharp_images
from fdikp_cli.errors import DatasetError, ImageReadError


def write_rgb(path: Path, image: np.ndarray) -> Path:
    """Write an RGB uint8/uint16 array as PNG (OpenCV wants BGR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(image[:, :, ::-1]))
    return path


def small(seed: int, dtype: type = np.uint8) -> np.ndarray:
    top = 65535 if dtype == np.uint16 else 255
    return np.random.default_rng(seed).integers(0, top + 1, size=(20, 24, 3)).astype(dtype)


def test_pairs_layout_pairs_by_name_and_reports_unmatched(tmp_path: Path) -> None:
    for name in ("b.png", "a.png"):
        write_rgb(tmp_path / "source" / name, small(1))
        write_rgb(tmp_path / "target" / name, small(2))
    pairs = find_pairs("pairs", tmp_path)
    assert [(p.source.name, p.target.name) for p in pairs] == [("a.png", "a.png"), ("b.png", "b.png")]
    write_rgb(tmp_path / "source" / "c.png", small(3))
    with pytest.raises(DatasetError, match="c.png"):
        find_pairs("pairs", tmp_path)


def test_dpdd_layout_pairs_by_sorted_order_and_finds_validation_split(tmp_path: Path) -> None:
    # DPDD names differ between source and target: pairing is by sorted order.
    for i, (src, tgt) in enumerate([("1P0A0002.png", "x_02.png"), ("1P0A0001.png", "x_01.png")]):
        write_rgb(tmp_path / "train_c" / "source" / src, small(i))
        write_rgb(tmp_path / "train_c" / "target" / tgt, small(i + 10))
    write_rgb(tmp_path / "test_c" / "source" / "s.png", small(5))
    write_rgb(tmp_path / "test_c" / "target" / "t.png", small(6))
    train = find_pairs("dpdd", tmp_path, "train")
    assert [(p.source.name, p.target.name) for p in train] == [("1P0A0001.png", "x_01.png"), ("1P0A0002.png", "x_02.png")]
    val = find_pairs("dpdd", tmp_path, "val")  # no val_c: falls back to test_c
    assert [p.source.parent.parent.name for p in val] == ["test_c"]
    write_rgb(tmp_path / "train_c" / "target" / "x_03.png", small(7))
    with pytest.raises(DatasetError, match="2 source images but 3 targets"):
        find_pairs("dpdd", tmp_path, "train")


def test_lfdof_layout_pairs_every_aperture_with_its_ground_truth(tmp_path: Path) -> None:
    root = tmp_path / "train_data"
    for scene in ("IMG_1", "IMG_2"):
        write_rgb(root / "ground_truth" / f"{scene}.png", small(0))
        for ap in ("ap1_0", "ap2_0"):
            write_rgb(root / "input" / scene / f"{scene}_{ap}.png", small(1))
    pairs = find_pairs("lfdof", tmp_path, "train")
    assert len(pairs) == 4
    assert all(p.target.stem == p.source.parent.name for p in pairs)
    write_rgb(root / "input" / "IMG_3" / "IMG_3_ap1_0.png", small(2))
    with pytest.raises(DatasetError, match="IMG_3"):
        find_pairs("lfdof", tmp_path, "train")


def test_missing_folders_are_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        find_pairs("pairs", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="source folder"):
        find_pairs("pairs", tmp_path)
    with pytest.raises(DatasetError, match="no images"):
        find_sharp_images(tmp_path)


def test_sharp_images_are_found_recursively_in_sorted_order(tmp_path: Path) -> None:
    write_rgb(tmp_path / "b" / "x.png", small(0))
    write_rgb(tmp_path / "a" / "y.png", small(1))
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.relative_to(tmp_path).as_posix() for p in find_sharp_images(tmp_path)] == ["a/y.png", "b/x.png"]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_read_native_keeps_bit_depth_and_rgb_order(tmp_path: Path, dtype: type) -> None:
    image = small(4, dtype)
    decoded = read_native(write_rgb(tmp_path / "i.png", image))
    assert decoded.dtype == dtype
    np.testing.assert_array_equal(decoded, image)
    top = 65535.0 if dtype == np.uint16 else 255.0
    np.testing.assert_allclose(to_float(decoded), image.astype(np.float64) / top, rtol=0, atol=1e-7)


def test_gray_images_become_three_channels_and_garbage_names_the_file(tmp_path: Path) -> None:
    gray = np.arange(20 * 24, dtype=np.uint8).reshape(20, 24)
    path = tmp_path / "g.png"
    cv2.imwrite(str(path), gray)
    decoded = read_native(path)
    assert decoded.shape == (20, 24, 3) and (decoded == gray[:, :, None]).all()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageReadError, match="bad.png"):
        read_native(bad)
