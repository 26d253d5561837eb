"""Tiles for images larger than the device can take at once: pure functions.

Tiles are spread evenly over the image (no thin last tile), start on multiples of `align`
(the model's size multiple, so each tile's image pyramid lines up with the whole image's),
and overlap by at least `overlap` pixels. Each tile's output is weighted by a separable
feather over `overlap` pixels at every edge shared with another tile: 0 on the outer
quarter, a raised-cosine rise, 1 inside (edges on the image border keep weight 1); the blend
is normalised by the sum of weights. Because every tile in a tile row shares one vertical profile and every
tile in a column one horizontal profile, that sum is separable too: the normaliser is a row
vector times a column vector, never an (H, W) buffer.

For a model that only looks at a neighbourhood smaller than the overlap, the blend equals
the whole-image result exactly. FDIKP also has global operations (predicted kernels, strip
attention, spectral convolution): a tile alone would give them other inputs than the whole
image, so restore() lets the tiles share one context pass (global_context.py); then its
convolutional rest fits in the overlap. benchmarks/bench_deblur.py measures what remains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Tile:
    """One tile: rows y0:y1, columns x0:x1 of the image; its place in the tile grid."""

    y0: int
    y1: int
    x0: int
    x1: int
    row: int
    col: int


def axis_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets of tiles covering [0, length) along one axis.

    Every tile is `tile` long except perhaps the last, which ends at `length` and is at least
    tile - align + 1 long. Neighbours share at least `overlap` pixels; starts are multiples of
    `align` and as evenly spaced as alignment allows. One tile when tile >= length.
    """
    if tile <= 0 or align <= 0:
        raise ValueError(f"tile and align must be positive, got tile={tile}, align={align}")
    if tile >= length:
        return [0]
    if tile % align:
        raise ValueError(f"tile {tile} must be a multiple of align {align}")
    max_step = ((tile - overlap) // align) * align
    if max_step <= 0:
        raise ValueError(f"overlap {overlap} leaves no room to step with tile {tile} (align {align})")
    last = math.ceil((length - tile) / align) * align  # the last tile ends at `length`
    count = 1 + math.ceil(last / max_step)
    spacing = last / (count - 1) / align  # in units of align, <= max_step / align
    return [round(i * spacing) * align for i in range(count)]


def tile_grid(height: int, width: int, tile: int, overlap: int, align: int = 1) -> list[Tile]:
    """The tiles covering an image, row by row."""
    rows = axis_starts(height, tile, overlap, align)
    cols = axis_starts(width, tile, overlap, align)
    return [
        Tile(y0, min(y0 + tile, height), x0, min(x0 + tile, width), r, c)
        for r, y0 in enumerate(rows)
        for c, x0 in enumerate(cols)
    ]


def feather_ramp(length: int, overlap: int, rise_at_start: bool, fall_at_end: bool) -> torch.Tensor:
    """1-D weights of one tile along one axis.

    At an edge shared with another tile, the outer quarter of the overlap gets weight 0 (a
    tile's border is where the model saw padding instead of context: any model whose
    receptive field is within overlap // 4 is blended exactly), the middle half rises as a
    raised cosine, and the rest is 1. Edges on the image border keep weight 1.
    Shape: (length,) float64.
    """
    weights = torch.ones(length, dtype=torch.float64)
    overlap = min(overlap, length)
    if overlap <= 0:
        return weights
    margin = overlap // 4
    rise_length = overlap - 2 * margin
    centres = (torch.arange(rise_length, dtype=torch.float64) + 0.5) / rise_length
    rise = torch.cat([torch.zeros(margin, dtype=torch.float64), torch.sin(centres * (math.pi / 2)) ** 2])
    if rise_at_start:
        weights[: rise.numel()] = torch.minimum(weights[: rise.numel()], rise)
    if fall_at_end:
        weights[length - rise.numel() :] = torch.minimum(weights[length - rise.numel() :], rise.flip(0))
    return weights


def axis_weights(starts: list[int], length: int, tile: int, overlap: int) -> list[torch.Tensor]:
    """The feather of each tile along one axis (its first and last edges stay at weight 1)."""
    last = len(starts) - 1
    return [
        feather_ramp(min(start + tile, length) - start, overlap, rise_at_start=i > 0, fall_at_end=i < last)
        for i, start in enumerate(starts)
    ]


def axis_weight_sum(starts: list[int], weights: list[torch.Tensor], length: int) -> torch.Tensor:
    """Sum over tiles of one axis' weights at each position. Shape: (length,) float64."""
    total = torch.zeros(length, dtype=torch.float64)
    for start, w in zip(starts, weights):
        total[start : start + w.numel()] += w
    return total


def pad_to_multiple(
    x: torch.Tensor, multiple: int
) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """Pad the bottom and right of (..., H, W) to multiples of `multiple`; return the padded
    tensor and the function that crops a result (..., H', W') back to (..., H, W).

    Reflect padding, replicate where the image is too small to reflect (as FDIKP does
    internally, so pre-padding does not change its result).
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple

    def undo(y: torch.Tensor) -> torch.Tensor:
        return y[..., :h, :w]

    if pad_h == 0 and pad_w == 0:
        return x, undo
    mode = "reflect" if pad_h < h and pad_w < w else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), undo
