"""The single-image defocus-map estimator: a blurry photo in, its blur radius in px per pixel out.

A small encoder-decoder (a light U-Net), separate from FDIKP (the cost argument is in
docs/architecture.md): the spec's estimator (§2.1, 3.3 M parameters, four 64-channel branches at
full resolution, dual-pixel input) costs far more per pixel than the whole budget here
(<= 1.5 s/MP on 2 CPU cores), and a single photo carries no signed defocus, so the output is one
unsigned channel (spec §7.1).

    x (B,3,H,W) in [0,1] -x-0.5-> reflect-pad to a multiple of 2^levels
    stem: Conv3x3 3->c0, ReLU, Conv3x3, ReLU                     (B, c0, H, W)
    down l = 1..L: Conv3x3 stride 2 c_{l-1}->c_l, ReLU, Conv3x3, ReLU   (B, c_l, H/2^l, W/2^l)
    bottleneck: one more Conv3x3 pair at the coarsest level (residual)
    up l = L..1: bilinear x2, Conv1x1 c_l->c_{l-1}, + skip, Conv3x3, ReLU
    head: Conv1x1 c0->1;  r = R * sigmoid(.)  -> crop   (B, 1, H, W) px

Why this shape: telling a 30 px blur from a flat wall needs context several radii wide, which
the coarse levels give cheaply (a 3x3 conv at 1/16 scale costs 1/256 of one at full scale);
the full-resolution stem and skip keep the map's edges on the objects' edges.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fdikp_cli.errors import ConfigError


@dataclass(frozen=True)
class EstimatorConfig:
    """Widths per level (full resolution first) and the output range."""

    # Channels at 1, 1/2, 1/4, 1/8, 1/16 of the input's resolution.
    widths: tuple[int, ...] = (12, 24, 32, 48, 64)
    # The output is max_radius * sigmoid(logit): the kernel bank's range (px).
    max_radius: float = 30.0

    def __post_init__(self) -> None:
        if len(self.widths) < 2 or any(int(w) < 1 for w in self.widths):
            raise ConfigError(f"estimator widths must be >= 2 positive numbers, got {self.widths}")
        if not self.max_radius > 0:
            raise ConfigError(f"estimator max_radius must be > 0, got {self.max_radius}")

    @property
    def size_multiple(self) -> int:
        """Input sides are padded to a multiple of this (one halving per level below the first)."""
        return 2 ** (len(self.widths) - 1)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EstimatorConfig":
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown estimator configuration keys: {', '.join(unknown)}")
        converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**converted)


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)


class _Up(nn.Module):
    """Bilinear x2 of the coarse features, 1x1 to the finer width, + skip, Conv3x3, ReLU."""

    def __init__(self, c_coarse: int, c_fine: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(c_coarse, c_fine, 1)
        self.fuse = _conv(c_fine, c_fine)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.reduce(coarse), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return F.relu(self.fuse(up + skip))


class DefocusMapNet(nn.Module):
    """Blur radius map of a photo. Shape: (B, 3, H, W) in [0, 1] -> (B, 1, H, W) in [0, max_radius] px.

    Any H, W >= 1: the input is reflect-padded (replicated where too small to reflect) to a
    multiple of `config.size_multiple` and the map cropped back.
    """

    def __init__(self, config: EstimatorConfig = EstimatorConfig()) -> None:
        super().__init__()
        self.config = config
        w = [int(c) for c in config.widths]
        self.stem = nn.Sequential(_conv(3, w[0]), nn.ReLU(inplace=True), _conv(w[0], w[0]), nn.ReLU(inplace=True))
        self.down = nn.ModuleList(
            nn.Sequential(_conv(w[i - 1], w[i], stride=2), nn.ReLU(inplace=True), _conv(w[i], w[i]), nn.ReLU(inplace=True))
            for i in range(1, len(w))
        )
        self.bottleneck = nn.Sequential(_conv(w[-1], w[-1]), nn.ReLU(inplace=True), _conv(w[-1], w[-1]))
        self.up = nn.ModuleList(_Up(w[i], w[i - 1]) for i in range(len(w) - 1, 0, -1))
        # He initialisation: PyTorch's default conv init shrinks a ReLU signal by ~0.4x per layer,
        # so after the ten convs down to 1/16 the context features were ~1e-4 of the input and
        # training (a few hundred CPU steps) never moved the map off its initial constant.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        # A 1x1 head: full-resolution 3x3 convs dominate the cost (9 c^2 multiply-adds per pixel
        # each, against 9 c^2 / 4^l at level l), so the full-resolution part is kept to two.
        self.head = nn.Conv2d(w[0], 1, 1)
        # Start at a mild blur (~3 px) rather than mid-range (15 px): most of a photo is
        # sharp or mildly blurred (real DPDD: median 6 px), so early reblur gradients are sane.
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, -2.2)
        # channels-last convolutions are ~1.8x faster on CPU (oneDNN's native layout):
        # 0.88 vs 1.63 s/MP at 1024x683 on 2 threads (benchmarks/bench_defocus_map.py).
        self.to(memory_format=torch.channels_last)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1] != 3:
            raise ValueError(f"expected an RGB image batch (B, 3, H, W), got shape {tuple(image.shape)}")
        height, width = image.shape[-2:]
        multiple = self.config.size_multiple
        pad_h, pad_w = -height % multiple, -width % multiple
        x = (image - 0.5).contiguous(memory_format=torch.channels_last)
        if pad_h or pad_w:
            mode = "reflect" if pad_h < height and pad_w < width else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)  # (B, 3, Hp, Wp)
        features = [self.stem(x)]  # level l: (B, w_l, Hp / 2^l, Wp / 2^l)
        for block in self.down:
            features.append(block(features[-1]))
        y = features[-1] + self.bottleneck(features[-1])
        for block, skip in zip(self.up, reversed(features[:-1])):
            y = block(y, skip)
        logit = self.head(y)[..., :height, :width]  # (B, 1, H, W)
        return (self.config.max_radius * torch.sigmoid(logit)).contiguous()


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
