"""Coefficient modules: DSRM (the paper's) and the SRAM baseline of the ablation.

Both are encoder-decoders over len(widths) levels (1, 1/2, 1/4, ... of the stage resolution)
that end in the APU recurrent unit. They differ in their blocks and in the bottleneck.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fdikp_cli.model.apu import APU, HiddenState
from fdikp_cli.model.blocks import ChannelAttentionResBlock, ResBlock, conv3x3
from fdikp_cli.model.config import FDIKPConfig
from fdikp_cli.model.ddm import DualDomainModule


def _level(channels: int, count: int, attention: bool) -> nn.Sequential:
    block = ChannelAttentionResBlock if attention else ResBlock
    return nn.Sequential(*[block(channels) for _ in range(count)])


class CoefficientModule(nn.Module):
    """Encoder (blocks, strided convs) -> bottleneck -> decoder (blocks, additive skips) -> APU.

    Shape: x (B, Cin, H, W) with H, W multiples of 2^(levels-1), state or None
        -> coefficients (B, Cc, H, W), state.
    """

    def __init__(self, config: FDIKPConfig, in_channels: int) -> None:
        super().__init__()
        widths, blocks = config.widths, config.level_blocks
        attention = config.coefficient_module == "sram"
        self.stem = conv3x3(in_channels, widths[0])
        self.encoders = nn.ModuleList([_level(w, n, attention) for w, n in zip(widths, blocks)])
        self.downs = nn.ModuleList([conv3x3(a, b, stride=2) for a, b in zip(widths[:-1], widths[1:])])
        deepest = widths[-1]
        if config.coefficient_module == "dsrm":
            # The DDM, then plain ResBlocks, at the bottleneck.
            self.bottleneck = nn.Sequential(
                DualDomainModule(deepest, config.attention_heads, config.ddm),
                *[ResBlock(deepest) for _ in range(config.bottleneck_res_blocks)],
            )
        else:
            # SRAM baseline: "a ResBlock at the bottleneck" in place of the DDM.
            self.bottleneck = nn.Sequential(*[ResBlock(deepest) for _ in range(config.bottleneck_res_blocks + 1)])
        self.ups = nn.ModuleList([nn.Conv2d(b, a, 1) for a, b in zip(widths[:-1], widths[1:])])
        self.decoders = nn.ModuleList([_level(w, n, attention) for w, n in zip(widths[:-1], blocks[:-1])])
        self.apu = APU(widths[0], config.feature_channels)

    def forward(self, x: torch.Tensor, state: HiddenState | None,
                stem_extra: torch.Tensor | None = None) -> tuple[torch.Tensor, HiddenState]:
        """stem_extra (B, w0, H, W): added to the stem's output before its ReLU (the blur guidance)."""
        skips = []
        stem = self.stem(x)
        y = F.relu(stem if stem_extra is None else stem + stem_extra.to(stem.dtype))  # (B, w0, H, W)
        for level, encoder in enumerate(self.encoders):
            if level > 0:
                y = F.relu(self.downs[level - 1](y))  # halve the resolution
            y = encoder(y)  # (B, w_level, H/2^level, W/2^level)
            skips.append(y)
        y = self.bottleneck(y)
        for level in reversed(range(len(self.decoders))):
            skip = skips[level]
            up = F.interpolate(self.ups[level](y), size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = self.decoders[level](skip + up)
        return self.apu(y, state)
