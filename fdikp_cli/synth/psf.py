"""Point spread functions of a defocused lens, one kernel per circle-of-confusion radius.

An ideal defocused lens images a point as a uniform disc (the aperture's shadow). Real lenses
add a soft edge (diffraction, aberrations, the sensor's anti-aliasing filter), polygonal
discs (aperture blades), cat-eye discs towards the frame edges (mechanical vignetting) and a
brighter rim or centre (spherical aberration), and a concentrated core inside a wider halo
(strong spherical aberration: a defocused point keeps a bright centre, so real out-of-focus
regions keep more fine detail than a uniform disc of the same size would leave). All of it is
the same for R, G and B up to a few percent, so one kernel serves the three channels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

PsfKind = Literal["disc", "polygon", "gaussian"]

_SUPERSAMPLE = 4  # sub-samples per pixel and axis: anti-aliased edges for small discs


@dataclass(frozen=True)
class PsfShape:
    """The shape of the defocus kernel, independent of its radius.

    kind: "disc" (default), "polygon" (aperture blades) or "gaussian" (a smooth, bell-shaped blur).
    softness: width of the edge ramp in pixels.
    blades, rotation: polygon only; number of aperture blades and their angle in radians.
    cat_eye: 0 = round; 0.3 = the disc is cut to a lens shape of 70 % width (frame edges).
    cat_eye_angle: direction (radians) of the cut, i.e. the direction to the frame centre.
    rim: > 0 brighter rim, < 0 brighter centre (spherical aberration); 0 = uniform.
    core: share of the energy in a small central disc of radius core_size * radius (the rest
      is the shape above); 0 = no core.
    """

    kind: PsfKind = "disc"
    softness: float = 0.7
    blades: int = 6
    rotation: float = 0.0
    cat_eye: float = 0.0
    cat_eye_angle: float = 0.0
    rim: float = 0.0
    core: float = 0.0
    core_size: float = 0.25

    def without_core(self) -> "PsfShape":
        return replace(self, core=0.0)

    def core_shape(self) -> "PsfShape":
        """The core: a plain soft disc (its radius is core_size times the PSF's)."""
        return PsfShape(kind="disc", softness=self.softness)


def kernel_half_size(radius: float, shape: PsfShape) -> int:
    """Half the side of the square kernel for `radius`, so the kernel is (2h+1, 2h+1)."""
    extent = 1.25 * radius if shape.kind == "gaussian" else radius * _polygon_scale(shape)
    return int(math.ceil(extent + shape.softness + 1.0))


def psf_kernel(radius: float, shape: PsfShape = PsfShape()) -> np.ndarray:
    """The normalised kernel (sums to 1) imaging a point at circle-of-confusion `radius` px.

    Shape: -> (2h+1, 2h+1) float32 with h = kernel_half_size(radius, shape).
    A radius below 0.25 px is in focus: a 1x1 identity kernel.
    """
    if radius < 0.25:
        return np.ones((1, 1), dtype=np.float32)
    if shape.core > 0.0:
        halo = psf_kernel(radius, shape.without_core())
        core = psf_kernel(radius * shape.core_size, shape.core_shape())
        size = max(halo.shape[0], core.shape[0])  # both odd and centred: pad to a common size
        mixed = (1.0 - shape.core) * pad_kernel(halo, size) + shape.core * pad_kernel(core, size)
        return mixed.astype(np.float32)
    half = kernel_half_size(radius, shape)
    # Sub-sample centres of every pixel of the kernel, then average back to pixels.
    step = 1.0 / _SUPERSAMPLE
    offsets = (np.arange(_SUPERSAMPLE) + 0.5) * step - 0.5
    axis = (np.arange(-half, half + 1)[:, None] + offsets[None, :]).reshape(-1)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    dist = np.hypot(x, y)
    soft = max(shape.softness, 1e-3)

    if shape.kind == "gaussian":
        sigma = radius / 2.0
        weight = np.exp(-0.5 * (dist / sigma) ** 2)
    else:
        if shape.kind == "polygon":
            boundary = _polygon_boundary(np.arctan2(y, x), radius * _polygon_scale(shape), shape)
        else:
            boundary = np.full_like(dist, radius)
        weight = np.clip((boundary - dist) / soft + 0.5, 0.0, 1.0)
        if shape.rim != 0.0:
            weight = weight * np.clip(1.0 + shape.rim * ((dist / radius) ** 2 - 0.5), 0.0, None)
    if shape.cat_eye > 0.0:
        weight = weight * _cat_eye_mask(x, y, radius, shape, soft)

    size = 2 * half + 1
    kernel = weight.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))
    total = kernel.sum()
    if total <= 0.0:
        return np.ones((1, 1), dtype=np.float32)
    return (kernel / total).astype(np.float32)


def pad_kernel(kernel: np.ndarray, size: int) -> np.ndarray:
    """An odd, centred square kernel zero-padded to the (odd) side `size`."""
    pad = (size - kernel.shape[0]) // 2
    return np.pad(kernel, pad) if pad else kernel


def _polygon_scale(shape: PsfShape) -> float:
    """Circumradius / disc radius that gives a regular polygon the disc's area."""
    if shape.kind != "polygon":
        return 1.0
    n = shape.blades
    return math.sqrt(math.pi / (0.5 * n * math.sin(2.0 * math.pi / n)))


def _polygon_boundary(theta: np.ndarray, circumradius: float, shape: PsfShape) -> np.ndarray:
    """Distance from the centre to the edge of a regular polygon, per direction `theta`."""
    sector = 2.0 * math.pi / shape.blades
    local = np.mod(theta - shape.rotation, sector) - sector / 2.0
    return circumradius * math.cos(sector / 2.0) / np.cos(local)


def _cat_eye_mask(x: np.ndarray, y: np.ndarray, radius: float, shape: PsfShape, soft: float) -> np.ndarray:
    """Intersection of two discs shifted apart along the cut direction (centred, so no image shift)."""
    shift = shape.cat_eye * radius
    dx, dy = 0.5 * shift * math.cos(shape.cat_eye_angle), 0.5 * shift * math.sin(shape.cat_eye_angle)
    first = np.clip((radius - np.hypot(x - dx, y - dy)) / soft + 0.5, 0.0, 1.0)
    second = np.clip((radius - np.hypot(x + dx, y + dy)) / soft + 0.5, 0.0, 1.0)
    return first * second
