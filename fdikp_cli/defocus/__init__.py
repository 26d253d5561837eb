"""Learnable blur kernel / defocus map: the first half of "Learnable Blur Kernel for
Single-Image Defocus Deblurring in the Wild" (spec: ../shared/paper/lbk-defocusgan-spec.md).

- `kernel_bank`: one learnable blur kernel per integer radius, initialised as Butterworth discs;
- `fft_conv`: blurring one image with many kernels through one shared spectrum;
- `reblur`: the sharp image blurred per pixel by a radius map (linear between integer radii);
- `fit`: a radius map (and optionally the kernels) fitted to one real (blurred, sharp) pair,
  and the best single radius per image as the baseline;
- `estimator`: the single-image defocus-map network; `training`: its training (synthetic
  radius supervision + real reblur loss, alternating with the bank); `weights`: its file;
- `maps`: maps of photos (working scale, 16-bit encoding, colours, summary); `files`: the file
  batch behind `fdikp defocus-map`.
"""

from fdikp_cli.defocus.fit import FitConfig, FitResult, best_single_radius, fit_radius_map
from fdikp_cli.defocus.kernel_bank import KernelBank, KernelBankConfig, butterworth_disc
from fdikp_cli.defocus.reblur import blend, blur_stack, reblur

__all__ = [
    "FitConfig",
    "FitResult",
    "KernelBank",
    "KernelBankConfig",
    "best_single_radius",
    "blend",
    "blur_stack",
    "butterworth_disc",
    "fit_radius_map",
    "reblur",
]
