"""LPIPS v0.1 with the AlexNet backbone, in plain torch (no torchvision).

One module serves both as the evaluation metric and as a training loss: it is differentiable
with respect to its inputs, and its own parameters are frozen (requires_grad False).

Input range: by default (`inputs_in_01=True`) forward() takes images in [0, 1] and maps them
to [-1, 1] itself, which is what LPIPS was trained on. Feeding [0, 1] images to a model that
expects [-1, 1] (a mistake seen in published evaluations) gives lower, wrong numbers; pass
`inputs_in_01=False` only when your tensors already are in [-1, 1]. Channels are RGB.

Computation (Zhang et al. 2018, v0.1): scaling layer, AlexNet features tapped after each of
its five ReLUs, channel-wise unit normalisation (eps 1e-10), squared difference, 1×1 linear
head without bias, spatial mean, sum over the five layers.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fdikp_cli.metrics.lpips_weights import HEAD_KEYS, Fetcher, LpipsWeights, find_lpips_weights

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
_TAP_AFTER = (1, 4, 7, 9, 11)  # indices of the ReLUs in `features` whose outputs are compared
_CHANNELS = (64, 192, 384, 256, 256)
_EPS = 1e-10


def _alexnet_features() -> nn.Sequential:
    """AlexNet `features` up to the last ReLU, with torchvision's indices (so its keys load)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),  # 0
        nn.ReLU(),  # 1 -> tap
        nn.MaxPool2d(kernel_size=3, stride=2),  # 2
        nn.Conv2d(64, 192, kernel_size=5, padding=2),  # 3
        nn.ReLU(),  # 4 -> tap
        nn.MaxPool2d(kernel_size=3, stride=2),  # 5
        nn.Conv2d(192, 384, kernel_size=3, padding=1),  # 6
        nn.ReLU(),  # 7 -> tap
        nn.Conv2d(384, 256, kernel_size=3, padding=1),  # 8
        nn.ReLU(),  # 9 -> tap
        nn.Conv2d(256, 256, kernel_size=3, padding=1),  # 10
        nn.ReLU(),  # 11 -> tap
    )


def _unit_normalise(features: torch.Tensor) -> torch.Tensor:
    """Divide each spatial position's feature vector by its L2 norm. (B, C, H, W) -> same."""
    norm = features.square().sum(dim=1, keepdim=True).sqrt()
    return features / (norm + _EPS)


def check_lpips_inputs(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Both LPIPS backbones take two (B, 3, H, W) images of one shape, at least 32x32."""
    if pred.shape != target.shape or pred.dim() != 4 or pred.shape[1] != 3:
        raise ValueError(f"LPIPS expects two (B, 3, H, W) tensors of one shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if min(pred.shape[-2:]) < 32:
        raise ValueError(f"LPIPS needs images of at least 32x32, got {tuple(pred.shape[-2:])}")


class LPIPS(nn.Module):
    """LPIPS distance (v0.1, AlexNet). Build with `load_lpips()`; a bare LPIPS() has random weights.

    Shape: pred, target (B, 3, H, W), RGB, in [0, 1] when inputs_in_01 (else [-1, 1]) -> (B,).
    H and W must be at least 32 (AlexNet's stride-4 11×11 conv and two poolings).
    """

    def __init__(self, inputs_in_01: bool = True) -> None:
        super().__init__()
        self.inputs_in_01 = inputs_in_01
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))
        self.features = _alexnet_features()
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1, bias=False) for c in _CHANNELS)
        self.source: LpipsWeights | None = None  # where the loaded weights came from
        self.requires_grad_(False)
        self.eval()

    def load_weights(self, weights: LpipsWeights) -> "LPIPS":
        """Load verified tensors (torchvision `features.*` and LPIPS `alex.lin{i}.weight`)."""
        self.features.load_state_dict({k.removeprefix("features."): v for k, v in weights.features.items()})
        for head, key in zip(self.heads, HEAD_KEYS):
            head.weight.copy_(weights.heads[key])
        self.source = weights
        self.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> "LPIPS":
        # A loss module inside a model in training mode must still behave as evaluated:
        # there is nothing mode-dependent today, and this keeps it so.
        return super().train(False)

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps: list[torch.Tensor] = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in _TAP_AFTER:
                taps.append(x)
        return taps

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_lpips_inputs(pred, target)
        batch = pred.shape[0]
        dtype = self.shift.dtype
        images = torch.cat([pred, target], dim=0).to(dtype)  # one backbone pass: (2B, 3, H, W)
        if self.inputs_in_01:
            images = images * 2 - 1
        images = (images - self.shift) / self.scale
        distance = images.new_zeros(batch)
        for head, tap in zip(self.heads, self._taps(images)):
            feats = _unit_normalise(tap)
            diff = (feats[:batch] - feats[batch:]).square()  # (B, C_l, h_l, w_l)
            distance = distance + head(diff).mean(dim=(1, 2, 3))
        return distance


def load_lpips(
    weights_dir: str | Path | None = None,
    device: torch.device | str = "cpu",
    download: bool = True,
    *,
    inputs_in_01: bool = True,
    fetcher: Fetcher | None = None,
    cache_dir: Path | None = None,
) -> LPIPS:
    """LPIPS with verified weights, frozen, on `device`.

    Weights are searched in weights_dir, $FDIKP_LPIPS_DIR, the user cache, then (in a source
    checkout) ../shared/weights/lpips, and downloaded into the cache when absent and `download`
    is True (see fdikp_cli.metrics.lpips_weights).
    Raises LpipsWeightsMissing, whose message says how to provide them.
    """
    weights = find_lpips_weights(weights_dir, download=download, fetcher=fetcher, cache_dir=cache_dir)
    return LPIPS(inputs_in_01=inputs_in_01).load_weights(weights).to(device)
