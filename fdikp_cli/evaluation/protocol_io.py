"""Evaluation protocols, and reading / writing images the way a protocol says.

`dpdd` (default; DPDNet, IFAN, Restormer, DRBNet, P2IKT, INIKNet): images read as 8-bit (a
16-bit PNG reduced to its high byte, as OpenCV's IMREAD_COLOR does) and divided by 255; model
outputs clamped to [0, 1] and kept float; SSIM as scikit-image's defaults.
`wang` (GKMNet, NRKNet): predictions rounded to the bit depth's levels (8-bit by default)
before scoring; SSIM as the original MATLAB code (11×11 Gaussian, σ 1.5, population covariance).
PSNR (peak 1 on [0, 1] data = peak 255 on 8-bit data), MAE and LPIPS are the same in both.
`bit_depth=16` reads 16-bit files at full precision (/65535; 8-bit files are exact either way).
Files are read as `deblur` reads them (fdikp_cli.imageio): upright, within its pixel limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from fdikp_cli.errors import ConfigError, ImageWriteError
from fdikp_cli.imageio.read import DEFAULT_MAX_PIXELS, read_rgb_pixels
from fdikp_cli.imageio.write import atomic_write
from fdikp_cli.metrics.ssim import SSIM_DPDD, SSIM_WANG, SsimConfig

ProtocolName = Literal["dpdd", "wang"]
BitDepth = Literal[8, 16]


@dataclass(frozen=True)
class Protocol:
    name: str
    ssim: SsimConfig
    quantize_predictions: bool  # round predictions to the bit depth's levels before scoring
    description: str


PROTOCOLS: dict[str, Protocol] = {
    "dpdd": Protocol(
        "dpdd",
        SSIM_DPDD,
        quantize_predictions=False,
        description="DPDD protocol: float outputs clamped to [0,1]; PSNR 10·log10(1/MSE); SSIM = scikit-image "
        "defaults (7x7 uniform, sample covariance, valid region, per RGB channel); MAE; LPIPS v0.1 AlexNet on [-1,1]",
    ),
    "wang": Protocol(
        "wang",
        SSIM_WANG,
        quantize_predictions=True,
        description="Wang protocol: outputs rounded to integer levels; PSNR peak 255; SSIM = MATLAB ssim_index "
        "(11x11 Gaussian sigma 1.5, population covariance, valid region, per RGB channel); MAE; LPIPS v0.1 AlexNet on [-1,1]",
    ),
}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}: choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def check_bit_depth(bit_depth: int) -> int:
    if bit_depth not in (8, 16):
        raise ConfigError(f"bit depth must be 8 or 16, got {bit_depth}")
    return bit_depth


def to_protocol_array(image: np.ndarray, bit_depth: int) -> np.ndarray:
    """uint8/uint16 (H, W, 3) -> float64 in [0, 1] at the protocol's bit depth."""
    if bit_depth == 8:
        if image.dtype == np.uint16:
            image = (image >> 8).astype(np.uint8)  # the high byte, as 8-bit readers do
        return image.astype(np.float64) / 255.0
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return image.astype(np.float64) / scale


def read_image(path: Path, bit_depth: int = 8, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> torch.Tensor:
    """An image file as (1, 3, H, W) float64 in [0, 1], read per the protocol's bit depth.

    Read as `deblur` reads it (fdikp_cli.imageio): upright by its EXIF orientation, so that an
    output scores against its own input, and refused from its header above `max_pixels`
    (a decompression bomb would otherwise grow to 24 bytes a pixel here)."""
    array = to_protocol_array(read_rgb_pixels(Path(path), max_pixels=max_pixels), check_bit_depth(bit_depth))
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))[None]


def quantize(image: torch.Tensor, bit_depth: int = 8) -> torch.Tensor:
    """Round [0, 1] values to the 2^bits - 1 levels of an integer image (still in [0, 1])."""
    levels = float(2**bit_depth - 1)
    return torch.round(image.clamp(0, 1) * levels) / levels


def write_png(path: Path, image: torch.Tensor, bit_depth: int = 8) -> Path:
    """Write (1, 3, H, W) or (3, H, W) in [0, 1] as an 8- or 16-bit RGB PNG."""
    import cv2

    array = image.detach().squeeze(0).clamp(0, 1).permute(1, 2, 0).double().cpu().numpy()
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    pixels = np.round(array * float(2**bit_depth - 1)).astype(dtype)
    path = Path(path)
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels[:, :, ::-1]))  # OpenCV writes BGR
    if not ok:
        raise ImageWriteError(f"cannot encode {path} as PNG")
    # Through a temporary file: Ctrl-C (which keeps a partial report) leaves no half-written PNG.
    return atomic_write(path, lambda stream: stream.write(encoded.tobytes()), overwrite=True)
