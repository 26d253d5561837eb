"""Blur guidance: the calibrated defocus map steers PAC's dilation.

The paper's dilation map, D = Sigmoid(Conv(x)), sees a few pixels of the photo; a 5x5 view cannot
tell a 12 px blur from a 2 px one, and on real photos it sat near 2.5 everywhere. Here the frozen
defocus-map estimator (the second method's network, trained to reproduce real defocus by
reblurring) measures the blur radius r in px, and a learnt affine term moves D's logit:

    logit D_s = DilationMap.body(z) + slope * r_s + offset,   r_s = r / f at a stage of scale 1/f

slope and offset start at zero, so a model built from weights that predate the guidance behaves
exactly as before, and training moves them. The estimator runs once per forward pass on the
half-resolution input (a quarter of its full-resolution cost; it was trained on photos seen at
scale 0.5-1, and half resolution doubles the context it sees per pixel). It is frozen: its unit
(px of the calibrated disc radius) is what makes `slope` readable.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fdikp_cli.defocus.estimator import DefocusMapNet, EstimatorConfig

# px: parts that read the guidance radius as a feature take r / RADIUS_SCALE (radii of 0-30 px
# become ~0-4, the range of the other features they see).
RADIUS_SCALE = 8.0


class BlurGuidance(nn.Module):
    """Radius map of the padded input, and the dilation-logit term it adds at each stage.

    Shape: radius_map (B, 3, H, W) -> (B, 1, H/2, W/2) px at full resolution;
    logit_term(r, factor, size) -> (B, 1, h, w) for a stage of scale 1/factor and size (h, w).
    """

    def __init__(self, estimator: EstimatorConfig | None = None) -> None:
        super().__init__()
        self.estimator = DefocusMapNet(estimator or EstimatorConfig())
        self.estimator.requires_grad_(False)
        self.slope = nn.Parameter(torch.zeros(()))  # logit per px of stage-scale radius
        self.offset = nn.Parameter(torch.zeros(()))

    def train(self, mode: bool = True) -> "BlurGuidance":
        super().train(mode)
        self.estimator.eval()  # frozen: always the inference behaviour
        return self

    @torch.no_grad()
    def radius_map(self, x: torch.Tensor) -> torch.Tensor:
        half = F.avg_pool2d(x, 2) if min(x.shape[-2:]) >= 2 else x
        scale = x.shape[-1] / half.shape[-1]
        return self.estimator(half).float() * scale  # (B, 1, H/2, W/2), px of the full-resolution input

    def stage_radius(self, radius: torch.Tensor, factor: int, size: tuple[int, int]) -> torch.Tensor:
        """The radius map resampled to a stage's grid, in that stage's px. (B, 1, h, w)."""
        if tuple(radius.shape[-2:]) == tuple(size):
            resampled = radius
        elif radius.shape[-1] > size[1]:
            resampled = F.adaptive_avg_pool2d(radius, size)
        else:
            resampled = F.interpolate(radius, size=size, mode="bilinear", align_corners=False)
        return resampled / factor

    def logit_term(self, stage_radius: torch.Tensor) -> torch.Tensor:
        return self.slope * stage_radius + self.offset  # (B, 1, h, w)
