"""A procedural sharp test scene: text, edges, textures, small bright lights, gradients.

Rendered from code so the demo needs no photo from outside the repository. Everything that
defocus destroys and a deblurring model should bring back is there: thin strokes, hard edges
at several contrasts, fine periodic texture, noise-like texture and point lights (bokeh).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

_WORDS = ["FDIKP", "defocus", "sharp", "lens", "Bokeh 1.8", "f/2.8", "ISO 100", "kernel", "phase", "focus"]


def make_demo_scene(size: tuple[int, int] = (256, 384), seed: int = 0) -> np.ndarray:
    """Render a sharp synthetic scene of `size` = (height, width).

    Shape: -> (H, W, 3) float32 in [0, 1]. The same seed gives the same scene.
    """
    height, width = size
    if height < 16 or width < 16:
        raise ValueError(f"make_demo_scene needs at least 16x16 pixels, got {size}")
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)

    # Smooth two-colour gradient as the backdrop.
    top, bottom = rng.uniform(0.25, 0.75, size=3), rng.uniform(0.1, 0.6, size=3)
    mix = (y / max(height - 1, 1))[..., None]
    image = ((1 - mix) * top + mix * bottom).astype(np.float32)
    unit = min(height, width)

    # Panel of a fine sinusoidal grating (periods of a few pixels) in the upper left.
    gh, gw = int(0.3 * height), int(0.3 * width)
    period = np.linspace(3.0, 9.0, gw, dtype=np.float32)
    grating = 0.5 + 0.4 * np.sin(2 * math.pi * x[:gh, :gw] / period[None, :])
    image[:gh, :gw] = grating[..., None] * np.array([0.9, 0.85, 0.8], dtype=np.float32)

    # Checkerboard patch with hard edges in the upper right.
    cell = max(4, unit // 24)
    cy0, cx0 = int(0.05 * height), int(0.65 * width)
    ch, cw = int(0.3 * height), int(0.3 * width)
    checks = (((y[:ch, :cw] // cell) + (x[:ch, :cw] // cell)) % 2).astype(np.float32)
    image[cy0 : cy0 + ch, cx0 : cx0 + cw] = (0.1 + 0.8 * checks)[..., None]

    # Noise-like texture (fabric, foliage) in the lower right.
    th, tw = int(0.35 * height), int(0.3 * width)
    texture = cv2.GaussianBlur(rng.uniform(0, 1, size=(th, tw)).astype(np.float32), (0, 0), 0.8)
    texture = (texture - texture.mean()) / (texture.std() + 1e-6)
    tint = rng.uniform(0.3, 0.7, size=3).astype(np.float32)
    image[height - th :, width - tw :] = np.clip(tint + 0.15 * texture[..., None], 0, 1)

    # Filled shapes at several contrasts, then text strokes over the middle band.
    canvas = (image * 255).astype(np.uint8)
    for _ in range(4):
        color = tuple(int(v) for v in rng.integers(0, 256, size=3))
        center = (int(rng.uniform(0.3, 0.6) * width), int(rng.uniform(0.55, 0.9) * height))
        cv2.circle(canvas, center, int(rng.uniform(0.04, 0.1) * unit), color, thickness=-1, lineType=cv2.LINE_AA)
    scale = unit / 400.0
    for row in range(3):
        word = _WORDS[int(rng.integers(0, len(_WORDS)))]
        org = (int(0.05 * width), int((0.45 + 0.12 * row) * height))
        ink = (15, 15, 20) if row % 2 == 0 else (240, 240, 235)
        font_scale, thickness = 1.2 * scale + 0.2 * row, max(1, round(2 * scale))
        cv2.putText(canvas, word, org, cv2.FONT_HERSHEY_SIMPLEX, font_scale, ink, thickness, cv2.LINE_AA)
    for i in range(6):
        start = (int(0.35 * width), int((0.35 + 0.02 * i) * height))
        end = (int(0.6 * width), int((0.3 + 0.04 * i) * height))
        cv2.line(canvas, start, end, (30, 30, 30), 1, cv2.LINE_AA)
    image = canvas.astype(np.float32) / 255.0

    # Small bright lights on a dark strip: these become bokeh discs when defocused.
    sh = max(6, int(0.08 * height))
    image[height - sh :, : int(0.6 * width)] = 0.05
    for _ in range(8):
        px, py = int(rng.uniform(0.02, 0.58) * width), int(height - sh / 2 + rng.uniform(-0.3, 0.3) * sh)
        cv2.circle(image, (px, py), int(rng.integers(1, 3)), (1.0, 1.0, 0.95), thickness=-1)
    return np.clip(image, 0.0, 1.0).astype(np.float32)
