"""Coefficient modules: DSRM (the paper's) and the SRAM baseline of the ablation.

Both are encoder-decoders over three levels (1, 1/2, 1/4 of the stage resolution) that end in
the APU recurrent unit. They differ in their blocks and in the bottleneck.
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
    """Encoder (blocks) -> bottleneck -> decoder (blocks, skips) -> APU.

    Shape: x (B, Cin, H, W) with H, W multiples of 4, state or None
        -> coefficients (B, Cc, H, W), state.
    """

    def __init__(self, config: FDIKPConfig, in_channels: int) -> None:
        super().__init__()
        w1, w2, w3 = config.widths
        n1, n2, n3 = config.level_blocks
        attention = config.coefficient_module == "sram"
        self.stem = conv3x3(in_channels, w1)
        self.enc1 = _level(w1, n1, attention)
        self.down2 = conv3x3(w1, w2, stride=2)
        self.enc2 = _level(w2, n2, attention)
        self.down3 = conv3x3(w2, w3, stride=2)
        self.enc3 = _level(w3, n3, attention)
        if config.coefficient_module == "dsrm":
            # The DDM, then plain ResBlocks, at the 1/4 bottleneck.
            self.bottleneck = nn.Sequential(
                DualDomainModule(w3, config.attention_heads, config.ddm),
                *[ResBlock(w3) for _ in range(config.bottleneck_res_blocks)],
            )
        else:
            # SRAM baseline: "a ResBlock at the bottleneck" in place of the DDM.
            self.bottleneck = nn.Sequential(*[ResBlock(w3) for _ in range(config.bottleneck_res_blocks + 1)])
        self.up2 = nn.Conv2d(w3, w2, 1)
        self.dec2 = _level(w2, n2, attention)
        self.up1 = nn.Conv2d(w2, w1, 1)
        self.dec1 = _level(w1, n1, attention)
        self.apu = APU(w1, config.feature_channels)

    def forward(self, x: torch.Tensor, state: HiddenState | None) -> tuple[torch.Tensor, HiddenState]:
        e1 = self.enc1(F.relu(self.stem(x)))  # (B, w1, H, W)
        e2 = self.enc2(F.relu(self.down2(e1)))  # (B, w2, H/2, W/2)
        e3 = self.enc3(F.relu(self.down3(e2)))  # (B, w3, H/4, W/4)
        d3 = self.bottleneck(e3)
        d2 = self.dec2(e2 + F.interpolate(self.up2(d3), size=e2.shape[-2:], mode="bilinear", align_corners=False))
        d1 = self.dec1(e1 + F.interpolate(self.up1(d2), size=e1.shape[-2:], mode="bilinear", align_corners=False))
        return self.apu(d1, state)
