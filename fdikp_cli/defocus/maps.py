"""Defocus maps of photos: the estimator run at its working scale, the radius map in photo pixels,
and the pictures and numbers made from it (library API behind `fdikp defocus-map`).

    from fdikp_cli.defocus.maps import load_estimator, estimate_radius_map, summarize
    estimator = load_estimator()                      # weights/defocus_map.safetensors
    radius = estimate_radius_map(estimator, rgb)      # rgb (H, W, 3) float in [0, 1] -> (H, W) px
    summarize(radius, work_scale(*rgb.shape[:2]))     # in-focus share, median, p90

Scale. The estimator was trained on photos at the scale of the DPDD pairs (1024 x 683), where
defocus radii reach ~30 px. A larger photo has proportionally larger blur, beyond the
estimator's range, so a photo whose long side exceeds `work_side` (1024) is area-downscaled
by s = work_side / long side, the map estimated there, bilinearly upsampled, and divided by s:
radii are always in pixels of the photo as given. "In focus" means r <= 1 px at the working
scale, i.e. r <= 1 / s px of the photo.

File units (16-bit PNG, one channel): value = round(radius_px * 100), i.e. 0.01 px steps up to
655.35 px (a 6000 px wide photo can hold radii of 30 / s = 176 px). The PNG carries text
chunks saying so: "fdikp:unit" = "radius_px * 100", "fdikp:scale" = "100", and
"fdikp:in_focus_px", "fdikp:work_scale".

Small photos. The estimator tells a large blur from a flat wall by the context its coarse
levels see; a photo whose shorter side is under MIN_USEFUL_SIDE px at the working scale (1x1,
or a 20000x40 strip, which the estimator sees at 1024x2) still gets a map and numbers, but
its summary carries a note saying that they say little.

Colour pictures. The colour scale runs from 0 to a round value just above the map's largest
radius (at least the in-focus threshold), so a photo whose radii are all 0-4 px uses the whole
colour range; the scale bar below the picture labels that range in px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fdikp_cli.defocus.weights import DefocusWeights, load_defocus_weights
from fdikp_cli.imageio import atomic_write, write_image
from fdikp_cli.imageio.formats import PNG

DEFAULT_WORK_SIDE = 1024
MAP_SCALE = 100  # 16-bit value per px of radius
IN_FOCUS_PX = 1.0  # at the working scale
# Two cells of the shipped estimator's coarsest level (1/16): below it that level, which holds
# the context that tells a large blur from a flat wall, sees little but padding.
MIN_USEFUL_SIDE = 32
MIN_LEGEND_WIDTH = 160  # px: room for the scale bar's labels under a narrow picture


@dataclass
class MapSummary:
    """Numbers for one photo; radii in px of the photo as given."""

    in_focus_share: float  # fraction of pixels with r <= in_focus_px
    median_px: float
    p90_px: float
    in_focus_px: float  # the threshold used (1 px at the working scale)
    work_scale: float  # s: the estimator saw the photo scaled by this (<= 1)
    note: str | None = None  # why the numbers say little (a photo too small for the estimator)

    def line(self) -> str:
        numbers = (f"in focus {100 * self.in_focus_share:.0f} % (r <= {self.in_focus_px:.2g} px), "
                   f"median {self.median_px:.1f} px, p90 {self.p90_px:.1f} px")
        return numbers + (f" (note: {self.note})" if self.note else "")

    def to_dict(self) -> dict[str, float | str | None]:
        return {"in_focus_share": round(self.in_focus_share, 4), "median_px": round(self.median_px, 3),
                "p90_px": round(self.p90_px, 3), "in_focus_px": round(self.in_focus_px, 4),
                "work_scale": round(self.work_scale, 5), "note": self.note}


def load_estimator(path: str | Path | None = None, device: torch.device | str = "cpu") -> DefocusWeights:
    """The estimator and its bank (the shipped weights by default; see `default_defocus_weights_path`)."""
    return load_defocus_weights(path, device)


def work_scale(height: int, width: int, work_side: int = DEFAULT_WORK_SIDE) -> float:
    """The factor (<= 1) a photo of this size is scaled by for the estimator."""
    return min(1.0, work_side / max(height, width))


def work_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """(h, w) the estimator sees of a photo scaled by `scale` (as `estimate_radius_map` resizes)."""
    if scale >= 1.0:
        return height, width
    return max(1, round(height * scale)), max(1, round(width * scale))


def size_note(height: int, width: int, scale: float, min_side: int = MIN_USEFUL_SIDE) -> str | None:
    """Why a map of this photo says little, or None: the estimator saw a side under `min_side`."""
    seen_h, seen_w = work_size(height, width, scale)
    if min(seen_h, seen_w) >= min_side:
        return None
    note = (f"too small for the estimator: it saw {seen_w}x{seen_h} px (a side under {min_side} px, its "
            f"useful context), so these numbers say little")
    short, long = min(height, width), max(height, width)
    if short >= min_side:  # a strip: a larger working side keeps its short side
        note += f"; --work-side {math.ceil(long * min_side / short)} would give it {min_side} px"
    return note


def photo_as_float(pixels: np.ndarray) -> np.ndarray:
    """Decoded pixels (H, W, C) uint8/uint16, C in {1, 3} -> RGB float32 (H, W, 3) in [0, 1]."""
    scale = 65535.0 if pixels.dtype == np.uint16 else 255.0
    rgb = pixels.astype(np.float32) / scale
    return np.repeat(rgb, 3, axis=2) if rgb.shape[2] == 1 else rgb


def estimate_radius_map(estimator: DefocusWeights, rgb: np.ndarray | torch.Tensor,
                        work_side: int = DEFAULT_WORK_SIDE) -> np.ndarray:
    """The blur radius (px of this photo) at every pixel.

    Shape: rgb (H, W, 3) float in [0, 1] (numpy or tensor) -> (H, W) float32 numpy.
    """
    import cv2

    image = rgb.detach().cpu().numpy() if isinstance(rgb, torch.Tensor) else np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    height, width = image.shape[:2]
    scale = work_scale(height, width, work_side)
    small = image.astype(np.float32, copy=False)
    if scale < 1.0:
        seen_h, seen_w = work_size(height, width, scale)
        small = cv2.resize(small, (seen_w, seen_h), interpolation=cv2.INTER_AREA)
    device = next(estimator.model.parameters()).device
    tensor = torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1)))[None].to(device)  # (1, 3, h, w)
    with torch.inference_mode():
        radius = estimator.model(tensor)[0, 0].float().cpu().numpy()  # (h, w) px at the working scale
    if scale < 1.0:
        radius = cv2.resize(radius, (width, height), interpolation=cv2.INTER_LINEAR) / scale
    return radius.astype(np.float32)


def summarize(radius: np.ndarray, scale: float = 1.0) -> MapSummary:
    """In-focus share (r <= 1 px at the working scale), median and 90th percentile radius, and
    a note when the photo was too small for the estimator. Shape: radius (H, W) px."""
    threshold = IN_FOCUS_PX / scale
    values = radius.reshape(-1)
    return MapSummary(float((values <= threshold).mean()), float(np.median(values)),
                      float(np.percentile(values, 90)), threshold, scale, size_note(*radius.shape[:2], scale))


def encode_radius_png(radius: np.ndarray, scale: float = 1.0) -> bytes:
    """The 16-bit single-channel PNG of a radius map with its unit in text chunks.

    value = round(radius * MAP_SCALE), clipped to 65535. Shape: (H, W) px -> PNG bytes.
    """
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    values = np.clip(np.round(radius.astype(np.float64) * MAP_SCALE), 0, 65535).astype(np.uint16)
    info = PngInfo()
    info.add_text("fdikp:unit", f"radius_px * {MAP_SCALE}")
    info.add_text("fdikp:scale", str(MAP_SCALE))
    info.add_text("fdikp:in_focus_px", f"{IN_FOCUS_PX / scale:.6g}")
    info.add_text("fdikp:work_scale", f"{scale:.6g}")
    info.add_text("Description", f"defocus blur radius map: radius in px of the photo = value / {MAP_SCALE}")
    buffer = io.BytesIO()
    # Pillow writes mode "I;16" as a 16-bit grey PNG (its RGB path is 8-bit only).
    Image.fromarray(values).save(buffer, "PNG", pnginfo=info, compress_level=6)
    return buffer.getvalue()


def read_radius_png(path: str | Path) -> tuple[np.ndarray, dict[str, str]]:
    """A radius PNG back as (H, W) float32 px and its text chunks."""
    from PIL import Image

    with Image.open(path) as picture:
        values = np.asarray(picture, dtype=np.uint16 if picture.mode.startswith("I;16") else None)
        text = dict(getattr(picture, "text", {}))
    scale = float(text.get("fdikp:scale", MAP_SCALE))
    return values.astype(np.float32) / scale, text


def colour_scale_max(radius: np.ndarray, scale: float = 1.0) -> float:
    """The colour map's top (px of the photo): the smallest of 1, 1.5, 2, 3, 4, 5, 6, 8 x 10^k at
    or above the map's largest radius, so the colours span what is there (a fixed 0-30 px
    scale drew a photo blurred by 0-4 px in one blue) and the bar's last tick is its top. At
    least the in-focus threshold: a sharp photo stays blue instead of showing its noise in
    every colour."""
    largest = float(np.max(radius)) if radius.size else 0.0
    top = max(largest if math.isfinite(largest) else 0.0, IN_FOCUS_PX / scale)
    magnitude = 10.0 ** math.floor(math.log10(top))
    return next(round(m * magnitude, 12) for m in (1, 1.5, 2, 3, 4, 5, 6, 8, 10) if m * magnitude >= top)


def colour_map(radius: np.ndarray, vmax: float) -> np.ndarray:
    """Radius (H, W) px -> RGB uint8 (H, W, 3), turbo colour map from 0 (blue) to vmax (red)."""
    import cv2

    levels = np.clip(radius / max(vmax, 1e-6) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    bgr = cv2.applyColorMap(levels, cv2.COLORMAP_TURBO)
    return np.ascontiguousarray(bgr[..., ::-1])


def with_scale_bar(picture: np.ndarray, vmax: float) -> np.ndarray:
    """`picture` (H, W, 3) uint8 with a colour bar below it, labelled in px (0 .. vmax).

    Shape: (H, W, 3) -> (H + bar, max(W, MIN_LEGEND_WIDTH), 3). The bar's height and text grow
    with the picture; a picture narrower than the labels is padded white on the right.
    """
    import cv2

    height, width = picture.shape[:2]
    # Grows with the width (a 6000 px photo's legend must be legible), but never to more than
    # about a quarter of the picture's height: a 20000x40 strip got a 1126-row legend.
    unit = max(1.0, min(width / 640, height / 160))
    if width < MIN_LEGEND_WIDTH:  # a 1x1 photo: room for the labels, pixels keep their place
        picture = np.pad(picture, ((0, 0), (0, MIN_LEGEND_WIDTH - width), (0, 0)), constant_values=255)
        width = MIN_LEGEND_WIDTH
    bar_h, label_h = int(round(14 * unit)), int(round(22 * unit))
    ramp = np.linspace(0, vmax, width, dtype=np.float32)[None].repeat(bar_h, 0)  # (bar_h, W)
    bar = colour_map(ramp, vmax)
    labels = np.full((label_h, width, 3), 255, np.uint8)
    font_scale, thickness = 0.45 * unit, max(1, int(round(unit)))
    for value, text in scale_bar_labels(vmax):
        x = int(round(value / vmax * (width - 1)))
        bar[:, max(0, x - thickness // 2) : x + thickness // 2 + 1] = 0
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        left = min(max(0, x - tw // 2), width - tw)
        cv2.putText(labels, text, (left, label_h - (label_h - th) // 2), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (0, 0, 0), thickness, cv2.LINE_AA)
    return np.concatenate([picture, bar, labels], axis=0)


def scale_bar_labels(vmax: float) -> list[tuple[float, str]]:
    """(value px, text) of the bar's ticks: about five round values from 0, the last one vmax
    with its unit, so the bar says the range it shows."""
    ticks = _ticks(vmax)
    if vmax - ticks[-1] > 1e-6 * vmax:  # a top that is not a tick (colour_scale_max's always are)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else vmax
        ticks = ticks[:-1] if vmax - ticks[-1] <= step / 2 else ticks  # its label would overlap
        ticks.append(vmax)
    return [(value, f"{value:g}" + (" px" if i == len(ticks) - 1 else "")) for i, value in enumerate(ticks)]


def _ticks(vmax: float) -> list[float]:
    """About five round tick values from 0 to vmax."""
    raw = vmax / 5
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [round(i * step, 12) for i in range(int(vmax / step + 1e-9) + 1)]


def overlay(photo_rgb8: np.ndarray, colours: np.ndarray, opacity: float = 0.55) -> np.ndarray:
    """The colour map blended over the photo (both (H, W, 3) uint8) -> (H, W, 3) uint8."""
    blend = (1 - opacity) * photo_rgb8.astype(np.float32) + opacity * colours.astype(np.float32)
    return np.clip(blend + 0.5, 0, 255).astype(np.uint8)


def write_map_pictures(radius: np.ndarray, scale: float, radius_path: Path, colour_path: Path,
                       photo: np.ndarray | None = None, overlay_path: Path | None = None,
                       overwrite: bool = False) -> list[Path]:
    """The 16-bit map, its colour picture with scale bar and optionally the overlay; returns the
    paths written, the map first. Shape: radius (H, W) px; photo (H, W, 3) float in [0, 1].

    The map is written last: an interrupted run leaves no map beside incomplete pictures, so
    `--skip-existing` (which looks at the map) redoes that photo rather than skipping it.
    """
    vmax = colour_scale_max(radius, scale)
    colours = colour_map(radius, vmax)
    write_image(colour_path, with_scale_bar(colours, vmax), fmt=PNG, overwrite=overwrite)
    written = [radius_path, colour_path]
    if overlay_path is not None and photo is not None:
        photo8 = np.clip(photo * 255.0 + 0.5, 0, 255).astype(np.uint8)
        write_image(overlay_path, with_scale_bar(overlay(photo8, colours), vmax), fmt=PNG, overwrite=overwrite)
        written.append(overlay_path)
    png = encode_radius_png(radius, scale)
    atomic_write(radius_path, lambda stream: stream.write(png), overwrite=overwrite)
    return written
