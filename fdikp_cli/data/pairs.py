"""Folder layouts of paired datasets and how their blurred/sharp images are paired.

Layouts (the `--data-root` of each kind):
    pairs : ROOT/{source,target}/NAME            paired by identical file names
    dpdd  : ROOT/train_c/{source,target}/...     paired by sorted order (DPDD's source and target
            names differ); validation from ROOT/val_c, else ROOT/test_c
    lfdof : ROOT/train_data/input/IMG_x/IMG_x_ap*_*.png with ROOT/train_data/ground_truth/IMG_x.png
            (several apertures per scene: every input is one pair); validation from ROOT/test_data
A `dpdd` or `lfdof` root that directly holds the split's folders (e.g. `train_c` itself) works too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from fdikp_cli.data.images import list_images
from fdikp_cli.errors import DatasetError

PairLayout = Literal["pairs", "dpdd", "lfdof"]
Split = Literal["train", "val"]
PAIR_LAYOUTS: tuple[str, ...] = ("pairs", "dpdd", "lfdof")


@dataclass(frozen=True)
class ImagePair:
    source: Path  # the defocused image
    target: Path  # the all-in-focus image


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{what} not found: {path}")
    return path


def pairs_by_name(folder: Path) -> list[ImagePair]:
    """FOLDER/source/X paired with FOLDER/target/X (same file name, extension may differ)."""
    sources = list_images(_require_dir(folder / "source", "source folder"))
    targets = {p.stem: p for p in list_images(_require_dir(folder / "target", "target folder"))}
    if not sources:
        raise DatasetError(f"no images in {folder / 'source'}")
    missing = [p.name for p in sources if p.stem not in targets]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DatasetError(f"{folder}: {len(missing)} source images have no target of the same name: {shown}")
    return [ImagePair(p, targets[p.stem]) for p in sources]


def pairs_by_order(folder: Path) -> list[ImagePair]:
    """FOLDER/source and FOLDER/target paired by sorted order (they must hold as many images)."""
    sources = list_images(_require_dir(folder / "source", "source folder"))
    targets = list_images(_require_dir(folder / "target", "target folder"))
    if not sources:
        raise DatasetError(f"no images in {folder / 'source'}")
    if len(sources) != len(targets):
        raise DatasetError(
            f"{folder}: {len(sources)} source images but {len(targets)} targets (paired by sorted order)"
        )
    return [ImagePair(s, t) for s, t in zip(sources, targets)]


def lfdof_pairs(folder: Path) -> list[ImagePair]:
    """FOLDER/input/IMG_x/*.png, each paired with FOLDER/ground_truth/IMG_x.<ext>."""
    inputs = _require_dir(folder / "input", "LFDOF input folder")
    truths = {p.stem: p for p in list_images(_require_dir(folder / "ground_truth", "LFDOF ground_truth folder"))}
    pairs: list[ImagePair] = []
    for scene in sorted(p for p in inputs.iterdir() if p.is_dir()):
        if scene.name not in truths:
            raise DatasetError(f"{scene}: no ground truth {folder / 'ground_truth' / scene.name}.png")
        pairs.extend(ImagePair(image, truths[scene.name]) for image in list_images(scene))
    if not pairs:
        raise DatasetError(f"no LFDOF input images under {inputs}")
    return pairs


def _split_dir(root: Path, candidates: tuple[str, ...], marker: str) -> Path:
    """The first ROOT/candidate that exists; ROOT itself when it already is the split folder."""
    for name in candidates:
        if (root / name).is_dir():
            return root / name
    if (root / marker).is_dir():
        return root
    raise DatasetError(f"{root}: none of {', '.join(candidates)} found")


def find_pairs(layout: PairLayout, root: Path, split: Split = "train") -> list[ImagePair]:
    """All pairs of one split of a dataset root in the given layout."""
    root = _require_dir(Path(root).expanduser(), "dataset folder")
    if layout == "pairs":
        return pairs_by_name(root)
    if layout == "dpdd":
        names = ("train_c",) if split == "train" else ("val_c", "test_c")
        return pairs_by_order(_split_dir(root, names, "source"))
    if layout == "lfdof":
        names = ("train_data",) if split == "train" else ("test_data",)
        return lfdof_pairs(_split_dir(root, names, "input"))
    raise DatasetError(f"unknown pair layout {layout!r} (expected one of {', '.join(PAIR_LAYOUTS)})")


def find_sharp_images(root: Path) -> list[Path]:
    """Every image below ROOT (recursive), for the synthetic-defocus dataset."""
    root = _require_dir(Path(root).expanduser(), "sharp image folder")
    images = list_images(root, recursive=True)
    if not images:
        raise DatasetError(f"no images under {root}")
    return images
