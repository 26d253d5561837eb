"""The PatchGAN critic of DefocusGAN (spec `lbk-defocusgan-spec.md` §2.6), for the perceptual variant.

An unconditional critic: it sees RGB only (not the blurred input, not the defocus map) and
returns one unbounded score per patch (WGAN: no sigmoid). Five 4x4 convolutions, padding 2:

    conv 3 -> c,    stride 2, LeakyReLU 0.2                      (no normalisation on the image)
    conv c -> 2c,   stride 2, InstanceNorm (affine False), LeakyReLU 0.2
    conv 2c -> 4c,  stride 2, InstanceNorm, LeakyReLU 0.2
    conv 4c -> 8c,  stride 1, InstanceNorm, LeakyReLU 0.2
    conv 8c -> 1,   stride 1

With c = 64 that is the spec's critic: 2,764,737 parameters, a 67x67 score map for a 512²
input, a 70x70 receptive field. Instance norm (not batch norm) because the WGAN-GP penalty is
defined per sample: batch statistics would couple the samples whose gradients it constrains.
PyTorch's default initialisation, as the reference code (spec gap 17).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from fdikp_cli.errors import ConfigError


@dataclass(frozen=True)
class CriticConfig:
    base_channels: int = 64  # c above; 8 gives a tiny critic for tests
    strided_layers: int = 3  # stride-2 convolutions (the spec's 3: each halves the score map)
    instance_norm: bool = True
    negative_slope: float = 0.2

    def __post_init__(self) -> None:
        if self.base_channels < 1:
            raise ConfigError(f"critic base_channels must be >= 1, got {self.base_channels}")
        if self.strided_layers < 1:
            raise ConfigError(f"critic strided_layers must be >= 1, got {self.strided_layers}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_map_side(side: int, config: CriticConfig = CriticConfig()) -> int:
    """Side of the score map for an input side: each 4x4 conv with padding 2 maps n to
    floor(n / stride) + 1 (512 -> 257 -> 129 -> 65 -> 66 -> 67)."""
    for _ in range(config.strided_layers):
        side = side // 2 + 1
    return side + 2  # the two stride-1 convolutions add one each


class PatchCritic(nn.Module):
    """Shape: x (B, 3, H, W) -> scores (B, 1, score_map_side(H), score_map_side(W)), unbounded."""

    def __init__(self, config: CriticConfig | None = None) -> None:
        super().__init__()
        self.config = config or CriticConfig()
        c, slope = self.config.base_channels, self.config.negative_slope
        layers: list[nn.Module] = [nn.Conv2d(3, c, 4, stride=2, padding=2), nn.LeakyReLU(slope)]
        channels = c
        # Strided layers after the first, then one stride-1 layer, each doubling the channels.
        strides = [2] * (self.config.strided_layers - 1) + [1]
        for stride in strides:
            out = channels * 2
            layers.append(nn.Conv2d(channels, out, 4, stride=stride, padding=2))
            if self.config.instance_norm:
                layers.append(nn.InstanceNorm2d(out, affine=False))
            layers.append(nn.LeakyReLU(slope))
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, stride=1, padding=2))  # (B, 1, h, w) scores
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"the critic expects (B, 3, H, W), got {tuple(x.shape)}")
        return self.body(x)
