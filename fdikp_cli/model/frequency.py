"""Fourier helpers. FFTs always run in float32, also under autocast: half-precision FFTs are
limited to power-of-two sizes on CUDA and lose too much precision for spectra."""

from __future__ import annotations

import torch


def fft2_float32(x: torch.Tensor) -> torch.Tensor:
    """Complex 2-D FFT over the last two dims, computed in float32 whatever the autocast state."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        return torch.fft.fft2(x.float())


def amplitude_phase(x: torch.Tensor, reference_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred log-amplitude and phase spectra of an image batch.

    Shape: x (B, C, H, W) -> A, P each (B, C, H, W), float32, DC at the centre.
    log(1 + |X|) keeps the dynamic range of natural spectra within what convolutions handle.
    An unnormalised FFT's amplitude grows with the image (|X| ~ sqrt(HW) for texture, HW at DC),
    so a predictor trained on 256² crops sees other numbers on a whole photo. With
    `reference_size` S the amplitude is the orthonormal one times S, i.e. what an S x S image of
    the same content gives unnormalised: size-free, and equal to the raw form at S x S.
    """
    spectrum = torch.fft.fftshift(fft2_float32(x), dim=(-2, -1))
    magnitude = spectrum.abs()
    if reference_size is not None:
        h, w = x.shape[-2:]
        magnitude = magnitude * (reference_size / (h * w) ** 0.5)
    return torch.log1p(magnitude), torch.angle(spectrum)


def kernel_from_spectrum(amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """Spatial K x K kernels from centred amplitude and phase grids: k = Re(iFFT(|A| e^{jP})).

    Shape: amplitude, phase (..., K, K) with the DC bin at the centre -> kernels (..., K, K)
    with the kernel origin at the centre tap. The real part is the Hermitian-symmetric
    projection of the spectrum, i.e. the nearest real kernel.
    """
    with torch.autocast(device_type=amplitude.device.type, enabled=False):
        spectrum = torch.polar(amplitude.float(), phase.float())
        spectrum = torch.fft.ifftshift(spectrum, dim=(-2, -1))
        kernel = torch.fft.ifft2(spectrum).real
        return torch.fft.fftshift(kernel, dim=(-2, -1))
