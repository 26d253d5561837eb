"""Spatially varying defocus with occlusion: layered, premultiplied, back-to-front compositing.

A scene is a stack of depth layers, far to near. Each layer has a mask (where its surface is,
including parts hidden behind nearer layers) and a circle-of-confusion radius per pixel.
The radius is quantised into a short table of levels; a pixel between two levels is shared
between them linearly. For each level, the layer's premultiplied colour and its alpha are
blurred with that level's PSF, so a blurred near object spreads its own alpha and covers
what lies behind it, as light from it does in a real lens. Layers are then composited with
"over". Colours of a layer that are hidden in the sharp photo are filled in from the layer's
visible pixels, so a blurred foreground edge reveals background, not a dark or foreign halo.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Protocol, Sequence

import cv2
import numpy as np

from fdikp_cli.synth.psf import PsfShape, kernel_half_size, psf_kernel


# Neighbouring radius levels differ by this factor. A pixel between two levels is blurred by
# a mix of both discs, i.e. a disc with a faint fringe up to 15 % wider: invisible in texture,
# and a fair match to real bokeh, whose rims are never perfectly crisp either.
LEVEL_RATIO = 1.15


@dataclass(frozen=True)
class BlurLayer:
    """One depth layer ready to render.

    mask: (H, W) float32, 1 where the layer's surface is (hidden parts included), else 0.
    radius: (H, W) float32 circle-of-confusion radius in pixels (read only where mask > 0).
    """

    mask: np.ndarray
    radius: np.ndarray


class PsfSource(Protocol):
    """What `render_layers` needs of a lens: how far a radius reaches, and blurring with it."""

    def reach(self, radius: float) -> int: ...

    def convolve(self, image: np.ndarray, radius: float) -> np.ndarray: ...


@dataclass(frozen=True)
class ParametricPsf:
    """The engine's own PSFs: one `PsfShape` at every radius (psf.py), large radii at reduced resolution."""

    shape: PsfShape
    min_scaled_radius: float = 4.0

    def reach(self, radius: float) -> int:
        return kernel_half_size(radius, self.shape)

    def convolve(self, image: np.ndarray, radius: float) -> np.ndarray:
        return convolve_psf(image, radius, self.shape, self.min_scaled_radius)


def radius_levels(max_radius: float) -> np.ndarray:
    """The radius table: 0, 0.5, 1, 1.5, 2, then x LEVEL_RATIO per level up to (and past) max_radius.

    Fine steps for small radii, where a half pixel is a visible difference; geometric steps
    above, where blending two neighbouring discs is indistinguishable from the one between.
    Shape: -> (K,) float32, ascending, last >= max_radius.
    """
    levels = [0.0, 0.5, 1.0, 1.5, 2.0]
    while levels[-1] < max_radius:
        levels.append(levels[-1] * LEVEL_RATIO)
    return np.asarray(levels, dtype=np.float32)


def level_weights(radius: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the level below each radius and the share `t` of the level above.

    Shape: radius (H, W) -> index (H, W) int, t (H, W) float32 in [0, 1].
    """
    r = np.clip(radius, 0.0, float(levels[-1]))
    index = np.clip(np.searchsorted(levels, r, side="right") - 1, 0, len(levels) - 2)
    low, high = levels[index], levels[index + 1]
    t = np.clip((r - low) / (high - low), 0.0, 1.0).astype(np.float32)
    return index, t


def convolve_psf(image: np.ndarray, radius: float, shape: PsfShape, min_scaled_radius: float) -> np.ndarray:
    """Scatter every pixel of `image` with the PSF of `radius` (a convolution, not a correlation).

    Large radii are blurred at a reduced resolution (the result is smooth anyway): the image
    is area-downsampled by 2 or 4 so the radius stays >= min_scaled_radius there, then
    bilinearly upsampled. Shape: (H, W, C<=4) -> (H, W, C) float32.
    """
    if radius < 0.25:
        return image
    if shape.core > 0.0:
        # Linear in the kernel: the halo and the small core each at their own resolution.
        halo = convolve_psf(image, radius, shape.without_core(), min_scaled_radius)
        core = convolve_psf(image, radius * shape.core_size, shape.core_shape(), min_scaled_radius)
        return (1.0 - shape.core) * halo + shape.core * core
    height, width = image.shape[:2]
    factor = 1
    while min_scaled_radius > 0 and factor < 4 and radius / (factor * 2) >= min_scaled_radius:
        if min(height, width) < 32 * factor:
            break
        factor *= 2
    scaled_shape = dataclasses.replace(shape, softness=max(shape.softness / factor, 0.35))
    kernel = psf_kernel(radius / factor, scaled_shape)
    if factor == 1:
        return convolve_kernel(image, kernel)
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    blurred = convolve_kernel(small, kernel)
    return _restore_channels(cv2.resize(blurred, (width, height), interpolation=cv2.INTER_LINEAR), image)


def convolve_kernel(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """`image` (H, W, C) convolved with a 2-D kernel, reflected borders. Shape: -> (H, W, C)."""
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])  # flip: filter2D correlates
    out = cv2.filter2D(image, -1, flipped, borderType=cv2.BORDER_REFLECT)
    return _restore_channels(out, image)


def _restore_channels(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    # OpenCV drops a trailing channel axis of size 1.
    return out.reshape(like.shape) if out.ndim != like.ndim else out


def fill_hidden(color: np.ndarray, visible: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Colours for a layer's hidden pixels, extended from its visible ones (push-pull).

    Where the layer is visible the photo's colour is kept; where its mask is set but a nearer
    layer hides it, colours are pulled in from the nearest visible ones through an image
    pyramid (the best guess of what a lens "sees around" an occluder). The extension meets
    the visible colours without a step, so the blurred background shows no seam there.
    Shape: color (H, W, 3), visible/mask (H, W) -> (H, W, 3) float32.
    """
    hidden = (mask > 0.5) & (visible < 0.5)
    if not hidden.any():
        return color
    weight = visible.astype(np.float32)
    if weight.sum() <= 0.0:
        return color
    filled = _push_pull(np.ascontiguousarray(color * weight[..., None], dtype=np.float32), weight)
    return np.where(hidden[..., None], filled, color).astype(np.float32)


def _push_pull(premultiplied: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill where weight < 1 from coarser levels of the pyramid. Shape: (H, W, 3), (H, W) -> (H, W, 3)."""
    height, width = weight.shape
    if min(height, width) <= 2:
        total = max(float(weight.sum()), 1e-6)
        mean = premultiplied.reshape(-1, 3).sum(axis=0) / total
        return np.broadcast_to(mean, premultiplied.shape).astype(np.float32)
    half = (max(1, (width + 1) // 2), max(1, (height + 1) // 2))
    coarse_premultiplied = cv2.resize(premultiplied, half, interpolation=cv2.INTER_AREA)
    coarse_weight = cv2.resize(weight, half, interpolation=cv2.INTER_AREA)
    coarse = _push_pull(coarse_premultiplied, coarse_weight)
    up = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_LINEAR)
    own = np.clip(weight, 0.0, 1.0)[..., None]
    color = premultiplied / np.maximum(weight, 1e-6)[..., None]
    return (own * color + (1.0 - own) * up).astype(np.float32)


def visible_masks(layers: Sequence[BlurLayer]) -> list[np.ndarray]:
    """Per layer (far to near), where it is the front-most surface. Shape: each (H, W) float32."""
    uncovered = np.ones_like(layers[0].mask)
    visible: list[np.ndarray] = [np.zeros_like(uncovered)] * len(layers)
    for i in range(len(layers) - 1, -1, -1):
        visible[i] = layers[i].mask * uncovered
        uncovered = uncovered * (1.0 - layers[i].mask)
    return visible


def _bounding_box(where: np.ndarray, margin: int) -> tuple[int, int, int, int]:
    """Rows [top, bottom) and columns [left, right) holding `where`, grown by `margin` and
    aligned to multiples of 4 (so reduced-resolution blurs sample the same grid)."""
    rows, cols = np.flatnonzero(where.any(axis=1)), np.flatnonzero(where.any(axis=0))
    height, width = where.shape
    top, bottom = max(0, (rows[0] - margin) // 4 * 4), min(height, -(-(rows[-1] + 1 + margin) // 4) * 4)
    left, right = max(0, (cols[0] - margin) // 4 * 4), min(width, -(-(cols[-1] + 1 + margin) // 4) * 4)
    return int(top), int(bottom), int(left), int(right)


def render_layers(
    linear: np.ndarray,
    layers: Sequence[BlurLayer],
    shape: PsfShape | PsfSource = PsfShape(),
    max_radius: float | None = None,
    min_scaled_radius: float = 4.0,
) -> np.ndarray:
    """Defocus a linear-light image given its depth layers (far to near).

    The sum of the layers' masks must cover every pixel (the farthest layer is normally
    all ones). Shape: linear (H, W, 3), layer maps (H, W) -> (H, W, 3) float32, linear light.
    `shape`: a PsfShape (the engine's parametric lens, with `min_scaled_radius`) or any
    PsfSource (e.g. synth.learned_psf.LearnedPsf, kernels learnt from real pairs).
    """
    if not layers:
        raise ValueError("render_layers needs at least one layer")
    psf = ParametricPsf(shape, min_scaled_radius) if isinstance(shape, PsfShape) else shape
    height, width = linear.shape[:2]
    largest = max_radius if max_radius is not None else max(float(layer.radius.max()) for layer in layers)
    levels = radius_levels(max(largest, 0.5))
    visible = visible_masks(layers)

    acc_color = np.zeros((height, width, 3), dtype=np.float32)
    acc_alpha = np.zeros((height, width, 1), dtype=np.float32)
    for layer, seen in zip(layers, visible):
        if not (layer.mask > 0).any():
            continue
        color = fill_hidden(linear, seen, layer.mask)
        premultiplied = np.concatenate([color * layer.mask[..., None], layer.mask[..., None]], axis=2)
        index, t = level_weights(layer.radius, levels)
        blurred = np.zeros((height, width, 4), dtype=np.float32)
        inside = layer.mask > 0
        lower = np.bincount(index[inside], minlength=len(levels))
        upper = np.bincount(index[inside & (t > 0)] + 1, minlength=len(levels))
        for k in np.flatnonzero(lower + upper):
            involved = inside & ((index == k) | ((index + 1 == k) & (t > 0)))
            # Blur only the box where this level has weight, plus the kernel's reach: outside
            # it the weighted image is zero, so the result is the same as blurring everything.
            reach = psf.reach(float(levels[k])) + 8
            top, bottom, left, right = _bounding_box(involved, reach)
            window = (slice(top, bottom), slice(left, right))
            index_w, t_w = index[window], t[window]
            share = np.where(index_w == k, 1.0 - t_w, 0.0) + np.where(index_w + 1 == k, t_w, 0.0)
            share = (share * inside[window]).astype(np.float32)
            weighted = premultiplied[window] * share[..., None]
            blurred[window] += psf.convolve(weighted, float(levels[k]))
        alpha = np.clip(blurred[..., 3:4], 0.0, 1.0)
        acc_color = blurred[..., :3] + (1.0 - alpha) * acc_color
        acc_alpha = alpha + (1.0 - alpha) * acc_alpha
    # Within one layer the shares of neighbouring levels blur with different kernels, so the
    # alpha can miss 1 by a few percent where the radius changes; normalising removes that.
    return (acc_color / np.maximum(acc_alpha, 1e-6)).astype(np.float32)
