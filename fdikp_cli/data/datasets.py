"""Training crops from real pairs, synthetic pairs and weighted mixtures, and the validation set.

Sample i of a stage is a pure function of (seed, stage, i): which source, which image, where
the crop lies, which flip/rotation, which synthetic blur. Resuming at step k therefore continues
with exactly the data a run without interruption would have seen, whatever the number of
workers (no sampler or worker RNG state to restore).

Dataset specification (`--dataset`): comma-separated components `KIND[@ROOT][:WEIGHT]`, e.g.
    "dpdd"                              one source
    "pairs:0.5,synthetic:0.5"           half the samples from each
    "pairs@/data/a:3,lfdof@/data/b:1"   roots given inline (otherwise --data-root / --sharp-dir)
KIND is pairs | dpdd | lfdof | synthetic | sharp (sharp photos as their own targets:
fdikp_cli/data/identity.py). Weights are relative (normalised to sum 1). With one
component, each epoch visits every image once in a random order; with several, each sample
draws its component by weight and an image uniformly. An epoch is the sum of the components'
image counts.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from fdikp_cli.data.augment import (
    apply_flip_rot,
    center_crop,
    checked_scale_range,
    crop,
    random_crop_box,
    random_flip_rot_code,
    random_scaled_window,
    window_notes,
)
from fdikp_cli.data.identity import InFocusCropSource
from fdikp_cli.data.images import image_size, read_native, to_float
from fdikp_cli.data.pairs import (
    PAIR_LAYOUTS,
    ImagePair,
    PairLayout,
    find_pairs,
    find_sharp_images,
    lfdof_pairs,
    pairs_by_name,
    pairs_by_order,
)
from fdikp_cli.errors import DatasetError, ImageReadError

DATASET_KINDS: tuple[str, ...] = (*PAIR_LAYOUTS, "synthetic", "sharp")
# Kinds whose folder is one of sharp photos (--sharp-dir by default), not of real pairs.
SHARP_PHOTO_KINDS: tuple[str, ...] = ("synthetic", "sharp")


@dataclass(frozen=True)
class SourceSpec:
    kind: str
    weight: float = 1.0
    root: Path | None = None  # None: --data-root (real kinds) or --sharp-dir (SHARP_PHOTO_KINDS)


def parse_dataset_spec(text: str) -> list[SourceSpec]:
    """Parse `KIND[@ROOT][:WEIGHT],...` (see the module docstring)."""
    specs: list[SourceSpec] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        weight = 1.0
        head, sep, tail = part.rpartition(":")
        if sep and "@" not in tail and "/" not in tail:
            try:
                weight = float(tail)
            except ValueError:
                raise DatasetError(f"dataset component {part!r}: weight {tail!r} is not a number") from None
            part = head
        kind, _, root = part.partition("@")
        kind = kind.strip().lower()
        if kind not in DATASET_KINDS:
            raise DatasetError(f"unknown dataset kind {kind!r} in {text!r} (expected {', '.join(DATASET_KINDS)})")
        if not weight > 0:
            raise DatasetError(f"dataset component {part!r}: weight must be positive")
        specs.append(SourceSpec(kind, weight, Path(root).expanduser() if root else None))
    if not specs:
        raise DatasetError(f"empty dataset specification {text!r}")
    return specs


class LruImageCache:
    """Decoded images kept in memory up to a byte budget (one cache per worker process)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._images: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, path: Path, load: Callable[[Path], np.ndarray] = read_native) -> np.ndarray:
        """The image cached under `path`, made by `load(path)` on a miss."""
        image = self._images.get(path)
        if image is not None:
            self._images.move_to_end(path)
            return image
        image = load(path)
        if image.nbytes <= self.max_bytes:
            self._images[path] = image
            self._bytes += image.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._images.popitem(last=False)
                self._bytes -= old.nbytes
        return image


def _chw(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float32 -> (3, H, W) contiguous tensor."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


class CropSource(Protocol):
    """One component of the training data: N images, each turned into a (source, target) crop."""

    name: str

    def __len__(self) -> int: ...

    def crop_pair(self, index: int, crop_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(blurred, sharp) float32 (crop, crop, 3) crops of image `index` (before flips)."""
        ...

    def describe(self) -> str: ...


# Context (px) around each crop that `align_crops` registers on and then cuts away: room for the
# shift estimate's Hann window and for the Fourier shift to bring in real content.
CROP_REGISTRATION_MARGIN = 16


def _keep_large_enough(paths: list[Any], sizes: list[tuple[int, int]], crop_size: int, what: str) -> list[Any]:
    kept = [p for p, (h, w) in zip(paths, sizes) if h >= crop_size and w >= crop_size]
    if not kept:
        raise DatasetError(f"every {what} is smaller than the {crop_size}px crop; use a smaller --crop")
    return kept


class PairCropSource:
    """Random aligned crops of real (blurred, sharp) pairs.

    `align` moves each blurred capture onto its sharp one (global sub-pixel shift) and `tone`
    gives each sharp target its blurred capture's exposure and colour, once per pair, before any
    crop (see fdikp_cli.data.registration for why). `scale_range` (low, high <= 1): both images
    are seen together at a random common scale (area-averaged), which shows the model smaller
    blur radii and more scene per crop than the captures alone. `align_crops` re-registers every
    crop on its own (`register_window`, on a window `CROP_REGISTRATION_MARGIN` px wider on each
    side): the local shifts a global one leaves.
    """

    def __init__(self, name: str, pairs: list[ImagePair], crop_size: int, cache_bytes: int,
                 align: bool = False, tone: bool = False, scale_range: tuple[float, float] = (1.0, 1.0),
                 align_crops: bool = False) -> None:
        scale_range = checked_scale_range(scale_range, "pair")
        sizes = []
        for pair in pairs:
            size = image_size(pair.source)
            if image_size(pair.target) != size:
                raise DatasetError(f"{pair.source} and {pair.target} differ in size")
            sizes.append(size)
        self.name = name
        self.margin = CROP_REGISTRATION_MARGIN if align_crops else 0
        self.pairs = _keep_large_enough(pairs, sizes, crop_size + 2 * self.margin, f"image pair of {name}")
        self.skipped = len(pairs) - len(self.pairs)
        self.cache = LruImageCache(cache_bytes)
        self.align, self.tone, self.align_crops = align, tone, align_crops
        self.scale_range = scale_range

    def __len__(self) -> int:
        return len(self.pairs)

    def _stacked(self, index: int) -> np.ndarray:
        """(H, W, 6): the blurred capture's channels, then the sharp one's, registered if asked."""
        pair = self.pairs[index]

        def load(_: Path) -> np.ndarray:
            source, target = read_native(pair.source), read_native(pair.target)
            if source.shape != target.shape:
                raise ImageReadError(f"{pair.source} {source.shape} and {pair.target} {target.shape} differ in size")
            if not (self.align or self.tone):
                return np.concatenate([source, target], axis=2)
            from fdikp_cli.data.registration import register_pair

            blurred, sharp, _ = register_pair(to_float(source), to_float(target), self.align, self.tone)
            return np.concatenate([blurred, sharp], axis=2)

        return self.cache.get(pair.source, load)

    def crop_pair(self, index: int, crop_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        stacked = self._stacked(index)
        side = crop_size + 2 * self.margin
        if self.scale_range[0] < 1.0:
            window = random_scaled_window(stacked, side, self.scale_range, rng)
        else:
            top, left = random_crop_box(stacked.shape[0], stacked.shape[1], side, rng)
            window = crop(stacked, top, left, side)
        window = to_float(window)
        if not self.align_crops:
            return window[..., :3], window[..., 3:]
        from fdikp_cli.data.registration import register_window

        blurred, sharp, _ = register_window(window[..., :3], window[..., 3:], self.margin)
        return blurred, sharp

    def describe(self) -> str:
        prep = [word for word, on in (("aligned", self.align), ("tone-matched", self.tone),
                                      ("re-registered per crop", self.align_crops)) if on]
        notes = window_notes(self.scale_range, self.skipped)
        return f"{self.name}: {len(self)} pairs{', ' + ' and '.join(prep) if prep else ''}{notes}"


class SyntheticCropSource:
    """Sharp photos turned into (blurred, sharp) crops on the fly by the synthetic-defocus engine.

    The sharp photo is cropped with a margin first (blur near the crop border then sees real
    image content, and synthesis costs only the crop), blurred, and the margin cut away.

    `scale_range` (low, high): the window is first taken at a random scale in that range
    (area-averaged downscale). Downscaling averages away the photos' own grain and JPEG noise,
    which a model would otherwise learn to produce, and varies object size relative to the blur;
    the scale is raised where needed so the window still fits inside the photo.
    """

    def __init__(self, images: list[Path], crop_size: int, cache_bytes: int, synth_config: Any = None,
                 margin: int = 32, scale_range: tuple[float, float] = (1.0, 1.0)) -> None:
        scale_range = checked_scale_range(scale_range, "sharp-photo")
        sizes = [image_size(p) for p in images]
        self.name = "synthetic"
        self.images = _keep_large_enough(images, sizes, crop_size, "sharp image")
        self.skipped = len(images) - len(self.images)
        self.cache = LruImageCache(cache_bytes)
        self.synth_config = synth_config
        self.margin = margin
        self.scale_range = scale_range

    def __len__(self) -> int:
        return len(self.images)

    def crop_pair(self, index: int, crop_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        blurred, target, _ = self.crop_with_radius(index, crop_size, rng)
        return blurred, target

    def crop_with_radius(self, index: int, crop_size: int,
                         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(blurred, sharp) (crop, crop, 3) and the true blur radius (crop, crop) in px, as
        `fdikp synth` records it in radius/ (the defocus-map estimator is supervised with it)."""
        from fdikp_cli.synth import SynthConfig, synthesize_pair

        sharp = self.cache.get(self.images[index])
        h, w = sharp.shape[:2]
        margin = max(0, min(self.margin, (h - crop_size) // 2, (w - crop_size) // 2))
        size = crop_size + 2 * margin
        window = to_float(random_scaled_window(sharp, size, self.scale_range, rng))
        pair = synthesize_pair(window, rng, self.synth_config or SynthConfig())
        inner = slice(margin, margin + crop_size)
        blurred = np.asarray(pair.blurred, dtype=np.float32)[inner, inner]
        target = np.asarray(pair.sharp, dtype=np.float32)[inner, inner]
        radius = np.asarray(pair.radius, dtype=np.float32)[inner, inner]
        return blurred, target, radius

    def describe(self) -> str:
        return f"synthetic: {len(self)} sharp photos{window_notes(self.scale_range, self.skipped)}"


@dataclass
class SampleError:
    """A sample that could not be made; the training loop stops with this message."""

    message: str


class TrainCrops(Dataset):
    """Step-indexed training crops: item i is sample i of a stage (see the module docstring).

    Shape: item -> (blurred (3, crop, crop), sharp (3, crop, crop)) float32 in [0, 1], or a
    SampleError naming the file that failed (never an exception inside a worker).
    """

    def __init__(self, sources: list[CropSource], weights: list[float], crop_size: int, seed: int,
                 stage: int = 0) -> None:
        if len(sources) != len(weights) or not sources:
            raise DatasetError("need one weight per data source")
        total = float(sum(weights))
        self.sources = sources
        self.probabilities = np.asarray([w / total for w in weights], dtype=np.float64)
        self.crop_size = crop_size
        self.seed = seed
        self.stage = stage
        self._permutation: tuple[int, np.ndarray] | None = None

    @property
    def epoch_size(self) -> int:
        return sum(len(s) for s in self.sources)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if self._permutation is None or self._permutation[0] != epoch:
            order = np.random.default_rng([self.seed, self.stage, 1, epoch]).permutation(len(self.sources[0]))
            self._permutation = (epoch, order)
        return self._permutation[1]

    def pick(self, index: int, rng: np.random.Generator) -> tuple[int, int]:
        """(source number, image number) of sample `index`."""
        if len(self.sources) == 1:
            size = len(self.sources[0])
            return 0, int(self._epoch_order(index // size)[index % size])
        which = int(rng.choice(len(self.sources), p=self.probabilities))
        return which, int(rng.integers(len(self.sources[which])))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor] | SampleError:
        rng = np.random.default_rng([self.seed, self.stage, 0, index])
        which, image = self.pick(index, rng)
        try:
            blurred, sharp = self.sources[which].crop_pair(image, self.crop_size, rng)
        except (ImageReadError, DatasetError) as exc:
            return SampleError(str(exc))
        code = random_flip_rot_code(rng)
        return _chw(apply_flip_rot(blurred, code)), _chw(apply_flip_rot(sharp, code))

    def describe(self) -> str:
        parts = [f"{s.describe()} (p={p:.2f})" for s, p in zip(self.sources, self.probabilities)]
        return "; ".join(parts)


def build_sources(specs: list[SourceSpec], data_root: Path | None, sharp_dir: Path | None, crop_size: int,
                  cache_bytes: int, synth_config: Any = None,
                  sharp_scale: tuple[float, float] = (1.0, 1.0), pair_align: bool = False,
                  pair_tone: bool = False, pair_scale: tuple[float, float] = (1.0, 1.0),
                  pair_align_crops: bool = False) -> list[CropSource]:
    """Resolve each component's folder and index its images (headers only, nothing decoded)."""
    sources: list[CropSource] = []
    for spec in specs:
        if spec.kind == "synthetic":
            root = spec.root or sharp_dir
            if root is None:
                raise DatasetError("the synthetic dataset needs --sharp-dir (a folder of sharp photos)")
            sources.append(SyntheticCropSource(find_sharp_images(root), crop_size, cache_bytes, synth_config,
                                               scale_range=sharp_scale))
        elif spec.kind == "sharp":
            root = spec.root or sharp_dir
            if root is None:
                raise DatasetError("the sharp dataset needs --sharp-dir or a root (sharp@FOLDER)")
            images = find_sharp_images(root)
            kept = _keep_large_enough(images, [image_size(p) for p in images], crop_size, "sharp image")
            sources.append(InFocusCropSource(kept, LruImageCache(cache_bytes), sharp_scale, len(images) - len(kept)))
        else:
            root = spec.root or data_root
            if root is None:
                raise DatasetError(f"the {spec.kind} dataset needs --data-root")
            layout: PairLayout = spec.kind  # type: ignore[assignment]
            sources.append(PairCropSource(spec.kind, find_pairs(layout, root, "train"), crop_size, cache_bytes,
                                          align=pair_align, tone=pair_tone, scale_range=pair_scale,
                                          align_crops=pair_align_crops))
    return sources


class ValidationSet:
    """Whole validation images (or their centre crops), decoded once and kept in memory.

    Shape: iteration yields (name, blurred (1, 3, H, W), sharp (1, 3, H, W)) float32 in [0, 1].
    """

    def __init__(self, pairs: list[ImagePair], crop_size: int | None = None, max_images: int | None = None) -> None:
        self.pairs = pairs[:max_images] if max_images else pairs
        self.crop_size = crop_size  # any size: the model pads to its size multiple
        self._images: list[tuple[np.ndarray, np.ndarray]] | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def _load(self) -> list[tuple[np.ndarray, np.ndarray]]:
        images = []
        for pair in self.pairs:
            source, target = read_native(pair.source), read_native(pair.target)
            if source.shape != target.shape:
                raise DatasetError(f"{pair.source} {source.shape} and {pair.target} {target.shape} differ in size")
            if self.crop_size:
                source, target = center_crop(source, self.crop_size), center_crop(target, self.crop_size)
            images.append((np.ascontiguousarray(source), np.ascontiguousarray(target)))
        return images

    def __iter__(self) -> Iterator[tuple[str, torch.Tensor, torch.Tensor]]:
        if self._images is None:
            self._images = self._load()
        for pair, (source, target) in zip(self.pairs, self._images):
            yield pair.source.name, _chw(to_float(source))[None], _chw(to_float(target))[None]


def _validation_pairs(kind: str, root: Path) -> list[ImagePair]:
    """Pairs of an explicit validation folder, in the pairing rule of the dataset kind."""
    if kind == "dpdd":
        return pairs_by_order(root) if (root / "source").is_dir() else find_pairs("dpdd", root, "val")
    if kind == "lfdof" and (root / "input").is_dir():
        return lfdof_pairs(root)
    if kind == "lfdof" and (root / "test_data").is_dir():
        return find_pairs("lfdof", root, "val")
    return pairs_by_name(root)


def build_validation(kind: str, val_root: Path | None, data_root: Path | None, crop_size: int | None,
                     max_images: int | None = None) -> ValidationSet | None:
    """The validation pairs: --val-root (paired by name; by order for dpdd), else the dataset's
    own validation split (dpdd: val_c or test_c, lfdof: test_data); None when there is none."""
    if val_root is not None:
        root = Path(val_root).expanduser()
        if not root.is_dir():
            raise DatasetError(f"validation folder not found: {root}")
        return ValidationSet(_validation_pairs(kind, root), crop_size, max_images=max_images)
    if kind in ("dpdd", "lfdof") and data_root is not None:
        try:
            return ValidationSet(find_pairs(kind, data_root, "val"), crop_size, max_images=max_images)  # type: ignore[arg-type]
        except DatasetError:
            return None
    return None
