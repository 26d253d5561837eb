"""Image quality metrics on torch tensors (B, C, H, W) in [0, 1], each returning (B,).

PSNR, SSIM (scikit-image / DPDD convention by default, MATLAB / Wang on request), MAE and
detail PSNR (PSNR with the low-pass locked to the input's) are pure functions; LPIPS is a frozen module (`fdikp_cli.metrics.lpips.LPIPS`, `load_lpips`),
imported separately so that using the others never touches its weights.
"""

from fdikp_cli.metrics.detail import detail_psnr
from fdikp_cli.metrics.mae import mae
from fdikp_cli.metrics.psnr import masked_psnr, mse, psnr
from fdikp_cli.metrics.ssim import SSIM_DPDD, SSIM_WANG, SsimConfig, ssim, ssim_map

__all__ = ["SSIM_DPDD", "SSIM_WANG", "SsimConfig", "detail_psnr", "mae", "masked_psnr", "mse", "psnr", "ssim", "ssim_map"]
