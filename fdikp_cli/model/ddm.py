"""The Dual-Domain Module at the DSRM bottleneck and its ablation variants."""

from __future__ import annotations

import torch
from torch import nn

from fdikp_cli.model.attention import StripAttentionBlock
from fdikp_cli.model.blocks import ResBlock
from fdikp_cli.model.config import DdmVariant


class SpectralConv(nn.Module):
    """FFT -> 1x1 Conv-ReLU-1x1 Conv on (real, imaginary) channels -> iFFT: a global filter.

    Shape: (B, C, H, W) -> (B, C, H, W). Runs in float32 under autocast.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(2 * channels, 2 * channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * channels, 2 * channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        with torch.autocast(device_type=x.device.type, enabled=False):
            spectrum = torch.fft.rfft2(x.float(), norm="ortho")  # (B, C, H, W//2+1) complex
            stacked = torch.cat([spectrum.real, spectrum.imag], dim=1)  # (B, 2C, H, W//2+1)
            real, imag = self.body(stacked).chunk(2, dim=1)
            out = torch.fft.irfft2(torch.complex(real.float(), imag.float()), s=(h, w), norm="ortho")
        return out.to(x.dtype)


class FrequencyBlock(nn.Module):
    """x + SpectralConv(x) + ResBlock branch: the spectral path models global structure, the
    parallel ResBlock keeps the local high frequencies. Shape: (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.spectral = SpectralConv(channels)
        self.local = ResBlock(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.local(x) + self.spectral(x)


class GatedFusion(nn.Module):
    """g * a + (1 - g) * b with a per-pixel, per-channel gate. Shape: 2 x (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.Sigmoid())

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        g = self.gate(torch.cat([a, b], dim=1))
        return g * a + (1.0 - g) * b


class DualDomainModule(nn.Module):
    """DDM. "sequential" (the paper's): strip attention, then the frequency block.
    "spatial" / "frequency": one stage only. "parallel": both on the input, gated fusion.

    Shape: (B, C, H, W) -> (B, C, H, W).
    """

    def __init__(self, channels: int, heads: int, variant: DdmVariant) -> None:
        super().__init__()
        self.variant = variant
        self.spatial = StripAttentionBlock(channels, heads) if variant != "frequency" else None
        self.frequency = FrequencyBlock(channels) if variant != "spatial" else None
        self.fusion = GatedFusion(channels) if variant == "parallel" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fusion is not None:
            return self.fusion(self.spatial(x), self.frequency(x))
        if self.spatial is not None:
            x = self.spatial(x)
        if self.frequency is not None:
            x = self.frequency(x)
        return x
