"""Blurring one image with many kernels through one shared spectrum.

Reblurring needs the same sharp image blurred with up to R + 1 kernels of up to 63 x 63 taps.
Direct convolution costs W^2 multiply-adds per pixel and kernel (3,969 at radius 30: 8.3
billion for one 1024 x 683 RGB image); through the FFT the padded image is transformed once and
each kernel costs one small forward transform and one inverse transform of the image's size,
whatever its width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reflect_pad(image: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Mirror padding without repeating the edge pixel (OpenCV's BORDER_REFLECT_101) of any width.

    torch's "reflect" mode refuses pads as wide as the image; wider pads are built in steps of
    n - 1 pixels, each reflecting about a mirror point of the periodic mirrored image, so the
    result is the same infinite mirrored extension. A side of one pixel is replicated.
    Shape: (B, C, H, W) -> (B, C, H + top + bottom, W + left + right).
    """
    for dim, before, after in ((-2, top, bottom), (-1, left, right)):
        n = image.shape[dim]
        if n == 1:
            pad = (0, 0, before, after) if dim == -2 else (before, after, 0, 0)
            image = F.pad(image, pad, mode="replicate")
            continue
        for side, amount in ((0, before), (1, after)):
            while amount > 0:
                step = min(amount, n - 1)
                pad = [0, 0, 0, 0]
                pad[(0 if dim == -1 else 2) + side] = step
                image = F.pad(image, tuple(pad), mode="reflect")
                amount -= step
    return image


def fast_fft_size(n: int) -> int:
    """Smallest 5-smooth integer >= n (sizes whose FFTs are fast)."""
    size = max(1, n)
    while True:
        m = size
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return size
        size += 1


class SharedSpectrum:
    """The reflect-padded image's spectrum, computed once and reused for every kernel.

    `reach`: the largest kernel half-width that will be applied. The image is padded by at
    least `reach` on every side (more on the bottom and right, up to a fast FFT size), so the
    circular convolution of the FFT never wraps into the cropped result.
    """

    def __init__(self, image: torch.Tensor, reach: int) -> None:
        if image.dim() != 4:
            raise ValueError(f"expected an image (B, C, H, W), got shape {tuple(image.shape)}")
        if not image.is_floating_point():
            raise ValueError(f"expected a floating-point image, got {image.dtype}")
        self.height, self.width = image.shape[-2:]
        self.reach = reach
        self.padded_height = fast_fft_size(self.height + 2 * reach)
        self.padded_width = fast_fft_size(self.width + 2 * reach)
        padded = reflect_pad(image, reach, self.padded_height - self.height - reach,
                             reach, self.padded_width - self.width - reach)  # (B, C, Hp, Wp)
        self.spectrum = torch.fft.rfft2(padded)  # (B, C, Hp, Wp // 2 + 1), complex

    def blur(self, kernel: torch.Tensor) -> torch.Tensor:
        """The image convolved with `kernel` (a true convolution, centred), reflected borders.

        Shape: kernel (W, W), W odd, W // 2 <= reach -> (B, C, H, W_image).
        """
        if kernel.dim() != 2:
            raise ValueError(f"expected a square kernel of odd width, got shape {tuple(kernel.shape)}")
        return self.blur_stack(kernel[None])[:, 0]

    def blur_stack(self, kernels: torch.Tensor) -> torch.Tensor:
        """The image convolved with each of M kernels; differentiable in the image and the kernels.

        Shape: kernels (M, W, W), W odd, W // 2 <= reach -> (B, M, C, H, W_image).
        """
        half = kernels.shape[-1] // 2
        if kernels.dim() != 3 or kernels.shape[-2] != kernels.shape[-1] or kernels.shape[-1] % 2 == 0:
            raise ValueError(f"expected square kernels of odd width, got shape {tuple(kernels.shape)}")
        if half > self.reach:
            raise ValueError(f"kernel half-width {half} exceeds the padding {self.reach}")
        size = (self.padded_height, self.padded_width)
        # Each kernel sits at the top-left corner of the padded grid, its centre at (half, half),
        # so the circular result is the centred one shifted by +half: crop from reach + half.
        kernel_spectra = torch.fft.rfft2(kernels.to(self.spectrum.real.dtype), s=size)  # (M, Hp, Wp // 2 + 1)
        full = torch.fft.irfft2(self.spectrum[:, None] * kernel_spectra[None, :, None], s=size)  # (B, M, C, Hp, Wp)
        top = self.reach + half
        return full[..., top : top + self.height, top : top + self.width]
