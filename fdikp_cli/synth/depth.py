"""Random depth layouts and the circle of confusion of a thin lens.

A layout is a far-to-near stack of layers, each a mask with a disparity (inverse depth,
1/d, larger = nearer) per pixel: a background of smooth planes and ramps (walls, ground),
then a few occluding shapes (ellipses, polygons, bands entering from a side, like a trunk or
a railing) that are nearer than everything before them.

Thin lens: a point at depth d, with the lens focused at d_f, is imaged as a disc of radius
    r = (A f / 2) * d_f / (d_f - f) * |1/d - 1/d_f|  (A the aperture diameter, f the focal length),
i.e. proportional to |disparity - focus disparity|. The constant is chosen per image so its
largest visible radius is a sampled value <= the configured maximum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fdikp_cli.synth.render import BlurLayer, visible_masks


@dataclass(frozen=True)
class DepthLayer:
    """mask: (H, W) float32 in {0, 1}; disparity: (H, W) float32, 1/depth in scene units."""

    mask: np.ndarray
    disparity: np.ndarray


@dataclass(frozen=True)
class LayoutOptions:
    """How random layouts are drawn (see SynthConfig for the meaning of each)."""

    max_occluders: int = 3
    occluder_prob: float = 0.7
    background_tilt: float = 0.8
    background_wobble: float = 0.15
    segment_prob: float = 0.5


def _coords(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates in [-0.5, 0.5] along the longer side. Shape: 2 x (H, W)."""
    scale = float(max(height, width))
    y = (np.arange(height, dtype=np.float32) - (height - 1) / 2.0) / scale
    x = (np.arange(width, dtype=np.float32) - (width - 1) / 2.0) / scale
    return np.meshgrid(y, x, indexing="ij")


def _smooth_noise(height: int, width: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth random field in about [-1, 1]: a coarse random grid, bicubically upsampled."""
    grid = rng.uniform(-1.0, 1.0, size=(cells, cells)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


def _ramp(height: int, width: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A tilted plane: disparity changing linearly across the frame in a random direction,
    most often increasing downwards (the ground comes nearer at the bottom of a photo)."""
    y, x = _coords(height, width)
    angle = rng.normal(math.pi / 2, 0.6) if rng.random() < 0.6 else rng.uniform(0, 2 * math.pi)
    slope = strength * rng.uniform(0.0, 1.0)
    return (slope * (x * math.cos(angle) + y * math.sin(angle))).astype(np.float32)


def _shape_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random occluder: ellipse, convex polygon, or a band entering from one side.
    Shape: -> (H, W) float32 in {0, 1}."""
    canvas = np.zeros((height, width), dtype=np.uint8)
    size = float(min(height, width))
    kind = rng.choice(["ellipse", "polygon", "band"], p=[0.4, 0.35, 0.25])
    if kind == "ellipse":
        center = (int(rng.uniform(0, width)), int(rng.uniform(0, height)))
        axes = (int(rng.uniform(0.08, 0.45) * size), int(rng.uniform(0.08, 0.45) * size))
        cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, thickness=-1)
    elif kind == "polygon":
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        count = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * math.pi, size=count))
        radii = rng.uniform(0.1, 0.45, size=count) * size
        points = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)
        cv2.fillPoly(canvas, [points.round().astype(np.int32)], 1)
    else:
        # A band across the frame at a random angle: a post, a trunk, a railing, a wall edge.
        angle = rng.uniform(0, math.pi)
        normal = np.array([math.cos(angle), math.sin(angle)])
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        offset = (x - rng.uniform(0, width)) * normal[0] + (y - rng.uniform(0, height)) * normal[1]
        half_width = rng.uniform(0.05, 0.6) * size
        return (np.abs(offset) < half_width).astype(np.float32)
    return canvas.astype(np.float32)


def _segment_mask(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An occluder that follows the photo's own edges: one connected region of similar colour.

    Real depth edges are object edges, so a model should see blur change where the image
    changes. Colours (and, weakly, positions) of a 64-px thumbnail are clustered with
    k-means; one cluster's largest connected piece, smoothed, becomes the mask.
    Shape: image (H, W, 3) -> (H, W) float32 in {0, 1}.
    """
    height, width = image.shape[:2]
    scale = 64.0 / max(height, width)
    small_size = (max(4, round(width * scale)), max(4, round(height * scale)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab) / np.array([100.0, 127.0, 127.0], dtype=np.float32)
    yy, xx = np.mgrid[0 : small.shape[0], 0 : small.shape[1]].astype(np.float32) / 64.0
    features = np.concatenate([lab, 0.5 * yy[..., None], 0.5 * xx[..., None]], axis=2).reshape(-1, 5).astype(np.float32)
    clusters = int(rng.integers(3, 8))
    cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))  # k-means seeds from OpenCV's own generator
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 10, 1e-3)
    _, labels, _ = cv2.kmeans(features, clusters, None, criteria, 1, cv2.KMEANS_PP_CENTERS)
    labels = labels.reshape(small.shape[:2])
    chosen = (labels == int(rng.integers(0, clusters))).astype(np.uint8)
    count, components, stats, _ = cv2.connectedComponentsWithStats(chosen, connectivity=4)
    if count <= 1:
        return np.zeros((height, width), dtype=np.float32)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (components == largest).astype(np.float32)
    region = cv2.resize(region, (width, height), interpolation=cv2.INTER_LINEAR)
    return (cv2.GaussianBlur(region, (0, 0), 1.0 / scale) > 0.5).astype(np.float32)


def random_layout(
    height: int, width: int, rng: np.random.Generator, options: LayoutOptions, image: np.ndarray | None = None
) -> list[DepthLayer]:
    """A random far-to-near stack: one background layer covering the frame, then occluders
    (random shapes, or regions of `image` when it is given, with probability segment_prob)."""
    base = rng.uniform(0.0, 0.5)
    background = base + _ramp(height, width, rng, options.background_tilt)
    background += options.background_wobble * rng.uniform(0, 1) * _smooth_noise(height, width, rng, 4)
    background = np.maximum(background, 0.0).astype(np.float32)
    layers = [DepthLayer(np.ones((height, width), dtype=np.float32), background)]

    nearest = float(background.max())
    # (max_occluders 0 draws nothing: rng.integers(1, 1) would fail)
    count = int(rng.integers(1, options.max_occluders + 1)) if options.max_occluders and rng.random() < options.occluder_prob else 0
    for _ in range(count):
        use_segment = image is not None and rng.random() < options.segment_prob
        mask = _segment_mask(image, rng) if use_segment else _shape_mask(height, width, rng)
        if mask.sum() < 16:
            continue
        level = nearest + rng.uniform(0.05, 0.5)
        disparity = level + _ramp(height, width, rng, 0.15)
        disparity = np.maximum(disparity, nearest).astype(np.float32)
        layers.append(DepthLayer(mask, disparity))
        nearest = float(disparity.max())
    return layers


def choose_focus(layers: list[DepthLayer], rng: np.random.Generator, on_surface_prob: float) -> float:
    """The focus disparity: usually that of a random visible pixel (someone focused on
    something; large surfaces get the focus more often, as in photos), otherwise anywhere in
    the scene's disparity range (a missed focus, nothing exactly sharp)."""
    visible = visible_masks([BlurLayer(layer.mask, layer.disparity) for layer in layers])
    front = np.zeros_like(visible[0])
    for layer, seen in zip(layers, visible):
        front += seen * layer.disparity
    if rng.random() < on_surface_prob:
        y, x = int(rng.integers(0, front.shape[0])), int(rng.integers(0, front.shape[1]))
        return float(front[y, x])
    return float(rng.uniform(front.min(), front.max()))


def coc_layers(layers: list[DepthLayer], focus: float, image_radius: float) -> list[BlurLayer]:
    """Thin-lens circle of confusion per layer, scaled so the largest visible radius is
    `image_radius` px. Shape: each layer's radius (H, W) float32."""
    visible = visible_masks([BlurLayer(layer.mask, layer.disparity) for layer in layers])
    spread = max(
        float(np.abs(layer.disparity - focus)[seen > 0.5].max(initial=0.0)) for layer, seen in zip(layers, visible)
    )
    scale = image_radius / spread if spread > 1e-6 else 0.0
    return [BlurLayer(layer.mask, (scale * np.abs(layer.disparity - focus)).astype(np.float32)) for layer in layers]


def visible_radius(layers: list[BlurLayer]) -> np.ndarray:
    """The CoC radius of the front-most surface at each pixel. Shape: -> (H, W) float32."""
    visible = visible_masks(layers)
    radius = np.zeros_like(visible[0])
    for layer, seen in zip(layers, visible):
        radius += seen * layer.radius
    return radius.astype(np.float32)
