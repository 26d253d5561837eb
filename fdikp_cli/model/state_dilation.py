"""A dilation-map term read from the coefficient module's recurrent state (issue 23, option ii).

PAC's own dilation map sees a 5x5 view of the photo. The coefficient module (DSRM) of the stage
before has seen far more: an encoder-decoder down to 1/8 of that stage's scale, with the
dual-domain attention at its bottleneck, summarised in the ConvLSTM state it hands on. At the
1/4-scale stage one px of its bottleneck spans 32 px of the photo, so the state can tell a 15 px
blur from a 2 px one where the 5x5 view cannot. This head turns that state into a term of D's
logit at the next stage:

    logit D_s += Conv3x3(h_{s-1}↑)      (stages 2 and 3; stage 1 has no state before it)

Zero-initialised: a model built from weights that predate it behaves exactly as before, and
training moves it. Unlike the blur guidance (option i), nothing outside the network is needed,
and nothing fixes the unit: what the state encodes is whatever DSRM learnt.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class StateDilationHead(nn.Module):
    """Recurrent state h (B, Cc, h/2, w/2) of the stage before, upsampled to this stage
    -> dilation-logit term (B, 1, h, w) at this stage's size."""

    def __init__(self, state_channels: int) -> None:
        super().__init__()
        self.to_logit = nn.Conv2d(state_channels, 1, 3, padding=1)
        nn.init.zeros_(self.to_logit.weight)
        nn.init.zeros_(self.to_logit.bias)

    def forward(self, hidden: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        logit = self.to_logit(hidden)  # (B, 1, h/2, w/2)
        return F.interpolate(logit, size=size, mode="bilinear", align_corners=False)  # (B, 1, h, w)
